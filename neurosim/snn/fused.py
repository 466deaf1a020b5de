"""Fused multi-step LIF on CPU: Numba forward and BPTT backward behind ``torch.autograd.Function``.

:func:`neurosim.snn.functional.lif.lif_run` (and so :class:`~neurosim.snn.LIF`,
:class:`~neurosim.snn.LIFLayer`, :class:`~neurosim.snn.LIFAvgPool` and the static-input
``run_static``) reach the kernels through :func:`dispatch`, which runs CPU float32/float64
tensors here when the kernels support the spec and leaves the rest to the pure-torch step
loop, which gives identical spikes (``tests/test_snn_fused.py``).

The pieces: the kernels (``kernels/bptt.py``, parameter layout ``kernels/bptt_layout.py``,
surrogate table ``kernels/bptt_surrogates.py``), the block runner that puts them on threads
(``kernels/blocks.py``, PyTorch's OpenMP team ``kernels/omp.py``), the kernel configuration of
a call kept per layer (:mod:`neurosim.snn.fused_plan`), the options
(:class:`~neurosim.snn.fused_config.FusedOptions`, :func:`fused_options`) and the buffer cache
(:mod:`neurosim.snn.buffers`).

Memory: forward allocates its outputs (spikes ``[T, B, ...]`` and the final membrane) and,
when the input needs a gradient, ``store_membrane`` is on (default) and the sequence is at most
``store_membrane_max_bytes``, one ``[T, B, ...]`` buffer of the charged membranes that the
backward reads; otherwise autograd keeps only the input and the initial membrane and the
backward recomputes the membranes block by block. Storing saves the recomputation; recomputing
moves fewer bytes (20 instead of 24 per neuron-step) and keeps no extra buffer. Measured on the
2-core benchmark machine, storing was faster in every case tried (16 MiB and 6 MiB layer
sequences, the 51 MiB first layer of the training ConvNet), so the limit only keeps very long
sequences from doubling their memory. The backward then writes the input gradient over the
stored membranes (``grad_over_membrane``): no fresh ``[T, B, ...]`` buffer and no
write-allocate read of one (32 instead of 36 bytes per neuron-step moved, counting
write-allocates); a second backward through the same graph (``retain_graph=True``) recomputes
the membranes. Large stored-membrane buffers (``stream_min_bytes``) are written with streaming
stores (``stream_membrane``): the backward reads them after the rest of the network ran, so
caching them only costs a write-allocate read and cache space. No dtype conversions;
``.numpy()`` views share memory with the tensors; a non-contiguous input or upstream gradient
is made contiguous once. The ``[T, B, ...]`` buffers come from the buffer cache.

Threads: calls of at least ``parallel_min_steps`` neuron-steps split their blocks over
``numba.get_num_threads()`` threads. With ``torch_threads`` (default) and PyTorch on GNU
OpenMP (the Linux wheels), they run as an OpenMP parallel region of PyTorch's own ``libgomp``
(:func:`use_torch_threads`), so the kernels use the threads that PyTorch's operators leave
spinning for ~8 ms after each parallel operator, instead of competing with them for the cores;
otherwise on neurosim's thread pool. The team is made on the first call that needs it.

Non-finite input: the forward kernel counts, per block, the final membranes that are NaN or
infinite (a non-finite input value or initial membrane makes every later membrane of its
neuron non-finite, see ``kernels/bptt.py``), one compare per neuron against ``T`` steps of
work; a non-zero count raises ``ValueError`` naming the input (:func:`run_checked`).

Per-call Python: with cold caches (the state a layer meets in a network, after other layers
ran) every distinct Python or torch operation around the kernels costs 10-130 us, ~1 ms per
forward + backward of the T32 B64 N2048 benchmark case against ~4.5 ms of kernels. So the
kernel configuration of recent calls is kept per spec object, options object and shape
(:func:`neurosim.snn.fused_plan.plan`), the options are read once per call, absent arrays are
shared zero-length stand-ins, and the layers check their input once (:func:`dispatch`).

The module switches of earlier versions (``STORE_MEMBRANE``, ``BLOCK``, ...) read the current
options; assigning one raises ``AttributeError`` naming the option to use instead.
"""
from __future__ import annotations

import sys
import types

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from neurosim.config import FASTMATH
from neurosim.kernels import blocks
from neurosim.kernels.bptt import backward_work, lif_bptt_backward, lif_bptt_forward, n_blocks
from neurosim.kernels.bptt_layout import F_BLOCK, F_BWD_BLOCK, F_POOL_W, F_STREAM, STREAM_ALIGN, with_leak
from neurosim.snn.buffers import BUFFER_CACHE, NP_DTYPES, buffer_cache_info, set_buffer_cache
from neurosim.snn.functional.lif import LIFSpec, LIFState, _check_state, nonfinite_error
from neurosim.snn.fused_config import FusedOptions, fused_options, get_fused_options, set_fused_options
from neurosim.snn.fused_plan import kernel_arrays, plan, recompute_block, torch_openmp_library, torch_team

__all__ = ["dispatch", "lif_fused", "run_checked", "supports", "why_not", "why_not_spec", "why_not_pool",
           "use_torch_threads", "as_rows", "needs_grad", "out_views",
           "torch_openmp_library", "FusedOptions", "fused_options", "set_fused_options", "get_fused_options",
           "kernel_arrays", "set_buffer_cache", "buffer_cache_info",
           "BLOCK", "STORE_MEMBRANE", "STORE_MEMBRANE_MAX_BYTES", "GRAD_OVER_MEMBRANE", "STREAM_MEMBRANE",
           "STREAM_MIN_BYTES", "PARALLEL_MIN_STEPS"]

#: zero-length stand-ins for absent arrays (an initial state of v_rest, no stored membranes, ...)
_NONE1 = {t: np.empty(0, dtype=d) for t, d in NP_DTYPES.items()}
_NONE2 = {t: np.empty((0, 0), dtype=d) for t, d in NP_DTYPES.items()}
_NONE_F64 = np.empty(0, dtype=np.float64)


def use_torch_threads(flag: bool = True) -> bool:
    """Run multi-threaded fused calls on PyTorch's OpenMP threads (``True``, the default when
    PyTorch uses GNU OpenMP; see ``neurosim.kernels.omp``) or, ``False``, on neurosim's own
    thread pool: sets ``torch_threads`` of the process's default options
    (:func:`set_fused_options`). Returns whether PyTorch's threads are used."""
    set_fused_options(torch_threads=bool(flag))
    return bool(flag) and torch_team().available()


def why_not(x: torch.Tensor, spec: LIFSpec, k: torch.Tensor | None = None) -> str:
    """Why the fused kernel cannot run this call ("" when it can)."""
    if x.device.type != "cpu":
        return f"device {x.device} is not the CPU; backend='triton' or 'auto' runs CUDA tensors"
    if x.dtype not in NP_DTYPES:
        return f"dtype {x.dtype} is not float32/float64"
    return why_not_spec(x, spec, k)


def why_not_spec(x: torch.Tensor, spec: LIFSpec, k: torch.Tensor | None = None) -> str:
    """Why no fused kernel, Numba or Triton, can run this call whatever its device and dtype
    ("" when one may)."""
    if spec.surrogate.kernel_id < 0:
        return f"surrogate {spec.surrogate!r} has no kernel form"
    if k is not None and spec.form == "snntorch":
        return "learnable tau with form='snntorch' (use the torch backend)"
    if x.ndim < 2 or x.shape[0] == 0:
        return "x is not a [T, B, ...] sequence"
    return ""


def why_not_pool(x: torch.Tensor) -> str:
    """Why the fused 2x2 average pooling cannot run on ``x`` ("" when it can)."""
    if x.ndim < 4:
        return "pooling needs x of shape [T, B, ..., H, W]"
    if x.shape[-1] % 2 or x.shape[-2] % 2 or x.shape[-1] == 0:
        return f"pooling needs even H and W, got {tuple(x.shape[-2:])}"
    return ""


def supports(x: torch.Tensor, spec: LIFSpec, k: torch.Tensor | None = None) -> bool:
    """True when :func:`lif_fused` handles ``x`` and ``spec``."""
    return why_not(x, spec, k) == ""


def dispatch(x: torch.Tensor, state, spec: LIFSpec, backend: str, k: torch.Tensor | None = None,
             pool: bool = False, steps: int | None = None):
    """The backend choice of the LIF layers: ``(out, LIFState)`` from the fused kernel, or
    ``None`` when the caller runs its torch step loop.

    ``backend``: ``"torch"`` (always ``None``), ``"auto"`` (the kernel when :func:`why_not`,
    and with ``pool`` :func:`why_not_pool`, find no reason against it) or ``"fused"`` (the
    same, but a reason raises ``ValueError``); ``"triton"``, and ``"auto"`` with a CUDA
    tensor, run the Triton kernels (:mod:`neurosim.snn.triton`: :func:`~neurosim.snn.triton.ready`
    says whether they can, :func:`~neurosim.snn.triton.why_not` why not). ``x``:
    ``[T, B, ...]``, or with ``steps`` one step ``[B, ...]`` at each of ``steps >= 1`` steps;
    ``state``: ``None`` (``v_rest``, not materialised) or a state, checked here against one
    step of ``x`` (first, whatever the backend decides); ``k``, ``pool``, ``steps``: as for
    :func:`lif_fused`. The caller has checked ``x`` itself.
    """
    if backend == "torch":
        return None
    xs = x if steps is None else x.unsqueeze(0)
    v0 = None if state is None else _check_state(state, xs[0], spec).v
    check, run, name = why_not, run_checked, "fused kernel"
    if backend == "triton" or (backend == "auto" and x.device.type == "cuda"):  # the GPU kernels
        from neurosim.snn import triton as gpu

        if not gpu.ready(x, k, backend):
            return None
        check, run, name = gpu.why_not, gpu.run, "Triton kernel"
    reason = check(xs, spec, k) or (why_not_pool(xs) if pool else "")
    if reason:
        if backend != "auto":
            raise ValueError(f"the {name} does not support this input/spec ({reason}); use backend='auto' or 'torch'")
        return None
    out, v = run(x, v0, spec, k, pool, steps)
    return out, LIFState(v)


class _NonFinite(Exception):
    """Raised by the forward when a final membrane is NaN or infinite (:func:`run_checked`
    turns it into a ``ValueError`` that names what was not finite)."""


class _FusedLIF(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x2, v0, k, spec, store, pool_w, steps, options):
        ctx.set_materialize_grads(False)
        M = x2.shape[1]
        T = steps  # x2 is [T, M], or [1, M]: the same input at every step
        threads = 1 if T * M < options.parallel_min_steps else None
        _, _, P, F, nblocks, work, bwd_block, team = plan(spec, options, x2, T, M, store, pool_w, threads,
                                                          k is not None)
        if k is not None:  # the leak changes with every optimiser step
            P = with_leak(P, float(k))
        spikes = BUFFER_CACHE.empty((T, M // 4 if pool_w else M), x2.dtype)
        v_out = torch.empty(M, dtype=x2.dtype)
        H = BUFFER_CACHE.empty((T, M), x2.dtype) if store else None
        if F[F_STREAM] and H.data_ptr() % STREAM_ALIGN:  # never seen (both allocators align to 64 bytes)
            F = F.copy()
            F[F_STREAM] = 0
        bad = np.empty(nblocks, dtype=np.int64)  # per block: non-finite final membranes
        blocks.run_blocks(lif_bptt_forward, nblocks, work, x2.detach().numpy(),
                   _NONE1[x2.dtype] if v0 is None else v0.detach().numpy(), spikes.numpy(), v_out.numpy(),
                   _NONE2[x2.dtype] if H is None else H.numpy(), P, F, bad, threads=threads, team=team)
        if bad.any() or (FASTMATH and not bool(torch.isfinite(v_out).all())):
            raise _NonFinite
        ctx.save_for_backward(x2, v0, H)
        ctx.P, ctx.F, ctx.has_k, ctx.consumed, ctx.threads, ctx.team = P, F, k is not None, False, threads, team
        ctx.steps, ctx.bwd_block, ctx.options = T, bwd_block, options
        return spikes, v_out

    @staticmethod
    @once_differentiable
    def backward(ctx, g_spikes, g_v):
        x2, v0, H = ctx.saved_tensors
        dt = x2.dtype
        M = x2.shape[1]
        T = ctx.steps
        F = ctx.F
        if g_spikes is None:
            g_spikes = torch.zeros((1, M // 4 if F[F_POOL_W] else M), dtype=dt)
        else:
            if g_spikes.dtype != dt:
                g_spikes = g_spikes.to(dt)
            if g_spikes.stride(0) == 0:  # same gradient at every step (e.g. spikes.sum()): [1, M]
                g_spikes = g_spikes[:1]
            if not g_spikes.is_contiguous():
                g_spikes = g_spikes.contiguous()
        gv_T = _NONE1[dt] if g_v is None else g_v.to(dt).contiguous().numpy()  # absent: zero
        stored = H is not None and not ctx.consumed
        block = ctx.bwd_block
        if H is not None and ctx.consumed:  # a second backward: the membranes were overwritten, recompute them
            F = F.copy()
            block = F[F_BWD_BLOCK] = recompute_block(T, x2.element_size(), int(F[F_BLOCK]), int(F[F_POOL_W]),
                                                     ctx.options)
        # the gradient replaces the stored membranes (no fresh [T, M] buffer, no write-allocate);
        # a static input's gradient is [1, M] (summed over steps)
        inplace = stored and ctx.options.grad_over_membrane and x2.shape[0] == T
        if inplace:
            gx, gx_arr = H, _NONE2[dt]
            ctx.consumed = True
        else:
            gx = BUFFER_CACHE.empty(tuple(x2.shape), dt)
            gx_arr = gx.numpy()
        need_v0 = v0 is not None and ctx.needs_input_grad[1]
        gv0 = torch.empty(M, dtype=dt) if need_v0 else None
        nblocks = n_blocks(M, block)
        need_k = ctx.has_k and ctx.needs_input_grad[2]
        gk_part = np.zeros(nblocks) if need_k else _NONE_F64
        blocks.run_blocks(lif_bptt_backward, nblocks, backward_work(F, T, stored), x2.detach().numpy(),
                   _NONE1[dt] if v0 is None else v0.detach().numpy(), H.numpy() if stored else _NONE2[dt],
                   g_spikes.numpy(), gv_T, gx_arr, _NONE1[dt] if gv0 is None else gv0.numpy(),
                   gk_part, ctx.P, F, threads=ctx.threads, team=ctx.team)
        gk = torch.tensor(gk_part.sum(), dtype=dt) if need_k else None
        return gx, gv0, gk, None, None, None, None, None


def lif_fused(x: torch.Tensor, v0: torch.Tensor | None, spec: LIFSpec, k: torch.Tensor | None = None,
              pool: bool = False, steps: int | None = None):
    """Multi-step LIF through the Numba kernels: ``(spikes [T, B, ...], v_T [B, ...])``.

    ``pool=True``: ``x`` is ``[T, B, ..., H, W]`` (``H``, ``W`` even) and the first output is
    ``avg_pool2d(spikes, 2)`` ``[T, B, ..., H/2, W/2]``, computed inside the kernel (the spikes
    are never written out); same values and gradients as pooling the spikes with torch.

    ``steps=T``: ``x`` is one step ``[B, ...]`` applied at each of ``T`` steps (a static input):
    same outputs as ``x.expand(T, ...)`` without materialising it; the gradient w.r.t. ``x`` is
    the sum over the steps (computed in the kernel).

    ``v0`` ``[B, ...]`` is the initial membrane; ``None`` starts from ``v_rest`` (as
    :meth:`LIFState.initial`) without materialising it.

    ``k`` (optional 0-d tensor) is a learnable leak fraction per step (``1/tau``), used as
    ``h = v + (x - (v - v_rest)) * k`` (parametric LIF); its gradient is accumulated in float64.
    """
    if steps is not None and int(steps) < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    xs = x if steps is None else x.unsqueeze(0)
    reason = why_not(xs, spec, k) or (why_not_pool(xs) if pool else "")
    if reason:
        raise ValueError(f"lif_fused cannot run: {reason}")
    return run_checked(x, v0, spec, k, pool, steps)


def run_checked(x: torch.Tensor, v0: torch.Tensor | None, spec: LIFSpec, k: torch.Tensor | None = None,
                pool: bool = False, steps: int | None = None):
    """:func:`lif_fused` without its checks, for callers that ran :func:`why_not` (and
    :func:`why_not_pool`) on ``x`` (``x.unsqueeze(0)`` with ``steps``) and ``steps >= 1``."""
    x2, T, step_shape, v, k = as_rows(x, v0, k, steps, x.dtype)
    options = get_fused_options()  # read once: the backward uses the forward's options
    store = (options.store_membrane and T * x2.shape[1] * x2.element_size() <= options.store_membrane_max_bytes
             and needs_grad(x2, v, k))
    pool_w = int(step_shape[-1]) if pool else 0
    try:
        spikes, v_out = _FusedLIF.apply(x2, v, k, spec, store, pool_w, T, options)
    except _NonFinite:
        raise nonfinite_error(x, v0) from None
    return out_views(spikes, v_out, T, step_shape, pool)


def as_rows(x: torch.Tensor, v0: torch.Tensor | None, k: torch.Tensor | None, steps: int | None, state_dtype):
    """A call as the kernels see it: ``(x2, T, step_shape, v, k)``: ``x`` as contiguous rows
    ``[T, M]`` (``[1, M]`` with ``steps``), the number of steps, the shape of one step, ``v0``
    flat and contiguous and ``k`` 0-d, both in ``state_dtype`` (or ``None``)."""
    if steps is not None:
        x = x.unsqueeze(0)
    T = x.shape[0] if steps is None else int(steps)
    x2 = x.reshape(x.shape[0], -1)
    if not x2.is_contiguous():
        x2 = x2.contiguous()
    v = None
    if v0 is not None:
        v = v0.to(state_dtype).reshape(-1)
        if not v.is_contiguous():
            v = v.contiguous()
    if k is not None:
        k = k.to(state_dtype).reshape(())
    return x2, T, x.shape[1:], v, k


def needs_grad(x2: torch.Tensor, v: torch.Tensor | None, k: torch.Tensor | None) -> bool:
    """Whether autograd will want the backward of a kernel call on these inputs."""
    return torch.is_grad_enabled() and (x2.requires_grad or (v is not None and v.requires_grad)
                                        or (k is not None and k.requires_grad))


def out_views(spikes: torch.Tensor, v_out: torch.Tensor, T: int, step_shape, pool: bool):
    """The kernels' flat outputs as ``(spikes [T, *step_shape] (pooled: last two dims halved),
    v_T [*step_shape])``."""
    shape = (T, *step_shape)
    out_shape = (*shape[:-2], shape[-2] // 2, shape[-1] // 2) if pool else shape
    return spikes.view(out_shape), v_out.view(step_shape)


# -- the module switches of earlier versions: read-only views of the current options ----------
_SWITCHES = {"BLOCK": "block", "STORE_MEMBRANE": "store_membrane",
             "STORE_MEMBRANE_MAX_BYTES": "store_membrane_max_bytes", "GRAD_OVER_MEMBRANE": "grad_over_membrane",
             "STREAM_MEMBRANE": "stream_membrane", "STREAM_MIN_BYTES": "stream_min_bytes",
             "PARALLEL_MIN_STEPS": "parallel_min_steps"}


def __getattr__(name: str):
    if name in _SWITCHES:
        return getattr(get_fused_options(), _SWITCHES[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Module(types.ModuleType):
    """Assigning an old switch would silently change nothing: it raises instead."""

    def __setattr__(self, name, value):
        if name in _SWITCHES:
            raise AttributeError(f"{__name__}.{name} is an option now: use `with fused_options("
                                 f"{_SWITCHES[name]}=...)` or set_fused_options({_SWITCHES[name]}=...)")
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Module
