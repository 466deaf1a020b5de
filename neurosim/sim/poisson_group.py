"""Poisson spike-source groups: neurons that spike with probability ``rate dt`` in each step.

``Network.add_poisson_group(n, rate_hz, name=)`` adds ``n`` source neurons (``rate_hz`` a scalar
or one rate per neuron, Hz). Each neuron's spikes form an independent Bernoulli process over the
steps, ``P(spike in step m) = rate_hz dt / 1000`` (Brian2 ``PoissonGroup``: ``rand() < rates
dt``), so at most one spike per step and ``rate_hz dt / 1000 <= 1`` is required. Connect from
the group like from any group; nothing can target it (no synapse, no input).

Random numbers: the inter-spike gaps of a Bernoulli process are geometric. Neuron ``i``'s
``k``-th gap (``k = 0, 1, ...``) is a fixed function of the group's key, ``i`` and ``k``
(counter-based, like Philox, with SplitMix64's mixer): ``key_i = mix(base + (i + 1) G)``, ``u =
((mix(key_i + (k + 1) G) >> 11) + 1) / 2**53`` in (0, 1], ``gap = floor(log(u) / log(1 - p)) + 1``
(inverse CDF: ``P(gap = j) = (1 - p)**(j - 1) p``), where ``base`` is one 64-bit integer drawn
from the group's generator (a child of the network's, or ``rng``) when the group is added, ``G``
= 0x9E3779B97F4A7C15 and all arithmetic is modulo 2**64. So each neuron's train depends on
nothing else: the spikes are the same however a run is chunked or split into several ``run``
calls, the draw costs O(spikes) whatever the spread of the rates, and the state is two integers
per neuron. The draw happens in Python per chunk of steps (the kernels draw none); the spikes
reach the kernel as per-step event lists (``neurosim.kernels.poisson_group``), not as drive columns.
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
#: longest gap drawn (2**40 steps: 3.5 years at dt = 0.1 ms), so that sums of gaps cannot overflow
_GAP_MAX = 2 ** 40


@dataclasses.dataclass(frozen=True)
class PoissonGroupParams:
    """Rates of a Poisson source group (Hz; a scalar or one per neuron)."""

    rate_hz: float | np.ndarray

    def size(self) -> int | None:
        return None if np.ndim(self.rate_hz) == 0 else int(np.size(self.rate_hz))


_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser of uint64 array ``z`` (array arithmetic wraps modulo 2**64)."""
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def gap_keys(base: int, n: int) -> np.ndarray:
    """``key_i`` of neurons ``0 ... n-1`` of a group with key ``base`` (see the module docstring)."""
    return _mix(np.full(n, base, dtype=np.uint64) + np.arange(1, n + 1, dtype=np.uint64) * _GAMMA)


def geometric_gaps(keys: np.ndarray, k: np.ndarray, log_q: np.ndarray) -> np.ndarray:
    """Gap number ``k`` of the neurons with keys ``keys`` and ``log_q = log(1 - p)`` (< 0), in steps
    (arrays that broadcast together; at most ``_GAP_MAX``)."""
    x = _mix(keys + (k.astype(np.uint64) + np.uint64(1)) * _GAMMA)
    u = ((x >> np.uint64(11)).astype(np.float64) + 1.0) * 2.0 ** -53
    g = np.floor(np.log(u) / log_q) + 1.0
    return np.minimum(g, float(_GAP_MAX)).astype(np.int64)


class PoissonSpikes(Input):
    """The spikes of a Poisson source group, as events (``neurosim.kernels.poisson_group``).

    ``_next[i]`` is the step of neuron ``i``'s next spike not yet emitted, ``_k[i]`` the number of
    its gaps drawn. A chunk takes, per pass, the next spike of every neuron whose next spike falls
    before the chunk's end and draws those neurons' following gaps, so its cost is a few passes
    over the neurons that spike in it.
    """

    kind = "poisson_group"
    events_only = True                  # no drive columns: the spikes go to the kernel as event lists

    def __init__(self, group, *, rng, p):
        super().__init__(group, "spikes", CH_EXC)
        self.p = p                      # spike probability per step, [n]
        self._keys = gap_keys(int(rng.integers(0, 2 ** 64, dtype=np.uint64)), p.size)
        live = p > 0
        with np.errstate(divide="ignore"):
            self._log_q = np.where(live, np.log1p(-np.where(live, p, 0.5)), -1.0)
        self._live = live
        self._next = None               # [n] step of each neuron's next spike not yet emitted
        self._k = None                  # [n] gaps drawn per neuron

    def events(self, step0: int, T: int):
        """``(rows, ids)``: the spikes of steps ``step0 ... step0 + T - 1`` (row ``step - step0``,
        local neuron id), grouped by neuron.

        Each pass takes the neurons whose next spike falls before the chunk's end and draws ``K``
        gaps for each at once (``K`` about their expected spike count in the chunk); a neuron whose
        ``K`` spikes all fall inside takes part in the next pass.
        """
        n = self.group.n
        if self._next is None:          # the first spike comes one gap after step0 - 1
            self._k = np.zeros(n, dtype=np.int64)
            g = geometric_gaps(self._keys, self._k, self._log_q)
            self._next = np.where(self._live, step0 - 1 + g, _NEVER)
            self._k[:] = 1
        end = step0 + T
        rows, ids = [], []
        cand = np.flatnonzero(self._next < end)  # every spike not yet emitted is at or after step0
        while cand.size:
            nx, kk = self._next[cand], self._k[cand]
            K = int(min(64, max(2, np.ceil(self.p[cand].max() * (end - nx.min()) * 1.25) + 2)))
            g = geometric_gaps(self._keys[cand, None], kk[:, None] + np.arange(K), self._log_q[cand, None])
            cs = np.cumsum(g, axis=1)                   # spike j + 1 of the row is at nx + cs[:, j]
            t = np.empty_like(cs)
            t[:, 0] = nx
            t[:, 1:] = nx[:, None] + cs[:, :-1]
            inside = t < end                            # a prefix of each row (the times increase)
            m = inside.sum(axis=1)
            rows.append(t[inside] - step0)
            ids.append(np.repeat(cand, m))
            self._next[cand] = nx + cs[np.arange(cand.size), m - 1]
            self._k[cand] = kk + m
            cand = cand[m == K]
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return np.concatenate(rows), np.concatenate(ids)


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
