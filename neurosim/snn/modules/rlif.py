r"""Recurrent LIF: a LIF population with all-to-all recurrent weights on its own spikes.

Per step: ``h_t = charge(x_t + W s_{t-1}, v_{t-1})``, then fire and reset as LIF
(:mod:`neurosim.snn.functional.lif`). ``W`` is an ``nn.Linear(n, n, bias=False)``; the
gradient flows through ``s_{t-1}`` (surrogate) unless ``detach_recurrent=True``.
Input ``[T, B, n]`` (cells: ``[B, n]``); state :class:`RecurrentLIFState` ``(v, s)``.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from neurosim._validation import check_int
from neurosim.snn.functional.lif import (LIFState, _check_state, check_finite, check_sequence, check_step_input,
                                         lif_step)
from neurosim.snn.modules.base import StatefulLayer, run_steps
from neurosim.snn.modules.lif import _LIFOptions

__all__ = ["RecurrentLIFState", "RecurrentLIFCell", "RecurrentLIF", "RecurrentLIFLayer"]


class RecurrentLIFState(NamedTuple):
    """Membrane ``v`` and the previous step's spikes ``s``."""

    v: torch.Tensor
    s: torch.Tensor

    @classmethod
    def initial(cls, like: torch.Tensor, spec) -> "RecurrentLIFState":
        return cls(torch.full_like(like, spec.v_rest), torch.zeros_like(like))


class _RLIFOptions(_LIFOptions):
    """LIF options (see :class:`neurosim.snn.LIF`) plus ``n`` (population size) and ``detach_recurrent``."""

    def __init__(self, n: int, tau=None, *, detach_recurrent: bool = False, **kwargs):
        super().__init__(tau, **kwargs)
        self.n = check_int("n", n, min_value=1)
        self.recurrent = nn.Linear(self.n, self.n, bias=False)
        self.detach_recurrent = bool(detach_recurrent)

    def _check_x(self, x: torch.Tensor) -> None:
        """The population size and dtype of ``x`` (a step or a whole sequence: checked once)."""
        if x.shape[-1] != self.n:
            raise ValueError(f"x must have shape [B, {self.n}] per step (n={self.n}), got {tuple(x.shape)}")
        w = self.recurrent.weight
        if x.dtype != w.dtype:
            raise TypeError(f"x has dtype {x.dtype} but the recurrent weights are {w.dtype}; pass x.to({w.dtype}) "
                            f"or convert the layer with .to({x.dtype})")

    def step(self, x: torch.Tensor, state: RecurrentLIFState | None):
        """One step (used by the cell and the sequence; ``x`` checked by the caller)."""
        state = _check_state(state, x, self.spec, RecurrentLIFState)
        s_prev = state.s.detach() if self.detach_recurrent else state.s
        s, lst = lif_step(x + self.recurrent(s_prev), LIFState(state.v), self.spec)
        return s, RecurrentLIFState(lst.v, s)

    def extra_repr(self) -> str:
        return f"n={self.n}, " + super().extra_repr()


class RecurrentLIFCell(_RLIFOptions):
    """One step: ``forward(x[B, n], state=None) -> (spikes, RecurrentLIFState)``."""

    def forward(self, x, state: RecurrentLIFState | None = None):  # noqa: D102
        check_finite(check_step_input(x))
        self._check_x(x)
        return self.step(x, state)


class RecurrentLIF(_RLIFOptions):
    """Sequence: ``forward(x[T, B, n], state=None) -> (spikes, RecurrentLIFState)``."""

    def forward(self, x, state: RecurrentLIFState | None = None):  # noqa: D102
        self._check_x(check_sequence(x, "x"))
        return run_steps(self.step, x, state)


class RecurrentLIFLayer(StatefulLayer, RecurrentLIF):
    """Stateful recurrent LIF: ``forward(x[T, B, n]) -> spikes``."""
