r"""Event-driven (sparse-input) 2-d convolution and linear layer: work only where the input is non-zero.

The synaptic layers of a converted spiking network read spikes (0/1, or their 2x2 means
``k/4`` when the pool is fused into the IF layer), of which 5-20 % are non-zero. A dense
convolution multiplies every zero. Here the non-zero channels of each input pixel are listed once
(its *events*: weight offset and value, channels in increasing order), and each output pixel sums
the weight rows its taps select::

    out[n, :, i, j] = b + Σ_{u, v} Σ_{c: x[n, c, y, x] ≠ 0} x[n, c, y, x] wz[c, u, v, :]
                      (y = i s_h + u − p_h, x = j s_w + v − p_w inside the image; wz[c, u, v, o] = w[o, c, u, v])

The events of the ``K_h`` input rows the current output row reads are kept in a ring (rows
``y % K_h``). For each output pixel the lists under its taps are the *segments* of one
:func:`neurosim.kernels.vfma.axpy_segments` call: the ``O`` outputs stay in vector registers while
every event adds its value times its weight row (one load and one fused multiply-add per vector), and
are stored once; one output row goes into a ``[W_o, O]`` tile and then to ``out[n, :, i, :]``. Each
output element is one chain: ``b``, then the events tap by tap (``u``, then ``v``), channels in
increasing order, each a fused multiply-add.

Work per image: ``nnz K_h K_w O`` multiply-adds against ``C H_o W_o K_h K_w O`` for the dense form,
for any stride (only the taps an output reads are formed). The weight rows come from L2 (73 KB for the
Fashion-MNIST ConvNet's second conv): an event costs about as much as two dense multiply-adds of a
tuned library, which wins above a density of 0.3-0.5 (measured in :mod:`neurosim.convert.event`,
which chooses per call).

The linear layer is the same product without the taps: ``out[n] = b + Σ_{k: x[n, k] ≠ 0} x[n, k] wt[k]``
(``wt[k, o] = w[o, k]``, :func:`transpose`), for blocks of :data:`LINEAR_ROWS` rows and column chunks of
:data:`LINEAR_CHUNK` outputs (wider layers: the chunk's weight columns are reused by the rows of a block
from L2).

Block kernels for :func:`neurosim.kernels.blocks.run_blocks`: rows ``n0 .. n1-1`` of independent
images (or rows of a linear layer) into caller-allocated outputs, scratch ``work`` from the
caller (:func:`conv_work_size`); the GIL is released. Results agree with
``torch.nn.functional.conv2d`` / ``linear`` up to summation order (``|Δ| ≤ 2 n ε Σ |w| |x|`` for
``n`` terms, ``tests/test_convert_event.py``) and are the same on every machine (the chains do not
depend on the vector width); a zero input contributes nothing, also where its weight is inf or NaN
(a dense product gives NaN there).

Numba only (numpy + numba + llvmlite + neurosim.config).
"""
from __future__ import annotations

import numba
import numpy as np

from neurosim.config import CACHE
from neurosim.kernels.vfma import axpy_events, axpy_segments, compress_events

__all__ = ["event_conv2d", "event_linear", "conv_work_size", "conv_weight", "transpose", "LINEAR_CHUNK", "LINEAR_ROWS"]

#: output columns of a linear layer computed together
LINEAR_CHUNK = 256
#: rows of a linear layer whose non-zero lists are gathered before the column chunks are swept
LINEAR_ROWS = 16

_NJIT = {"cache": CACHE, "nogil": True, "error_model": "numpy", "fastmath": {"contract"}}
#: helpers of the kernels, inlined into them in Numba's IR: a function loaded from the cache is linked as
#: object code and called, which costs ~10 % in these per-pixel helpers
_INLINE = dict(_NJIT, inline="always")


def conv_work_size(C: int, W: int, KH: int, KW: int, O: int, Wo: int) -> int:
    """Scratch elements one thread of :func:`event_conv2d` needs: the output-row tile and the event values
    of the ring of ``K_h`` input rows."""
    return Wo * O + KH * W * C


def conv_weight(w: np.ndarray) -> np.ndarray:
    """``wz[c, (u K_w + v) O + o] = w[o, c, u, v]``: ``[C, K_h K_w O]`` contiguous (``w``: ``[O, C, K_h, K_w]``)."""
    C = w.shape[1]
    return np.ascontiguousarray(w.transpose(1, 2, 3, 0)).reshape(C, -1)


#: ``_events(z, d0, wf, ks, vals, m, n, first)``: ``z[d0 : d0 + n]`` (=|+=) ``Σ_q vals[q] wf[ks[q] : ks[q] + n]``
#: over the ``m`` events, accumulated in registers (an intrinsic: emitted inline at each call)
_events = axpy_events


@numba.njit(**_INLINE)
def _nonzero_strided(px, R, ks, vals, base):
    """:func:`_nonzero` for any layout (one value at a time)."""
    m = 0
    for c in range(px.shape[0]):
        if px[c] != 0:
            ks[m] = base + c * R
            vals[m] = px[c]
            m += 1
    return m


@numba.njit(**_INLINE)
def _nonzero(px, R, ks, vals, base=0):
    """The non-zero entries of ``px`` (1-d C-contiguous) in increasing index order: offsets ``base + index R``
    into ``ks``, values into ``vals``; returns their count. Branch-free in vectors of 16 and 8
    values (:func:`neurosim.kernels.vfma.compress_events`), then one value at a time. Writes ``ks``, ``vals``
    beyond the count (at most up to ``len(px)`` entries: room the caller has)."""
    C = px.shape[0]
    m = 0
    c0 = 0
    while C - c0 >= 16:
        m += compress_events(px, c0, 16, R, base + c0 * R, ks, vals, m)
        c0 += 16
    if C - c0 >= 8:
        m += compress_events(px, c0, 8, R, base + c0 * R, ks, vals, m)
        c0 += 8
    return m + _nonzero_strided(px[c0:], R, ks[m:], vals[m:], base + c0 * R)


@numba.njit(**_NJIT)
def transpose(w, out):
    """``out[k, o] = w[o, k]`` (``w`` ``[O, K]``, ``out`` ``[K, O]``), in 32 x 32 tiles (a linear layer's
    ``wt``; 4x faster than ``torch``'s ``w.t().contiguous()`` for a 256 x 3136 weight)."""
    O, K = w.shape
    for o0 in range(0, O, 32):
        for k0 in range(0, K, 32):
            for k in range(k0, min(K, k0 + 32)):
                row = out[k]
                for o in range(o0, min(O, o0 + 32)):
                    row[o] = w[o, k]


# ------------------------------------------------------------------------------------------------
# The event ring: for each of the K_h input rows a conv's current output row reads (slot y % K_h), the
# events of its pixels one after the other (pixel x's at evk/evv[slot W C + rp[slot (W + 1) + x] ...
# rp[slot (W + 1) + x + 1]]), each event the weight offset c R + x O of its channel c and pixel x: a tap row
# u of output pixel j then reads the K_w pixels under it as one list, at offset u K_w O + (p_w - j s_w) O.
@numba.njit(**_INLINE)
def _event_row(xn, y, R, O, evk, evv, rp, slot):
    """The events of input row ``y`` of image ``xn`` ``[C, H, W]`` into ring slot ``slot``."""
    C, W = xn.shape[0], xn.shape[2]
    e = slot * W * C
    r0 = slot * (W + 1)
    rp[r0] = e
    for xi in range(W):
        e += _nonzero_strided(xn[:, y, xi], R, evk[e:e + C], evv[e:e + C], xi * O)
        rp[r0 + xi + 1] = e


@numba.njit(**_NJIT)
def _conv_row(tile, b, wf, evk, evv, rp, slots, segs, top, H, W, KH, KW, sw, pw):
    """One output row into ``tile`` ``[W_o O]``: for each output pixel, ``b`` plus the weighted weight rows of
    the events under its taps, tap row by tap row (``u``), pixel by pixel (``v``), channels in increasing
    order, in one chain of fused multiply-adds per element. ``top``: the input row under tap row 0; the
    ring (above) holds the ``K_h`` input rows. ``slots``: int64 scratch of ``K_h``; ``segs``: int64
    ``[3, K_h]`` scratch."""
    O = b.shape[0]
    Wo = tile.shape[0] // O
    starts, counts, offs = segs[0], segs[1], segs[2]
    for u in range(KH):
        slots[u] = (top + u) % KH if 0 <= top + u < H else -1  # ring slot under tap row u (-1: padding)
    for j in range(Wo):
        m = 0
        left = j * sw - pw
        x0, x1 = max(0, left), min(W, left + KW)
        for u in range(KH):
            slot = slots[u]
            if slot < 0 or x1 <= x0:
                continue
            s0 = rp[slot * (W + 1) + x0]
            s1 = rp[slot * (W + 1) + x1]
            if s1 > s0:
                starts[m] = s0
                counts[m] = s1 - s0
                offs[m] = (u * KW - left) * O
                m += 1
        acc = tile[j * O:(j + 1) * O]
        for o in range(O):
            acc[o] = b[o]
        axpy_segments(tile, j * O, wf, evk, evv, starts, counts, offs, m, O)


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
    wf = wz.reshape(C * R)
    tile = work[:Wo * O]
    evv = work[Wo * O:Wo * O + KH * W * C]
    evk = np.empty(KH * W * C, dtype=np.int64)
    rp = np.zeros(KH * (W + 1), dtype=np.int64)
    slots = np.empty(KH, dtype=np.int64)
    segs = np.empty((3, KH), dtype=np.int64)
    for n in range(n0, n1):
        xn = x[n]
        res = out[n]
        nxt = 0  # next input row whose events are gathered (rows nxt - KH .. nxt - 1 are in the ring)
        for i in range(Ho):
            top = i * sh - ph
            nxt = max(nxt, top)
            while nxt <= min(top + KH - 1, H - 1):
                _event_row(xn, nxt, R, O, evk, evv, rp, nxt % KH)
                nxt += 1
            _conv_row(tile, b, wf, evk, evv, rp, slots, segs, top, H, W, KH, KW, sw, pw)
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
            e0 = (n - r0) * K
            cnt[n - r0] = _nonzero(x[n], O, ks[e0:e0 + K], vals[e0:e0 + K])
        for c0 in range(0, O, LINEAR_CHUNK):
            c1 = min(O, c0 + LINEAR_CHUNK)
            for n in range(r0, r1):
                e0 = (n - r0) * K
                m = cnt[n - r0]
                res = out[n, c0:c1]
                for o in range(c1 - c0):
                    res[o] = b[c0 + o]
                _events(res, 0, wf[c0:], ks[e0:e0 + m], vals[e0:e0 + m], m, c1 - c0, False)
