r"""Fused multi-step LIF forward and backward (BPTT with a surrogate gradient).

Layout: input ``x`` is ``[T, M]`` (time first, ``M = B * neurons``, C-contiguous). Work is
split into blocks of ``block`` neurons; inside a block the time loop is outside and the
innermost loop walks the block contiguously (a per-neuron time loop with stride ``M`` is
several times slower). Blocks are independent: :func:`run_blocks` runs disjoint ranges of
blocks on ``numba.get_num_threads()`` Python threads (the serial kernels release the GIL).
Serial kernels plus threads compile in about half the time of a ``prange`` version.

Per step (see ``neurosim.snn.functional.lif``; ``form`` fixes the order of operations)::

    form 0 (spikingjelly):  h = v + (x - (v - v_rest)) / tau        | v - (v - v_rest) / tau + x
    form 1 (snntorch):      h = beta v + x  [+ (1 - beta) x, v_rest] (delayed reset optional)
    form 2 (norse):         h = v + k ((v_rest - v) + x)            | v + k (v_rest - v) + x
    form 3 (parametric):    h = v + (x - (v - v_rest)) k            | v - (v - v_rest) k + x
    s = H(h - v_th)  (strict: h > v_th)
    reset 0 zero:  v = s v_reset + (1 - s) h;  1 subtract: v = h - s (v_th - v_reset);  2 none: v = h

Backward needs the charged membranes ``h_t``. Either the forward stores them (``H`` ``[T, M]``,
one extra float buffer; the backward then streams over it in long contiguous rows) or, when
``H`` has length 0, the backward recomputes the forward of one block into a block-local buffer
``[T, block]`` (sized to stay in the L2 cache), so the only state kept between forward and
backward is the input and the initial membrane.

Fast rows: the spikingjelly and parametric charge forms without the delayed reset (every
convention but snntorch's) run charge, fire and reset in one branch-free loop per step that
LLVM vectorises; fire ``h > v_th`` is ``h >= nextafter(v_th, inf)`` (``P[10]``), which is the
same test for every non-NaN ``h``. The other forms run one pass per stage (``_step_block``).
The backward runs surrogate and gradient of one step in one loop per surrogate (``_bwd_row``,
``dv/dh`` as the branch-free ``c0 + c1 (1 - s) + (c2 - c3 h) g``). Per step, with
``g = surrogate'(h - v_th)`` (closed forms below, same as ``neurosim.snn.surrogate``)::

    dv/dh = (1 - s) + (v_reset - h) g    (zero; detached: 1 - s)
          = 1 - (v_th - v_reset) g       (subtract; detached: 1)
    gh_t  = gs_t g + gv_t dv/dh ;  gx_t = gh_t dh/dx ;  gv_{t-1} = gh_t dh/dv
    gk   += gh_t dh/dk                   (leak fraction k = 1/tau, for learnable tau)

Scalars travel in a small array ``P`` of the data's dtype (so float32 data is computed in
float32, as torch does) and flags in an int64 array ``F``:

``P``: tau, v_th, v_reset, v_rest, k_or_beta, c1, c2, one, zero, v_th - v_reset, fire threshold
(``v_th``, or the next float above it for the strict ``>``)
``F``: form, decay_input, strict, reset, detach_reset, reset_delay, surrogate id, forward block,
backward block, pool width ``W`` (0: none), steps ``T``, stream (1: the forward writes ``H`` with
streaming stores; fast rows only; every ``H`` row and block start on a 32-byte boundary)

Static input: ``x`` may be ``[1, M]`` for ``T = F[10] > 1`` steps (the same input at every step,
e.g. a static image after the first conv+BN); the backward then writes ``gx`` ``[1, M]``, the sum
over the steps of the per-step input gradients.

2x2 average pooling (``F[9] = W > 0``): the neurons are ``[..., H, W]`` images (``H``, ``W`` even)
and ``spikes`` is the pooled output ``[T, M / 4]`` (``avg_pool2d(s, 2)``: the mean of each 2x2
window; exact, the spikes are 0 or 1); the spikes themselves go to a scratch row only. The
backward takes the gradient w.r.t. the pooled output and spreads ``g / 4`` over each window
(exactly what ``avg_pool2d``'s backward computes). Blocks then start and end on pairs of image
rows (multiples of ``2 W``), so a block's pooled outputs are ``[m0 / 4, m1 / 4)``.

Surrogate ids: 0 atan ``c2 / (1 + (c1 x)^2)``; 1 sigmoid ``(1 - s) s c1``, ``s = 1/(1+e^{-c1 x})``;
2 fast sigmoid ``1 / (c1 |x| + 1)^2``; 3 triangle ``max(0, 1 - c1 |x|) c1``;
4 gaussian ``exp(-x^2 c1) c2``; 5 erf ``exp(-(c1 x)^2) c2``.

Numba only (numpy + numba + neurosim.config); kernels write into caller-allocated arrays.
"""
from __future__ import annotations

import os
import threading

import numba
import numpy as np

from neurosim.config import NJIT, PARALLEL
from neurosim.kernels import omp
from neurosim.kernels.bptt_rows import (_bwd_row, _dvdh_coefs, _fast_row, _pool_row, _step_block,
                                        _unpool_row)

__all__ = ["lif_bptt_forward", "lif_bptt_backward", "surrogate_grad", "run_blocks", "n_blocks",
           "forward_work", "backward_work", "n_workers",
           "N_PARAMS", "N_FLAGS"]

N_PARAMS = 11
N_FLAGS = 12

# IEEE division (x / 0 -> inf, as torch) instead of Python's ZeroDivisionError check, which
# also keeps divisions by per-element values (surrogates) from vectorising.
_NJIT = dict(NJIT, error_model="numpy")


# --------------------------------------------------------------------------------------------
# scalar surrogate (used by the tests and by the parameter-gradient pass)
@numba.njit(**_NJIT)
def _sg(x, sid, c1, c2, one, zero):
    """Closed-form surrogate derivative at ``x`` (dtype of ``x``)."""
    if sid == 0:
        ax = c1 * x
        return c2 / (one + ax * ax)
    if sid == 1:
        s = one / (one + np.exp(-(c1 * x)))
        return (one - s) * s * c1
    if sid == 2:
        d = c1 * abs(x) + one
        return one / (d * d)
    if sid == 3:
        r = one - c1 * abs(x)
        return r * c1 if r > zero else zero
    if sid == 4:
        return np.exp(-(x * x) * c1) * c2
    ax = c1 * x
    return np.exp(-(ax * ax)) * c2


@numba.njit(**_NJIT)
def surrogate_grad(x, out, P, F):
    """Evaluate the configured surrogate derivative element-wise (for tests): ``out = g(x)``."""
    for i in range(x.shape[0]):
        out[i] = _sg(x[i], F[6], P[5], P[6], P[7], P[8])


# --------------------------------------------------------------------------------------------
# the row passes (one step of one block) live in bptt_rows.py

@numba.njit(**_NJIT)
def _run_block(x, m0, m1, V, H, h0, Hrow, Srow, spikes, Vin, R, P, F, stream):
    """Forward of neurons ``[m0, m1)`` over all steps from the state in ``V``: writes ``h`` into
    ``H[t, h0:h0 + m1 - m0]`` (or into the scratch row ``Hrow`` when ``H`` is empty) and the
    spikes into ``spikes[t, m0:m1]`` (or ``Srow`` when ``spikes`` is empty; with pooling the
    spikes go to ``Srow`` and their 2x2 means to ``spikes[t, m0 / 4:m1 / 4]``)."""
    T = F[10]
    static = x.shape[0] == 1
    form, decay_input, strict, reset, reset_delay, pool = F[0], F[1], F[2], F[3], F[5], F[9]
    fast = (form == 0 or form == 3) and not reset_delay
    keep_h = H.shape[0] > 0
    keep_s = spikes.shape[0] > 0
    for t in range(T):
        Hr = H[t, h0:h0 + m1 - m0] if keep_h else Hrow
        Sr = spikes[t, m0:m1] if keep_s and pool == 0 else Srow
        if fast:
            _fast_row(x[0 if static else t, m0:m1], V, Hr, Sr, P, form, decay_input, reset, stream and keep_h)
        else:
            _step_block(x[0 if static else t, m0:m1], V, Hr, Sr, Vin, R, P, form, decay_input, strict, reset,
                        reset_delay)
        if keep_s and pool > 0:
            _pool_row(Sr, spikes[t], m0 // 4, pool, P, Vin)


@numba.njit(**_NJIT)
def _init_state(V, v0, m0, P):
    """``V = v0[m0:m0 + len(V)]``, or ``v_rest`` everywhere when ``v0`` is empty (fresh state)."""
    if v0.shape[0] > 0:
        V[:] = v0[m0:m0 + V.shape[0]]
    else:
        V[:] = P[3]


# --------------------------------------------------------------------------------------------
@numba.njit(**_NJIT)
def _count_nonfinite(V):
    """Number of NaN or infinite values in ``V`` (one compare per value; the count vectorises)."""
    n = 0
    for j in range(V.shape[0]):
        n += 0 if abs(V[j]) < np.inf else 1  # false for NaN and +-inf
    return n


@numba.njit(**_NJIT)
def _forward_block(x, v0, spikes, v_out, H, P, F, work, bad, b):
    """Forward of neurons ``[b * block, (b + 1) * block)`` over all steps (``work``: >= 3 block);
    ``bad[b]`` = how many of their final membranes are not finite."""
    M = x.shape[1]
    block = F[7]
    m0 = b * block
    m1 = min(M, m0 + block)
    n = m1 - m0
    V = v_out[m0:m1]
    _init_state(V, v0, m0, P)
    Srow = work[3 * n:4 * n] if F[9] > 0 else work[:0]
    _run_block(x, m0, m1, V, H, m0, work[:n], Srow, spikes, work[n:2 * n], work[2 * n:3 * n], P, F, F[11] != 0)
    bad[b] = _count_nonfinite(V)


@numba.njit(**_NJIT)
def lif_bptt_forward(x, v0, spikes, v_out, H, P, F, bad, work, b0, b1):
    """Forward over ``T`` steps of blocks ``b0 .. b1-1`` (``F[7]`` neurons each) from the
    initial membrane ``v0`` ``[M]`` (length 0: ``v_rest`` everywhere): writes ``spikes``
    ``[T, M]``, the final membrane ``v_out`` ``[M]`` of those neurons and, unless ``H`` has
    length 0, the charged membranes ``H`` ``[T, M]`` for the backward.

    ``bad`` (int64 ``[nblocks]``) receives per block the number of final membranes that are
    NaN or infinite: zero unless an input value or an initial membrane was non-finite (or the
    membrane overflowed). A NaN or infinite ``h`` can never turn finite again: every update of
    ``v`` is arithmetic in ``h`` (the reset multiplies it by ``1 - s``, and ``0 * inf`` is NaN)
    and every charge arithmetic in ``v`` and ``x`` with a non-zero input factor (or a zero one,
    and ``0 * inf`` is NaN again). So counting the final membranes of a block (``len(V)``
    compares against ``T len(V)`` steps) detects a non-finite value anywhere in its input.
    IEEE semantics are needed: with ``NEUROSIM_FASTMATH=1`` the compiler may assume finite
    values, and the caller checks with torch instead.

    ``work`` is scratch of at least ``forward_work(F)`` elements (dtype of ``x``). Blocks are
    independent: :func:`run_blocks` calls this on disjoint block ranges from several threads
    (the GIL is released), each with its own scratch.
    """
    for b in range(b0, b1):
        _forward_block(x, v0, spikes, v_out, H, P, F, work, bad, b)


@numba.njit(**_NJIT)
def _backward_block(x, v0, Hs, gs, gv_T, gx, gv0, gk_part, P, F, work, b):
    """BPTT of neurons ``[b * block, (b + 1) * block)`` (``block = F[8]``). The charged membranes
    come from ``Hs`` ``[T, M]`` (stored by the forward) or, when ``Hs`` is empty, are recomputed
    into ``work`` (>= (T + 6) block elements; >= 6 block with ``Hs``)."""
    M = x.shape[1]
    T = F[10]
    static = x.shape[0] == 1 and T > 1
    form, decay_input, strict, reset, detach, reset_delay, sid, block = (
        F[0], F[1], F[2], F[3], F[4], F[5], F[6], F[8])
    v_th, v_reset, vr, kb, one, zero, sub = P[1], P[2], P[3], P[4], P[7], P[8], P[9]
    need_k = gk_part.shape[0] > 0
    per_step = gs.shape[0] > 1
    if form == 1:
        dhdx = (one - kb) if decay_input else one
        dhdv = kb
    else:
        k = one / P[0] if form == 0 else kb
        dhdx = k if decay_input else one
        dhdv = one - k
    if reset_delay or reset == 2:
        gmode = 0
    elif reset == 0:
        gmode = 1 if detach else 2
    else:
        gmode = 0 if detach else 3
    m0 = b * block
    m1 = min(M, m0 + block)
    n = m1 - m0
    has_v0 = v0.shape[0] > 0
    stored = Hs.shape[0] > 0
    inplace = stored and gx.shape[0] == 0  # write the input gradient over the stored membranes
    off = 0 if stored else T * n
    V = work[off:off + n]
    S = work[off + n:off + 2 * n]
    Vin = work[off + 2 * n:off + 3 * n]
    R = work[off + 3 * n:off + 4 * n]
    Gp = work[off + 4 * n:off + 5 * n]  # gradient w.r.t. the spikes, unpooled
    Gx = work[off + 5 * n:off + 6 * n]  # static input: this step's input gradient
    pool = F[9]
    # H[t, h0:h0 + n]: the membranes of this block (both branches C-contiguous [T, *])
    H = Hs if stored else work[:T * n].reshape((T, n))
    h0 = m0 if stored else 0
    if not stored:
        _init_state(V, v0, m0, P)
        _run_block(x, m0, m1, V, H, 0, S, S, x[:0], Vin, R, P, F, False)  # recompute h of this block
    G = V  # reuse: carry = dL/dv_t
    if gv_T.shape[0] > 0:
        G[:] = gv_T[m0:m1]
    else:
        G[:] = zero
    coefs = _dvdh_coefs(gmode, P)
    acc = 0.0
    for t in range(T - 1, -1, -1):
        Hr = H[t, h0:h0 + n]
        if pool > 0:
            _unpool_row(gs[t if per_step else 0], m0 // 4, Gp, pool, P, Vin)
            gsr = Gp
        else:
            gsr = gs[t if per_step else 0, m0:m1]
        gxr = Gx if static or inplace else gx[t, m0:m1]
        _bwd_row(Hr, gsr, G, gxr, S, P, sid, coefs, dhdx, dhdv, need_k)  # S: gh (for need_k)
        if inplace:  # via the L1/L2 row Gx: LLVM vectorises neither an aliased Hr/gxr pair nor
            for j in range(n):  # the surrogate loops with a runtime overlap check that fails
                Hr[j] = Gx[j]
        if static:
            gsum = gx[0, m0:m1]
            if t == T - 1:
                gsum[:] = Gx
            else:
                for j in range(n):
                    gsum[j] += Gx[j]
        if reset_delay and reset == 0:  # the reset r_t = H(v_{t-1}) blocks dh_t/dv_{t-1}
            for j in range(n):
                vp = H[t - 1, h0 + j] if t > 0 else (v0[m0 + j] if has_v0 else vr)
                fired = vp > v_th if strict else vp >= v_th
                if fired:
                    G[j] = zero
        if need_k:
            for j in range(n):
                if t == 0:
                    vp = v0[m0 + j] if has_v0 else vr
                else:
                    hp = H[t - 1, h0 + j]
                    if reset == 2:
                        vp = hp
                    else:
                        fp = hp > v_th if strict else hp >= v_th
                        sp = one if fp else zero
                        vp = sp * v_reset + (one - sp) * hp if reset == 0 else hp - sp * sub
                dhdk = (x[0 if static else t, m0 + j] - (vp - vr)) if decay_input else (vr - vp)
                acc += S[j] * dhdk
    if gv0.shape[0] > 0:
        gv0[m0:m1] = G
    if need_k:
        gk_part[b] = acc


@numba.njit(**_NJIT)
def lif_bptt_backward(x, v0, H, gs, gv_T, gx, gv0, gk_part, P, F, work, b0, b1):
    """BPTT of blocks ``b0 .. b1-1`` (``F[8]`` neurons each): writes ``gx`` ``[T, M]``, ``gv0``
    ``[M]`` and per-block partial sums ``gk_part`` ``[nblocks]`` for those neurons.

    ``H`` ``[T, M]`` holds the charged membranes from :func:`lif_bptt_forward` (or has length
    0: then the membranes of one block over all steps are recomputed into ``work``; ``F[8]`` is
    sized by the caller to stay in the L2 cache). ``gs`` ``[T, M]`` is the gradient w.r.t. the
    spikes (or ``[1, M]``: the same for every step, e.g. from ``spikes.sum()``), ``gv_T``
    ``[M]`` w.r.t. the final membrane (length 0: zero); ``v0`` as in the forward; ``gv0`` of
    length 0 skips the gradient w.r.t. ``v0``. ``gk_part`` (float64, length ``ceil(M / F[8])``)
    receives ``sum gh dh/dk`` per block (``k = 1/tau``, the leak fraction); pass an array of
    length 0 to skip it. ``work``: scratch of at least ``backward_work(F, T, stored)`` elements.
    """
    for b in range(b0, b1):
        _backward_block(x, v0, H, gs, gv_T, gx, gv0, gk_part, P, F, work, b)


_POOL = None
_SCRATCH: dict = {}
_OMP_JOBS = {lif_bptt_forward: "forward", lif_bptt_backward: "backward"}
_LOCK = threading.Lock()


def _reset_after_fork():
    """A forked child (e.g. a DataLoader worker) has none of the parent's pool threads."""
    global _POOL, _LOCK
    _POOL = None
    _LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def n_workers() -> int:
    """Threads :func:`run_blocks` uses (``numba.get_num_threads()``; 1 with ``NEUROSIM_PARALLEL=0``)."""
    return max(1, numba.get_num_threads() if PARALLEL else 1)


def n_blocks(M: int, block: int) -> int:
    """Number of blocks of ``block`` neurons covering ``M``."""
    return (M + block - 1) // block


def forward_work(F) -> int:
    """Scratch elements per worker for :func:`lif_bptt_forward`."""
    return 4 * int(F[7])  # h, Vin, R, spikes before pooling


def backward_work(F, T: int, stored: bool = False) -> int:
    """Scratch elements per worker for :func:`lif_bptt_backward` (``stored``: ``H`` given)."""
    return (6 if stored else T + 6) * int(F[8])


def _scratch(worker: int, size: int, dtype) -> np.ndarray:
    """Per-worker scratch, kept between calls (no page faults on fresh memory every call)."""
    key = (worker, np.dtype(dtype).str)
    buf = _SCRATCH.get(key)
    if buf is None or buf.shape[0] < size:
        buf = np.empty(size, dtype=dtype)
        _SCRATCH[key] = buf
    return buf


def _scratch_rows(n: int, size: int, dtype) -> np.ndarray:
    """``[n, >= size]`` scratch, a row per team thread (OpenMP path), kept between calls."""
    key = ("rows", np.dtype(dtype).str)
    buf = _SCRATCH.get(key)
    if buf is None or buf.shape[0] < n or buf.shape[1] < size:
        old = (0, 0) if buf is None else buf.shape
        buf = np.empty((max(n, old[0]), max(size, old[1], 1)), dtype=dtype)
        _SCRATCH[key] = buf
    return buf[:n]  # rows may be longer than size: the kernels take scratch of at least that


def run_blocks(kernel, nblocks: int, work_size: int, *args, threads: int | None = None) -> None:
    """Call ``kernel(*args, work, b0, b1)`` on disjoint block ranges from ``numba.get_num_threads()``
    threads (one when ``NEUROSIM_PARALLEL=0``; at most ``threads`` when given), each with its own
    scratch ``work`` of ``work_size`` elements of ``args[0].dtype``; the kernels release the GIL.
    The LIF kernels run as an OpenMP parallel region of the configured library when
    :func:`neurosim.kernels.omp.available` (PyTorch's threads), others on a thread pool.
    Calls are serialised by a lock (the kernels already use every thread; the scratch is shared)."""
    global _POOL
    threads = min(n_workers() if threads is None else max(1, min(int(threads), n_workers())), nblocks)
    dtype = args[0].dtype
    with _LOCK:
        if threads == 1:
            kernel(*args, _scratch(0, work_size, dtype), 0, nblocks)
            return
        job = _OMP_JOBS.get(kernel)
        if job is not None and omp.available():
            omp.run(job, nblocks, threads, args, _scratch_rows(threads, work_size, dtype))
            return
        if _POOL is None or _POOL._max_workers < threads:
            from concurrent.futures import ThreadPoolExecutor

            _POOL = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="neurosim-bptt")
        bounds = [nblocks * i // threads for i in range(threads + 1)]
        futures = [_POOL.submit(kernel, *args, _scratch(i, work_size, dtype), bounds[i], bounds[i + 1])
                   for i in range(1, threads)]
        kernel(*args, _scratch(0, work_size, dtype), bounds[0], bounds[1])
        for f in futures:
            f.result()
