"""Spike sources in the network loop: groups whose neurons spike at given steps (no dynamics).

A spike-generator population (:class:`SpikeGeneratorPopulation`) holds every spike-generator
group of a network as one sorted schedule: entry ``q`` says that neuron ``ids[q]`` (index into
the population; global id ``start + ids[q]``) spikes in loop step ``steps[q]``, sorted by step,
then id, with at most one entry per neuron and step. Its ``step`` appends the neurons due in
the current step to the spike list, like a neuron that crossed its threshold in that step: the
spike is reported at the end of the step (time ``(steps[q] + 1) dt``) and delivered by the
projections from the next step on, exactly as a spike of a LIF or Izhikevich neuron. The
conversion of times in ms to loop steps is ``neurosim.sim.sources.SpikeTimes.steps``.

State between calls: ``pos`` int64 [1] (the next schedule entry) and ``now`` int64 [1] (the
global step of the current call's step 0; ``end_call`` advances it by the steps done), so the
schedule follows the network's time across calls, chunks, and ``store``/``restore`` (which copy
these arrays like any other state). The inbox and the drive are not read: nothing targets a
spike generator. There is nothing to record.

Numba only (numpy + numba + ``neurosim.config``); draws no random numbers.
"""
from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from neurosim.kernels.network_kinds import NJIT_LOOP, register_population

__all__ = ["SpikeGeneratorPopulation", "spike_generator_step", "spike_generator_record", "spike_generator_end_call"]


class SpikeGeneratorPopulation(NamedTuple):
    """The spike-generator groups of a network, global ids ``start ...``.

    ``steps`` int64 [K] (loop step of each scheduled spike, non-decreasing), ``ids`` int32 [K]
    (neuron index within the population, increasing within a step), ``pos`` int64 [1] (first
    entry not yet emitted), ``now`` int64 [1] (global step of step 0 of the running call);
    ``groups`` int64 [G, GROUP_COLUMNS] and ``rec`` int64 [3, 0] as every population has.
    """

    start: int
    steps: np.ndarray
    ids: np.ndarray
    pos: np.ndarray
    now: np.ndarray
    groups: np.ndarray
    rec: np.ndarray


@numba.njit(**NJIT_LOOP)
def spike_generator_step(p, buf, x, has_drive, direct, s, one, spk, cnt):
    """Append the neurons scheduled for global step ``now + s`` to ``spk`` (entries of earlier
    steps, which a consistent state never holds, are skipped)."""
    m = p.now[0] + s
    steps = p.steps
    ids = p.ids
    q = p.pos[0]
    K = steps.shape[0]
    while q < K and steps[q] < m:
        q += 1
    st = p.start
    while q < K and steps[q] == m:
        spk[cnt] = st + ids[q]
        cnt += 1
        q += 1
    p.pos[0] = q
    return cnt


@numba.njit(**NJIT_LOOP)
def spike_generator_record(p, row, s):
    """Nothing to sample."""


@numba.njit(**NJIT_LOOP)
def spike_generator_end_call(p, steps_done):
    """Advance ``now`` by the steps done in the call."""
    p.now[0] += steps_done


register_population(SpikeGeneratorPopulation, step=spike_generator_step, record=spike_generator_record,
                    end_call=spike_generator_end_call)
