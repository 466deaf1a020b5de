"""Current-based LIF modules (equations in :mod:`neurosim.snn.functional.cuba`)."""
from __future__ import annotations

from neurosim._validation import check_number, check_positive
from neurosim.snn.functional.cuba import CubaLIFSpec, CubaLIFState, cuba_lif_step
from neurosim.snn.functional.lif import check_finite, check_step_input
from neurosim.snn.modules.base import StatefulLayer, run_steps
from neurosim.snn.modules.lif import _LIFOptions

__all__ = ["CubaLIFCell", "CubaLIF", "CubaLIFLayer"]


class _CubaOptions(_LIFOptions):
    """LIF options (see :class:`neurosim.snn.LIF`) plus the synaptic time constant.

    ``tau_syn`` in ms (steps of ``dt``; with the default ``dt = 1`` it counts steps; at least one
    step), or
    snntorch's ``alpha`` (current decay per step). ``params`` (a ``LIFParams``) also supplies
    ``tau_syn``. Default: 2 steps (norse convention: 5 ms at dt 1 ms, norse's default).
    """

    def __init__(self, tau=None, *, tau_syn: float | None = None, alpha: float | None = None, **kwargs):
        super().__init__(tau, **kwargs)
        params, dt = kwargs.get("params"), kwargs.get("dt", 1.0)
        if tau_syn is not None and alpha is not None:
            raise ValueError("give only one of tau_syn, alpha")
        if alpha is not None:
            alpha = check_number("alpha", alpha)
            if not 0.0 <= alpha < 1.0:
                raise ValueError(f"alpha must lie in [0, 1) (current decay per step), got {alpha}")
            steps = 1.0 / (1.0 - alpha)
        elif tau_syn is not None or params is not None:
            ts = check_positive("tau_syn", tau_syn, unit="ms") if tau_syn is not None else float(params.tau_syn)
            steps = ts / check_positive("dt", dt, unit="ms")
            if not steps >= 1.0:
                raise ValueError(f"tau_syn / dt must be >= 1 (got tau_syn={ts}, dt={dt}: {steps:g} steps): the "
                                 "synaptic current decays by 1 - dt/tau_syn per step, which must lie in [0, 1). "
                                 "Use a smaller dt, a longer tau_syn, or alpha (the decay per step)")
        else:
            steps = 5.0 if self.spec.form == "norse" else 2.0
        self.cuba_spec = CubaLIFSpec(self.spec, steps, alpha)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", tau_syn={self.cuba_spec.tau_syn:g}"


class CubaLIFCell(_CubaOptions):
    """One step: ``forward(x[B, ...], state=None) -> (spikes, CubaLIFState)``."""

    def forward(self, x, state: CubaLIFState | None = None):  # noqa: D102
        check_finite(check_step_input(x))
        return cuba_lif_step(x, state, self.cuba_spec)


class CubaLIF(_CubaOptions):
    """Sequence: ``forward(x[T, B, ...], state=None) -> (spikes, CubaLIFState)``."""

    def forward(self, x, state: CubaLIFState | None = None):  # noqa: D102
        return run_steps(lambda xt, st: cuba_lif_step(xt, st, self.cuba_spec), x, state)


class CubaLIFLayer(StatefulLayer, CubaLIF):
    """Stateful current-based LIF: ``forward(x[T, B, ...]) -> spikes``."""
