"""Hodgkin-Huxley neurons with Traub-Miles channels (Brette et al. 2007 benchmark 3): parameters and a NumPy-level run.

Model, rates and integration methods: ``neurosim.kernels.hh`` (module docstring). Units: mV,
ms, nS, pF, pA (nS mV = pA, pF / ms = nS). The defaults are the benchmark's values
(SIMULATION.md §2): a 20,000 um^2 patch with C = 1 uF/cm^2 -> 200 pF, g_L = 5e-5 S/cm^2 ->
10 nS, g_Na = 100 mS/cm^2 -> 20,000 nS, g_K = 30 mS/cm^2 -> 6,000 nS, E_L = -60, E_Na = 50,
E_K = -90, V_T = -63 mV; synapses E_e = 0, E_i = -80 mV, tau_e = 5, tau_i = 10 ms; spike
detection at V_th = -20 mV with a 3 ms detection refractory period (Brian2 ``COBAHH.py``).

Stable steps (:data:`HH_MAX_DT`, measured on a neuron firing at ~80 Hz under 2 nA and on the
largest COBAHH conductances, ``tests/test_sim_hh.py``): exponential Euler never diverges (the
gates are convex combinations, V relaxes towards its instantaneous equilibrium), but its spike
times drift with dt (first order): the COBAHH rate falls by ~10 % at dt = 0.1 ms, so a warning
names 0.1 ms above it. RK4 is explicit: during a spike the sodium conductance makes
``G / C`` reaches ~60 /ms, and RK4 diverged (NaN) at dt = 0.08 ms under 0.5-2 nA and at 0.1 ms
under 5 nA, stable through 0.06 ms (measured); the warning names 0.03 ms, half the largest stable step.

Example
-------
>>> import numpy as np
>>> from neurosim.neurons.hh import HHParams, hh_run
>>> spikes, state = hh_run(np.full((10000, 1), 500.0), HHParams(), dt=0.01)   # 100 ms, 0.5 nA
"""
from __future__ import annotations

import dataclasses
import warnings
from typing import NamedTuple

import numpy as np

from neurosim._validation import as_float_array, check_positive
from neurosim.kernels import hh as khh
from neurosim.neurons.params import _eq, _field, _size

__all__ = ["HHParams", "HHState", "HH_MAX_DT", "HH_METHODS", "check_hh_dt", "hh_steady_gates", "hh_initial_state",
           "hh_run"]

#: integration method -> largest recommended step (ms); above it :func:`check_hh_dt` warns
HH_MAX_DT = {"exponential_euler": 0.1, "rk4": 0.03}
HH_METHODS = tuple(khh.METHOD_CODES)
_MAX_REF_STEPS = 2 ** 31 - 1


@dataclasses.dataclass(frozen=True, eq=False)
class HHParams:
    """Traub-Miles Hodgkin-Huxley neuron with exponential conductance synapses (benchmark 3 defaults).

    Parameters
    ----------
    c_m : pF
        Membrane capacitance (> 0).
    g_l, g_na, g_k : nS
        Leak, sodium and potassium (delayed rectifier) maximal conductances (>= 0; g_l > 0).
    e_l, e_na, e_k : mV
        Reversal potentials; ``e_k < e_l < e_na``.
    v_t : mV
        Shift ``V_T`` of the rate functions (they depend on ``V - V_T``).
    e_exc, e_inh : mV
        Reversal potentials of the ``"ge"`` and ``"gi"`` conductances; ``e_inh < e_exc``.
    tau_exc, tau_inh : ms
        Decay time constants of ``g_e`` and ``g_i`` (> 0).
    v_th : mV
        Spike detection: V rising through ``v_th`` (no reset).
    t_ref : ms
        Detection refractory period (>= 0; ``round(t_ref / dt)`` steps; V is not clamped).
    method : {"exponential_euler", "rk4"}
        Integration method of the group (``neurosim.kernels.hh``).
    """

    c_m: float | np.ndarray = 200.0
    g_l: float | np.ndarray = 10.0
    g_na: float | np.ndarray = 20000.0
    g_k: float | np.ndarray = 6000.0
    e_l: float | np.ndarray = -60.0
    e_na: float | np.ndarray = 50.0
    e_k: float | np.ndarray = -90.0
    v_t: float | np.ndarray = -63.0
    e_exc: float | np.ndarray = 0.0
    e_inh: float | np.ndarray = -80.0
    tau_exc: float | np.ndarray = 5.0
    tau_inh: float | np.ndarray = 10.0
    v_th: float | np.ndarray = -20.0
    t_ref: float | np.ndarray = 3.0
    method: str = "exponential_euler"

    _NUMERIC = ("c_m", "g_l", "g_na", "g_k", "e_l", "e_na", "e_k", "v_t", "e_exc", "e_inh", "tau_exc", "tau_inh",
                "v_th", "t_ref")

    def __post_init__(self):
        for name in self._NUMERIC:
            object.__setattr__(self, name, _field(name, getattr(self, name)))
        for name in ("c_m", "g_l", "tau_exc", "tau_inh"):
            if np.any(np.asarray(getattr(self, name)) <= 0):
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("g_na", "g_k", "t_ref"):
            if np.any(np.asarray(getattr(self, name)) < 0):
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if np.any(np.asarray(self.e_inh) >= np.asarray(self.e_exc)):
            raise ValueError(f"e_inh must be below e_exc (got e_inh={self.e_inh}, e_exc={self.e_exc} mV); "
                             "swap the reversal potentials")
        if np.any(np.asarray(self.e_k) >= np.asarray(self.e_na)):
            raise ValueError(f"e_k must be below e_na (got e_k={self.e_k}, e_na={self.e_na} mV); "
                             "swap the reversal potentials")
        if self.method not in khh.METHOD_CODES:
            raise ValueError(f"method must be one of {', '.join(map(repr, khh.METHOD_CODES))}; got {self.method!r}")
        _size(self, self._NUMERIC)

    def size(self) -> int | None:
        """Common length of the array-valued fields, or ``None`` when all are scalars."""
        return _size(self, self._NUMERIC)

    def n_ref(self, dt: float):
        """Detection refractory period in whole steps, ``round(t_ref / dt)``."""
        dt = check_positive("dt", dt, unit="ms")
        steps = np.asarray(self.t_ref) / dt
        if np.any(steps > _MAX_REF_STEPS):
            raise ValueError(f"t_ref / dt = {np.max(steps):.3g} steps exceeds {_MAX_REF_STEPS}; use a larger dt")
        n = np.rint(steps).astype(np.int64)
        return int(n) if n.ndim == 0 else n

    def coefficients(self, dt: float, i_ext=0.0) -> dict:
        """The rows of ``neurosim.kernels.hh.HH_COEFFICIENTS`` (float64, scalars or arrays)::

            kc = dt / c_m,  a_e = exp(-dt / tau_exc),  a_i = exp(-dt / tau_inh)

        and the parameters themselves; ``i_ext`` (pA) is the constant injected current.
        """
        dt = check_positive("dt", dt, unit="ms")
        return {"g_l": self.g_l, "e_l": self.e_l, "g_na": self.g_na, "e_na": self.e_na, "g_k": self.g_k,
                "e_k": self.e_k, "v_t": self.v_t, "kc": dt / np.asarray(self.c_m),
                "e_exc": self.e_exc, "e_inh": self.e_inh, "a_e": np.exp(-dt / np.asarray(self.tau_exc)),
                "a_i": np.exp(-dt / np.asarray(self.tau_inh)), "i_ext": i_ext, "v_th": self.v_th}

    def __eq__(self, other):
        return _eq(self, other, self._NUMERIC + ("method",))

    def __hash__(self):
        return hash(tuple(np.asarray(getattr(self, k)).tobytes() for k in self._NUMERIC) + (self.method,))


class HHState(NamedTuple):
    """State of ``N`` HH neurons: ``v`` (mV), gates ``m, h, n``, conductances ``g_e, g_i`` (nS), each [N]."""

    v: np.ndarray
    m: np.ndarray
    h: np.ndarray
    n: np.ndarray
    g_e: np.ndarray
    g_i: np.ndarray

    @classmethod
    def initial(cls, params: HHParams, n: int, v0=None, dtype=np.float64) -> "HHState":
        """``v = v0`` (default ``e_l``), gates at their steady state at ``v0``, no conductance."""
        v = np.broadcast_to(np.asarray(params.e_l if v0 is None else v0, dtype=np.float64), (n,))
        m, h, g = hh_steady_gates(v, params)
        z = np.zeros(n, dtype=dtype)
        return cls(v.astype(dtype), m.astype(dtype), h.astype(dtype), g.astype(dtype), z, z.copy())


def check_hh_dt(params: HHParams, dt: float) -> float:
    """Validate ``dt`` (> 0) and warn above the stable / accurate step of ``params.method`` (:data:`HH_MAX_DT`)."""
    dt = check_positive("dt", dt, unit="ms")
    limit = HH_MAX_DT[params.method]
    if dt > limit:
        what = "unstable" if params.method == "rk4" else "inaccurate (spike times drift, rates fall)"
        warnings.warn(f"dt={dt:g} ms is {what} for HH neurons with method={params.method!r}; use dt <= {limit:g} ms",
                      stacklevel=3)
    return dt


def hh_steady_gates(v, params: HHParams):
    """Steady-state gates ``(m_inf, h_inf, n_inf)``, ``x_inf = alpha_x / (alpha_x + beta_x)``, at ``v``
    (mV; float64)."""
    u = np.atleast_1d(np.asarray(v, dtype=np.float64) - np.asarray(params.v_t, dtype=np.float64))
    r = np.array([khh.hh_rates(np.float64(x)) for x in u.ravel()], dtype=np.float64).reshape(u.shape + (6,))
    am, bm, ah, bh, an, bn = np.moveaxis(r, -1, 0)
    return am / (am + bm), ah / (ah + bh), an / (an + bn)


def hh_run(xs, params: HHParams, dt: float = 0.01, state: HHState | None = None):
    """Run ``T`` steps of ``N`` unconnected HH neurons driven by the current ``xs`` [T, N] (pA).

    Returns ``(spikes bool [T, N], HHState)``; ``state`` defaults to :meth:`HHState.initial`.
    The float dtype of ``xs`` (float32 or float64) is the computing dtype. Spike detection starts
    with no refractory period pending.
    """
    if not isinstance(params, HHParams):
        raise TypeError(f"params must be HHParams, got {type(params).__name__}")
    dt = check_hh_dt(params, dt)
    xs = as_float_array("xs", xs, ndim=2)
    F = xs.dtype if xs.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    xs = np.ascontiguousarray(xs, dtype=F)
    T, N = xs.shape
    if params.size() not in (None, N):
        raise ValueError(f"params arrays have length {params.size()} but xs has {N} neurons")
    st = HHState.initial(params, N, dtype=F) if state is None else state
    if not isinstance(st, HHState):
        raise TypeError(f"state must be an HHState, got {type(st).__name__}")
    arrs = [np.array(np.broadcast_to(as_float_array(f"state.{k}", a, dtype=F, ndim=1), (N,)), dtype=F)
            for k, a in zip(HHState._fields, st)]
    v, m, h, n, ge, gi = arrs
    g_syn = np.ascontiguousarray(np.stack([ge, gi]))
    coef = np.empty((len(khh.HH_COEFFICIENTS), N), dtype=F)
    c = params.coefficients(dt)
    for j, name in enumerate(khh.HH_COEFFICIENTS):
        coef[j] = np.broadcast_to(np.asarray(c[name], dtype=np.float64), (N,))
    n_ref = np.broadcast_to(np.asarray(params.n_ref(dt), dtype=np.int32), (N,)).copy()
    spikes = np.zeros((T, N), dtype=np.uint8)
    with np.errstate(all="ignore"):
        khh.hh_integrate(xs, v, m, h, n, g_syn, np.zeros(N, dtype=np.int32), coef, n_ref, F.type(dt),
                         khh.METHOD_CODES[params.method], spikes)
    if not (np.all(np.isfinite(v)) and np.all(np.isfinite(m)) and np.all(np.isfinite(h)) and np.all(np.isfinite(n))):
        raise ValueError(f"the HH integration diverged (NaN/inf) with method={params.method!r} at dt={dt:g} ms; "
                         f"use dt <= {HH_MAX_DT[params.method]:g} ms or method='exponential_euler'")
    return spikes.astype(bool), HHState(v, m, h, n, g_syn[0].copy(), g_syn[1].copy())


def hh_initial_state(params: HHParams, n: int, *, v0=None, m0=None, h0=None, n0=None, ge0=0.0, gi0=0.0) -> dict:
    """Validated initial state of ``n`` HH neurons (float64 [n] each; keys ``v, m, h, n, ge, gi``).

    ``v0`` defaults to ``e_l``; a gate left ``None`` starts at its steady state at ``v0``
    (:func:`hh_steady_gates`; NEST's choice), a given gate must lie in [0, 1] (Brian2's
    ``COBAHH.py`` starts all three at 0). ``ge0, gi0`` (nS) may be negative: the benchmark's
    Gaussian initial conductances are not clipped (SIMULATION.md §2); they decay like any other.
    """
    def per_neuron(name, value):
        if isinstance(value, (bool, np.bool_)) or (isinstance(value, np.ndarray) and value.dtype == bool):
            raise TypeError(f"{name} must be a number (or an array of numbers), got a boolean")
        arr = as_float_array(name, value)
        if np.ndim(value) == 0:
            return np.full(n, arr.ravel()[0])
        if arr.shape != (n,):
            raise ValueError(f"{name} must be a scalar or have shape ({n},), got {arr.shape}")
        return arr.astype(np.float64)

    v = per_neuron("v0", params.e_l if v0 is None else v0)
    steady = hh_steady_gates(v, params)
    out = {"v": v}
    for key, value, inf in (("m", m0, steady[0]), ("h", h0, steady[1]), ("n", n0, steady[2])):
        if value is None:
            out[key] = np.broadcast_to(inf, (n,)).astype(np.float64)
            continue
        arr = per_neuron(f"{key}0", value)
        if np.any((arr < 0) | (arr > 1)):
            raise ValueError(f"{key}0 must lie in [0, 1] (a gating variable), got values in "
                             f"[{arr.min():g}, {arr.max():g}]")
        out[key] = arr
    out["ge"] = per_neuron("ge0", ge0)
    out["gi"] = per_neuron("gi0", gi0)
    return out
