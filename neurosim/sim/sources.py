"""Spike-generator groups: neurons that spike at given times (``Network.add_spike_generator``).

Like Brian2's ``SpikeGeneratorGroup(N, indices, times)``: a group of ``n`` neurons without
dynamics; neuron ``ids[k]`` spikes at ``times_ms[k]``. Connect from it with ``net.connect`` like
any group (it cannot be a target) and record it with ``add_spike_monitor`` / ``add_rate_monitor``.

Timing and rounding
-------------------
A time ``t`` is rounded to the step grid, ``k = rint(t / dt)`` (half to even, like delays),
and the spike is emitted in loop step ``k - 1``: a spike monitor reports it at exactly
``k dt``, and a synapse of delay ``d`` steps adds it before the integration of step ``k + d``,
i.e. at time ``k dt + d dt`` (the network's convention for every spike: a spike of step ``m``
is reported at ``(m + 1) dt`` and delivered from step ``m + 1 + d``). So the earliest possible
spike is at ``t = dt`` (``k = 1``); times that round to 0 (``t < dt / 2``) are a ``ValueError``.
Two spikes of one neuron that round to the same step are a ``ValueError`` naming the neuron
and time (as in Brian2: a neuron spikes at most once per step); they are not merged.

Times are absolute simulation times (ms from the start of the network); spikes are emitted as
the network's time passes them, across consecutive runs, and ``store`` / ``restore`` rewind them
with the rest of the state. Kernel: ``neurosim.kernels.sources``.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from neurosim._validation import as_float_array, check_int, check_positive

__all__ = ["SpikeTimes", "spike_generator_fields"]


@dataclasses.dataclass(frozen=True, eq=False)
class SpikeTimes:
    """The spikes of a spike-generator group of ``n`` neurons: neuron ``ids[k]`` (local index) at ``times_ms[k]``.

    The parameter record of the ``"spikegen"`` model (``group.params``); validated on creation.
    """

    n: int
    times_ms: np.ndarray
    ids: np.ndarray

    def __post_init__(self):
        n = check_int("n", self.n, min_value=1)
        times = np.atleast_1d(as_float_array("times_ms", self.times_ms)) if np.size(self.times_ms) else np.zeros(0)
        if times.ndim != 1:
            raise ValueError(f"times_ms must be a 1-D array of spike times (ms), got shape {times.shape}")
        if times.size and times.min() < 0:
            raise ValueError(f"times_ms must be >= 0 ms, got {times.min():g}")
        ids = np.atleast_1d(np.asarray(self.ids))
        if ids.ndim != 1 or (ids.size and ids.dtype.kind not in "iu"):
            raise ValueError(f"ids must be a 1-D array of integer neuron indices, got dtype {ids.dtype}, shape "
                             f"{ids.shape}")
        if ids.shape != times.shape:
            raise ValueError(f"ids and times_ms must have the same length (one neuron index per spike time), got "
                             f"{ids.size} and {times.size}")
        if ids.size and (ids.min() < 0 or ids.max() >= n):
            raise ValueError(f"ids must be neuron indices in [0, {n}) (n={n}), got values in "
                             f"[{ids.min()}, {ids.max()}]")
        object.__setattr__(self, "n", n)
        object.__setattr__(self, "times_ms", times.astype(np.float64))
        object.__setattr__(self, "ids", ids.astype(np.int64))

    def size(self) -> None:
        """No per-neuron parameter arrays (the group table reads this)."""
        return None

    def steps(self, dt: float) -> np.ndarray:
        """Loop step of each spike, ``rint(times_ms / dt) - 1`` (int64; see the module docstring).

        ``ValueError`` for a time that rounds to step 0 or for two spikes of one neuron in one step.
        """
        dt = check_positive("dt", dt, unit="ms")
        k = np.rint(self.times_ms / dt)
        if k.size and k.min() < 1:
            t = self.times_ms[np.argmin(k)]
            raise ValueError(f"times_ms={t:g} rounds to step 0 of dt={dt:g} ms: a spike is reported at the end of a "
                             f"step, so the earliest spike time is dt; use times_ms >= {dt:g}")
        if k.size and k.max() > 2 ** 62:
            raise ValueError(f"times_ms up to {self.times_ms.max():g} ms is too many steps of dt={dt:g} ms")
        k = k.astype(np.int64)
        order = np.lexsort((self.ids, k))
        ks, ids = k[order], self.ids[order]
        dup = np.flatnonzero((ks[1:] == ks[:-1]) & (ids[1:] == ids[:-1]))
        if dup.size:
            q = dup[0]
            raise ValueError(f"neuron {ids[q]} spikes more than once in the step ending at {ks[q] * dt:g} ms (times "
                             f"rounded to dt={dt:g} ms); a neuron spikes at most once per step: remove the "
                             "duplicates or use a smaller dt")
        return k - 1


def spike_generator_fields(groups, dt, dtype) -> dict:
    """The ``SpikeGeneratorPopulation`` fields of ``groups`` (in id order): one schedule sorted by step,
    then neuron; ``pos`` and ``now`` start at 0 (a network is packed at step 0)."""
    steps, ids, lo = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)], 0
    for g in groups:
        steps.append(g.params.steps(dt))
        ids.append(g.params.ids + lo)
        lo += g.n
    steps, ids = np.concatenate(steps), np.concatenate(ids)
    order = np.lexsort((ids, steps))
    return dict(steps=np.ascontiguousarray(steps[order]), ids=np.ascontiguousarray(ids[order], dtype=np.int32),
                pos=np.zeros(1, dtype=np.int64), now=np.zeros(1, dtype=np.int64))
