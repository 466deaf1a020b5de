"""Numba kernels of the Poisson spike-source population of a network.

A Poisson source neuron has no state: its spikes are drawn in Python by the group's input
(``neurosim.sim.poisson_group.PoissonSpikes``), per chunk of steps, from the caller's generator
(the kernels draw no random numbers), and reach the kernel as an event list in compressed rows:
the global ids of the sources spiking in row ``r`` of the chunk are ``ev_id[ev_ptr[r]:ev_ptr[r + 1]]``
(ascending). The population step emits one row per network step and moves ``row[0]`` on, so a
call that stops early leaves the cursor where the next call goes on; Python refills the lists and
sets ``row[0] = 0`` at each chunk. The cost per step is that of its spikes, not of the group size
(a dense 0/1 drive cost a write, a clear and a scan of every source in every step). Spikes are
reported like any neuron's (step ``m``, time ``(m + 1) dt``) and travel over the group's outgoing
synapses. Nothing targets a source neuron.

Numba only (numpy + numba + ``neurosim.config``).
"""
from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from neurosim.kernels.network_kinds import NJIT_LOOP, register_population

__all__ = ["PoissonPopulation", "poisson_population_step"]


class PoissonPopulation(NamedTuple):
    """The Poisson source groups of a network (global ids ``start ...``; ``groups`` the group
    table, ``rec`` the empty sample table: a source has no recordable variable).

    ``ev_ptr`` int64 [R + 1] and ``ev_id`` int32 [R n] hold the spikes of a chunk of at most ``R``
    steps (row pointers and global ids; ``n`` sources, at most one spike each per step, so the
    list never overflows); ``row`` int64 [1] the chunk row of the next step.
    """

    start: int
    ev_ptr: np.ndarray
    ev_id: np.ndarray
    row: np.ndarray
    groups: np.ndarray
    rec: np.ndarray


@numba.njit(**NJIT_LOOP)
def poisson_population_step(p, buf, x, has_drive, direct, s, one, spk, cnt):
    """Append the sources of this step's row of the event list to the spike list."""
    r = p.row[0]
    ev_id = p.ev_id
    for q in range(p.ev_ptr[r], p.ev_ptr[r + 1]):
        spk[cnt] = ev_id[q]
        cnt += 1
    p.row[0] = r + 1
    return cnt


@numba.njit(**NJIT_LOOP)
def poisson_population_record(p, row, s):
    """Nothing to record."""


@numba.njit(**NJIT_LOOP)
def poisson_population_end_call(p, steps_done):
    """No state."""


register_population(PoissonPopulation, step=poisson_population_step, record=poisson_population_record,
                    end_call=poisson_population_end_call)
