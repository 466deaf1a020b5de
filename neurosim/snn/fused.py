"""Fused multi-step LIF on CPU: Numba forward and BPTT backward behind ``torch.autograd.Function``.

:func:`neurosim.snn.functional.lif.lif_run` (and so :class:`~neurosim.snn.LIF`,
:class:`~neurosim.snn.LIFLayer`) calls :func:`lif_fused` automatically for CPU float32/float64
tensors; other devices and dtypes use the pure-torch step loop, which gives identical spikes
(``tests/test_snn_fused.py``).

Memory: forward allocates its outputs (spikes ``[T, B, ...]`` and the final membrane) and,
when the input needs a gradient, :data:`STORE_MEMBRANE` is true (default) and the sequence is
at most :data:`STORE_MEMBRANE_MAX_BYTES`, one ``[T, B, ...]`` buffer of the charged membranes
that the backward reads; otherwise autograd keeps only the input and the initial membrane and
the backward recomputes the membranes block by block (``kernels/bptt.py``). Storing saves the
recomputation; recomputing moves fewer bytes (20 instead of 24 per neuron-step) and keeps no
extra buffer. Measured on the 2-core benchmark machine, storing was faster in every case tried
(16 MiB and 6 MiB layer sequences, the 51 MiB first layer of the training ConvNet), so the
limit only keeps very long sequences from doubling their memory. The backward then writes the
input gradient over the stored membranes (:data:`GRAD_OVER_MEMBRANE`): no fresh ``[T, B, ...]``
buffer and no write-allocate read of one (32 instead of 36 bytes per neuron-step moved, counting
write-allocates); a second backward through the same graph (``retain_graph=True``) recomputes
the membranes. Large stored-membrane buffers (:data:`STREAM_MIN_BYTES`) are written with
streaming stores (:data:`STREAM_MEMBRANE`): the backward reads them after the rest of the
network ran, so caching them only costs a write-allocate read and cache space. No dtype
conversions; ``.numpy()`` views share memory with the tensors; a non-contiguous input or
upstream gradient is made contiguous once.

Buffer cache: the ``[T, B, ...]`` buffers (spikes, stored membranes, input gradient) of at
least 1 MiB come from a small cache of freed buffers (:func:`set_buffer_cache`). Fresh large
tensors cost a page fault per 4 KiB page on first touch (glibc returns freed blocks of this
size to the kernel), which on the benchmark machine took longer than the kernels themselves.
A cached buffer goes back to the cache when the last tensor (or view) using it is freed; at
most ``NEUROSIM_BUFFER_CACHE_MB`` (default 256) MiB of free buffers are kept, ``0`` turns the
cache off. Tensors from the cache are ordinary CPU tensors except that their storage cannot be
resized (``torch.from_numpy`` memory). Cached buffers start on a 64-byte boundary (NumPy's
allocator gives 16 bytes), so rows of the ``[T, M]`` buffers start on cache lines.

Threads: calls of at least :data:`PARALLEL_MIN_STEPS` neuron-steps split their blocks over
``numba.get_num_threads()`` threads. When PyTorch runs on GNU OpenMP (the Linux wheels) the
ranges run as an OpenMP parallel region of PyTorch's own ``libgomp``
(``neurosim.kernels.omp``; :func:`use_torch_threads`), so the kernels use the threads that
PyTorch's operators leave spinning for ~8 ms after each parallel operator, instead of
competing with them for the cores; otherwise on neurosim's thread pool.

Non-finite input: the forward kernel counts, per block, the final membranes that are NaN or
infinite (a non-finite input value or initial membrane makes every later membrane of its
neuron non-finite, see ``kernels/bptt.py``), one compare per neuron against ``T`` steps of
work; a non-zero count raises ``ValueError`` naming the input (:func:`run_checked`).

Per-call Python: with cold caches (the state a layer meets in a network, after other layers
ran) every distinct Python or torch operation around the kernels costs 10-130 us, ~1 ms per
forward + backward of the T32 B64 N2048 benchmark case against ~4.5 ms of kernels. So the
kernel configuration (``P``, ``F``, block counts) of recent calls is kept per spec object and
shape (``_PLANS``), absent arrays are shared zero-length stand-ins, and the layers check their
input once (:func:`run_checked` after :func:`why_not`).
"""
from __future__ import annotations

import math
import os
import threading
import weakref
from collections import OrderedDict, deque

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from neurosim.config import FASTMATH
from neurosim.snn.functional.lif import LIFSpec, nonfinite_error

__all__ = ["use_torch_threads", "torch_openmp_library", "supports", "why_not", "why_not_pool", "lif_fused",
           "run_checked", "kernel_arrays", "backward_block", "BLOCK", "STORE_MEMBRANE", "STORE_MEMBRANE_MAX_BYTES",
           "GRAD_OVER_MEMBRANE", "STREAM_MEMBRANE", "STREAM_MIN_BYTES", "PARALLEL_MIN_STEPS", "set_buffer_cache",
           "buffer_cache_info", "cached_empty", "FLOAT_DTYPES"]

#: largest forward block (neurons; time loop inside, contiguous innermost loop); calls with
#: fewer neurons per worker thread use one block per thread
BLOCK = 16384
#: keep the charged membranes of the forward for the backward (one extra ``[T, ...]`` buffer)
#: instead of recomputing them (less memory, more arithmetic)
STORE_MEMBRANE = True
#: largest ``[T, ...]`` sequence (bytes) whose membranes are stored rather than recomputed
STORE_MEMBRANE_MAX_BYTES = 256 << 20
#: sequences of fewer neuron-steps (``T * B * neurons``) run on one thread: handing work to a
#: second thread costs ~0.15 ms per kernel call on the 2-core machine (T4 B32 N512 forward +
#: backward: 0.32 ms on one thread, 0.63 ms on two; T4 B64 N2048: 0.76 vs 0.97 ms; T20 B64 N800,
#: 1.0e6 steps: 1.33 vs 1.07 ms)
PARALLEL_MIN_STEPS = 3 << 18
#: the backward writes the input gradient over the stored membranes (a second backward through
#: the same graph, ``retain_graph=True``, then recomputes them from the input)
GRAD_OVER_MEMBRANE = True
#: the forward writes the stored membranes with streaming (non-temporal) stores: no
#: write-allocate read of the ``[T, M]`` buffer, which the backward reads much later (after the
#: rest of the network), and no cache space taken from the next layer's data
STREAM_MEMBRANE = True
#: ... for stored membrane buffers of at least this many bytes: a smaller one stays in the
#: last-level cache until the backward reads it (measured on the 2-core machine, 32 MiB L3:
#: forward+backward 16 MiB buffer -0.15 to -0.4 ms; 6.5 and 2 MiB buffers +0.05 / +0.07 ms)
STREAM_MIN_BYTES = 12 << 20

_FORMS = {"spikingjelly": 0, "snntorch": 1, "norse": 2, "parametric": 3}
_RESETS = {"zero": 0, "subtract": 1, "none": 2}
_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}
_NP_DTYPES = {t: np.dtype(d) for t, d in _DTYPES.items()}
#: zero-length stand-ins for absent arrays (an initial state of v_rest, no stored membranes, ...)
_NONE1 = {t: np.empty(0, dtype=d) for t, d in _DTYPES.items()}
_NONE2 = {t: np.empty((0, 0), dtype=d) for t, d in _DTYPES.items()}
_NONE_F64 = np.empty(0, dtype=np.float64)
#: the dtypes the Numba CPU paths take (LIF kernels, BatchNorm2d, Conv2d)
FLOAT_DTYPES = tuple(_DTYPES)


def torch_openmp_library() -> str | None:
    """Path of the GNU OpenMP library PyTorch runs its CPU operators on (``None`` when PyTorch
    was built without OpenMP or uses another runtime)."""
    import glob

    if not torch._C.has_openmp:
        return None
    found = sorted(glob.glob(os.path.join(os.path.dirname(torch.__file__), "lib", "libgomp*.so*")))
    return found[0] if found else None


def use_torch_threads(flag: bool = True) -> bool:
    """Run the kernel halves of multi-threaded fused calls on PyTorch's OpenMP threads (default
    when PyTorch uses GNU OpenMP; see ``neurosim.kernels.omp``) or, ``False``, on neurosim's own
    thread pool. Returns whether PyTorch's threads are used."""
    from neurosim.kernels import omp

    return omp.configure(torch_openmp_library() if flag else None)


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


class _BufferCache:
    """Free large buffers by size, handed out as tensors and taken back when their memory dies.

    Over budget, the sizes used least recently are dropped first (so a change of batch size does
    not leave the cache full of buffers nobody asks for). A free buffer is kept as its
    allocation and the 64-byte aligned byte view handed out (no address arithmetic per call).

    Taking buffers back runs no Python code while the array dies: its weak reference's callback
    is the C method ``deque.append`` (a Python callback, like ``weakref.finalize``, can be where
    a pending Ctrl-C is raised, and an exception there is printed as "Exception ignored" and
    lost). The dead references are collected on the next :meth:`empty` (or :meth:`info`) call."""

    MIN_BYTES = 1 << 20
    ALIGN = 64

    def __init__(self, max_bytes: int):
        self.max_bytes = int(max_bytes)
        self._free: OrderedDict[int, list] = OrderedDict()  # nbytes -> free (base, view), LRU first
        self._free_bytes = 0
        self.lock = threading.RLock()
        self._lent: dict[int, tuple] = {}  # id(weakref) -> (weakref, buffer) of buffers handed out
        self._dead = deque()  # weakrefs of handed-out arrays that died (appended by C code, any thread)

    @property
    def free(self) -> OrderedDict:
        """Free buffers by size (after taking back the ones whose arrays died)."""
        self._collect()
        return self._free

    @property
    def free_bytes(self) -> int:
        """Bytes held in free buffers (after taking back the ones whose arrays died)."""
        self._collect()
        return self._free_bytes

    def empty(self, shape, dtype: torch.dtype) -> torch.Tensor:
        np_dtype = _NP_DTYPES[dtype]
        nbytes = math.prod(shape) * np_dtype.itemsize
        if self._dead:
            self._collect()
        if nbytes < self.MIN_BYTES or self.max_bytes <= 0:
            return torch.empty(shape, dtype=dtype)
        buf = None
        with self.lock:
            stack = self._free.get(nbytes)
            if stack is not None:
                self._free.move_to_end(nbytes)
                if stack:
                    buf = stack.pop()
                    self._free_bytes -= nbytes
        if buf is None:  # 64 spare bytes: the buffer starts on a 64-byte line (streaming stores)
            base = np.empty(nbytes + self.ALIGN, dtype=np.uint8)
            off = (-base.ctypes.data) % self.ALIGN
            buf = (base, base[off:off + nbytes])
        arr = buf[1].view(np_dtype).reshape(shape)
        ref = weakref.ref(arr, self._dead.append)
        with self.lock:
            self._lent[id(ref)] = (ref, buf)
        return torch.from_numpy(arr)

    def _collect(self) -> None:
        """Take back the buffers whose arrays died since the last call."""
        with self.lock:
            while self._dead:
                _, buf = self._lent.pop(id(self._dead.popleft()))
                self._give_back(buf)

    def _give_back(self, buf) -> None:
        nbytes = buf[1].nbytes
        if nbytes > self.max_bytes:
            return
        while self._free_bytes + nbytes > self.max_bytes:  # drop least recently used sizes
            size, stack = next(iter(self._free.items()))
            if stack:
                stack.pop()
                self._free_bytes -= size
            else:
                del self._free[size]
        self._free.setdefault(nbytes, []).append(buf)
        self._free.move_to_end(nbytes)
        self._free_bytes += nbytes

    def clear(self) -> None:
        with self.lock:
            self._collect()
            self._free.clear()
            self._free_bytes = 0

    def info(self) -> dict:
        """``{"max_bytes", "free_bytes", "buffers"}``."""
        with self.lock:
            self._collect()
            return {"max_bytes": self.max_bytes, "free_bytes": self._free_bytes,
                    "buffers": sum(len(v) for v in self._free.values())}


_CACHE = _BufferCache(float(os.environ.get("NEUROSIM_BUFFER_CACHE_MB", "256")) * 2**20)


def cached_empty(shape, dtype: torch.dtype) -> torch.Tensor:
    """An uninitialised float32/float64 CPU tensor from the buffer cache (``torch.empty`` below 1 MiB)."""
    return _CACHE.empty(tuple(shape), dtype)


def set_buffer_cache(max_bytes: int) -> None:
    """Keep at most ``max_bytes`` of freed ``[T, ...]`` buffers for reuse (0: no cache); drops
    the buffers cached so far."""
    _CACHE.clear()
    _CACHE.max_bytes = int(max_bytes)


def buffer_cache_info() -> dict:
    """``{"max_bytes", "free_bytes", "buffers"}`` of the buffer cache."""
    return _CACHE.info()


def forward_block(M: int, align: int = 64, threads: int | None = None) -> int:
    """Neurons per forward block: ``M`` split over the worker threads (``threads``, default all),
    a multiple of ``align`` (``2 W`` with pooling: whole pairs of image rows), at most
    :data:`BLOCK` (rounded down to ``align``, at least one ``align``)."""
    from neurosim.kernels.bptt import n_workers

    per = -(-M // (n_workers() if threads is None else threads))
    cap = max(align, BLOCK // align * align)
    return max(1, min(cap, -(-per // align) * align))


def backward_block(T: int, itemsize: int) -> int:
    """Neurons per backward block when the membranes are recomputed: at most 4096 (long
    contiguous rows), with the ``[T, block]`` membranes within ~2 MiB (L2/L3)."""
    block = 4096
    while block > 256 and T * block * itemsize > 2 * 1024 * 1024:
        block //= 2
    return block


def _bwd_block(block: int, T: int, itemsize: int, pool_w: int) -> int:
    """Recompute-backward block: :func:`backward_block`, whole row pairs with pooling."""
    b = min(block, backward_block(T, itemsize))
    if pool_w:
        b = max(2 * pool_w, b // (2 * pool_w) * 2 * pool_w)
    return b


def kernel_arrays(spec: LIFSpec, dtype, k: float | None = None, T: int = 1, block: int | None = None,
                  store: bool = False, pool_w: int = 0, stream: bool = False):
    """The ``P`` (dtype) and ``F`` (int64) arrays that configure the kernels for ``spec``
    (``block``: forward block; ``store``: the backward reads stored membranes; ``pool_w``:
    image width for the fused 2x2 average pooling, 0 for none; ``stream``: the forward writes
    the stored membranes with streaming stores, which needs their rows and blocks on 32-byte
    boundaries: the caller checks the row length, see :func:`_stream_ok`)."""
    c1, c2 = _surrogate_constants(spec.surrogate)
    block = BLOCK if block is None else int(block)
    th = np.asarray(spec.v_th, dtype=dtype)
    if spec.strict:  # h > v_th  <=>  h >= next float above v_th (never true for v_th = inf)
        th_fire = np.nextafter(th, np.asarray(np.inf, dtype=dtype)) if np.isfinite(th) else np.nan
    else:
        th_fire = th
    if k is not None:
        form, kb = 3 if spec.form != "norse" else 2, k
    else:
        form = _FORMS[spec.form]
        kb = spec.decay if spec.form == "snntorch" else spec.k
    P = np.array([spec.tau, spec.v_th, spec.v_reset, spec.v_rest, kb, c1, c2, 1.0, 0.0,
                  spec.v_th - spec.v_reset, th_fire], dtype=dtype)
    F = np.array([form, int(spec.decay_input), int(spec.strict), _RESETS[spec.reset],
                  int(spec.detach_reset), int(spec.reset_delay), spec.surrogate.kernel_id, block,
                  block if store else _bwd_block(block, T, np.dtype(dtype).itemsize, pool_w), pool_w, T,
                  int(stream and store and block % (32 // np.dtype(dtype).itemsize) == 0)], dtype=np.int64)
    return P, F


def _stream_ok(T: int, M: int, x2: torch.Tensor) -> bool:
    """Streaming stores of the membranes: on (:data:`STREAM_MEMBRANE`), a ``[T, M]`` buffer of
    at least :data:`STREAM_MIN_BYTES` and rows of ``M`` elements a multiple of 32 bytes (the
    buffers themselves start on 64-byte lines)."""
    size = x2.element_size()
    return STREAM_MEMBRANE and T * M * size >= STREAM_MIN_BYTES and M % (32 // size) == 0


#: kernel configurations of recent calls: (P, F, forward blocks, forward scratch, backward block)
_PLANS: dict = {}
_PLANS_MAX = 128


def _configure(spec: LIFSpec, x2: torch.Tensor, T: int, M: int, store: bool, pool_w: int, threads, k):
    """``(P, F, n forward blocks, forward scratch, backward block)`` of one call."""
    block = forward_block(M, 2 * pool_w if pool_w else 64, threads)
    P, F = kernel_arrays(spec, _DTYPES[x2.dtype], k, T=T, block=block, store=store, pool_w=pool_w,
                         stream=_stream_ok(T, M, x2))
    return P, F, -(-M // block), 4 * block, int(F[8])


def _plan(spec: LIFSpec, x2: torch.Tensor, T: int, M: int, store: bool, pool_w: int, threads):
    """:func:`_configure` for a call without learnable tau, kept for the next call of the same
    layer (configuring costs ~0.1 ms with cold caches)."""
    from neurosim.kernels.bptt import n_workers

    nw = n_workers() if threads is None else threads
    key = (id(spec), x2.dtype, T, M, store, pool_w, nw, BLOCK, backward_block, STREAM_MEMBRANE, STREAM_MIN_BYTES)
    plan = _PLANS.get(key)
    if plan is None or plan[0] is not spec:
        plan = (spec, *_configure(spec, x2, T, M, store, pool_w, nw, None))
        if len(_PLANS) >= _PLANS_MAX:
            _PLANS.clear()
        _PLANS[key] = plan
    return plan[1:]


class _NonFinite(Exception):
    """Raised by the forward when a final membrane is NaN or infinite (:func:`run_checked`
    turns it into a ``ValueError`` that names what was not finite)."""


class _FusedLIF(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x2, v0, k, spec, store, pool_w, steps):
        from neurosim.kernels.bptt import lif_bptt_forward, run_blocks

        ctx.set_materialize_grads(False)
        M = x2.shape[1]
        T = steps  # x2 is [T, M], or [1, M]: the same input at every step
        threads = 1 if T * M < PARALLEL_MIN_STEPS else None
        if k is None:
            P, F, nblocks, work, bwd_block = _plan(spec, x2, T, M, store, pool_w, threads)
        else:  # the leak changes with every optimiser step: configured per call
            P, F, nblocks, work, bwd_block = _configure(spec, x2, T, M, store, pool_w, threads, float(k))
        spikes = _CACHE.empty((T, M // 4 if pool_w else M), x2.dtype)
        v_out = torch.empty(M, dtype=x2.dtype)
        H = _CACHE.empty((T, M), x2.dtype) if store else None
        if F[11] and H.data_ptr() % 32:  # never seen (both allocators align to 64 bytes)
            F = F.copy()
            F[11] = 0
        bad = np.empty(nblocks, dtype=np.int64)  # per block: non-finite final membranes
        run_blocks(lif_bptt_forward, nblocks, work, x2.detach().numpy(),
                   _NONE1[x2.dtype] if v0 is None else v0.detach().numpy(), spikes.numpy(), v_out.numpy(),
                   _NONE2[x2.dtype] if H is None else H.numpy(), P, F, bad, threads=threads)
        if bad.any() or (FASTMATH and not bool(torch.isfinite(v_out).all())):
            raise _NonFinite
        ctx.save_for_backward(x2, v0, H)
        ctx.spec, ctx.P, ctx.F, ctx.has_k, ctx.consumed, ctx.threads = spec, P, F, k is not None, False, threads
        ctx.steps, ctx.bwd_block = T, bwd_block
        return spikes, v_out

    @staticmethod
    @once_differentiable
    def backward(ctx, g_spikes, g_v):
        from neurosim.kernels.bptt import lif_bptt_backward, run_blocks

        x2, v0, H = ctx.saved_tensors
        dt = x2.dtype
        M = x2.shape[1]
        T = ctx.steps
        F = ctx.F
        if g_spikes is None:
            g_spikes = torch.zeros((1, M // 4 if F[9] else M), dtype=dt)
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
            block = F[8] = _bwd_block(int(F[7]), T, x2.element_size(), int(F[9]))
        # the gradient replaces the stored membranes (no fresh [T, M] buffer, no write-allocate);
        # a static input's gradient is [1, M] (summed over steps)
        inplace = stored and GRAD_OVER_MEMBRANE and x2.shape[0] == T
        if inplace:
            gx, gx_arr = H, _NONE2[dt]
            ctx.consumed = True
        else:
            gx = _CACHE.empty(tuple(x2.shape), dt)
            gx_arr = gx.numpy()
        need_v0 = v0 is not None and ctx.needs_input_grad[1]
        gv0 = torch.empty(M, dtype=dt) if need_v0 else None
        nblocks = -(-M // block)
        need_k = ctx.has_k and ctx.needs_input_grad[2]
        gk_part = np.zeros(nblocks) if need_k else _NONE_F64
        run_blocks(lif_bptt_backward, nblocks, (6 if stored else T + 6) * block, x2.detach().numpy(),
                   _NONE1[dt] if v0 is None else v0.detach().numpy(), H.numpy() if stored else _NONE2[dt],
                   g_spikes.numpy(), gv_T, gx_arr, _NONE1[dt] if gv0 is None else gv0.numpy(),
                   gk_part, ctx.P, F, threads=ctx.threads)
        gk = torch.tensor(gk_part.sum(), dtype=dt) if need_k else None
        return gx, gv0, gk, None, None, None, None


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
    if steps is not None:
        x = x.unsqueeze(0)
    T = x.shape[0] if steps is None else int(steps)
    step_shape = x.shape[1:]
    x2 = x.reshape(x.shape[0], -1)
    if not x2.is_contiguous():
        x2 = x2.contiguous()
    v = None
    if v0 is not None:
        v = v0.to(x.dtype).reshape(-1)
        if not v.is_contiguous():
            v = v.contiguous()
    if k is not None:
        k = k.to(x.dtype).reshape(())
    store = (STORE_MEMBRANE and T * x2.shape[1] * x2.element_size() <= STORE_MEMBRANE_MAX_BYTES
             and torch.is_grad_enabled()
             and (x2.requires_grad or (v is not None and v.requires_grad) or (k is not None and k.requires_grad)))
    pool_w = int(x.shape[-1]) if pool else 0
    try:
        spikes, v_out = _FusedLIF.apply(x2, v, k, spec, store, pool_w, T)
    except _NonFinite:
        raise nonfinite_error(x, v0) from None
    shape = (T, *step_shape)
    out_shape = (*shape[:-2], shape[-2] // 2, shape[-1] // 2) if pool else shape
    return spikes.view(out_shape), v_out.view(step_shape)


use_torch_threads()
