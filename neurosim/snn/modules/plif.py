"""Parametric LIF (learnable membrane time constant) and integrate-and-fire (no leak).

Parametric LIF (Fang et al. 2021, spikingjelly ``ParametricLIFNode``): the leak fraction per
step ``k = 1/tau = sigmoid(w)`` is an ``nn.Parameter`` (``w`` initialised to
``-ln(init_tau - 1)``, so ``tau > 1`` step always), multiplied in::

    h_t = v_{t-1} + (x_t - (v_{t-1} - v_rest)) k        (decay_input=True)
    h_t = v_{t-1} - (v_{t-1} - v_rest) k + x_t          (decay_input=False)

then fire and reset as LIF (:mod:`neurosim.snn.functional.lif`). The fused CPU kernel also
returns ``dL/dk`` (accumulated in float64).

IF (integrate-and-fire): ``h_t = v_{t-1} + x_t`` (a LIF with ``tau = inf``), fire, reset.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from neurosim._validation import check_number
from neurosim.snn.functional.lif import LIFState, check_finite, check_step_input, lif_run, lif_step
from neurosim.snn.modules.base import StatefulLayer
from neurosim.snn.modules.lif import _BACKENDS, _LIFOptions

__all__ = ["ParametricLIFCell", "ParametricLIF", "ParametricLIFLayer", "IFCell", "IF", "IFLayer"]


class _PLIFOptions(_LIFOptions):
    """LIF options (see :class:`neurosim.snn.LIF`) with a learnable ``tau`` starting at ``init_tau`` (> 1 step)."""

    def __init__(self, init_tau: float = 2.0, *, backend: str = "auto", **kwargs):
        for bad in ("tau", "tau_mem", "beta", "params"):
            if bad in kwargs:
                raise TypeError(f"{type(self).__name__} learns tau; give init_tau instead of {bad}")
        init_tau = check_number("init_tau", init_tau)
        if not init_tau > 1.0:
            raise ValueError(f"init_tau must be > 1 step (1/tau = sigmoid(w) < 1), got {init_tau}")
        super().__init__(init_tau, **kwargs)
        if backend not in _BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(map(repr, _BACKENDS))}; got {backend!r}")
        self.backend = backend
        self.w = nn.Parameter(torch.tensor(-math.log(init_tau - 1.0)))

    @property
    def k(self) -> torch.Tensor:
        """Leak fraction per step, ``sigmoid(w) = 1/tau`` (differentiable)."""
        return torch.sigmoid(self.w)

    @property
    def tau(self) -> float:
        """Current membrane time constant in steps."""
        return float(1.0 / torch.sigmoid(self.w.detach()))

    def extra_repr(self) -> str:
        return super().extra_repr().replace(f"tau={self.spec.tau:g}", f"tau={self.tau:.4g} (learnable)")


class ParametricLIFCell(_PLIFOptions):
    """One step of the parametric LIF: ``forward(x[B, ...], state=None) -> (spikes, LIFState)``."""

    def forward(self, x, state: LIFState | None = None):  # noqa: D102
        check_finite(check_step_input(x))
        return lif_step(x, state, self.spec, self.k)


class ParametricLIF(_PLIFOptions):
    """Parametric LIF over ``[T, B, ...]``: ``(spikes, LIFState)``; fused on CPU with ``backend="auto"``."""

    def forward(self, x, state: LIFState | None = None):  # noqa: D102
        return lif_run(x, state, self.spec, backend=self.backend, k=self.k)


class ParametricLIFLayer(StatefulLayer, ParametricLIF):
    """Stateful parametric LIF: ``forward(x[T, B, ...]) -> spikes``; state kept until ``reset_states``."""


class _IFOptions(_LIFOptions):
    """LIF options without a leak (``tau``, ``tau_mem``, ``beta``, ``decay_input`` do not apply)."""

    def __init__(self, *, backend: str = "auto", **kwargs):
        for bad in ("tau", "tau_mem", "beta", "decay_input", "integration"):
            if bad in kwargs:
                raise TypeError(f"{type(self).__name__} has no leak; remove {bad}=")
        super().__init__(**kwargs)
        self.spec = self.spec.replace(tau=math.inf, decay_input=False, beta=None)
        if backend not in _BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(map(repr, _BACKENDS))}; got {backend!r}")
        self.backend = backend


class IFCell(_IFOptions):
    """One integrate-and-fire step: ``h = v + x``; ``forward(x[B, ...], state=None) -> (spikes, LIFState)``."""

    def forward(self, x, state: LIFState | None = None):  # noqa: D102
        check_finite(check_step_input(x))
        return lif_step(x, state, self.spec)


class IF(_IFOptions):
    """Integrate-and-fire over ``[T, B, ...]``: ``(spikes, LIFState)``."""

    def forward(self, x, state: LIFState | None = None):  # noqa: D102
        return lif_run(x, state, self.spec, backend=self.backend)


class IFLayer(StatefulLayer, IF):
    """Stateful integrate-and-fire layer: ``forward(x[T, B, ...]) -> spikes``."""
