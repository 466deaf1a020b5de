r"""IF layer -> 2x2 mean -> event conv -> IF layer (-> 2x2 mean), fused per image over the steps of a static input.

A converted ConvNet presented with the same analog image at every step (``ConvertedSNN.forward_static``)
spends most of its time in the first conv block after the input layer: the IF layer on the static
current ``c1``, its 2x2 pool, the second conv on the pooled spikes (:func:`neurosim.kernels.event.event_conv2d`)
and the next IF layer. Run layer by layer, every one of them writes ``[T B, ...]`` to memory and the
next one reads it back (160 MB for the conv's output in the benchmark's Fashion-MNIST ConvNet at
``T = 32``, batch 100). Here each thread takes one image at a time and runs all ``T`` steps of the
block on it, its working set (the two membranes, the current, the pooled spikes, the conv's ``Z``
ring and weights; ~0.45 MB there) in its L2 cache; only the second IF layer's (pooled) spikes are
written.

Per image ``n`` and step ``t``::

    h1 = v1 + c1;  s1 = [h1 >= th1];  v1 = h1 - s1 j1          # IF, reset by subtraction (jump j1)
    p  = avg_pool2d(s1, 2)                                       # kept channels-last, [H, W, C]
    y  = conv2d(p) + b                                           # event_conv2d's Z-ring product, same order
    h2 = v2 + y;   s2 = [h2 >= th2];  v2 = h2 - s2 j2
    out[t, n] = avg_pool2d(s2, 2) if pool2 else s2

The arithmetic is, operation for operation, that of the unfused path: the IF update of the fused LIF
kernel with an infinite time constant (``h = v - (v - v_rest) / inf + x = v + x`` for a finite ``v``),
the event conv's sums over the non-zero channels of a pixel in increasing channel order and its
col2im in tap order, and pooled means of 0/1 spikes (exact in any order). So the outputs and both
final membranes are bit-identical to the layers run one after the other with the conv on events
(``tests/test_convert_static.py``).

Block kernel for :func:`neurosim.kernels.blocks.run_blocks` (images ``n0 .. n1-1``; scratch from
:func:`work_size`; the GIL is released). Numba only.
"""
from __future__ import annotations

import numba
import numpy as np

from neurosim.kernels.event import _NJIT, _events, _gather_row

__all__ = ["if_conv_if", "work_size"]


def work_size(C: int, H1: int, W1: int, O: int, KH: int, KW: int, Ho: int, Wo: int) -> int:
    """Scratch elements of one thread: ``Z`` ring, output-row tile, a pixel's event values, the
    pooled spikes ``[H1/2, W1/2, C]``, a spike row, the second membrane ``[Ho, Wo, O]`` channels-last,
    and a row of pooled counts."""
    H, W = H1 // 2, W1 // 2
    return KH * W * KH * KW * O + Wo * O + C + H * W * C + W1 + Ho * Wo * O + Wo * O


@numba.njit(**_NJIT)
def _if1_pool(c1n, v1n, p, srow, th, jump, quarter):
    """One IF step on ``[C, H1, W1]`` (static input ``c1n``, state ``v1n`` in place); the 2x2 means of
    the spikes into ``p`` ``[H1/2, W1/2, C]``; returns the number of non-zero means."""
    C, H1, W1 = v1n.shape
    one, zero = srow.dtype.type(1), srow.dtype.type(0)
    nnz = 0
    for c in range(C):
        for i in range(H1 // 2):
            ra, rb = v1n[c, 2 * i], v1n[c, 2 * i + 1]
            xa, xb = c1n[c, 2 * i], c1n[c, 2 * i + 1]
            for x in range(W1):
                ha = ra[x] + xa[x]
                hb = rb[x] + xb[x]
                sa = one if ha >= th else zero
                sb = one if hb >= th else zero
                ra[x] = ha - sa * jump
                rb[x] = hb - sb * jump
                srow[x] = sa + sb
            pr = p[i]
            for j in range(W1 // 2):
                m = (srow[2 * j] + srow[2 * j + 1]) * quarter
                pr[j, c] = m
                nnz += m != zero
    return nnz


@numba.njit(**_NJIT)
def _z_row_hwc(pr, wf, R, z, r0, nz, f0, ks, vals):
    """``Z`` of one input row ``pr`` ``[W, C]`` (channels-last) into ``z[r0 + x R : ...]``, ``nz[f0 + x]``:
    :func:`neurosim.kernels.event._z_row` with contiguous channel reads (same events, same order)."""
    W, C = pr.shape
    for xi in range(W):
        px = pr[xi]
        m = 0
        for c in range(C):  # branch-free gather of the non-zero channels
            ks[m] = c
            m += px[c] != 0
        nz[f0 + xi] = m > 0
        if m == 0:
            continue
        for q in range(m):
            vals[q] = px[ks[q]]
            ks[q] *= R
        _events(z, r0 + xi * R, wf, ks, vals, m, R, True)


@numba.njit(**_NJIT)
def if_conv_if(c1, v1, wz, b, v2, out, geom, prm, nnz, work, n0, n1):
    """``T = out.shape[0]`` steps of the block for images ``n0 .. n1-1`` (module docstring).

    Parameters
    ----------
    c1 : [N, C, H1, W1] array (float32 or float64, C-contiguous; ``H1``, ``W1`` even)
        The first IF layer's input, the same at every step.
    v1 : [N, C, H1, W1] array
        Its membranes, updated in place.
    wz, b : arrays
        The conv's weight as :func:`neurosim.kernels.event.conv_weight` lays it out, and its bias.
    v2 : [N, O, Ho, Wo] array
        The second IF layer's membranes, updated in place.
    out : [T, N, O, Ho/2, Wo/2] (``pool2``) or [T, N, O, Ho, Wo] array
        The second IF layer's (pooled) spikes, written.
    geom : int64 array
        ``(K_h, K_w, p_h, p_w, pool2)``: the conv's kernel and zero padding (stride 1), and whether
        the second IF layer's spikes are 2x2-pooled (``Ho``, ``Wo`` even then).
    prm : array of the data dtype
        ``(th1, jump1, th2, jump2)``: thresholds and reset jumps.
    nnz : int64 [N]
        Written: the non-zero pooled spikes of image ``n`` over all steps (the conv's input density).
    """
    T = out.shape[0]
    C, H1, W1 = c1.shape[1], c1.shape[2], c1.shape[3]
    H, W = H1 // 2, W1 // 2
    O, Ho, Wo = v2.shape[1], v2.shape[2], v2.shape[3]
    KH, KW, ph, pw, pool2 = geom[0], geom[1], geom[2], geom[3], geom[4]
    th1, j1, th2, j2 = prm[0], prm[1], prm[2], prm[3]
    one, zero = work.dtype.type(1), work.dtype.type(0)
    quarter = one / (one + one + one + one)
    R = KH * KW * O
    RW = W * R
    wf = wz.reshape(C * R)
    o0 = 0
    z = work[o0:o0 + KH * RW]
    o0 += KH * RW
    tile = work[o0:o0 + Wo * O]
    o0 += Wo * O
    vals = work[o0:o0 + C]
    o0 += C
    p = work[o0:o0 + H * W * C].reshape((H, W, C))
    o0 += H * W * C
    srow = work[o0:o0 + W1]
    o0 += W1
    v2s = work[o0:o0 + Ho * Wo * O].reshape((Ho, Wo, O))
    o0 += Ho * Wo * O
    cnt = work[o0:o0 + Wo * O].reshape((Wo, O))
    ks = np.empty(C, dtype=np.int64)
    nzf = np.zeros(KH * W, dtype=np.bool_)
    slots = np.empty(KH, dtype=np.int64)
    for n in range(n0, n1):
        c1n, v1n, v2n = c1[n], v1[n], v2[n]
        for o in range(O):  # the second membrane channels-last for the step loop
            for i in range(Ho):
                for j in range(Wo):
                    v2s[i, j, o] = v2n[o, i, j]
        count = 0
        for t in range(T):
            count += _if1_pool(c1n, v1n, p, srow, th1, j1, quarter)
            res = out[t, n]
            nxt = 0  # next input row whose Z is computed
            for i in range(Ho):
                top = i - ph
                nxt = max(nxt, top)
                while nxt <= min(top + KH - 1, H - 1):
                    slot = nxt % KH
                    _z_row_hwc(p[nxt], wf, R, z, slot * RW, nzf, slot * W, ks, vals)
                    nxt += 1
                _gather_row(tile, b, z, nzf, slots, top, H, W, KH, KW, 1, pw)
                # the second IF layer on output row i
                first = pool2 == 0 or i % 2 == 0
                for j in range(Wo):
                    vr = v2s[i, j]
                    tr = tile[j * O:(j + 1) * O]
                    cr = cnt[j]
                    for o in range(O):
                        h = vr[o] + tr[o]
                        s = one if h >= th2 else zero
                        vr[o] = h - s * j2
                        cr[o] = s if first else cr[o] + s
                if pool2 == 0:
                    for o in range(O):
                        ro = res[o, i]
                        for j in range(Wo):
                            ro[j] = cnt[j, o]
                elif i % 2 == 1:
                    for o in range(O):
                        ro = res[o, i // 2]
                        for j in range(Wo // 2):
                            ro[j] = (cnt[2 * j, o] + cnt[2 * j + 1, o]) * quarter
        nnz[n] = count
        for o in range(O):
            for i in range(Ho):
                for j in range(Wo):
                    v2n[o, i, j] = v2s[i, j, o]
