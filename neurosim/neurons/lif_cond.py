"""Leaky integrate-and-fire neuron with exponential *conductance*-based synapses (``CondLIFParams``).

Model (Brette et al. 2007, benchmark 1; Vogels & Abbott 2005), in Brian's dimensionless form:
conductances in units of the leak conductance ``g_L``, ``tau_mem = C / g_L``, time in ms,
potentials in mV::

    tau_mem dv/dt = (e_leak - v) + g_e (e_exc - v) + g_i (e_inh - v) + r i_ext
    tau_e dg_e/dt = -g_e ,   tau_i dg_i/dt = -g_i
    spike when v > v_th (strictly, Brian's convention), then v <- v_reset
    refractory: v is clamped at v_reset; the conductances keep decaying and receiving input

A presynaptic spike adds its weight (>= 0, units of ``g_L``) to ``g_e`` (target ``"ge"``) or
``g_i`` (target ``"gi"``); target ``"v"`` is an instantaneous jump of ``v`` (dropped while
refractory). ``r i_ext`` is a constant drive in mV (``r = 1 / g_L`` turns a current into mV).

Integration (``integration=``; per-step factors in :meth:`CondLIFParams.coefficients`), with the
conductances of the start of the step (after adding that step's input) and
``D = (e_leak + r i_ext - v) + g_e (e_exc - v) + g_i (e_inh - v)``:

``"euler"`` (default; Brian2 ``method="euler"``, which the published Brian COBA scripts use)::

    v' = v + (dt / tau_mem) D ;   g' = g (1 - dt / tau)

``"exponential"`` (Brian2 ``method="exponential_euler"``: exact for the step's frozen
conductances, the conductances decay exactly)::

    x = (dt / tau_mem) (1 + g_e + g_i) ;   v' = v + (dt / tau_mem) D (1 - exp(-x)) / x ;   g' = g exp(-dt / tau)

The second is the exact solution of ``v`` with the conductances held over the step: it relaxes
towards ``v_inf = (e_leak + r i_ext + g_e e_exc + g_i e_inh) / (1 + g_e + g_i)`` without
overshooting when the total conductance is large (Euler needs ``dt (1 + g_e + g_i) < tau_mem``
to avoid overshooting ``v_inf``, ``2 tau_mem`` for stability), and it costs one ``exp`` per neuron
and step (vectorised in float32).

Refractory period (``ref_convention=``): ``"brian2"`` (default) follows Brian2's
``timestep(t - lastspike) >= timestep(t_ref)`` rule: after a spike in step ``s``, ``v`` is held
in steps ``s+1 ... s+n-1`` and integrated again in step ``s+n`` (``n = round(t_ref / dt)``), i.e.
``t_ref`` after the start of the spiking step; ``"lif"`` holds ``v`` for ``n`` steps
(``s+1 ... s+n``) as ``LIFParams`` does, ``t_ref`` after the end of the spiking step.

The published parameters are the defaults: tau_mem 20 ms (200 pF / 10 nS), tau_e 5, tau_i 10 ms,
e_leak -60, v_th -50, v_reset -60, e_exc 0, e_inh -80 mV, t_ref 5 ms.
"""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from neurosim.neurons.params import _MAX_REF_STEPS, _check_dt, _eq, _field, _size

__all__ = ["CondLIFParams", "COND_LIF_INTEGRATIONS", "COND_LIF_REF_CONVENTIONS", "check_lif_cond_dt"]

#: integration schemes of ``CondLIFParams.integration``
COND_LIF_INTEGRATIONS = ("euler", "exponential")
#: refractory conventions of ``CondLIFParams.ref_convention``
COND_LIF_REF_CONVENTIONS = ("brian2", "lif")


@dataclasses.dataclass(frozen=True, eq=False)
class CondLIFParams:
    """Conductance-based LIF neuron (see the module docstring for the equations).

    Parameters
    ----------
    tau_mem : float or array, ms
        Membrane time constant ``C / g_L`` (> 0).
    tau_e, tau_i : float or array, ms
        Decay time constants of the excitatory and inhibitory conductances (> 0).
    e_leak : float or array, mV
        Leak reversal (resting) potential.
    e_exc, e_inh : float or array, mV
        Reversal potentials of the excitatory and inhibitory conductances (``e_inh < e_exc``).
    v_th : float or array, mV
        Threshold: a spike is emitted when ``v > v_th``; must lie strictly between ``e_inh`` and
        ``e_exc`` (above ``e_exc`` excitation could never reach it).
    v_reset : float or array, mV
        Potential after a spike, ``e_inh <= v_reset < v_th``.
    t_ref : float or array, ms
        Refractory period (>= 0), ``round(t_ref / dt)`` steps (see ``ref_convention``).
    r : float or array
        Scales the constant drive ``i_ext`` of a group to mV (> 0; ``1 / g_L`` for a current).
    integration : {"euler", "exponential"}
        Integration scheme (module docstring); ``"euler"`` matches Brian2's COBA.
    ref_convention : {"brian2", "lif"}
        How ``t_ref`` maps to held steps (module docstring).
    """

    tau_mem: float | np.ndarray = 20.0
    tau_e: float | np.ndarray = 5.0
    tau_i: float | np.ndarray = 10.0
    e_leak: float | np.ndarray = -60.0
    e_exc: float | np.ndarray = 0.0
    e_inh: float | np.ndarray = -80.0
    v_th: float | np.ndarray = -50.0
    v_reset: float | np.ndarray = -60.0
    t_ref: float | np.ndarray = 5.0
    r: float | np.ndarray = 1.0
    integration: str = "euler"
    ref_convention: str = "brian2"

    _NUMERIC = ("tau_mem", "tau_e", "tau_i", "e_leak", "e_exc", "e_inh", "v_th", "v_reset", "t_ref", "r")

    def __post_init__(self):
        for name in self._NUMERIC:
            object.__setattr__(self, name, _field(name, getattr(self, name)))
        for name in ("tau_mem", "tau_e", "tau_i"):
            if np.any(np.asarray(getattr(self, name)) <= 0):
                raise ValueError(f"{name} must be > 0 ms, got {getattr(self, name)}")
        if np.any(np.asarray(self.r) <= 0):
            raise ValueError(f"r must be > 0, got {self.r}")
        if np.any(np.asarray(self.t_ref) < 0):
            raise ValueError(f"t_ref must be >= 0 ms, got {self.t_ref}")
        a = {k: np.asarray(getattr(self, k)) for k in ("e_inh", "e_exc", "v_th", "v_reset")}
        if np.any(a["e_inh"] >= a["e_exc"]):
            raise ValueError(f"e_inh must be < e_exc (got e_inh={self.e_inh}, e_exc={self.e_exc}); the inhibitory "
                             "reversal potential lies below the excitatory one (e.g. -80 and 0 mV)")
        if np.any(a["v_th"] <= a["v_reset"]):
            raise ValueError(f"v_th must be > v_reset (got v_th={self.v_th}, v_reset={self.v_reset}); raise v_th "
                             "or lower v_reset")
        if np.any(a["v_th"] >= a["e_exc"]) or np.any(a["v_th"] <= a["e_inh"]):
            raise ValueError(f"v_th must lie between e_inh and e_exc (got v_th={self.v_th}, e_inh={self.e_inh}, "
                             f"e_exc={self.e_exc}); excitation cannot drive v above e_exc")
        if np.any(a["v_reset"] < a["e_inh"]):
            raise ValueError(f"v_reset must be >= e_inh (got v_reset={self.v_reset}, e_inh={self.e_inh}); the "
                             "conductances cannot hold v below e_inh")
        if self.integration not in COND_LIF_INTEGRATIONS:
            raise ValueError(f"integration must be one of {', '.join(map(repr, COND_LIF_INTEGRATIONS))}; "
                             f"got {self.integration!r}")
        if self.ref_convention not in COND_LIF_REF_CONVENTIONS:
            raise ValueError(f"ref_convention must be one of {', '.join(map(repr, COND_LIF_REF_CONVENTIONS))}; "
                             f"got {self.ref_convention!r}")
        _size(self, self._NUMERIC)

    def size(self) -> int | None:
        """Common length of the array-valued fields, or ``None`` when all are scalars."""
        return _size(self, self._NUMERIC)

    def n_ref(self, dt: float):
        """Steps from a spike until ``v`` is integrated again, as the kernels count them.

        ``"brian2"``: ``round(t_ref / dt)`` (``v`` is held ``n - 1`` steps); ``"lif"``:
        ``round(t_ref / dt) + 1`` (held ``n`` steps). Int or int array.
        """
        dt = _check_dt(dt)
        steps = np.asarray(self.t_ref) / dt
        if np.any(steps > _MAX_REF_STEPS - 1):
            raise ValueError(f"t_ref / dt = {np.max(steps):.3g} refractory steps (t_ref={np.max(self.t_ref):g} ms, "
                             f"dt={dt:g} ms) exceeds {_MAX_REF_STEPS - 1}; use a larger dt")
        n = np.rint(steps).astype(np.int64) + (1 if self.ref_convention == "lif" else 0)
        return int(n) if n.ndim == 0 else n

    def coefficients(self, dt: float) -> dict:
        """Per-step factors (float64 scalars or arrays).

        ``c_m = dt / tau_mem``; the conductance decay per step ``a_e``, ``a_i``: ``1 - dt / tau``
        (``"euler"``) or ``exp(-dt / tau)`` (``"exponential"``); ``n_ref`` (:meth:`n_ref`).
        """
        dt = _check_dt(dt)
        out = {"c_m": dt / np.asarray(self.tau_mem, dtype=np.float64)}
        for key, tau in (("a_e", self.tau_e), ("a_i", self.tau_i)):
            ratio = dt / np.asarray(tau, dtype=np.float64)
            out[key] = 1.0 - ratio if self.integration == "euler" else np.exp(-ratio)
        out["n_ref"] = self.n_ref(dt)
        return out

    def __eq__(self, other):
        return _eq(self, other, self._NUMERIC + ("integration", "ref_convention"))

    def __hash__(self):
        return hash(tuple(np.asarray(getattr(self, n)).tobytes() for n in self._NUMERIC)
                    + (self.integration, self.ref_convention))


def check_lif_cond_dt(params: CondLIFParams, dt: float) -> float:
    """Validate ``dt`` for ``params``: ``ValueError`` when Euler would flip the sign of a conductance
    (``dt > tau_e`` or ``tau_i``); a warning when ``dt`` resolves the model poorly."""
    dt = _check_dt(dt)
    tau_g = float(min(np.min(params.tau_e), np.min(params.tau_i)))
    if params.integration == "euler" and dt > tau_g:
        raise ValueError(f"dt={dt} ms exceeds the shortest conductance time constant ({tau_g:g} ms): Euler steps "
                         "would make the conductances change sign; use dt <= tau_e, tau_i (0.1 ms is usual) or "
                         "integration='exponential'")
    max_dt = min(tau_g, float(np.min(params.tau_mem))) / 10.0
    if dt > max_dt:
        warnings.warn(f"dt={dt} ms is coarse for these time constants; use dt <= {max_dt:g} ms", stacklevel=3)
    steps = np.asarray(params.t_ref) / dt
    if np.any(np.abs(steps - np.rint(steps)) > 1e-6):
        warnings.warn(f"t_ref={params.t_ref} ms is not a multiple of dt={dt} ms; the refractory period is rounded "
                      "to whole steps; choose dt dividing t_ref", stacklevel=3)
    return dt
