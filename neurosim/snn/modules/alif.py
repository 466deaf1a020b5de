"""Adaptive-threshold LIF modules (equations in :mod:`neurosim.snn.functional.alif`)."""
from __future__ import annotations

from neurosim._validation import check_nonnegative, check_positive
from neurosim.snn.functional.alif import ALIFSpec, ALIFState, alif_step
from neurosim.snn.functional.lif import check_finite, check_step_input
from neurosim.snn.modules.base import StatefulLayer, run_steps
from neurosim.snn.modules.lif import _LIFOptions

__all__ = ["AdaptiveLIFCell", "AdaptiveLIF", "AdaptiveLIFLayer"]


class _ALIFOptions(_LIFOptions):
    """LIF options (see :class:`neurosim.snn.LIF`) plus ``tau_adapt`` (steps) and ``beta_adapt``."""

    def __init__(self, tau=None, *, tau_adapt: float = 20.0, beta_adapt: float = 1.8, **kwargs):
        super().__init__(tau, **kwargs)
        self.alif_spec = ALIFSpec(self.spec, check_positive("tau_adapt", tau_adapt, unit="steps"),
                                  check_nonnegative("beta_adapt", beta_adapt))

    def extra_repr(self) -> str:
        return (super().extra_repr() + f", tau_adapt={self.alif_spec.tau_adapt:g}, "
                f"beta_adapt={self.alif_spec.beta_adapt:g}")


class AdaptiveLIFCell(_ALIFOptions):
    """One step: ``forward(x[B, ...], state=None) -> (spikes, ALIFState)``."""

    def forward(self, x, state: ALIFState | None = None):  # noqa: D102
        check_finite(check_step_input(x))
        return alif_step(x, state, self.alif_spec)


class AdaptiveLIF(_ALIFOptions):
    """Sequence: ``forward(x[T, B, ...], state=None) -> (spikes, ALIFState)``."""

    def forward(self, x, state: ALIFState | None = None):  # noqa: D102
        return run_steps(lambda xt, st: alif_step(xt, st, self.alif_spec), x, state)


class AdaptiveLIFLayer(StatefulLayer, AdaptiveLIF):
    """Stateful adaptive LIF: ``forward(x[T, B, ...]) -> spikes``; state kept until ``reset_states``."""
