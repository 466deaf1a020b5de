"""Shared pieces of the neuron modules: the stateful-layer mixin and the step loop."""
from __future__ import annotations

import torch

from neurosim.snn.containers import Stateful
from neurosim.snn.functional.lif import check_finite, check_sequence

__all__ = ["StatefulLayer", "run_steps"]


def run_steps(step, xs: torch.Tensor, state):
    """Loop ``step(x_t, state) -> (out_t, state)`` over ``xs`` ``[T, ...]``; stack the outputs."""
    check_finite(check_sequence(xs, "x"))
    outs = []
    for x in xs:
        out, state = step(x, state)
        outs.append(out)
    return torch.stack(outs), state


class StatefulLayer(Stateful):
    """Mixin turning a sequence module ``forward(x, state) -> (out, state)`` into a stateful layer.

    ``forward(x[T, B, ...]) -> out[T, B, ...]``; the final state is kept in ``self.state`` and
    continues into the next call until :func:`neurosim.snn.reset_states`. Put it first in the
    bases: ``class LIFLayer(StatefulLayer, LIF)``.
    """

    def _kept_state(self, step_shape):
        """``self.state``, checked against the shape of one step of the next input."""
        state = self.state
        if state is not None and tuple(state[0].shape) != tuple(step_shape):
            raise ValueError(f"{type(self).__name__} holds a state of shape {tuple(state[0].shape)} but x has "
                             f"steps of shape {tuple(step_shape)}; call neurosim.snn.reset_states(model) "
                             "before a new batch")
        return state

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        if isinstance(x, torch.Tensor) and x.ndim >= 2:
            state = self._kept_state(x.shape[1:])
        else:
            state = self.state
        out, self.state = super().forward(x, state)
        return out
