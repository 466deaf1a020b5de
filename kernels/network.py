"""Fused Numba loop that advances a whole network (all populations and projections) many steps.

One call runs ``n_steps`` steps without returning to Python. A network is
``populations`` (a tuple of population layouts, one per neuron model: ``LIFPopulation``,
``IzhikevichPopulation`` ...; neuron ids are global, the populations' ranges follow each other),
``projections`` (a tuple of projection layouts, one per synapse kind: ``StaticSynapses`` ...)
and the shared :class:`NetworkBuffers`; the loop calls the kernels registered for each part's
class (``neurosim.kernels.network_kinds``), so it names no model. Per step ``m``:

1. record: every ``rec_every`` steps, each population writes its sampled values (state at the
   start of the step, time ``m dt``) into one row of ``out.samples``;
2. deliver: each projection adds the synapses of the previous step's spikes to the ring (a
   spike of step ``m - 1`` over a synapse of ``d`` steps delay is added before the integration
   of step ``m + d``);
3. update: each population integrates its neurons, reading its inbox (ring slot ``m % D``) and
   drive row ``m - step0`` and appending the ids of spiking neurons to the spike list;
4. plasticity: each projection sees this step's spikes (its ``after_spikes``);
5. output: spikes of neurons with ``rec_mask != 0`` are appended to ``out.spike_step`` /
   ``out.spike_id``.

Timing convention: step ``m`` integrates from ``m dt`` to ``(m+1) dt``; its spikes are
reported with step index ``m`` (time ``(m+1) dt``).

Direct delivery (``NetworkBuffers.direct``, only when one population holds every neuron and all
synapses have delay 0, so the ring has one slot): 1 or 2: spikes and drive for channels 0 and 1
are added straight into ``direct_rows`` (the population's input currents, after this step's
decay, in scatter then drive order) instead of through the ring, which saves two loads and two
stores per neuron and step; 2: besides, nothing targets channel 2 (``v``), so the ring is not
read at all.

The loop and everything it calls per step are compiled without reference counting
(``network_kinds.NJIT_LOOP``): they allocate nothing, and the caller holds every array.

The loop is serial on purpose: a step of CUBA-4000 is ~10 us of work, and a Numba parallel
region per step (the only way to parallelise inside a time loop) costs as much or more to
start, so threads pay only inside the single-model kernels (``lif_integrate`` /
``izhikevich_integrate``), which run the time loop inside each parallel block of neurons.

Returns ``(steps_done, n_out, n_rec)``; it stops early (``steps_done < n_steps``) when the
spike output could overflow (fewer than N free slots) or the sample buffer is full: the caller
empties the buffers and calls again from ``step0 + steps_done``.
"""
from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

# the modules that register the population and projection kinds
import neurosim.kernels.adex  # noqa: F401
import neurosim.kernels.hh  # noqa: F401
import neurosim.kernels.izhikevich  # noqa: F401
import neurosim.kernels.lif  # noqa: F401
import neurosim.kernels.lif_cond  # noqa: F401
import neurosim.kernels.poisson_group  # noqa: F401
import neurosim.kernels.sources  # noqa: F401
import neurosim.kernels.stdp  # noqa: F401
import neurosim.kernels.stp  # noqa: F401
import neurosim.kernels.synapse  # noqa: F401
from neurosim.kernels.network_kinds import (
    NJIT_LOOP, after_spikes_projections, deliver_projections, end_call_populations, record_populations,
    step_populations,
)

__all__ = ["network_integrate", "NetworkBuffers", "NetworkOutputs"]


class NetworkBuffers(NamedTuple):
    """What the parts of a network share.

    ``n_neurons`` N; ``ring`` float [D, N_CHANNELS, N] (input due at step ``m`` in slot
    ``m % D``, D = longest delay + 1); ``direct`` 0, 1 or 2 and ``direct_rows`` float [2, N]
    (the currents that take channels 0 and 1 in direct mode; [2, 0] otherwise); ``spk`` int32
    [max(N, 1)] and ``n_spk`` int64 [1]: the spikes of the previous step (scattered at the start
    of the next step, also across calls); ``rec_mask`` uint8 [N]: neurons whose spikes are
    output; ``rec_every``: steps between samples; ``one``: 1 in the state dtype (see
    ``neurosim.kernels.lif._lif_pass1``).
    """

    n_neurons: int
    ring: np.ndarray
    direct: int
    direct_rows: np.ndarray
    spk: np.ndarray
    n_spk: np.ndarray
    rec_mask: np.ndarray
    rec_every: int
    one: float


class NetworkOutputs(NamedTuple):
    """Caller-allocated outputs of one call: ``spike_step`` int64 [cap], ``spike_id`` int32 [cap],
    ``samples`` float [rows, R] (one row per sampled step, R sampled values)."""

    spike_step: np.ndarray
    spike_id: np.ndarray
    samples: np.ndarray


@numba.njit(**NJIT_LOOP)
def network_integrate(step0, n_steps, populations, projections, bufs, drive, has_drive, out):
    """Advance the network ``n_steps`` steps from global step ``step0`` (see the module docstring).

    ``drive`` float [T, N]: row ``s`` is added at step ``step0 + s`` to the drive channel of each
    group (with ``has_drive`` false: one row of zeros, not added).
    """
    N = bufs.n_neurons
    ring = bufs.ring
    direct = bufs.direct
    direct_rows = bufs.direct_rows
    spk = bufs.spk
    n_spk = bufs.n_spk
    rec_mask = bufs.rec_mask
    rec_every = bufs.rec_every
    one = bufs.one
    spike_step = out.spike_step
    spike_id = out.spike_id
    samples = out.samples
    D = ring.shape[0]
    R = samples.shape[1]
    n_out = 0
    n_rec = 0
    if N == 0:
        return n_steps, n_out, n_rec
    done = n_steps
    for s in range(n_steps):
        m = step0 + s
        s32 = np.int32(s)
        if n_out + N > spike_step.shape[0]:
            done = s
            break
        # 1. record
        if R > 0 and m % rec_every == 0:
            if n_rec >= samples.shape[0]:
                done = s
                break
            record_populations(populations, samples[n_rec], s32)
            n_rec += 1
        # 2. deliver the spikes of the previous step
        deliver_projections(projections, spk, n_spk[0], m, ring, direct, direct_rows)
        # 3. update the neurons
        cnt = n_spk[0] * 0  # int64, not Literal[int](0): one compiled variant per callee
        cnt = step_populations(populations, ring[m % D], drive[s if has_drive else 0], has_drive, direct, s32, one,
                               spk, cnt)
        n_spk[0] = cnt
        # 4. plasticity
        after_spikes_projections(projections, spk, cnt, m)
        # 5. output
        for q in range(cnt):
            g = spk[q]
            if rec_mask[g]:
                spike_step[n_out] = m
                spike_id[n_out] = g
                n_out += 1
    end_call_populations(populations, done)
    return done, n_out, n_rec
