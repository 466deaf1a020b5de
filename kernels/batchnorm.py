r"""Training-mode batch normalisation over ``[N, C, S]`` (S = spatial size), forward and backward.

For channel ``c`` with the ``M = N S`` values ``x`` (biased variance, as BatchNorm's
normalisation uses)::

    mean = Σx / M,  var = Σ(x − mean)² / M,  r = 1 / sqrt(var + eps)
    y  = (x − mean) r γ + β                     = a x + b,   a = γ r,  b = β − mean a
    dβ = Σ dy,  dγ = Σ dy (x − mean) r
    dx = γ r (dy − dβ / M − (x − mean) r dγ / M) = a dy + p x + q

The statistics use a shift (the channel's first value) and float64 accumulation across rows,
so one read of ``x`` gives mean and variance without the cancellation of ``Σx² − M mean²``.
Each kernel works on a range of channels ``[c0, c1)`` and finishes a channel before the next
(statistics, then the normalisation, or the two backward passes), so the second pass over a
channel's values usually reads them from cache. Ranges of channels run on the worker threads
of :func:`neurosim.kernels.bptt.run_blocks` (the kernels release the GIL).

Reductions are reassociated (``fastmath`` reassoc/contract only, so NaN and inf still
propagate) so that LLVM vectorises them; results agree with ``torch.nn.functional.batch_norm``
to float rounding.
"""
from __future__ import annotations

import numba
import numpy as np

from neurosim.config import CACHE

__all__ = ["bn_forward", "bn_backward"]

_NJIT = {"cache": CACHE, "nogil": True, "error_model": "numpy", "fastmath": {"reassoc", "contract"}}


@numba.njit(**_NJIT)
def _channel_sums(a, ka, b, kb, N, C, S, c, zero):
    """``Σ (a − ka)`` and ``Σ (a − ka)(b − kb)`` over channel ``c`` of flat ``[N, C, S]`` arrays.

    Row sums in the data dtype (``zero``: its 0, vectorised), accumulated over rows in float64.
    """
    s1 = 0.0
    s2 = 0.0
    for n in range(N):
        base = (n * C + c) * S
        r1 = zero
        r2 = zero
        for j in range(S):
            d = a[base + j] - ka
            r1 += d
            r2 += d * (b[base + j] - kb)
        s1 += r1
        s2 += r2
    return s1, s2


@numba.njit(**_NJIT)
def bn_forward(x, N, C, S, gamma, beta, eps, y, stats, work, c0, c1):
    """Batch statistics and ``y = a x + b`` for channels ``[c0, c1)``.

    ``x``, ``y``: flat ``[N * C * S]``; ``gamma``, ``beta``: ``[C]`` (data dtype);
    ``stats``: float64 ``[2, C]`` receives the mean and the biased variance; ``work``: at least
    3 elements of the data dtype (scratch used to round scalars to it).
    """
    M = N * S
    work[0] = 0
    for c in range(c0, c1):
        k = x[c * S]
        s1, s2 = _channel_sums(x, k, x, k, N, C, S, c, work[0])
        m1 = s1 / M
        mean = k + m1
        var = s2 / M - m1 * m1
        if var < 0.0:
            var = 0.0
        stats[0, c] = mean
        stats[1, c] = var
        r = 1.0 / np.sqrt(var + eps)
        a = gamma[c] * r
        b = beta[c] - mean * a
        work[1] = a
        work[2] = b
        af = work[1]
        bf = work[2]
        for n in range(N):
            base = (n * C + c) * S
            for j in range(S):
                y[base + j] = x[base + j] * af + bf


@numba.njit(**_NJIT)
def bn_backward(dy, x, N, C, S, gamma, stats, eps, dx, grads, work, c0, c1):
    """``dx`` (flat, data dtype) and ``grads`` (float64 ``[2, C]``: dγ, dβ) for channels ``[c0, c1)``;
    ``work`` as in :func:`bn_forward`."""
    M = N * S
    work[0] = 0
    for c in range(c0, c1):
        mean = stats[0, c]
        r = 1.0 / np.sqrt(stats[1, c] + eps)
        work[1] = mean
        sdy, sdx = _channel_sums(dy, work[0], x, work[1], N, C, S, c, work[0])
        dgamma = sdx * r
        grads[0, c] = dgamma
        grads[1, c] = sdy
        a = gamma[c] * r
        p = -a * r * dgamma / M
        q = -a * sdy / M - p * mean
        work[1] = a
        work[2] = p
        af = work[1]
        pf = work[2]
        work[2] = q
        qf = work[2]
        for n in range(N):
            base = (n * C + c) * S
            for j in range(S):
                dx[base + j] = dy[base + j] * af + x[base + j] * pf + qf
