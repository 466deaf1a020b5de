r"""Training-mode batch normalisation over ``[N, C, S]`` (S = spatial size), forward and backward.

For channel ``c`` with the ``M = N S`` values ``x`` (biased variance, as BatchNorm's
normalisation uses)::

    mean = Σx / M,  var = Σ(x − mean)² / M,  r = 1 / sqrt(var + eps)
    y  = (x − mean) r γ + β                     = a x + b,   a = γ r,  b = β − mean a
    dβ = Σ dy,  dγ = Σ dy (x − mean) r
    dx = γ r (dy − dβ / M − (x − mean) r dγ / M) = a dy + p x + q

Two kinds of kernel, both sweeping the arrays in memory order (rows ``n``, then channels,
then the ``S`` contiguous values), so that the hardware prefetchers see long contiguous runs
(the earlier channel-at-a-time order read ``N`` separate runs of ``S`` values per channel,
784 or 196 floats in the training ConvNet, and ran at a fifth of the memory bandwidth):

* :func:`bn_sums`: per-channel ``Σ (a − ka)`` and ``Σ (a − ka)(b − kb)`` of each row, written to
  a float64 ``[N, 2, C]`` array (the caller sums over rows in float64).
  The forward takes ``a = b = x`` shifted by each channel's first value (one read of ``x``
  gives mean and variance without the cancellation of ``Σx² − M mean²``); the backward takes
  ``a = dy``, ``b = x`` shifted by the mean.
* :func:`bn_affine` (``y = x A[c] + B[c]``) and :func:`bn_affine2` (``dx = dy A[c] + x P[c] +
  Q[c]``) over a range of rows, with per-channel coefficients in the data dtype.

Sums over one row's ``S`` values are taken in the data dtype (vectorised), sums over rows in
float64. Ranges of rows run on the worker threads of :func:`neurosim.kernels.blocks.run_blocks`
(the kernels release the GIL). The contiguous loops index slices, not the flat arrays: with a
flat index Numba cannot prove it non-negative and tests for wraparound on every element, which
kept these loops scalar (0.8 vs 0.18 ns per element). Reductions are reassociated (``fastmath`` reassoc/contract only, so
NaN and inf still propagate) so that LLVM vectorises them; results agree with
``torch.nn.functional.batch_norm`` to float rounding.
"""
from __future__ import annotations

import numba

from neurosim.config import CACHE

__all__ = ["bn_sums", "bn_affine", "bn_affine2"]

_NJIT = {"cache": CACHE, "nogil": True, "error_model": "numpy", "fastmath": {"reassoc", "contract"}}


@numba.njit(**_NJIT)
def bn_sums(a, ka, b, kb, C, S, out, work, n0, n1):
    """For rows ``n0 .. n1-1``: ``out[n, 0, c] = Σ_s (a − ka[c])`` and ``out[n, 1, c] = Σ_s (a −
    ka[c])(b − kb[c])`` over the ``S`` values of channel ``c`` in row ``n``. ``a``, ``b``: flat
    ``[N * C * S]``; ``ka``, ``kb``: ``[C]`` (data dtype); ``out``: float64 ``[N, 2, C]``;
    ``work``: scratch (unused; :func:`~neurosim.kernels.blocks.run_blocks` passes one)."""
    zero = ka[0] - ka[0]
    for n in range(n0, n1):
        for c in range(C):
            base = (n * C + c) * S
            ar = a[base:base + S]  # slices: indices provably >= 0, no wraparound test per element
            br = b[base:base + S]
            k1 = ka[c]
            k2 = kb[c]
            r1 = zero
            r2 = zero
            for j in range(S):
                d = ar[j] - k1
                r1 += d
                r2 += d * (br[j] - k2)
            out[n, 0, c] = r1
            out[n, 1, c] = r2


@numba.njit(**_NJIT)
def bn_affine(x, A, B, C, S, y, work, n0, n1):
    """``y = x A[c] + B[c]`` for rows ``n0 .. n1-1`` (flat ``[N * C * S]``)."""
    for n in range(n0, n1):
        for c in range(C):
            base = (n * C + c) * S
            xr = x[base:base + S]
            yr = y[base:base + S]
            ac = A[c]
            bc = B[c]
            for j in range(S):
                yr[j] = xr[j] * ac + bc


@numba.njit(**_NJIT)
def bn_affine2(dy, x, A, P, Q, C, S, dx, work, n0, n1):
    """``dx = dy A[c] + x P[c] + Q[c]`` for rows ``n0 .. n1-1`` (flat ``[N * C * S]``)."""
    for n in range(n0, n1):
        for c in range(C):
            base = (n * C + c) * S
            gr = dy[base:base + S]
            xr = x[base:base + S]
            dr = dx[base:base + S]
            ac = A[c]
            pc = P[c]
            qc = Q[c]
            for j in range(S):
                dr[j] = gr[j] * ac + xr[j] * pc + qc
