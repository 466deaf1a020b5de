"""Differentiable Izhikevich modules (equations in :mod:`neurosim.snn.functional.izhikevich`)."""
from __future__ import annotations

from torch import nn

from neurosim.snn.functional.izhikevich import (IzhikevichSpec, IzhikevichState, check_izhikevich_state,
                                                izhikevich_step)
from neurosim.snn.functional.lif import check_finite, check_step_input
from neurosim.snn.modules.base import StatefulLayer, run_steps
from neurosim.snn.surrogate import get_surrogate

__all__ = ["IzhikevichCell", "Izhikevich", "IzhikevichLayer"]


class _IzhOptions(nn.Module):
    """Options: ``params`` (:class:`neurosim.neurons.IzhikevichParams`, default the RS preset),
    ``dt`` (ms), ``v_scale`` (mV, surrogate width), ``v0`` (initial mV), ``detach_reset``,
    ``surrogate`` (default ``ATan(2)`` on ``(v - v_peak) / v_scale``)."""

    def __init__(self, params=None, *, dt: float = 1.0, v_scale: float = 10.0, v0: float = -65.0,
                 detach_reset: bool = False, surrogate="atan"):
        super().__init__()
        if params is None:
            from neurosim.neurons.params import RS as params
        self.izh_spec = IzhikevichSpec.from_params(params, dt=dt, v_scale=v_scale, v0=v0,
                                                   detach_reset=bool(detach_reset),
                                                   surrogate=get_surrogate(surrogate))

    def extra_repr(self) -> str:
        s = self.izh_spec
        return f"a={s.a:g}, b={s.b:g}, c={s.c:g}, d={s.d:g}, v_peak={s.v_peak:g}, dt={s.dt:g}"


class IzhikevichCell(_IzhOptions):
    """One step: ``forward(I[B, ...], state=None) -> (spikes, IzhikevichState)``."""

    def forward(self, x, state: IzhikevichState | None = None):  # noqa: D102
        check_finite(check_step_input(x))
        s, state = izhikevich_step(x, state, self.izh_spec)
        return s, check_izhikevich_state(state, x, self.izh_spec)


class Izhikevich(_IzhOptions):
    """Sequence: ``forward(I[T, B, ...], state=None) -> (spikes, IzhikevichState)``."""

    def forward(self, x, state: IzhikevichState | None = None):  # noqa: D102
        s, state = run_steps(lambda xt, st: izhikevich_step(xt, st, self.izh_spec), x, state)
        return s, check_izhikevich_state(state, x, self.izh_spec)


class IzhikevichLayer(StatefulLayer, Izhikevich):
    """Stateful Izhikevich layer: ``forward(I[T, B, ...]) -> spikes``."""
