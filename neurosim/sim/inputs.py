"""Inputs of a network: each adds a drive to one input channel of one group, step by step.

Created by ``Network.add_poisson_input`` / ``add_noise`` / ``add_timed_input`` (which validate
the arguments). When the network is flattened, :meth:`Input.bind` fixes the columns and dtype
of the drive the input writes and whether it is the first input of its group (it overwrites
the group's columns) or a later one (it adds); :meth:`Input.draw` then fills the columns of a
chunk of steps. An input owns its random stream (a child of the network's generator, spawned
when the input is added), so the same seed and construction order give the same drive however
the steps are chunked.
"""
from __future__ import annotations

import numpy as np

from neurosim.sim.noise import NormalStream

__all__ = ["Input", "PoissonInput", "NoiseInput", "TimedInput"]


class Input:
    """Base class: the drive of ``group`` on input channel ``channel`` (target name ``target``)."""

    kind = ""

    def __init__(self, group, target: str, channel: int):
        self.group = group
        self.target = target
        self.channel = channel
        self._cols = None
        self._accumulate = False

    def bind(self, dtype, accumulate: bool) -> None:
        """Fix the drive's columns (the group's global ids) and dtype; ``accumulate``: add, not overwrite."""
        self._cols = slice(self.group.start, self.group.stop)
        self._accumulate = bool(accumulate)

    def _clear(self, d):
        if not self._accumulate:
            d[:, self._cols] = 0

    def draw(self, d: np.ndarray, step0: int) -> None:
        """Write (or add) the values of steps ``step0 ... step0 + len(d) - 1`` into the group's columns of ``d``."""
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}(group={self.group.name!r}, target={self.target!r})"


class PoissonInput(Input):
    """Independent Poisson counts ``k ~ Poisson(lam)`` per neuron and step, times ``weight``."""

    kind = "poisson"

    def __init__(self, group, target, channel, *, rng, lam, weight):
        super().__init__(group, target, channel)
        self.rng = rng
        self.lam = lam
        self.weight = weight

    def draw(self, d, step0):
        self._clear(d)
        counts = self.rng.poisson(self.lam, size=(d.shape[0], self.group.n))
        d[:, self._cols] += counts * np.asarray(self.weight, dtype=d.dtype)


class NoiseInput(Input):
    """Gaussian ``mean + std N(0, 1)`` per neuron and step, from the raw bits of ``rng`` (:class:`NormalStream`)."""

    kind = "noise"

    def __init__(self, group, target, channel, *, rng, mean, std):
        super().__init__(group, target, channel)
        self.rng = rng
        self.mean = mean
        self.std = std
        self._stream = NormalStream(rng)
        self._mean = self._std = None

    def bind(self, dtype, accumulate):
        super().bind(dtype, accumulate)
        self._mean = np.ascontiguousarray(self.mean, dtype=dtype)
        self._std = np.ascontiguousarray(self.std, dtype=dtype)

    def draw(self, d, step0):
        self._stream.fill(d, self._cols.start, self._mean, self._std, accumulate=self._accumulate)


class TimedInput(Input):
    """A given array ``values`` [T, n] added at steps ``start_step ... start_step + T - 1`` (0 elsewhere)."""

    kind = "timed"

    def __init__(self, group, target, channel, *, values, start_step):
        super().__init__(group, target, channel)
        self.values = values
        self.start_step = start_step

    def draw(self, d, step0):
        self._clear(d)
        a = max(step0, self.start_step)
        b = min(step0 + d.shape[0], self.start_step + self.values.shape[0])
        if a < b:
            d[a - step0:b - step0, self._cols] += self.values[a - self.start_step:b - self.start_step]
