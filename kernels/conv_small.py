r"""Direct 2-d convolution for few input channels (the first layer of image networks).

``out[n, o, i, j] = b[o] + Σ_{c, u, v} w[o, c, u, v] xp[n, c, i + u, j + v]`` with stride 1 and
zero padding ``p`` on every side (``xp`` = padded input; output ``H + 2p − K + 1`` by
``W + 2p − K + 1``). oneDNN runs such layers (1–3 input channels, 3x3) at a small fraction of
its usual speed; here each image is padded once into a small scratch plane and every output
row is a sum of ``C K²`` shifted, contiguous row segments, which LLVM vectorises.

Backward: ``dw[o, c, u, v] = Σ_{n, i, j} dy[n, o, i, j] xp[n, c, i + u, j + v]`` (a dot product
of contiguous segments per output row), ``db[o] = Σ dy[n, o]``, and, when asked,
``dx = `` the transposed convolution, accumulated into a padded scratch plane and cropped.

Parallel over images: ``prange`` over ``n_chunks`` chunks, each with its own scratch and, in the
backward, its own float64 ``dw`` partial sums (added in a fixed order, so results do not
depend on scheduling).
"""
from __future__ import annotations

import numba
import numpy as np

from neurosim.config import CACHE, PARALLEL

__all__ = ["conv_small_forward", "conv_small_backward"]

_NJIT = {"cache": CACHE, "nogil": True, "error_model": "numpy", "fastmath": {"reassoc", "contract"},
         "parallel": PARALLEL}


@numba.njit(**{k: v for k, v in _NJIT.items() if k != "parallel"})
def _pad_image(x, n, C, H, W, p, Wp, P, xp):
    """Image ``n`` of ``x`` ``[N, C, H, W]`` into the zero-bordered flat scratch ``xp`` (``C`` planes of ``P``)."""
    for c in range(C):
        for i in range(H):
            for j in range(W):
                xp[c * P + (i + p) * Wp + j + p] = x[n, c, i, j]


@numba.njit(**{k: v for k, v in _NJIT.items() if k != "parallel"})
def _geometry(H, W, K, p, Ho):
    """Padded width ``Wp``, accumulator length ``L = Ho * Wp`` and padded plane size ``P``."""
    Wp = W + 2 * p
    return Wp, Ho * Wp, (H + 2 * p) * Wp + K


@numba.njit(**_NJIT)
def conv_small_forward(x, w, b, p, out, n_chunks):
    """``out`` ``[N, O, Ho, Wo]`` = conv(``x`` ``[N, C, H, W]``, ``w`` ``[O, C, K, K]``) + ``b`` ``[O]``.

    Rows are computed on the padded width ``Wp`` (``Ho * Wp`` contiguous accumulators, the last
    ``Wp − Wo`` of each row discarded), so every ``(c, u, v)`` term is one long contiguous loop.
    """
    N, C, H, W = x.shape
    O, _, K, _ = w.shape
    Ho, Wo = out.shape[2], out.shape[3]
    Wp, L, P = _geometry(H, W, K, p, Ho)
    for chunk in numba.prange(n_chunks):
        xp = np.zeros(C * P, dtype=x.dtype)
        acc = np.empty(L, dtype=x.dtype)
        for n in range(N * chunk // n_chunks, N * (chunk + 1) // n_chunks):
            _pad_image(x, n, C, H, W, p, Wp, P, xp)
            for o in range(O):
                bo = b[o]
                for t in range(L):
                    acc[t] = bo
                for c in range(C):
                    for u in range(K):
                        for v in range(K):
                            wv = w[o, c, u, v]
                            off = c * P + u * Wp + v
                            src = xp[off:off + L]  # 1-d views vectorise; 2-d indexing did not
                            for t in range(L):
                                acc[t] += wv * src[t]
                for i in range(Ho):
                    for j in range(Wo):
                        out[n, o, i, j] = acc[i * Wp + j]


@numba.njit(**_NJIT)
def conv_small_backward(x, w, dy, p, dw, db, dx, need_dx, n_chunks):
    """``dw`` ``[O, C, K, K]`` and ``db`` ``[O]`` (float64, overwritten) and, if ``need_dx``, ``dx``.

    ``dy`` planes are laid out on the padded width with zeros in the extra columns, so each
    ``dw`` term is one contiguous dot product and ``dx`` one contiguous axpy per ``(c, u, v)``.
    """
    N, C, H, W = x.shape
    O, _, K, _ = w.shape
    Ho, Wo = dy.shape[2], dy.shape[3]
    Wp, L, P = _geometry(H, W, K, p, Ho)
    part = np.zeros((n_chunks, O, C, K, K), dtype=np.float64)
    partb = np.zeros((n_chunks, O), dtype=np.float64)
    for chunk in numba.prange(n_chunks):
        xp = np.zeros(C * P, dtype=x.dtype)
        gp = np.zeros(C * P, dtype=x.dtype)
        g = np.zeros(L, dtype=x.dtype)
        zero = np.zeros(1, dtype=x.dtype)[0]
        for n in range(N * chunk // n_chunks, N * (chunk + 1) // n_chunks):
            _pad_image(x, n, C, H, W, p, Wp, P, xp)
            if need_dx:
                gp[:] = 0
            for o in range(O):
                sb = zero
                for i in range(Ho):
                    for j in range(Wo):
                        gv = dy[n, o, i, j]
                        g[i * Wp + j] = gv
                        sb += gv
                partb[chunk, o] += sb
                for c in range(C):
                    for u in range(K):
                        for v in range(K):
                            off = c * P + u * Wp + v
                            src = xp[off:off + L]
                            s = zero
                            for t in range(L):
                                s += g[t] * src[t]
                            part[chunk, o, c, u, v] += s
                            if need_dx:
                                wv = w[o, c, u, v]
                                dst = gp[off:off + L]
                                for t in range(L):
                                    dst[t] += wv * g[t]
            if need_dx:
                for c in range(C):
                    for i in range(H):
                        for j in range(W):
                            dx[n, c, i, j] = gp[c * P + (i + p) * Wp + j + p]
    for o in range(O):
        db[o] = 0.0
        for c in range(C):
            for u in range(K):
                for v in range(K):
                    dw[o, c, u, v] = 0.0
    for chunk in range(n_chunks):
        for o in range(O):
            db[o] += partb[chunk, o]
            for c in range(C):
                for u in range(K):
                    for v in range(K):
                        dw[o, c, u, v] += part[chunk, o, c, u, v]
