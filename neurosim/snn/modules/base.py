"""Shared pieces of the neuron modules: the stateful-layer mixin and the step loop."""
from __future__ import annotations

import torch

from neurosim.snn.containers import Stateful
from neurosim.snn.functional.lif import check_sequence

__all__ = ["StatefulLayer", "run_steps"]


def run_steps(step, xs: torch.Tensor, state):
    """Loop ``step(x_t, state) -> (out_t, state)`` over ``xs`` ``[T, ...]``; stack the outputs."""
    check_sequence(xs, "x")
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        state = self.state
        if state is not None and isinstance(x, torch.Tensor) and x.ndim >= 2:
            want = tuple(state[0].shape)
            if want != tuple(x.shape[1:]):
                raise ValueError(f"{type(self).__name__} holds a state of shape {want} but x has steps of "
                                 f"shape {tuple(x.shape[1:])}; call neurosim.snn.reset_states(model) "
                                 "before a new batch")
        out, self.state = super().forward(x, state)
        return out
