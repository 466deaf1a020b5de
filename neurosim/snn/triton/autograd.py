"""The Triton LIF kernels behind ``torch.autograd.Function``: configuration, launches, autograd.

:func:`run` is :func:`neurosim.snn.fused.run_checked` for the Triton kernels
(:mod:`neurosim.snn.triton.kernels`): ``x`` ``[T, B, ...]`` (or one step with ``steps``) of
float32, bfloat16 or float16 on a CUDA device (or the CPU under ``TRITON_INTERPRET=1``) ->
spikes (pooled with ``pool``) in the dtype of ``x`` and the final membrane. The state inside
the kernels is float32; the initial membrane and the learnable leak are converted to float32
(their gradients flow back through the conversion).

Memory: the forward allocates the spikes and the final membrane and, when a gradient is needed,
the float32 charged membranes ``[T, B, ...]`` (what the backward reads; nothing else is kept
but the input, the initial membrane and the leak). The backward writes the input gradient over
them when the input is float32 and the sequence is per step (no fresh ``[T, B, ...]`` buffer);
a second backward through the same graph (``retain_graph=True``) recomputes them first with
the forward kernel. The leak gradient is summed per program in float32, over programs in
float64.

This module imports triton (the package imports it only when a call needs it).
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np
import torch
from torch.autograd.function import once_differentiable

import triton

from neurosim.kernels.bptt_layout import (F_DECAY_INPUT, F_DETACH_RESET, F_FORM, F_RESET, F_RESET_DELAY,
                                          F_SURROGATE, P_LEAK, P_SG_C1, P_SG_C2, P_TAU, P_TH_FIRE, P_V_JUMP,
                                          P_V_RESET, P_V_REST, P_V_TH, RESET_ZERO)
from neurosim.kernels.bptt_rows import dvdh_mode
from neurosim.snn.functional.lif import LIFSpec, nonfinite_error
from neurosim.snn.fused import as_rows, needs_grad, out_views
from neurosim.snn.fused_plan import kernel_arrays
from neurosim.snn.triton import kernels

__all__ = ["run", "Config", "config", "block_size"]

#: launch options: no FMA contraction (the spikes stay bit-identical to the CPU paths)
LAUNCH = dict(num_warps=4, enable_fp_fusion=False)


class Config(NamedTuple):
    """Scalars (float32 values) and compile-time codes of one spec (see ``kernels.py``)."""

    scalars: dict  # tau, vr, leak, vres, thf, sub
    codes: dict  # FORM, DECAY_INPUT, RESET, RESET_DELAY
    v_th: float
    c1: float
    c2: float
    gmode: int
    sid: int


@functools.lru_cache(maxsize=128)
def config(spec: LIFSpec, learnable: bool) -> Config:
    """The :class:`Config` of ``spec`` (``learnable``: the leak is a tensor ``k``), from the
    Numba packer (:func:`neurosim.snn.fused_plan.kernel_arrays`), so both paths use the same
    float32 constants."""
    P, F = kernel_arrays(spec, np.float32, 1.0 if learnable else None)
    p = [float(v) for v in P]
    scalars = dict(tau=p[P_TAU], vr=p[P_V_REST], leak=p[P_LEAK], vres=p[P_V_RESET], thf=p[P_TH_FIRE],
                   sub=p[P_V_JUMP])
    codes = dict(FORM=int(F[F_FORM]), DECAY_INPUT=bool(F[F_DECAY_INPUT]), RESET=int(F[F_RESET]),
                 RESET_DELAY=bool(F[F_RESET_DELAY]))
    gmode = int(dvdh_mode(int(F[F_RESET]), int(F[F_DETACH_RESET]), int(F[F_RESET_DELAY])))
    return Config(scalars, codes, p[P_V_TH], p[P_SG_C1], p[P_SG_C2], gmode, int(F[F_SURROGATE]))


@functools.lru_cache(maxsize=16)
def _multiprocessors(device: torch.device) -> int:
    return torch.cuda.get_device_properties(device).multi_processor_count


def block_size(n: int, pool: bool, device: torch.device) -> int:
    """Neurons per program (pooled outputs with ``pool``, 4 neurons each), a power of two. On a
    GPU, at least 128 neurons (one per thread of the 4 warps) and at most 1024, small enough
    that there are about 4 programs per multiprocessor when ``n`` allows: each program runs the
    ``T`` steps one after the other, so the parallelism is across neurons only (a heuristic, not
    measured on a GPU yet). In the interpreter, which runs the programs one after the other:
    1024 neurons."""
    lo, hi = (32, 256) if pool else (128, 1024)
    if device.type == "cuda":
        target = triton.next_power_of_2(max(1, -(-n // (4 * _multiprocessors(device)))))
    else:
        target = triton.next_power_of_2(max(n, 1))
        lo = 16
    return max(lo, min(hi, target))


def _forward(x2, v0, k, spikes, v_out, H, cfg: Config, T: int, pool_w: int):
    M = x2.shape[1]
    n = M // 4 if pool_w else M
    block = block_size(n, bool(pool_w), x2.device)
    kernels.lif_forward[(triton.cdiv(n, block),)](
        x2, x2 if v0 is None else v0, x2 if k is None else k, spikes, v_out, x2 if H is None else H,
        T, M, pool_w, 0 if x2.shape[0] == 1 else M, **cfg.scalars, **cfg.codes,
        HAS_V0=v0 is not None, HAS_K=k is not None, STORE_H=H is not None, POOL=bool(pool_w), BLOCK=block,
        **LAUNCH)


class _TritonLIF(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x2, v0, k, cfg, T, pool_w, store):
        ctx.set_materialize_grads(False)
        M = x2.shape[1]
        spikes = torch.empty((T, M // 4 if pool_w else M), dtype=x2.dtype, device=x2.device)
        v_out = torch.empty(M, dtype=x2.dtype, device=x2.device)
        H = torch.empty((T, M), dtype=torch.float32, device=x2.device) if store else None
        _forward(x2, v0, k, spikes, v_out, H, cfg, T, pool_w)
        ctx.save_for_backward(x2, v0, k, H)
        ctx.cfg, ctx.T, ctx.pool_w, ctx.consumed = cfg, T, pool_w, False
        return spikes, v_out

    @staticmethod
    @once_differentiable
    def backward(ctx, g_spikes, g_v):
        x2, v0, k, H = ctx.saved_tensors
        cfg, T, pool_w = ctx.cfg, ctx.T, ctx.pool_w
        M = x2.shape[1]
        dev = x2.device
        if H is None or ctx.consumed:  # a second backward: the gradient was written over h, recompute it
            H = torch.empty((T, M), dtype=torch.float32, device=dev)
            _forward(x2, v0, k, torch.empty((T, M // 4 if pool_w else M), dtype=x2.dtype, device=dev),
                     torch.empty(M, dtype=x2.dtype, device=dev), H, cfg, T, pool_w)
            ctx.consumed = False
        q = M // 4 if pool_w else M
        if g_spikes is None:
            g_spikes = torch.zeros((1, q), dtype=torch.float32, device=dev)
        elif g_spikes.stride(0) == 0:  # the same gradient at every step (e.g. spikes.sum())
            g_spikes = g_spikes[:1]
        g_spikes = g_spikes.contiguous()
        gs_step = q if g_spikes.shape[0] > 1 else 0
        static = x2.shape[0] == 1 and T > 1
        if not static and x2.dtype == torch.float32:  # each row of h is read before its gradient is written
            gx = H
            ctx.consumed = True
        else:
            gx = torch.empty_like(x2)
        need_gv0 = v0 is not None and ctx.needs_input_grad[1]
        need_gk = k is not None and ctx.needs_input_grad[2]
        gv0 = torch.empty(M, dtype=torch.float32, device=dev) if need_gv0 else H
        n = q
        block = block_size(n, bool(pool_w), x2.device)
        grid = triton.cdiv(n, block)
        gk = torch.empty(grid, dtype=torch.float32, device=dev) if need_gk else H
        x_step = 0 if x2.shape[0] == 1 else M
        kernels.lif_backward[(grid,)](
            x2, x2 if v0 is None else v0, x2 if k is None else k, H, g_spikes,
            H if g_v is None else g_v.contiguous(), gx, gv0, gk,
            T, M, pool_w, x_step, gs_step, (T - 1) * M, (T - 1) * x_step, (T - 1) * gs_step,
            cfg.scalars["tau"], cfg.v_th, cfg.scalars["vr"], cfg.scalars["leak"], cfg.scalars["vres"],
            cfg.scalars["thf"], cfg.scalars["sub"], cfg.c1, cfg.c2, **cfg.codes, GMODE=cfg.gmode,
            SG=kernels.SURROGATES[cfg.sid][1],
            HAS_V0=v0 is not None, HAS_K=k is not None, HAS_GVT=g_v is not None, NEED_GV0=need_gv0,
            NEED_GK=need_gk, NEED_PREV=need_gk or (cfg.codes["RESET_DELAY"] and cfg.codes["RESET"] == RESET_ZERO),
            STATIC=static, POOL=bool(pool_w), BLOCK=block, **LAUNCH)
        return (gx, gv0 if need_gv0 else None, gk.sum(dtype=torch.float64).to(k.dtype) if need_gk else None,
                None, None, None, None)


def run(x: torch.Tensor, v0: torch.Tensor | None, spec: LIFSpec, k: torch.Tensor | None = None,
        pool: bool = False, steps: int | None = None):
    """``(spikes or pooled spikes, v_T)`` from the Triton kernels, for a call that
    :func:`neurosim.snn.triton.why_not` accepts (arguments as :func:`neurosim.snn.fused.lif_fused`)."""
    x2, T, step_shape, v, kk = as_rows(x, v0, k, steps, torch.float32)
    spikes, v_out = _TritonLIF.apply(x2, v, kk, config(spec, k is not None), T, int(step_shape[-1]) if pool else 0,
                                     needs_grad(x2, v, kk))
    if not bool(torch.isfinite(v_out).all()):  # a NaN or inf in x or v0 ends in the final membrane
        raise nonfinite_error(x, v0)
    return out_views(spikes, v_out, T, step_shape, pool)
