r"""IF -> 2x2 mean -> event conv -> IF (-> 2x2 mean) (-> linear), fused per image over the steps of a static input.

A converted ConvNet presented with the same analog image at every step (``ConvertedSNN.forward_static``)
spends most of its time in the block after the input layer: the IF layer on the static current ``c1``,
its 2x2 pool, the second conv on the pooled spikes (:func:`neurosim.kernels.event.event_conv2d`), the
next IF layer (and its pool), and, in a ConvNet's classifier, the first linear layer on the flattened
result. Run layer by layer, every one of them writes ``[T B, ...]`` to memory and the next one reads it
back (40 MB for the second IF layer's pooled output in the benchmark's Fashion-MNIST ConvNet at
``T = 32``, batch 100; writing it alone cost ~10 % of the run). Here each thread takes one image at a
time and runs all ``T`` steps of the block on it, its working set (both membranes and the static
current channels-last, the event ring, the conv's weights; ~0.45 MB there) in its L2 cache; only the
block's output is written: the linear layer's ``[T, N, L]`` or the IF layer's (pooled) spikes.

Per image ``n`` and step ``t``, row by row::

    h1 = v1 + c1;  s1 = [h1 >= th1];  v1 = h1 - s1 j1          # IF, reset by subtraction (jump j1)
    p  = avg_pool2d(s1, 2)                                       # and its events (event_conv2d's lists)
    y  = conv2d(p) + b                                           # event_conv2d's row: the same chains
    h2 = v2 + y;   s2 = [h2 >= th2];  v2 = h2 - s2 j2
    r  = avg_pool2d(s2, 2) if pool2 else s2                      # one step's output, [O, Hs, Ws]
    out[t, n] = r          or, with the linear layer:   lout[t, n] = bl + wl flatten(r)   # event_linear's row

The arithmetic is, operation for operation, that of the unfused path: the IF update of the fused LIF
kernel with an infinite time constant (``h = v - (v - v_rest) / inf + x = v + x`` for a finite ``v``),
the event conv's and the event linear layer's chains (non-zero inputs in increasing order, one fused
multiply-add each), and pooled means of 0/1 spikes (exact in any order). So the outputs and both final
membranes are bit-identical to the layers run one after the other with the conv and the linear layer on
events (``tests/test_convert_static.py``).

Block kernel for :func:`neurosim.kernels.blocks.run_blocks` (images ``n0 .. n1-1``; scratch from
:func:`work_size`; the GIL is released). Numba only.
"""
from __future__ import annotations

import numba
import numpy as np

from neurosim.kernels.event import _NJIT, _conv_row, _events, _nonzero

__all__ = ["if_conv_if", "work_size"]


def work_size(C: int, H1: int, W1: int, O: int, KH: int, KW: int, Ho: int, Wo: int) -> int:
    """Scratch elements of one thread: the event values of ``K_h`` pooled rows, the output-row tile, one
    pooled pixel's means, a row of spike pairs, the first layer's input and membrane and the second
    membrane channels-last, one step's output ``[O, Ho, Wo]`` (at most) and its event values, and a row
    of pooled counts."""
    W = W1 // 2
    return KH * W * C + Wo * O + C + W1 * C + 2 * H1 * W1 * C + 3 * Ho * Wo * O + Wo * O


@numba.njit(**_NJIT)
def _if1_row(c1s, v1s, i, sbuf, q, th, jump, quarter, R, O, evk, evv, rp, slot):
    """One IF step on rows ``2i``, ``2i + 1`` of ``[H1, W1 C]`` (channels-last rows; static input ``c1s``,
    state ``v1s`` in place), the 2x2 means of the spikes, and their events (the non-zero means of each
    pooled pixel ``j``, channels in increasing order) into ring slot ``slot`` (the layout of
    :func:`neurosim.kernels.event._event_row`; ``O``: the conv's outputs); returns the number of events.
    The IF loop runs along the contiguous row pair, the mean along the ``C`` channels of a pooled pixel."""
    C = q.shape[0]
    RC = v1s.shape[1]
    W = RC // (2 * C)
    one, zero = sbuf.dtype.type(1), sbuf.dtype.type(0)
    ra, rb = v1s[2 * i], v1s[2 * i + 1]
    xa, xb = c1s[2 * i], c1s[2 * i + 1]
    for e in range(RC):
        ha = ra[e] + xa[e]
        hb = rb[e] + xb[e]
        sa = one if ha >= th else zero
        sb = one if hb >= th else zero
        ra[e] = ha - sa * jump
        rb[e] = hb - sb * jump
        sbuf[e] = sa + sb
    e0 = e = slot * W * C
    r0 = slot * (W + 1)
    rp[r0] = e
    for j in range(W):
        s0 = sbuf[2 * j * C:(2 * j + 1) * C]
        s1 = sbuf[(2 * j + 1) * C:(2 * j + 2) * C]
        for c in range(C):
            q[c] = (s0[c] + s1[c]) * quarter
        e += _nonzero(q, R, evk[e:e + C], evv[e:e + C], j * O)
        rp[r0 + j + 1] = e
    return e - e0


@numba.njit(**_NJIT)
def if_conv_if(c1, v1, wz, b, v2, out, wl, bl, lout, geom, prm, nnz, work, n0, n1):
    """``T = geom[5]`` steps of the block for images ``n0 .. n1-1`` (module docstring).

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
        The second IF layer's (pooled) spikes, written (unused with ``linear``).
    wl, bl, lout : arrays
        With ``linear``: the linear layer's transposed weight ``[K, L]`` (``K`` = the size of one step's
        output), its bias ``[L]`` and its output ``[T, N, L]`` (written); unused otherwise.
    geom : int64 array
        ``(K_h, K_w, p_h, p_w, pool2, T, linear)``: the conv's kernel and zero padding (stride 1),
        whether the second IF layer's spikes are 2x2-pooled (``Ho``, ``Wo`` even then), the steps,
        and whether the linear layer follows (on the flattened output of each step).
    prm : array of the data dtype
        ``(th1, jump1, th2, jump2)``: thresholds and reset jumps.
    nnz : int64 [N, 2]
        Written: the non-zero pooled spikes of image ``n`` over all steps (the conv's input density)
        and the non-zero values of the block's output (the linear layer's input density).
    """
    C, H1, W1 = c1.shape[1], c1.shape[2], c1.shape[3]
    H, W = H1 // 2, W1 // 2
    O, Ho, Wo = v2.shape[1], v2.shape[2], v2.shape[3]
    KH, KW, ph, pw, pool2, T, linear = geom[0], geom[1], geom[2], geom[3], geom[4], geom[5], geom[6]
    Hs, Ws = (Ho // 2, Wo // 2) if pool2 else (Ho, Wo)
    osz = O * Hs * Ws
    L = bl.shape[0]
    th1, j1, th2, j2 = prm[0], prm[1], prm[2], prm[3]
    one, zero = work.dtype.type(1), work.dtype.type(0)
    quarter = one / (one + one + one + one)
    R = KH * KW * O
    wf = wz.reshape(C * R)
    o0 = 0
    evv = work[o0:o0 + KH * W * C]     # the ring of events of K_h pooled rows
    o0 += KH * W * C
    tile = work[o0:o0 + Wo * O]
    o0 += Wo * O
    q = work[o0:o0 + C]
    o0 += C
    sbuf = work[o0:o0 + W1 * C]
    o0 += W1 * C
    c1s = work[o0:o0 + H1 * W1 * C].reshape((H1, W1 * C))   # the first layer's input and state, channels-last
    o0 += H1 * W1 * C
    v1s = work[o0:o0 + H1 * W1 * C].reshape((H1, W1 * C))
    o0 += H1 * W1 * C
    v2s = work[o0:o0 + Ho * Wo * O].reshape((Ho, Wo, O))
    o0 += Ho * Wo * O
    cnt = work[o0:o0 + Wo * O].reshape((Wo, O))
    o0 += Wo * O
    res = work[o0:o0 + osz].reshape((O, Hs, Ws))   # one step's output, the flatten order of [O, Hs, Ws]
    resf = work[o0:o0 + osz]
    o0 += osz
    lvals = work[o0:o0 + osz]
    lks = np.empty(osz if linear else 0, dtype=np.int64)
    wlf = wl.reshape(wl.size)
    evk = np.empty(KH * W * C, dtype=np.int64)
    rp = np.zeros(KH * (W + 1), dtype=np.int64)
    slots = np.empty(KH, dtype=np.int64)
    segs = np.empty((3, KH), dtype=np.int64)
    for n in range(n0, n1):
        c1n, v1n, v2n = c1[n], v1[n], v2[n]
        for c in range(C):
            for y in range(H1):
                for x in range(W1):
                    c1s[y, x * C + c] = c1n[c, y, x]
                    v1s[y, x * C + c] = v1n[c, y, x]
        for o in range(O):  # the second membrane channels-last for the step loop
            for i in range(Ho):
                for j in range(Wo):
                    v2s[i, j, o] = v2n[o, i, j]
        count = 0
        lcount = 0
        for t in range(T):
            nxt = 0  # next pooled row: its IF rows step, its events go into the ring (stride 1, Ho >= 1:
            #          the output rows read every input row, so every IF row steps)
            for i in range(Ho):
                top = i - ph
                while nxt <= min(top + KH - 1, H - 1):
                    count += _if1_row(c1s, v1s, nxt, sbuf, q, th1, j1, quarter, R, O, evk, evv, rp, nxt % KH)
                    nxt += 1
                _conv_row(tile, b, wf, evk, evv, rp, slots, segs, top, H, W, KH, KW, 1, pw)
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
            if linear:  # event_linear's row: the bias, then the non-zero inputs in increasing order
                m = _nonzero(resf, L, lks, lvals)
                lcount += m
                lr = lout[t, n]
                for o in range(L):
                    lr[o] = bl[o]
                _events(lr, 0, wlf, lks, lvals, m, L, False)
            else:
                dst = out[t, n].reshape(osz)
                for e in range(osz):
                    dst[e] = resf[e]
        nnz[n, 0] = count
        nnz[n, 1] = lcount
        for c in range(C):
            for y in range(H1):
                for x in range(W1):
                    v1n[c, y, x] = v1s[y, x * C + c]
        for o in range(O):
            for i in range(Ho):
                for j in range(Wo):
                    v2n[o, i, j] = v2s[i, j, o]
