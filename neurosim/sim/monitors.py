"""Spike and state monitors filled by ``Network.run``.

``SpikeMonitor`` keeps every spike of its neurons as ``times_ms`` (float64, the end of the step in
which the threshold was crossed, ``(m + 1) dt``) and ``ids`` (int64 *global* neuron ids; see
``Network`` for the numbering). ``StateMonitor`` samples chosen variables of chosen neurons of
one group every ``every`` steps at the *start* of a step (time ``m dt``, so the first sample is
the initial state); values are taken after the reset of the previous step.

Example
-------
>>> import neurosim as ns
>>> net = ns.sim.Network(dt=0.1, rng=0)
>>> g = net.add_lif(10, ns.neurons.LIFParams(tau_mem=10.0, t_ref=2.0), i_ext=1.5)
>>> sm = net.add_state_monitor(g, ["v", "i_syn"], neurons=[0, 3], every=5, name="trace")
>>> sp = net.add_spike_monitor(name="spikes")
>>> net.run(100.0, progress=False)
>>> sm.t_ms.shape, sm.v.shape          # samples (every 5 steps of 0.1 ms) x chosen neurons
((200,), (200, 2))
>>> sp.times_ms, sp.ids               # all spikes, global ids
"""
from __future__ import annotations

import numpy as np

__all__ = ["SpikeMonitor", "StateMonitor"]


class SpikeMonitor:
    """Records the spikes of ``groups`` (global ids). Create with ``Network.add_spike_monitor``.

    ``neuron_ids`` (the monitored global ids, sorted) is known once the network is built (first run).
    """

    def __init__(self, name: str, groups):
        self.name = name
        self.groups = tuple(groups)
        self.neuron_ids = np.zeros(0, dtype=np.int64)
        self._mask = np.zeros(0, dtype=bool)
        self._t: list[np.ndarray] = []
        self._i: list[np.ndarray] = []
        self._cache = None

    def bind(self, n_total: int) -> np.ndarray:
        """Fix the monitored ids in a network of ``n_total`` neurons (at build); returns them."""
        ids = [np.arange(g.start, g.stop) for g in self.groups]
        self.neuron_ids = np.unique(np.concatenate(ids)) if ids else np.zeros(0, dtype=np.int64)
        self._mask = np.zeros(n_total, dtype=bool)
        self._mask[self.neuron_ids] = True
        return self.neuron_ids

    def _append(self, steps: np.ndarray, ids: np.ndarray, dt: float):
        keep = self._mask[ids]
        if np.any(keep):
            self._t.append((steps[keep].astype(np.float64) + 1.0) * dt)
            self._i.append(ids[keep].astype(np.int64))
            self._cache = None

    def _collect(self):
        if self._cache is None:
            t = np.concatenate(self._t) if self._t else np.zeros(0)
            i = np.concatenate(self._i) if self._i else np.zeros(0, dtype=np.int64)
            self._cache = (t, i)
        return self._cache

    @property
    def times_ms(self) -> np.ndarray:
        """Spike times in ms (float64, non-decreasing)."""
        return self._collect()[0]

    @property
    def ids(self) -> np.ndarray:
        """Global neuron id of each spike (int64)."""
        return self._collect()[1]

    @property
    def n_spikes(self) -> int:
        return int(self.ids.size)

    def local(self, group):
        """Spikes of one monitored group (a ``NeuronGroup`` or its name): ``(times_ms, local_ids)`` with ids
        counted from 0 in the group."""
        if isinstance(group, str):
            named = {g.name: g for g in self.groups}
            if group not in named:
                raise KeyError(f"group {group!r} is not monitored by {self.name!r}; it monitors "
                               f"{', '.join(map(repr, named)) or 'no group'}")
            group = named[group]
        elif not hasattr(group, "start"):
            raise TypeError(f"group must be a NeuronGroup or its name, got {type(group).__name__}")
        keep = (self.ids >= group.start) & (self.ids < group.stop)
        return self.times_ms[keep], self.ids[keep] - group.start

    def counts(self, n_total: int | None = None) -> np.ndarray:
        """Spike count per global neuron id (length ``n_total``, default the network size)."""
        n = self._mask.size if n_total is None else n_total
        return np.bincount(self.ids, minlength=n)

    def rate_hz(self, duration_ms: float) -> float:
        """Mean firing rate of the monitored neurons over ``duration_ms``."""
        if duration_ms <= 0:
            raise ValueError(f"duration_ms must be > 0, got {duration_ms}")
        return self.n_spikes / (self.neuron_ids.size * duration_ms / 1000.0) if self.neuron_ids.size else 0.0

    def __repr__(self):
        return f"SpikeMonitor({self.name!r}, neurons={self.neuron_ids.size}, spikes={self.n_spikes})"


class StateMonitor:
    """Records variables of chosen neurons of one group. Create with ``Network.add_state_monitor``.

    Attributes: ``t_ms`` [S]; one array [S, len(neurons)] per variable, as ``mon.v`` or
    ``mon["v"]``; ``neurons`` (group-local indices) and ``global_ids``.
    """

    def __init__(self, name, group, variables, neurons, every):
        self.name = name
        self.group = group
        self.variables = tuple(variables)
        self.neurons = np.asarray(neurons, dtype=np.int64)
        self.global_ids = None  # set at build
        self.every = int(every)
        self._t: list[np.ndarray] = []
        self._vals: list[np.ndarray] = []  # [S, n_vars * n_neurons]
        self._col0 = 0  # first column in the network's sample rows
        self._cache = None

    @property
    def n_columns(self) -> int:
        """Values per sample: ``len(variables) * len(neurons)``."""
        return len(self.variables) * self.neurons.size

    def bind(self, col0: int) -> int:
        """Fix the global ids and the first column ``col0`` of this monitor in the network's sample rows
        (at build): variable ``j`` of ``neurons[k]`` is column ``col0 + j len(neurons) + k``. Returns the next
        free column."""
        self.global_ids = self.group.start + self.neurons
        self._col0 = int(col0)
        return self._col0 + self.n_columns

    def sampled(self) -> list:
        """``(variable, global ids, columns)`` for each recorded variable (after :meth:`bind`)."""
        n = self.neurons.size
        return [(v, self.global_ids, self._col0 + j * n + np.arange(n)) for j, v in enumerate(self.variables)]

    def _append(self, steps: np.ndarray, block: np.ndarray, dt: float):
        keep = steps % self.every == 0
        if np.any(keep):
            self._t.append(steps[keep].astype(np.float64) * dt)
            self._vals.append(np.array(block[keep, self._col0:self._col0 + self.n_columns]))
            self._cache = None

    def _collect(self):
        if self._cache is None:
            n = self.neurons.size
            t = np.concatenate(self._t) if self._t else np.zeros(0)
            vals = (np.concatenate(self._vals) if self._vals
                    else np.zeros((0, len(self.variables) * n)))
            self._cache = (t, {v: vals[:, j * n:(j + 1) * n] for j, v in enumerate(self.variables)})
        return self._cache

    @property
    def t_ms(self) -> np.ndarray:
        """Sample times in ms."""
        return self._collect()[0]

    def __getitem__(self, var: str) -> np.ndarray:
        values = self._collect()[1]
        if var not in values:
            raise KeyError(f"{var!r} was not recorded; recorded variables: {', '.join(self.variables)}")
        return values[var]

    def __getattr__(self, var: str):
        if var.startswith("_") or var in ("variables", "neurons", "group", "every", "name", "global_ids"):
            raise AttributeError(var)
        try:
            return self[var]
        except KeyError as exc:
            raise AttributeError(str(exc)) from None

    def __repr__(self):
        return (f"StateMonitor({self.name!r}, group={self.group.name!r}, variables={self.variables}, "
                f"neurons={self.neurons.size}, samples={self.t_ms.size})")
