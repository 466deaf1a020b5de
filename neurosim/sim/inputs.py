"""Inputs of a network: each adds a drive to one input channel of one group, step by step.

Created by ``Network.add_poisson_input`` / ``add_noise`` / ``add_timed_input`` (which validate
the arguments). When the network is flattened, :meth:`Input.bind` fixes the columns and dtype
of the drive the input writes and whether it is the first input of its group (it overwrites
the group's columns) or a later one (it adds); :meth:`Input.draw` then fills the columns of a
chunk of steps. An input owns its random stream (a child of the network's generator, spawned
when the input is added), so the same seed and construction order give the same drive however
the steps are chunked. ``PoissonInput.rate_hz`` / ``weight`` and ``NoiseInput.mean`` / ``std`` can
be assigned between runs (``neurosim.sim.update``); the next chunk draws with the new values.
"""
from __future__ import annotations

import numpy as np

from neurosim._validation import check_number
from neurosim.sim.noise import NormalStream

__all__ = ["Input", "PoissonInput", "NoiseInput", "TimedInput"]


class Input:
    """Base class: the drive of ``group`` on input channel ``channel`` (target name ``target``)."""

    kind = ""
    #: True for inputs whose spikes reach the kernel as event lists, not drive columns (Poisson groups)
    events_only = False

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

    @property
    def rate_hz(self) -> np.ndarray:
        """Rate per target neuron (Hz); assign a scalar or [n] between runs to change it (validated)."""
        return self.lam * (1000.0 / self.group._net.dt)

    @rate_hz.setter
    def rate_hz(self, value):
        from neurosim.sim.update import poisson_lam

        self.lam = poisson_lam(value, self.group.n, self.group._net.dt)

    @property
    def weight(self) -> float:
        """Increment per input spike; assignable between runs (a finite scalar)."""
        return self._weight

    @weight.setter
    def weight(self, value):
        if np.ndim(value) != 0:
            raise ValueError("weight must be a scalar")
        self._weight = check_number("weight", value.item() if isinstance(value, np.ndarray) else value)

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
        self._dtype = None
        self._values = {"mean": mean, "std": std}
        self._stream = NormalStream(rng)
        self._mean = self._std = None

    def _set(self, name, value):
        from neurosim.sim.update import per_neuron

        arr = per_neuron(name, value, self.group.n)
        if name == "std" and np.any(arr < 0):
            raise ValueError("std must be >= 0")
        self._values = {**self._values, name: arr}
        if self._dtype is not None:  # bound: the arrays the stream reads
            setattr(self, f"_{name}", np.ascontiguousarray(arr, dtype=self._dtype))

    mean = property(lambda self: self._values["mean"], lambda self, v: self._set("mean", v),
                    doc="Mean per neuron; assign a scalar or [n] between runs to change it (validated).")
    std = property(lambda self: self._values["std"], lambda self, v: self._set("std", v),
                   doc="Standard deviation per neuron (>= 0); assignable like ``mean``.")

    def bind(self, dtype, accumulate):
        super().bind(dtype, accumulate)
        self._dtype = dtype
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
