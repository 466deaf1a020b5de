"""Population-rate monitor: binned firing rate per group (``Network.add_rate_monitor``).

Like Brian2's ``PopulationRateMonitor``, binned. The network's spike output (the same stream a
``SpikeMonitor`` reads, restricted to the monitored groups) is counted per bin and group as it
arrives; the spikes themselves are not kept, so memory is one count per bin and group.

Bins: ``bin_ms`` is a whole number ``k`` of steps (default one step). Bin ``b`` holds the spikes
of loop steps ``b k ... b k + k - 1``, i.e. the spikes a ``SpikeMonitor`` reports at times in
``(b k dt, (b + 1) k dt]``; ``t_ms[b] = b k dt`` is the bin's start. ``rate_hz[b, j]`` =
``counts[b, j] / (n_j * bin duration in s)``, with ``n_j`` the size of group ``j``. Every bin
the network has entered is reported: after a run that ends inside a bin, the last bin's rate is
over the steps it has had so far (its duration is ``t_ms`` of the network minus its start), and
a later run completes it.

Shape: a monitor created for one group (a group or its name) has ``rate_hz`` and ``counts`` of
shape [B]; one created for a list of groups, or for all groups (``group=None``), has [B, G],
columns in the order of ``group_names``; ``mon.rate(group)`` is always [B].
"""
from __future__ import annotations

import numpy as np

from neurosim._validation import check_positive

__all__ = ["RateMonitor", "add_rate_monitor", "bin_steps"]


class RateMonitor:
    """Spike counts per bin and group. Create with ``Network.add_rate_monitor``."""

    def __init__(self, name: str, net, groups, bin_steps: int, single: bool):
        self.name = name
        self.groups = tuple(groups)
        self.group_names = tuple(g.name for g in self.groups)
        self.bin_steps = int(bin_steps)
        self.bin_ms = self.bin_steps * net.dt
        self._net = net
        self._single = bool(single)
        self._col = np.zeros(0, dtype=np.int64)
        self._counts = np.zeros((0, len(self.groups)), dtype=np.int64)

    def bind(self, n_total: int) -> np.ndarray:
        """Fix the column of every global id (at build); returns the monitored ids (their spikes are output)."""
        self._col = np.full(n_total, -1, dtype=np.int64)
        for j, g in enumerate(self.groups):
            self._col[g.start:g.stop] = j
        return np.flatnonzero(self._col >= 0)

    def _append(self, steps: np.ndarray, ids: np.ndarray, dt: float):
        col = self._col[ids]
        keep = col >= 0
        if not np.any(keep):
            return
        b = steps[keep] // self.bin_steps
        col = col[keep]
        n_bins = int(b.max()) + 1
        if n_bins > self._counts.shape[0]:
            grown = np.zeros((max(n_bins, 2 * self._counts.shape[0]), len(self.groups)), dtype=np.int64)
            grown[:self._counts.shape[0]] = self._counts
            self._counts = grown
        G, b0 = len(self.groups), int(b.min())
        self._counts[b0:n_bins] += np.bincount((b - b0) * G + col, minlength=(n_bins - b0) * G).reshape(-1, G)

    @property
    def n_bins(self) -> int:
        """Bins entered so far (the last may be partial)."""
        return -(-self._net.step // self.bin_steps)

    def _all_counts(self) -> np.ndarray:
        B = self.n_bins
        out = np.zeros((B, len(self.groups)), dtype=np.int64)
        m = min(B, self._counts.shape[0])
        out[:m] = self._counts[:m]
        return out

    def _shape(self, a):
        return a[:, 0] if self._single else a

    @property
    def t_ms(self) -> np.ndarray:
        """Start time of each bin (ms), [B]."""
        return np.arange(self.n_bins) * self.bin_ms

    @property
    def counts(self) -> np.ndarray:
        """Spikes per bin (int64): [B] for a one-group monitor, else [B, G]."""
        return self._shape(self._all_counts())

    @property
    def rate_hz(self) -> np.ndarray:
        """Population rate per bin (Hz): [B] for a one-group monitor, else [B, G]."""
        return self._shape(self._rates())

    def _rates(self) -> np.ndarray:
        counts = self._all_counts()
        steps = np.full(counts.shape[0], self.bin_steps, dtype=np.float64)
        if steps.size:
            steps[-1] = self._net.step - (counts.shape[0] - 1) * self.bin_steps
        sizes = np.array([g.n for g in self.groups], dtype=np.float64)
        return counts / (steps[:, None] * (self._net.dt / 1000.0)) / sizes

    def rate(self, group) -> np.ndarray:
        """Rate per bin (Hz) of one monitored group (a group or its name), [B]."""
        name = getattr(group, "name", group)
        if name not in self.group_names:
            raise KeyError(f"group {name!r} is not monitored by {self.name!r}; monitored: "
                           f"{', '.join(self.group_names)}")
        return self._rates()[:, self.group_names.index(name)]

    def mean_rate_hz(self) -> np.ndarray:
        """Mean rate of each monitored group over the whole simulated time (Hz), [G]."""
        if self._net.step == 0:
            return np.zeros(len(self.groups))
        sizes = np.array([g.n for g in self.groups], dtype=np.float64)
        return self._all_counts().sum(axis=0) / (self._net.step * self._net.dt / 1000.0) / sizes

    def __repr__(self):
        return (f"RateMonitor({self.name!r}, groups={list(self.group_names)}, bin_ms={self.bin_ms:g}, "
                f"bins={self.n_bins})")


def bin_steps(bin_ms, dt: float) -> int:
    """``bin_ms`` as a whole number of steps of ``dt`` (``None``: one step); ``ValueError`` otherwise."""
    if bin_ms is None:
        return 1
    bin_ms = check_positive("bin_ms", bin_ms, unit="ms")
    k = round(bin_ms / dt)
    if k < 1 or abs(k * dt - bin_ms) > 1e-9 * max(bin_ms, dt):
        raise ValueError(f"bin_ms={bin_ms:g} must be a whole number of steps of dt={dt:g} ms; use e.g. "
                         f"bin_ms={max(k, 1) * dt:g}")
    return k


def add_rate_monitor(net, group, bin_ms, name) -> RateMonitor:
    """``Network.add_rate_monitor``: validate, create and register the monitor."""
    single = group is not None and not isinstance(group, (list, tuple))
    if group is None:
        groups = list(net.groups.values())
        if not groups:
            raise ValueError("the network has no groups to monitor; add a group first")
    else:
        groups = [group] if single else list(group)
        if not groups:
            raise ValueError("group must be a group, a group name, a non-empty list of them, or None (all groups)")
        groups = [net._group(g, "group") for g in groups]
        if len({g.name for g in groups}) != len(groups):
            raise ValueError(f"group lists a group twice: {[g.name for g in groups]}")
    k = bin_steps(bin_ms, net.dt)
    name = net._name(name, "rate", net.monitors)
    mon = RateMonitor(name, net, groups, k, single)
    net.monitors[name] = mon
    return mon
