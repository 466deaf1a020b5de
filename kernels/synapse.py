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

In a network (``neurosim.kernels.network``) all fixed-weight synapses form one
:class:`StaticSynapses` projection: one CSR over keys ``N_CHANNELS pre + channel``, delivered by
:func:`static_deliver` into the network's ring ``[D, N_CHANNELS, N]``.
"""
from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from neurosim.config import NJIT
from neurosim.kernels.network_kinds import CH_V, N_CHANNELS, NJIT_LOOP, register_projection

__all__ = ["dense_propagate", "csr_propagate", "csr_propagate_delayed", "csr_order", "csr_contiguous_rows",
           "csr_uniform_rows", "StaticSynapses", "ROW_CONTIGUOUS", "ROW_UNIFORM"]

#: ``StaticSynapses.contig`` flags: the row's targets are consecutive ids / its weights are all equal
ROW_CONTIGUOUS, ROW_UNIFORM = 1, 2


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
    """``out[r] = ROW_CONTIGUOUS`` (1) when row ``r`` targets consecutive indices ``k0, k0+1, ...`` (a dense run).

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
        out[r] = ROW_CONTIGUOUS if ok else 0


@numba.njit(**NJIT)
def csr_uniform_rows(indptr, weights, out):
    """``out[r] |= ROW_UNIFORM`` (2) when every weight of the non-empty row ``r`` is the same value.

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
            out[r] |= ROW_UNIFORM


# ------------------------------------------------------------------------------ in a network
class StaticSynapses(NamedTuple):
    """Fixed-weight synapses of a network: one CSR over keys ``N_CHANNELS pre + c`` (``c``: channel).

    ``indptr`` int64 [N_CHANNELS N + 1]; ``indices`` uint16 or int32 (targets, global ids;
    uint16 when every id fits); ``weights`` float; ``delays`` int32 steps per synapse, empty
    when all synapses share ``delay_const`` >= 0 steps (else ``delay_const`` is -1). ``contig``
    uint8 [N_CHANNELS N] row flags (``ROW_CONTIGUOUS``: consecutive targets, added as one
    vectorised run; ``ROW_UNIFORM``: one weight for the row, ``wrow[key]``, the weights are not
    read); ``wrow`` float [N_CHANNELS N] (0 for other rows).
    """

    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray
    delays: np.ndarray
    delay_const: int
    contig: np.ndarray
    wrow: np.ndarray


@numba.njit(**NJIT_LOOP)
def _add_run(dst, src):
    """``dst += src`` over two 1-D arrays (a dense run of targets; vectorised)."""
    for k in range(dst.shape[0]):
        dst[k] += src[k]


@numba.njit(**NJIT_LOOP)
def _add_indexed(dst, idx, src):
    """``dst[idx[k]] += src[k]`` in order (repeated targets accumulate)."""
    for k in range(idx.shape[0]):
        dst[idx[k]] += src[k]


@numba.njit(**NJIT_LOOP)
def _add_const(dst, idx, w):
    """``dst[idx[k]] += w`` in order."""
    for k in range(idx.shape[0]):
        dst[idx[k]] += w


@numba.njit(**NJIT_LOOP)
def static_deliver(p, spk, n_spk, m, ring, direct, direct_rows):
    """Add the synapses of the spiking neurons ``spk[:n_spk]`` (rows ``N_CHANNELS pre + c``) for step ``m``.

    Each destination buffer receives one channel only, so visiting the channels per spike (the
    rows of a neuron share a cache line of ``indptr``) sums every buffer in the same order
    (spike order, then row order) as visiting the spikes per channel. With ``direct`` (uniform
    delay 0), channels 0 and 1 go straight into ``direct_rows``.
    """
    indptr = p.indptr
    indices = p.indices
    weights = p.weights
    delay_const = p.delay_const
    D = ring.shape[0]
    for s in range(n_spk):
        base = N_CHANNELS * spk[s]
        for c in range(N_CHANNELS):
            key = base + c
            q0 = indptr[key]
            q1 = indptr[key + 1]
            if q0 == q1:
                continue
            if delay_const >= 0:
                if direct and c != CH_V:
                    row = direct_rows[c]
                else:
                    row = ring[(m + delay_const) % D, c]
                fl = p.contig[key]
                if fl & ROW_CONTIGUOUS:
                    k0 = indices[q0]
                    _add_run(row[k0:k0 + (q1 - q0)], weights[q0:q1])
                elif fl & ROW_UNIFORM:
                    _add_const(row, indices[q0:q1], p.wrow[key])
                else:
                    _add_indexed(row, indices[q0:q1], weights[q0:q1])
            else:
                delays = p.delays
                for q in range(q0, q1):
                    ring[(m + delays[q]) % D, c, indices[q]] += weights[q]


@numba.njit(**NJIT_LOOP)
def static_after_spikes(p, spk, cnt, m):
    """Fixed weights: nothing to update."""


register_projection(StaticSynapses, deliver=static_deliver, after_spikes=static_after_spikes)
