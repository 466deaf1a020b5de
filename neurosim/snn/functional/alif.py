r"""Adaptive-threshold LIF (Bellec et al. 2018, LSNN) as pure torch functions.

Per step (``charge`` as in :mod:`neurosim.snn.functional.lif`)::

    h_t     = charge(x_t, v_{t-1})
    th_t    = v_th + beta_adapt * a_{t-1}                 (adaptive threshold)
    s_t     = H(h_t - th_t)
    v_t     = s_t v_reset + (1 - s_t) h_t  |  h_t - s_t (th_t - v_reset)  |  h_t
    a_t     = rho a_{t-1} + (1 - rho) s_t,   rho = exp(-1 / tau_adapt)

``tau_adapt`` is in steps; ``a`` is a low-pass spike trace in [0, 1], so the threshold rises
by up to ``beta_adapt`` during sustained firing. ``detach_reset`` also detaches the spike in
the adaptation update.
"""
from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import torch

from neurosim.snn.functional.lif import LIFSpec, _check_state, lif_charge

__all__ = ["ALIFSpec", "ALIFState", "alif_step"]


@dataclasses.dataclass(frozen=True)
class ALIFSpec:
    """LIF options plus the adaptation time constant (steps, > 0) and strength (>= 0)."""

    lif: LIFSpec
    tau_adapt: float = 20.0
    beta_adapt: float = 1.8

    def __post_init__(self):
        if not self.tau_adapt > 0:
            raise ValueError(f"tau_adapt must be > 0 (steps), got {self.tau_adapt}")
        if not self.beta_adapt >= 0:
            raise ValueError(f"beta_adapt must be >= 0, got {self.beta_adapt}")
        if self.lif.reset_delay:
            raise ValueError("the adaptive LIF does not support snntorch's delayed reset; use another convention")

    @property
    def rho(self) -> float:
        return math.exp(-1.0 / self.tau_adapt)


class ALIFState(NamedTuple):
    """Membrane ``v`` and adaptation trace ``a``."""

    v: torch.Tensor
    a: torch.Tensor

    @classmethod
    def initial(cls, like: torch.Tensor, spec) -> "ALIFState":
        lif = spec.lif if isinstance(spec, ALIFSpec) else spec
        return cls(torch.full_like(like, lif.v_rest), torch.zeros_like(like))


def alif_step(x: torch.Tensor, state: ALIFState | None, spec: ALIFSpec):
    """One step: ``(spikes, ALIFState)``."""
    state = _check_state(state, x, spec, ALIFState)
    p = spec.lif
    h = lif_charge(x, state.v, p)
    th = p.v_th + spec.beta_adapt * state.a
    s = p.surrogate.fire(h - th, p.strict)
    sr = s.detach() if p.detach_reset else s
    if p.reset == "zero":
        v = sr * p.v_reset + (1.0 - sr) * h
    elif p.reset == "subtract":
        v = h - sr * (th - p.v_reset)
    else:
        v = h
    rho = spec.rho
    a = rho * state.a + (1.0 - rho) * sr
    return s, ALIFState(v, a)
