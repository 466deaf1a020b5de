"""Numba kernels for event-driven synaptic propagation (dense and CSR, integer delays).

Event-driven: the work is proportional to the number of *spiking* presynaptic neurons times
their out-degree; silent neurons cost nothing. All kernels *add* into caller-allocated outputs.

Layouts
-------
dense    ``w[n_pre, n_post]`` (row = outgoing weights of one presynaptic neuron, contiguous)
CSR      rows = presynaptic neurons: the targets of ``j`` are
         ``indices[indptr[j]:indptr[j+1]]`` with weights ``weights[...]`` (and ``delays[...]``)
ring     ``ring[D, n_post]``: input due at step ``t`` is accumulated in row ``t % D``; a spike
         sent at step ``t`` over a synapse with delay ``d`` (``0 <= d < D``) lands in row
         ``(t + d) % D``. The consumer reads and zeroes row ``t % D`` at step ``t``.
"""
from __future__ import annotations

import numba

from neurosim.config import NJIT

__all__ = ["dense_propagate", "csr_propagate", "csr_propagate_delayed", "csr_order", "csr_contiguous_rows",
           "csr_uniform_rows"]


@numba.njit(**NJIT)
def dense_propagate(spike_idx, w, out):
    """``out[k] += sum_{j in spike_idx} w[j, k]`` (spike_idx: int array of presynaptic ids)."""
    n_post = w.shape[1]
    for s in range(spike_idx.shape[0]):
        j = spike_idx[s]
        for k in range(n_post):
            out[k] += w[j, k]


@numba.njit(**NJIT)
def csr_propagate(spike_idx, indptr, indices, weights, out):
    """``out[indices[q]] += weights[q]`` for every synapse ``q`` of every spiking neuron."""
    for s in range(spike_idx.shape[0]):
        j = spike_idx[s]
        for q in range(indptr[j], indptr[j + 1]):
            out[indices[q]] += weights[q]


@numba.njit(**NJIT)
def csr_propagate_delayed(spike_idx, indptr, indices, weights, delays, ring, t):
    """Like :func:`csr_propagate` into ``ring[(t + delays[q]) % D, indices[q]]`` (D = ring rows)."""
    D = ring.shape[0]
    for s in range(spike_idx.shape[0]):
        j = spike_idx[s]
        for q in range(indptr[j], indptr[j + 1]):
            ring[(t + delays[q]) % D, indices[q]] += weights[q]


@numba.njit(**NJIT)
def csr_order(keys, indptr, order):
    """Stable counting sort of integer ``keys`` in ``[0, len(indptr) - 1)``.

    Writes ``indptr`` (row pointers, length n_keys + 1) and ``order`` (a permutation such that
    ``keys[order]`` is sorted, equal keys kept in input order). O(len(keys) + n_keys).
    """
    n_keys = indptr.shape[0] - 1
    for k in range(n_keys + 1):
        indptr[k] = 0
    for q in range(keys.shape[0]):
        indptr[keys[q] + 1] += 1
    for k in range(n_keys):
        indptr[k + 1] += indptr[k]
    fill = indptr[:-1].copy()
    for q in range(keys.shape[0]):
        k = keys[q]
        order[fill[k]] = q
        fill[k] += 1



@numba.njit(**NJIT)
def csr_contiguous_rows(indptr, indices, out):
    """``out[r] = 1`` when row ``r`` targets consecutive indices ``k0, k0+1, ...`` (a dense run).

    Scattering such a row is a contiguous, vectorisable add (all-to-all blocks); empty rows get 0.
    """
    for r in range(indptr.shape[0] - 1):
        q0 = indptr[r]
        q1 = indptr[r + 1]
        ok = q1 > q0
        for q in range(q0 + 1, q1):
            if indices[q] != indices[q - 1] + 1:
                ok = False
                break
        out[r] = 1 if ok else 0


@numba.njit(**NJIT)
def csr_uniform_rows(indptr, weights, out):
    """``out[r] |= 2`` when every weight of the non-empty row ``r`` is the same value.

    Such a row is scattered as ``row[indices] += w`` with one scalar ``w``: the weights are not
    streamed from memory (half the traffic of a sparse row with float32 weights and int32 targets).
    """
    for r in range(indptr.shape[0] - 1):
        q0 = indptr[r]
        q1 = indptr[r + 1]
        if q1 == q0:
            continue
        w0 = weights[q0]
        ok = True
        for q in range(q0 + 1, q1):
            if weights[q] != w0:
                ok = False
                break
        if ok:
            out[r] |= 2
