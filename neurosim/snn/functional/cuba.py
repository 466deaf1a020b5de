r"""Current-based LIF (exponential synaptic current) as pure torch functions.

Per step, with the membrane part as in :mod:`neurosim.snn.functional.lif`::

    i_t = i_{t-1} - i_{t-1} / tau_syn + x_t          (neurosim / spikingjelly form)
    i_t = alpha i_{t-1} + x_t                       (snntorch ``Synaptic``; alpha = 1 - 1/tau_syn)
    h_t = charge(i_t, v_{t-1});  s_t = H(h_t - v_th);  v_t = reset(h_t, s_t)

norse (``lif_feed_forward_step``, forward Euler) adds the input before the decay and stores the
decayed current: ``j = i + x``; ``h = v + k ((v_leak - v) + j)``; ``i' = j - k_syn j``. Both give
the same recurrence for the current that drives the membrane. ``tau_syn`` is in steps.

snntorch's ``Synaptic`` zero reset (``mem = h - h r``, also zeroing the current) is not
reproduced; its subtract reset is (delayed, like ``Leaky``).
"""
from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import torch

from neurosim.snn.functional.lif import (LIFSpec, LIFState, _check_state, continuous_tau, discrete_decay, lif_charge,
                                         lif_fire, lif_reset, lif_step, tau_error)

__all__ = ["CubaLIFSpec", "CubaLIFState", "cuba_lif_step"]


@dataclasses.dataclass(frozen=True)
class CubaLIFSpec:
    """LIF options plus the synaptic time constant ``tau_syn`` (steps, >= 1)."""

    lif: LIFSpec
    tau_syn: float = 2.0
    alpha: float | None = None  # explicit current decay per step (snntorch)

    def __post_init__(self):
        if not self.tau_syn >= 1.0:  # the current decays by 1 - 1/tau_syn per step
            raise ValueError(tau_error("tau_syn", self.tau_syn, "synaptic current", "alpha (the decay per step)"))

    @property
    def syn_decay(self) -> float:
        return self.alpha if self.alpha is not None else 1.0 - 1.0 / self.tau_syn

    # -- NIR (see neurosim.snn.nir) ------------------------------------------------------------
    def to_nir(self, dt: float, discretization: str = "euler") -> dict[str, float]:
        """``nir.CubaLIF``'s fields for steps of ``dt`` seconds.

        NIR's current ``tau_syn dI/dt = -I + w_in S``, Euler-stepped with the new current driving
        the membrane, is ``c_t = alpha c_{t-1} + x_t`` when ``tau_syn = dt / (1 - alpha)`` and
        ``w_in = 1 / (1 - alpha)``; the membrane fields are :meth:`LIFSpec.to_nir`'s.
        """
        if float(self.lif.decay) == 1.0:
            raise ValueError("a current-based neuron without membrane leak has no NIR CubaLIF form")
        mem = self.lif.to_nir(dt, discretization)
        alpha = float(self.syn_decay)
        return {"tau_syn": continuous_tau(alpha, dt, discretization, "synaptic current"), "tau_mem": mem.pop("tau"),
                **mem, "w_in": 1.0 / (1.0 - alpha)}

    def nir_metadata(self) -> dict:
        """:meth:`LIFSpec.nir_metadata` plus the exact ``tau_syn`` and ``alpha``."""
        return self.lif.nir_metadata() | {"tau_syn": float(self.tau_syn),
                                          "alpha": -1.0 if self.alpha is None else float(self.alpha)}

    @classmethod
    def from_nir(cls, tau_syn: float, tau_mem: float, r: float, v_leak: float, v_threshold: float, v_reset: float,
                 w_in: float, *, dt: float, discretization: str = "euler",
                 metadata: dict | None = None) -> "CubaLIFSpec":
        """The spec whose step is NIR's CubaLIF over ``dt`` seconds (current gain ``(1 - alpha) w_in`` must be 1)."""
        alpha = discrete_decay(tau_syn, dt, discretization)
        if not 0.0 <= alpha < 1.0:
            raise ValueError(f"tau_syn={tau_syn} s with dt={dt} s gives a current decay of {alpha} per step; "
                             "pass the dt the graph was made for")
        if not math.isclose((1.0 - alpha) * w_in, 1.0, rel_tol=1e-6):
            raise ValueError(f"input gain (dt/tau_syn) w_in = {(1 - alpha) * w_in:g} != 1 is not supported; scale "
                             "the preceding weights by it")
        lif = LIFSpec.from_nir(tau_mem, r, v_leak, v_threshold, v_reset, dt=dt, discretization=discretization,
                               metadata=metadata)
        if metadata and "tau_syn" in metadata:
            ns_alpha = float(metadata["alpha"])
            syn = 1.0 - 1.0 / float(metadata["tau_syn"]) if ns_alpha < 0 else ns_alpha
            if math.isclose(syn, alpha, rel_tol=1e-9, abs_tol=1e-12):
                if ns_alpha >= 0:
                    return cls(lif, 1.0 / (1.0 - ns_alpha), ns_alpha)
                return cls(lif, float(metadata["tau_syn"]))
        return cls(lif, 1.0 / (1.0 - alpha))


class CubaLIFState(NamedTuple):
    """Membrane ``v`` and synaptic current ``i``."""

    v: torch.Tensor
    i: torch.Tensor

    @classmethod
    def initial(cls, like: torch.Tensor, spec) -> "CubaLIFState":
        lif = spec.lif if isinstance(spec, CubaLIFSpec) else spec
        return cls(torch.full_like(like, lif.v_rest), torch.zeros_like(like))


def cuba_lif_step(x: torch.Tensor, state: CubaLIFState | None, spec: CubaLIFSpec):
    """One step: ``(spikes, CubaLIFState)``."""
    state = _check_state(state, x, spec, CubaLIFState)
    p = spec.lif
    if p.form == "norse":
        j = state.i + x
        h = lif_charge(j, state.v, p)
        i_new = j + (-1.0 / spec.tau_syn) * j
        s = lif_fire(h, p)
        return s, CubaLIFState(lif_reset(h, s, p), i_new)
    if p.form == "snntorch":
        i_new = spec.syn_decay * state.i + x
    else:
        i_new = state.i - state.i / spec.tau_syn + x
    s, lst = lif_step(i_new, LIFState(state.v), p)
    return s, CubaLIFState(lst.v, i_new)
