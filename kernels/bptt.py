r"""Fused multi-step LIF forward and backward (BPTT with a surrogate gradient).

Layout: input ``x`` is ``[T, M]`` (time first, ``M = B * neurons``, C-contiguous). Work is
split into blocks of ``block`` neurons; inside a block the time loop is outside and the
innermost loop walks the block contiguously (a per-neuron time loop with stride ``M`` is
several times slower). Blocks are independent: the public kernels take a block range
``b0 .. b1-1`` and their own scratch, and :func:`neurosim.kernels.blocks.run_blocks` runs
disjoint ranges on several threads (the kernels release the GIL). Serial kernels plus threads
compile in about half the time of a ``prange`` version.

Per step (see ``neurosim.snn.functional.lif``; the form fixes the order of operations)::

    spikingjelly:  h = v + (x - (v - v_rest)) / tau        | v - (v - v_rest) / tau + x
    snntorch:      h = beta v + x  [+ (1 - beta) x, v_rest] (delayed reset optional)
    norse:         h = v + k ((v_rest - v) + x)            | v + k (v_rest - v) + x
    parametric:    h = v + (x - (v - v_rest)) k            | v - (v - v_rest) k + x
    s = H(h - v_th)  (strict: h > v_th)
    reset zero:  v = s v_reset + (1 - s) h;  subtract: v = h - s (v_th - v_reset);  none: v = h

Backward needs the charged membranes ``h_t``. Either the forward stores them (``H`` ``[T, M]``,
one extra float buffer; the backward then streams over it in long contiguous rows) or, when
``H`` has length 0, the backward recomputes the forward of one block into a block-local buffer
``[T, block]`` (sized to stay in the L2 cache), so the only state kept between forward and
backward is the input and the initial membrane.

Fast rows: the spikingjelly and parametric charge forms without the delayed reset (every
convention but snntorch's) run charge, fire and reset in one branch-free loop per step that
LLVM vectorises; fire ``h > v_th`` is ``h >= nextafter(v_th, inf)`` (``P[P_TH_FIRE]``), which
is the same test for every non-NaN ``h``. The other forms run one pass per stage
(``bptt_rows._step_block``). The backward runs surrogate and gradient of one step in one loop
per surrogate (``bptt_sg_rows._bwd_row``, generated from the surrogate table
``bptt_surrogates.py``; ``dv/dh`` as the branch-free ``c0 + c1 (1 - s) + (c2 - c3 h) g``). Per
step, with ``g = surrogate'(h - v_th)``::

    dv/dh = (1 - s) + (v_reset - h) g    (zero; detached: 1 - s)
          = 1 - (v_th - v_reset) g       (subtract; detached: 1)
    gh_t  = gs_t g + gv_t dv/dh ;  gx_t = gh_t dh/dx ;  gv_{t-1} = gh_t dh/dv
    gk   += gh_t dh/dk                   (leak fraction k = 1/tau, for learnable tau)

Configuration: scalars in a small array ``P`` of the data's dtype (so float32 data is computed
in float32, as torch does), codes and sizes in an int64 array ``F``; the slots are named and
packed in :mod:`neurosim.kernels.bptt_layout`.

Static input: ``x`` may be ``[1, M]`` for ``T = F[F_STEPS] > 1`` steps (the same input at every
step, e.g. a static image after the first conv+BN); the backward then writes ``gx`` ``[1, M]``,
the sum over the steps of the per-step input gradients.

2x2 average pooling (``F[F_POOL_W] = W > 0``): the neurons are ``[..., H, W]`` images (``H``,
``W`` even) and ``spikes`` is the pooled output ``[T, M / 4]`` (``avg_pool2d(s, 2)``: the mean
of each 2x2 window; exact, the spikes are 0 or 1); the spikes themselves go to a scratch row
only. The backward takes the gradient w.r.t. the pooled output and spreads ``g / 4`` over each
window (exactly what ``avg_pool2d``'s backward computes). Blocks then start and end on pairs of
image rows (multiples of ``2 W``), so a block's pooled outputs are ``[m0 / 4, m1 / 4)``.

Numba only (numpy + numba + neurosim.config); kernels write into caller-allocated arrays.
"""
from __future__ import annotations

import numba
import numpy as np

from neurosim.config import NJIT
from neurosim.kernels.bptt_layout import (F_BLOCK, F_BWD_BLOCK, F_DECAY_INPUT, F_DETACH_RESET, F_FORM, F_POOL_W,
                                          F_RESET, F_RESET_DELAY, F_STEPS, F_STREAM, F_STRICT, F_SURROGATE,
                                          FORM_PARAMETRIC, FORM_SNNTORCH, FORM_SPIKINGJELLY, N_FLAGS, N_PARAMS,
                                          P_LEAK, P_ONE, P_SG_C1, P_SG_C2, P_TAU, P_V_JUMP, P_V_RESET, P_V_REST,
                                          P_V_TH, P_ZERO, RESET_NONE, RESET_ZERO)
from neurosim.kernels.bptt_rows import _dvdh_coefs, _fast_row, _pool_row, _step_block, _unpool_row, dvdh_mode
from neurosim.kernels.bptt_sg_rows import _bwd_row, _sg

__all__ = ["lif_bptt_forward", "lif_bptt_backward", "surrogate_grad", "n_blocks", "forward_work", "backward_work",
           "N_PARAMS", "N_FLAGS"]

# IEEE division (x / 0 -> inf, as torch) instead of Python's ZeroDivisionError check, which
# also keeps divisions by per-element values (surrogates) from vectorising.
_NJIT = dict(NJIT, error_model="numpy")


@numba.njit(**_NJIT)
def surrogate_grad(x, out, P, F):
    """Evaluate the configured surrogate derivative element-wise (for tests): ``out = g(x)``."""
    for i in range(x.shape[0]):
        out[i] = _sg(x[i], F[F_SURROGATE], P[P_SG_C1], P[P_SG_C2], P[P_ONE], P[P_ZERO])


@numba.njit(**_NJIT)
def _run_block(x, m0, m1, V, H, h0, Hrow, Srow, spikes, Vin, R, P, F, stream):
    """Forward of neurons ``[m0, m1)`` over all steps from the state in ``V``: writes ``h`` into
    ``H[t, h0:h0 + m1 - m0]`` (or into the scratch row ``Hrow`` when ``H`` is empty) and the
    spikes into ``spikes[t, m0:m1]`` (or ``Srow`` when ``spikes`` is empty; with pooling the
    spikes go to ``Srow`` and their 2x2 means to ``spikes[t, m0 / 4:m1 / 4]``)."""
    T = F[F_STEPS]
    static = x.shape[0] == 1
    form, decay_input, strict, reset = F[F_FORM], F[F_DECAY_INPUT], F[F_STRICT], F[F_RESET]
    reset_delay, pool = F[F_RESET_DELAY], F[F_POOL_W]
    fast = (form == FORM_SPIKINGJELLY or form == FORM_PARAMETRIC) and not reset_delay
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
        V[:] = P[P_V_REST]


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
    block = F[F_BLOCK]
    m0 = b * block
    m1 = min(M, m0 + block)
    n = m1 - m0
    V = v_out[m0:m1]
    _init_state(V, v0, m0, P)
    Srow = work[3 * n:4 * n] if F[F_POOL_W] > 0 else work[:0]
    _run_block(x, m0, m1, V, H, m0, work[:n], Srow, spikes, work[n:2 * n], work[2 * n:3 * n], P, F,
               F[F_STREAM] != 0)
    bad[b] = _count_nonfinite(V)


@numba.njit(**_NJIT)
def lif_bptt_forward(x, v0, spikes, v_out, H, P, F, bad, work, b0, b1):
    """Forward over ``T`` steps of blocks ``b0 .. b1-1`` (``F[F_BLOCK]`` neurons each) from the
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
    independent: :func:`~neurosim.kernels.blocks.run_blocks` calls this on disjoint block
    ranges from several threads (the GIL is released), each with its own scratch.
    """
    for b in range(b0, b1):
        _forward_block(x, v0, spikes, v_out, H, P, F, work, bad, b)


@numba.njit(**_NJIT)
def _backward_block(x, v0, Hs, gs, gv_T, gx, gv0, gk_part, P, F, work, b):
    """BPTT of neurons ``[b * block, (b + 1) * block)`` (``block = F[F_BWD_BLOCK]``). The charged membranes
    come from ``Hs`` ``[T, M]`` (stored by the forward) or, when ``Hs`` is empty, are recomputed
    into ``work`` (>= (T + 6) block elements; >= 6 block with ``Hs``)."""
    M = x.shape[1]
    T = F[F_STEPS]
    static = x.shape[0] == 1 and T > 1
    form, decay_input, strict, reset = F[F_FORM], F[F_DECAY_INPUT], F[F_STRICT], F[F_RESET]
    detach, reset_delay, sid, block = F[F_DETACH_RESET], F[F_RESET_DELAY], F[F_SURROGATE], F[F_BWD_BLOCK]
    v_th, v_reset, vr, kb = P[P_V_TH], P[P_V_RESET], P[P_V_REST], P[P_LEAK]
    one, zero, sub = P[P_ONE], P[P_ZERO], P[P_V_JUMP]
    need_k = gk_part.shape[0] > 0
    per_step = gs.shape[0] > 1
    if form == FORM_SNNTORCH:
        dhdx = (one - kb) if decay_input else one
        dhdv = kb
    else:
        k = one / P[P_TAU] if form == FORM_SPIKINGJELLY else kb
        dhdx = k if decay_input else one
        dhdv = one - k
    gmode = dvdh_mode(reset, detach, reset_delay)
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
    pool = F[F_POOL_W]
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
        if reset_delay and reset == RESET_ZERO:  # the reset r_t = H(v_{t-1}) blocks dh_t/dv_{t-1}
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
                    if reset == RESET_NONE:
                        vp = hp
                    else:
                        fp = hp > v_th if strict else hp >= v_th
                        sp = one if fp else zero
                        vp = sp * v_reset + (one - sp) * hp if reset == RESET_ZERO else hp - sp * sub
                dhdk = (x[0 if static else t, m0 + j] - (vp - vr)) if decay_input else (vr - vp)
                acc += S[j] * dhdk
    if gv0.shape[0] > 0:
        gv0[m0:m1] = G
    if need_k:
        gk_part[b] = acc


@numba.njit(**_NJIT)
def lif_bptt_backward(x, v0, H, gs, gv_T, gx, gv0, gk_part, P, F, work, b0, b1):
    """BPTT of blocks ``b0 .. b1-1`` (``F[F_BWD_BLOCK]`` neurons each): writes ``gx``
    ``[T, M]``, ``gv0`` ``[M]`` and per-block partial sums ``gk_part`` ``[nblocks]`` for those
    neurons.

    ``H`` ``[T, M]`` holds the charged membranes from :func:`lif_bptt_forward` (or has length
    0: then the membranes of one block over all steps are recomputed into ``work``; the
    backward block is sized by the caller to stay in the L2 cache). ``gs`` ``[T, M]`` is the
    gradient w.r.t. the spikes (or ``[1, M]``: the same for every step, e.g. from
    ``spikes.sum()``), ``gv_T`` ``[M]`` w.r.t. the final membrane (length 0: zero); ``v0`` as in
    the forward; ``gv0`` of length 0 skips the gradient w.r.t. ``v0``. ``gk_part`` (float64,
    length ``ceil(M / F[F_BWD_BLOCK])``) receives ``sum gh dh/dk`` per block (``k = 1/tau``, the
    leak fraction); pass an array of length 0 to skip it. ``work``: scratch of at least
    ``backward_work(F, T, stored)`` elements.
    """
    for b in range(b0, b1):
        _backward_block(x, v0, H, gs, gv_T, gx, gv0, gk_part, P, F, work, b)


def n_blocks(M: int, block: int) -> int:
    """Number of blocks of ``block`` neurons covering ``M``."""
    return (M + block - 1) // block


def forward_work(F) -> int:
    """Scratch elements per worker for :func:`lif_bptt_forward`."""
    return 4 * int(F[F_BLOCK])  # h, Vin, R, spikes before pooling


def backward_work(F, T: int, stored: bool = False) -> int:
    """Scratch elements per worker for :func:`lif_bptt_backward` (``stored``: ``H`` given)."""
    return (6 if stored else T + 6) * int(F[F_BWD_BLOCK])
