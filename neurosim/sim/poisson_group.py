"""Poisson spike-source groups: neurons that spike with probability ``rate dt`` in each step.

``Network.add_poisson_group(n, rate_hz, name=)`` adds ``n`` source neurons (``rate_hz`` a scalar
or one rate per neuron, Hz). Each neuron's spikes form an independent Bernoulli process over the
steps, ``P(spike in step m) = rate_hz dt / 1000`` (Brian2 ``PoissonGroup``: ``rand() < rates
dt``), so at most one spike per step and ``rate_hz dt / 1000 <= 1`` is required. Connect from
the group like from any group; nothing can target it (no synapse, no input).

Random numbers: the group owns a child of the network's generator (or ``rng``) and draws, in
Python, per chunk of steps (the kernels draw none): the inter-spike gaps of the Bernoulli process
are geometric, drawn in *rounds* of one gap per neuron (``rng.geometric(p, size=n)``), a round
whenever some neuron needs its next gap. A round's values do not depend on when it is drawn, so
the spikes are the same however a run is chunked or split into several ``run`` calls. The spikes
reach the kernel as 0/1 values in the group's columns of the drive (``neurosim.kernels.poisson_group``).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from neurosim._validation import check_int
from neurosim.kernels.network_kinds import CH_EXC
from neurosim.sim.inputs import Input

__all__ = ["PoissonGroupParams", "PoissonSpikes", "add_poisson_group"]

#: step index of a spike that never comes (rate 0)
_NEVER = np.iinfo(np.int64).max // 2


@dataclasses.dataclass(frozen=True)
class PoissonGroupParams:
    """Rates of a Poisson source group (Hz; a scalar or one per neuron)."""

    rate_hz: float | np.ndarray

    def size(self) -> int | None:
        return None if np.ndim(self.rate_hz) == 0 else int(np.size(self.rate_hz))


class PoissonSpikes(Input):
    """The drive of a Poisson source group: 1 in the steps where a source spikes, else 0."""

    kind = "poisson_group"

    def __init__(self, group, *, rng, p):
        super().__init__(group, "spikes", CH_EXC)
        self.rng = rng
        self.p = p                      # spike probability per step, [n]
        self._t = None                  # absolute steps of the drawn, not yet emitted spikes (sorted)
        self._i = None                  # their neurons (local ids)
        self._last = None               # [n] step of each neuron's last drawn spike

    def _round(self):
        """One more gap per neuron (rate-0 neurons never spike); the new spikes join the sorted pending list."""
        live = self.p > 0
        gaps = self.rng.geometric(np.where(live, self.p, 1.0), size=self.p.size)
        nxt = np.where(live, self._last + gaps, _NEVER)
        self._last = nxt
        ids = np.flatnonzero(live)
        t = np.concatenate([self._t, nxt[ids]])
        i = np.concatenate([self._i, ids])
        order = np.argsort(t, kind="stable")
        self._t, self._i = t[order], i[order]

    def draw(self, d, step0):
        self._clear(d)
        n = self.group.n
        if self._last is None:
            self._last = np.full(n, step0 - 1, dtype=np.int64)
            self._t, self._i = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        end = step0 + d.shape[0]
        while self._last.min() < end:
            self._round()
        k = int(np.searchsorted(self._t, end))  # every pending spike is at or after step0 (earlier ones emitted)
        d[self._t[:k] - step0, self._cols.start + self._i[:k]] = 1
        self._t, self._i = self._t[k:], self._i[k:]


def add_poisson_group(net, n, rate_hz, *, name=None, rng=None):
    """``Network.add_poisson_group``: validate, add the group and its spike drive."""
    from neurosim._rng import as_generator
    from neurosim.sim.network import _per_neuron

    net._check_open()
    n = check_int("n", n, min_value=1)
    rate = _per_neuron("rate_hz", rate_hz, n)
    p = rate * net.dt / 1000.0
    if np.any(rate < 0) or np.any(p > 1):
        raise ValueError(f"rate_hz must lie in [0, 1000 / dt] = [0, {1000.0 / net.dt:g}] Hz (at most one spike per "
                         f"step of dt={net.dt} ms), got values in [{rate.min():g}, {rate.max():g}]")
    params = PoissonGroupParams(float(rate[0]) if np.ndim(rate_hz) == 0 else rate.copy())
    g = net._add_group(name, "poisson", "poisson", n, params, None, None, np.zeros(n))
    gen = net._rng.spawn(1)[0] if rng is None else as_generator(rng)
    net.inputs.append(PoissonSpikes(g, rng=gen, p=p))
    return g
