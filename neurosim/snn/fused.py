"""Fused multi-step LIF on CPU: Numba forward and BPTT backward behind ``torch.autograd.Function``.

:func:`neurosim.snn.functional.lif.lif_run` (and so :class:`~neurosim.snn.LIF`,
:class:`~neurosim.snn.LIFLayer`) calls :func:`lif_fused` automatically for CPU float32/float64
tensors; other devices and dtypes use the pure-torch step loop, which gives identical spikes
(``tests/test_snn_fused.py``).

Memory: forward allocates only its outputs (spikes ``[T, B, ...]`` and the final membrane);
autograd keeps the input and the initial membrane (no ``[T, ...]`` buffer of membranes):
backward recomputes the membranes block by block (``kernels/bptt.py``). No dtype
conversions; ``.numpy()`` views share memory with the tensors; a non-contiguous input or
upstream gradient is made contiguous once.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from neurosim.snn.functional.lif import LIFSpec

__all__ = ["supports", "why_not", "lif_fused", "kernel_arrays", "backward_block", "BLOCK"]

#: neurons per parallel block (time loop inside, contiguous innermost loop)
BLOCK = 2048
_FORMS = {"spikingjelly": 0, "snntorch": 1, "norse": 2, "parametric": 3}
_RESETS = {"zero": 0, "subtract": 1, "none": 2}
_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}


def why_not(x: torch.Tensor, spec: LIFSpec, k: torch.Tensor | None = None) -> str:
    """Why the fused kernel cannot run this call ("" when it can)."""
    if x.device.type != "cpu":
        return f"device {x.device} is not the CPU"
    if x.dtype not in _DTYPES:
        return f"dtype {x.dtype} is not float32/float64"
    if spec.surrogate.kernel_id < 0:
        return f"surrogate {spec.surrogate!r} has no kernel form"
    if k is not None and spec.form == "snntorch":
        return "learnable tau with form='snntorch' (use the torch backend)"
    if x.ndim < 2 or x.shape[0] == 0:
        return "x is not a [T, B, ...] sequence"
    return ""


def supports(x: torch.Tensor, spec: LIFSpec, k: torch.Tensor | None = None) -> bool:
    """True when :func:`lif_fused` handles ``x`` and ``spec``."""
    return why_not(x, spec, k) == ""


def _surrogate_constants(sg):
    import math

    p = sg.kernel_param
    sid = sg.kernel_id
    if sid == 0:
        return math.pi / 2 * p, p / 2
    if sid in (1, 2, 3, 5):
        return p, (p / math.sqrt(math.pi) if sid == 5 else 0.0)
    if sid == 4:
        return 1.0 / (2.0 * p * p), 1.0 / (math.sqrt(2.0 * math.pi) * p)
    raise ValueError(f"unknown surrogate kernel id {sid}")  # pragma: no cover


def backward_block(T: int, itemsize: int) -> int:
    """Neurons per backward block: the recomputed ``[T, block]`` membranes fit in ~256 KiB (L2)."""
    block = 4096
    while block > 256 and T * block * itemsize > 256 * 1024:
        block //= 2
    return block


def kernel_arrays(spec: LIFSpec, dtype, k: float | None = None, T: int = 1, block: int | None = None):
    """The ``P`` (dtype) and ``F`` (int64) arrays that configure the kernels for ``spec``."""
    c1, c2 = _surrogate_constants(spec.surrogate)
    block = BLOCK if block is None else int(block)
    if k is not None:
        form, kb = 3 if spec.form != "norse" else 2, k
    else:
        form = _FORMS[spec.form]
        kb = spec.decay if spec.form == "snntorch" else spec.k
    P = np.array([spec.tau, spec.v_th, spec.v_reset, spec.v_rest, kb, c1, c2, 1.0, 0.0,
                  spec.v_th - spec.v_reset], dtype=dtype)
    F = np.array([form, int(spec.decay_input), int(spec.strict), _RESETS[spec.reset],
                  int(spec.detach_reset), int(spec.reset_delay), spec.surrogate.kernel_id, block,
                  min(block, backward_block(T, np.dtype(dtype).itemsize))],
                 dtype=np.int64)
    return P, F


class _FusedLIF(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x2, v0, k, spec):
        from neurosim.kernels.bptt import forward_work, lif_bptt_forward, n_blocks, run_blocks

        ctx.set_materialize_grads(False)
        dtype = _DTYPES[x2.dtype]
        kval = None if k is None else float(k)
        P, F = kernel_arrays(spec, dtype, kval, T=x2.shape[0])
        spikes = torch.empty_like(x2)
        v_out = torch.empty_like(v0)
        run_blocks(lif_bptt_forward, n_blocks(x2.shape[1], int(F[7])), forward_work(F),
                   x2.detach().numpy(), v0.detach().numpy(), spikes.numpy(), v_out.numpy(), P, F)
        ctx.save_for_backward(x2, v0)
        ctx.spec, ctx.P, ctx.F, ctx.has_k = spec, P, F, k is not None
        return spikes, v_out

    @staticmethod
    @once_differentiable
    def backward(ctx, g_spikes, g_v):
        from neurosim.kernels.bptt import backward_work, lif_bptt_backward, n_blocks, run_blocks

        x2, v0 = ctx.saved_tensors
        T, M = x2.shape
        if g_spikes is None:
            g_spikes = torch.zeros((1, M), dtype=x2.dtype)
        else:
            if g_spikes.dtype != x2.dtype:
                g_spikes = g_spikes.to(x2.dtype)
            if g_spikes.stride(0) == 0:  # same gradient at every step (e.g. spikes.sum()): [1, M]
                g_spikes = g_spikes[:1]
            if not g_spikes.is_contiguous():
                g_spikes = g_spikes.contiguous()
        if g_v is None:
            g_v = torch.zeros_like(v0)
        else:
            g_v = g_v.to(v0.dtype).contiguous()
        gx = torch.empty_like(x2)
        gv0 = torch.empty_like(v0)
        nblocks = n_blocks(M, int(ctx.F[8]))
        need_k = ctx.has_k and ctx.needs_input_grad[2]
        gk_part = np.zeros(nblocks if need_k else 0, dtype=np.float64)
        run_blocks(lif_bptt_backward, nblocks, backward_work(ctx.F, T), x2.detach().numpy(),
                   v0.detach().numpy(), g_spikes.numpy(), g_v.numpy(), gx.numpy(), gv0.numpy(), gk_part,
                   ctx.P, ctx.F)
        gk = torch.tensor(gk_part.sum(), dtype=x2.dtype) if need_k else None
        return gx, (gv0 if ctx.needs_input_grad[1] else None), gk, None


def lif_fused(x: torch.Tensor, v0: torch.Tensor, spec: LIFSpec, k: torch.Tensor | None = None):
    """Multi-step LIF through the Numba kernels: ``(spikes [T, B, ...], v_T [B, ...])``.

    ``k`` (optional 0-d tensor) is a learnable leak fraction per step (``1/tau``), used as
    ``h = v + (x - (v - v_rest)) * k`` (parametric LIF); its gradient is accumulated in float64.
    """
    reason = why_not(x, spec, k)
    if reason:
        raise ValueError(f"lif_fused cannot run: {reason}")
    T = x.shape[0]
    step_shape = x.shape[1:]
    x2 = x.reshape(T, -1)
    if not x2.is_contiguous():
        x2 = x2.contiguous()
    v = v0.to(x.dtype).reshape(-1)
    if not v.is_contiguous():
        v = v.contiguous()
    if k is not None:
        k = k.to(x.dtype).reshape(())
    spikes, v_out = _FusedLIF.apply(x2, v, k, spec)
    return spikes.view(x.shape), v_out.view(step_shape)
