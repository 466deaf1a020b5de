"""Numba kernels for representational-similarity analysis (numpy + numba only).

Two small loops that numpy would otherwise run through large temporaries:

* ``inverse_permutation(order, out)``: ``out[order[k]] = k``. For an ``argsort`` result this
  equals ``argsort(order)`` exactly (a permutation has no ties), so
  ``rank = inverse_permutation(argsort(v))`` is the paper's ``argsort(argsort(v))`` in O(n)
  instead of a second O(n log n) sort, written into a caller-allocated (e.g. int32) array.
* ``rank_diff_sq_sum(rx, ry)``: ``sum_k (rx[k] - ry[k])**2`` accumulated in float64 without
  the two n-long temporaries of ``((rx - ry) ** 2).sum()``; ranks up to 2**31 are exact
  (each square < 2**62 is formed in int64, then added as float64).
* ``upper_triangle_into(C, out)``: the strict upper triangle of a square matrix, row-major
  (``C[np.triu_indices(n, 1)]``) without the two int64 index arrays ``triu_indices`` builds.
"""
from __future__ import annotations

import numba

from neurosim.config import NJIT

__all__ = ["inverse_permutation", "rank_diff_sq_sum", "upper_triangle_into"]


@numba.njit(**NJIT)
def inverse_permutation(order, out):
    """Write the inverse of permutation ``order`` into ``out`` (``out[order[k]] = k``)."""
    n = order.shape[0]
    for k in range(n):
        out[order[k]] = k
    return out


@numba.njit(**NJIT)
def rank_diff_sq_sum(rx, ry):
    """Return ``sum((rx - ry)**2)`` as float64 (integer ranks; exact squares)."""
    n = rx.shape[0]
    total = 0.0
    for k in range(n):
        d = numba.int64(rx[k]) - numba.int64(ry[k])
        total += float(d * d)
    return total


@numba.njit(**NJIT)
def upper_triangle_into(C, out):
    """Copy the strict upper triangle of square ``C`` row by row into ``out`` (length n(n-1)/2)."""
    n = C.shape[0]
    pos = 0
    for i in range(n - 1):
        for j in range(i + 1, n):
            out[pos] = C[i, j]
            pos += 1
    return out
