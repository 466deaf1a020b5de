"""Numba kernels of the Poisson spike-source population of a network.

A Poisson source neuron has no state: it spikes in step ``m`` when its drive value for that step
is nonzero. The drive (a 0/1 value per neuron and step) is drawn in Python by the group's input
(``neurosim.sim.poisson_group.PoissonSpikes``), per chunk of steps, from the caller's generator;
the kernels draw no random numbers. Its spikes are reported like any neuron's (step ``m``, time
``(m + 1) dt``) and travel over the group's outgoing synapses. Nothing targets a source neuron.

Numba only (numpy + numba + ``neurosim.config``).
"""
from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from neurosim.kernels.network_kinds import GROUP_HI, GROUP_LO, NJIT_LOOP, register_population

__all__ = ["PoissonPopulation", "poisson_population_step"]

#: sources per block of the vectorised "any spike" test (blocks without one are skipped)
SUB = 256


class PoissonPopulation(NamedTuple):
    """The Poisson source groups of a network (global ids ``start ...``; ``groups`` the group
    table, ``rec`` the empty sample table: a source has no recordable variable)."""

    start: int
    groups: np.ndarray
    rec: np.ndarray


@numba.njit(**NJIT_LOOP)
def poisson_population_step(p, buf, x, has_drive, direct, s, one, spk, cnt):
    """Append the sources whose drive value ``x[i]`` is nonzero to the spike list."""
    if not has_drive:
        return cnt
    groups = p.groups
    for g in range(groups.shape[0]):
        lo = groups[g, GROUP_LO]
        hi = groups[g, GROUP_HI]
        for b0 in range(lo, hi, SUB):
            b1 = min(hi, b0 + SUB)
            hit = False
            for i in range(b0, b1):
                hit |= x[i] != 0
            if not hit:
                continue
            for i in range(b0, b1):
                if x[i] != 0:
                    spk[cnt] = i
                    cnt += 1
    return cnt


@numba.njit(**NJIT_LOOP)
def poisson_population_record(p, row, s):
    """Nothing to record."""


@numba.njit(**NJIT_LOOP)
def poisson_population_end_call(p, steps_done):
    """No state."""


register_population(PoissonPopulation, step=poisson_population_step, record=poisson_population_record,
                    end_call=poisson_population_end_call)
