r"""Differentiable Izhikevich (2003) neuron as pure torch functions.

Per step of ``dt`` ms (the scheme of ``neurosim.neurons.izhikevich``, operation for operation;
``h = dt / 2``)::

    v <- v + h (0.04 v^2 + 5 v + 140 - u + I)      (twice, same u and I)
    u <- u + dt a (b v - u)
    s = H((v - v_peak) / v_scale)                  (surrogate derivative in backward)
    v <- s c + (1 - s) v ;  u <- u + d s

``v`` in mV, ``u`` in mV/ms-scaled units, ``I`` the input current. ``v_scale`` (mV) sets the
width of the surrogate in voltage units (default 10 mV). Parameters come from
:class:`neurosim.neurons.IzhikevichParams` (scalars); ``order`` is its evaluation order of
``0.04 v^2`` (``"listing"``: ``0.04 (v v)``, ``"nest"``: ``(0.04 v) v``).
"""
from __future__ import annotations

import dataclasses
from typing import NamedTuple

import torch

from neurosim._validation import check_number, check_positive
from neurosim.neurons.params import IzhikevichParams
from neurosim.snn.device import holds_values
from neurosim.snn.functional.lif import _check_state
from neurosim.snn.surrogate import ATan, Surrogate

__all__ = ["IzhikevichSpec", "IzhikevichState", "izhikevich_step", "check_izhikevich_state"]


@dataclasses.dataclass(frozen=True)
class IzhikevichSpec:
    """Scalar Izhikevich parameters, step ``dt`` (ms) and surrogate options."""

    a: float = 0.02
    b: float = 0.2
    c: float = -65.0
    d: float = 8.0
    v_peak: float = 30.0
    dt: float = 1.0
    v_scale: float = 10.0
    v0: float = -65.0
    detach_reset: bool = False
    surrogate: Surrogate = dataclasses.field(default_factory=ATan)
    order: str = "listing"

    def __post_init__(self):
        if self.order not in IzhikevichParams.ORDERS:
            raise ValueError(f"order must be 'listing' (0.04 (v v)) or 'nest' ((0.04 v) v), got {self.order!r}")
        units = {"dt": "ms", "v_scale": "mV", "a": "1/ms"}
        for name in ("dt", "v_scale", "a"):  # finite and > 0
            object.__setattr__(self, name, check_positive(name, getattr(self, name), unit=units[name]))
        for name in ("b", "c", "d", "v_peak", "v0"):  # finite numbers
            object.__setattr__(self, name, check_number(name, getattr(self, name)))
        if not self.c < self.v_peak:
            raise ValueError(f"c must be < v_peak (got c={self.c}, v_peak={self.v_peak})")
        if not isinstance(self.surrogate, Surrogate):
            raise TypeError(f"surrogate must be a Surrogate object, got {type(self.surrogate).__name__}")

    @classmethod
    def from_params(cls, params, dt: float = 1.0, **kwargs) -> "IzhikevichSpec":
        """From :class:`neurosim.neurons.IzhikevichParams` (scalar fields only)."""
        vals = {}
        for name in ("a", "b", "c", "d", "v_peak"):
            value = getattr(params, name)
            if not isinstance(value, float):
                raise ValueError(f"params.{name} must be a scalar for the torch Izhikevich cell, got an array")
            vals[name] = value
        return cls(dt=dt, **vals, order=params.order, **kwargs)


class IzhikevichState(NamedTuple):
    """Membrane ``v`` (mV) and recovery variable ``u``."""

    v: torch.Tensor
    u: torch.Tensor

    @classmethod
    def initial(cls, like: torch.Tensor, spec: IzhikevichSpec) -> "IzhikevichState":
        """``v = v0`` (-65 mV), ``u = b v0`` as in the 2003 listing."""
        v = torch.full_like(like, spec.v0)
        return cls(v, spec.b * v)


def izhikevich_step(x: torch.Tensor, state: IzhikevichState | None, spec: IzhikevichSpec):
    """One step of ``dt`` ms with input current ``x``: ``(spikes, IzhikevichState)``."""
    state = _check_state(state, x, spec, IzhikevichState)
    v, u = state.v, state.u
    h = 0.5 * spec.dt
    for _ in range(2):
        q = (0.04 * v) * v if spec.order == "nest" else 0.04 * (v * v)
        v = v + h * (q + 5.0 * v + 140.0 - u + x)
    u = u + (spec.dt * spec.a) * (spec.b * v - u)
    s = spec.surrogate.fire((v - spec.v_peak) / spec.v_scale)
    sr = s.detach() if spec.detach_reset else s
    v = sr * spec.c + (1.0 - sr) * v
    u = u + spec.d * sr
    return s, IzhikevichState(v, u)


def check_izhikevich_state(state: IzhikevichState, x: torch.Tensor, spec: IzhikevichSpec) -> IzhikevichState:
    """``ValueError`` when a run with finite input ``x`` left a NaN/inf state (Euler overflow).

    The quadratic term diverges for a large input or a coarse step: ``v`` overflows to inf and the
    reset ``s c + (1 - s) v`` turns it into NaN, after which every spike is meaningless.
    """
    if not holds_values(state.v) or (bool(torch.isfinite(state.v).all()) and bool(torch.isfinite(state.u).all())):
        return state
    xd = x.detach()
    big = float(xd.abs().max()) if xd.numel() else 0.0
    raise ValueError(f"the Izhikevich state overflowed to NaN/inf although x is finite (largest |x| = {big:g} in "
                     f"{xd.dtype}, dt = {spec.dt:g} ms): the two half-step Euler scheme diverges; use dt <= 1 ms "
                     "and scale x down (input currents of the 2003 model are about 0-20), and pass a finite "
                     "state (or state=None)")
