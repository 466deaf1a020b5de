r"""Event-driven (sparse-input) 2-d convolution and linear layer: work only where the input is non-zero.

The synaptic layers of a converted spiking network read spikes (0/1, or their 2x2 means
``k/4`` when the pool is fused into the IF layer), of which 5-20 % are non-zero. A dense
convolution multiplies every zero. Here each input pixel ``(y, x)`` of an image contributes
only through its non-zero channels::

    Z[y, x, u, v, :] = Σ_{c: x[n, c, y, x] ≠ 0} x[n, c, y, x] wz[c, u, v, :]        (wz[c, u, v, o] = w[o, c, u, v])
    out[n, :, i, j]  = b + Σ_{u, v} Z[i s_h + u − p_h, j s_w + v − p_w, u, v, :]   (taps inside the image)

(the first line is a sparse-times-dense product, one ``K_h K_w O``-long vector per non-zero
input; the second gathers the taps, "col2im"). The non-zero channels of a pixel are gathered
into a short list without branches and added four at a time, so that each pass over a ``Z``
vector carries four events (one load and store of ``Z`` per four weight vectors); ``Z`` is kept
for the ``K_h`` input rows the current output row reads (a ring of ``K_h W K_h K_w O`` values,
100 KB for the Fashion-MNIST ConvNet's second conv), and one output row is gathered into a
``[W_o, O]`` tile and written to ``out[n, :, i, :]``.

Work per image: ``nnz K_h K_w O`` multiply-adds against ``C H_o W_o K_h K_w O`` for the dense
form. The weight vectors come from L2 (73 KB for that conv), so an event costs about as much as
two dense multiply-adds of a tuned library: the library wins above a density of roughly a third
(measured in :mod:`neurosim.convert.event`, which chooses per call).

The linear layer is the same product without the gather: ``out[n] = b + Σ_{k: x[n, k] ≠ 0}
x[n, k] wt[k]`` (``wt[k, o] = w[o, k]``), for blocks of :data:`LINEAR_ROWS` rows and column chunks
of :data:`LINEAR_CHUNK` outputs (wider layers: the chunk's weight columns are reused by the
rows of a block from L2; narrower chunks measured slower, the overhead of a pass over a short
vector dominating).

Block kernels for :func:`neurosim.kernels.blocks.run_blocks`: rows ``n0 .. n1-1`` of independent
images (or rows of a linear layer) into caller-allocated outputs, scratch ``work`` from the
caller (:func:`conv_work_size`); the GIL is released. Results agree with
``torch.nn.functional.conv2d`` / ``linear`` up to summation order (``|Δ| ≤ 2 n ε Σ |w| |x|`` for
``n`` terms, ``tests/test_convert_event.py``); a zero
input contributes nothing, also where its weight is inf or NaN (a dense product gives NaN there).

Numba only (numpy + numba + neurosim.config).
"""
from __future__ import annotations

import numba
import numpy as np

from neurosim.config import CACHE

__all__ = ["event_conv2d", "event_linear", "conv_work_size", "conv_weight", "LINEAR_CHUNK", "LINEAR_ROWS"]

#: output columns of a linear layer computed together
LINEAR_CHUNK = 256
#: rows of a linear layer whose non-zero lists are gathered before the column chunks are swept
LINEAR_ROWS = 16

_NJIT = {"cache": CACHE, "nogil": True, "error_model": "numpy", "fastmath": {"contract"}}


def conv_work_size(C: int, W: int, KH: int, KW: int, O: int, Wo: int) -> int:
    """Scratch elements one thread of :func:`event_conv2d` needs: the ``Z`` ring of ``K_h`` input
    rows, the output-row tile and the values of one pixel's non-zero channels."""
    return KH * W * KH * KW * O + Wo * O + C


def conv_weight(w: np.ndarray) -> np.ndarray:
    """``wz[c, (u K_w + v) O + o] = w[o, c, u, v]``: ``[C, K_h K_w O]`` contiguous (``w``: ``[O, C, K_h, K_w]``)."""
    C = w.shape[1]
    return np.ascontiguousarray(w.transpose(1, 2, 3, 0)).reshape(C, -1)


# ------------------------------------------------------------------------------------------------
# z[d0 : d0 + n] (=|+=) Σ_g v_g wf[k_g : k_g + n]: groups of 4, 2 and 1 events; ``first`` writes
# instead of adding (the first group of a pixel). Slices: indices provably >= 0, no wraparound test.
@numba.njit(**_NJIT)
def _add4(z, d0, wf, k0, k1, k2, k3, v0, v1, v2, v3, n, first):
    a = z[d0:d0 + n]
    w0 = wf[k0:k0 + n]
    w1 = wf[k1:k1 + n]
    w2 = wf[k2:k2 + n]
    w3 = wf[k3:k3 + n]
    if first:
        for o in range(n):
            a[o] = v0 * w0[o] + v1 * w1[o] + v2 * w2[o] + v3 * w3[o]
    else:
        for o in range(n):
            a[o] = a[o] + v0 * w0[o] + v1 * w1[o] + v2 * w2[o] + v3 * w3[o]


@numba.njit(**_NJIT)
def _add2(z, d0, wf, k0, k1, v0, v1, n, first):
    a = z[d0:d0 + n]
    w0 = wf[k0:k0 + n]
    w1 = wf[k1:k1 + n]
    if first:
        for o in range(n):
            a[o] = v0 * w0[o] + v1 * w1[o]
    else:
        for o in range(n):
            a[o] = a[o] + v0 * w0[o] + v1 * w1[o]


@numba.njit(**_NJIT)
def _add1(z, d0, wf, k0, v0, n, first):
    a = z[d0:d0 + n]
    w0 = wf[k0:k0 + n]
    if first:
        for o in range(n):
            a[o] = v0 * w0[o]
    else:
        for o in range(n):
            a[o] = a[o] + v0 * w0[o]


@numba.njit(**_NJIT)
def _events(z, d0, wf, ks, vals, m, n, first):
    """``z[d0 : d0 + n]`` (=|+=) ``Σ_q vals[q] wf[ks[q] : ks[q] + n]`` over the ``m`` events."""
    q = 0
    while q + 4 <= m:
        _add4(z, d0, wf, ks[q], ks[q + 1], ks[q + 2], ks[q + 3], vals[q], vals[q + 1], vals[q + 2], vals[q + 3], n,
              first and q == 0)
        q += 4
    if q + 2 <= m:
        _add2(z, d0, wf, ks[q], ks[q + 1], vals[q], vals[q + 1], n, first and q == 0)
        q += 2
    if q < m:
        _add1(z, d0, wf, ks[q], vals[q], n, first and q == 0)


# ------------------------------------------------------------------------------------------------
@numba.njit(**_NJIT)
def _z_row(xn, y, wf, R, z, r0, nz, f0, ks, vals):
    """``Z`` of input row ``y`` of image ``xn`` ``[C, H, W]`` into ``z[r0 + x R : ...]`` (``R = K_h K_w O``
    per pixel) and ``nz[f0 + x]`` = whether pixel ``x`` has a non-zero channel."""
    C, W = xn.shape[0], xn.shape[2]
    for xi in range(W):
        m = 0
        for c in range(C):  # branch-free gather of the non-zero channels
            ks[m] = c
            m += xn[c, y, xi] != 0
        nz[f0 + xi] = m > 0
        if m == 0:
            continue
        for q in range(m):
            vals[q] = xn[ks[q], y, xi]
            ks[q] *= R
        _events(z, r0 + xi * R, wf, ks, vals, m, R, True)


@numba.njit(**_NJIT)
def _gather_row(tile, b, z, nz, slots, top, H, W, KH, KW, sw, pw):
    """One output row into ``tile`` ``[W_o O]``: ``b`` plus, in tap order, the ``Z`` vectors of the taps that
    fall inside the image on a pixel with a non-zero channel (``top``: the input row under tap row 0; the
    ring holds the ``K_h`` input rows, slot ``y % K_h``, ``nz`` their pixel flags; ``slots``: scratch)."""
    O = b.shape[0]
    Wo = tile.shape[0] // O
    R = KH * KW * O
    RW = W * R
    for u in range(KH):
        slots[u] = (top + u) % KH if 0 <= top + u < H else -1  # ring slot under tap row u (-1: padding)
    for j in range(Wo):
        acc = tile[j * O:(j + 1) * O]
        for o in range(O):
            acc[o] = b[o]
        left = j * sw - pw
        for u in range(KH):
            slot = slots[u]
            if slot < 0:
                continue
            for v in range(KW):
                xi = left + v
                if xi < 0 or xi >= W or not nz[slot * W + xi]:
                    continue
                s0 = slot * RW + xi * R + (u * KW + v) * O
                zr = z[s0:s0 + O]
                for o in range(O):
                    acc[o] += zr[o]


@numba.njit(**_NJIT)
def event_conv2d(x, wz, b, out, geom, work, n0, n1):
    """``out[n]`` = conv2d(``x[n]``) + ``b`` for images ``n0 .. n1-1``, from the non-zeros of ``x`` only.

    Parameters
    ----------
    x : [N, C, H, W] array (float32 or float64, C-contiguous)
    wz : [C, K_h K_w O] array
        The weight as :func:`conv_weight` lays it out, same dtype.
    b : [O] array
        Bias (zeros for none).
    out : [N, O, H_o, W_o] array
        Written (every element).
    geom : int64 array
        ``(K_h, K_w, s_h, s_w, p_h, p_w)``: kernel size, stride, zero padding.
    work : 1-d array of at least :func:`conv_work_size` elements, same dtype.
    n0, n1 : int
        The images to compute.
    """
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    O, Ho, Wo = out.shape[1], out.shape[2], out.shape[3]
    KH, KW, sh, sw, ph, pw = geom[0], geom[1], geom[2], geom[3], geom[4], geom[5]
    R = KH * KW * O
    RW = W * R  # one input row of Z
    wf = wz.reshape(C * R)
    z = work[:KH * RW]
    tile = work[KH * RW:KH * RW + Wo * O]
    vals = work[KH * RW + Wo * O:KH * RW + Wo * O + C]
    ks = np.empty(C, dtype=np.int64)
    nz = np.zeros(KH * W, dtype=np.bool_)
    slots = np.empty(KH, dtype=np.int64)
    for n in range(n0, n1):
        xn = x[n]
        res = out[n]
        nxt = 0  # next input row whose Z is computed (rows nxt - KH .. nxt - 1 are in the ring)
        for i in range(Ho):
            top = i * sh - ph
            nxt = max(nxt, top)
            while nxt <= min(top + KH - 1, H - 1):
                slot = nxt % KH
                _z_row(xn, nxt, wf, R, z, slot * RW, nz, slot * W, ks, vals)
                nxt += 1
            _gather_row(tile, b, z, nz, slots, top, H, W, KH, KW, sw, pw)
            for o in range(O):
                ro = res[o, i]
                for j in range(Wo):
                    ro[j] = tile[j * O + o]


@numba.njit(**_NJIT)
def event_linear(x, wt, b, out, work, n0, n1):
    """``out[n] = b + Σ_k x[n, k] wt[k]`` over the non-zero ``x[n, k]``, rows ``n0 .. n1-1``.

    ``x``: ``[N, K]``; ``wt``: ``[K, O]`` (the transposed weight, contiguous); ``b``: ``[O]``;
    ``out``: ``[N, O]`` (written); ``work``: scratch of at least ``LINEAR_ROWS K`` elements.
    Rows are taken :data:`LINEAR_ROWS` at a time: their non-zeros are gathered once, then each
    chunk of :data:`LINEAR_CHUNK` output columns is computed for all of them.
    """
    K = x.shape[1]
    O = out.shape[1]
    wf = wt.reshape(K * O)
    ks = np.empty(LINEAR_ROWS * K, dtype=np.int64)
    vals = work[:LINEAR_ROWS * K]
    cnt = np.zeros(LINEAR_ROWS, dtype=np.int64)
    for r0 in range(n0, n1, LINEAR_ROWS):
        r1 = min(n1, r0 + LINEAR_ROWS)
        for n in range(r0, r1):
            row = x[n]
            e0 = (n - r0) * K
            m = 0
            for k in range(K):
                ks[e0 + m] = k
                m += row[k] != 0
            for q in range(e0, e0 + m):
                vals[q] = row[ks[q]]
                ks[q] *= O
            cnt[n - r0] = m
        for c0 in range(0, O, LINEAR_CHUNK):
            c1 = min(O, c0 + LINEAR_CHUNK)
            for n in range(r0, r1):
                e0 = (n - r0) * K
                m = cnt[n - r0]
                res = out[n, c0:c1]
                for o in range(c1 - c0):
                    res[o] = b[c0 + o]
                _events(res, 0, wf[c0:], ks[e0:e0 + m], vals[e0:e0 + m], m, c1 - c0, False)
