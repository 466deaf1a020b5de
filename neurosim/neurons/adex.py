"""Adaptive exponential integrate-and-fire neuron (AdEx): parameters, presets, NumPy-level run.

Model (Brette & Gerstner 2005; ms, mV, pF, nS, pA)::

    C dV/dt     = -g_L (V - E_L) + g_L Delta_T exp((V - V_T)/Delta_T) - w + I
    tau_w dw/dt = a (V - E_L) - w
    if V > V_peak:  V <- V_r,  w <- w + b      (V then held at V_r for t_ref; w keeps evolving)

``V_peak`` is a numerical cut-off, not a threshold. Integration: forward Euler at ``dt`` (Brian2
``method="euler"``, the scheme of the measured anchors), exponential evaluated at
``min(V, V_peak)`` so it never overflows; see ``neurosim.kernels.adex`` for the step and the
synaptic inputs (current or conductance, exponential with ``tau_syn`` / ``tau_syn_inh``).

Presets (:data:`ADEX_PRESETS`, or ``AdExParams.preset(name)``)
-------------------------------------------------------------
``"brette_gerstner"`` (= ``AdExParams()``, regular spiking: C 281 pF, g_L 30 nS, E_L -70.6 mV,
V_T -50.4 mV, Delta_T 2 mV, tau_w 144 ms, a 4 nS, b 80.5 pA, V_r = E_L, V_peak = V_T + 5
Delta_T = -40.4 mV as Brian's example), ``"brette_gerstner_bursting"`` (tau_w 20 ms, b 500 pA,
V_r = V_T + 5 mV), ``"brette_gerstner_fast"`` (a = 2C/144 ms, b 0), and the eight firing
patterns of Naud et al. (2008) as in Brian2's example (Delta_T 2 mV, V_T -50 mV, V_peak 0 mV):
``"tonic"``, ``"adapting"``, ``"initial_burst"``, ``"regular_bursting"``,
``"delayed_accelerating"``, ``"delayed_regular_bursting"``, ``"transient"``, ``"irregular"``.
Each pattern appears for the step current :data:`NAUD_CURRENTS` ``[name]`` (pA) from t = 0 with
``V0 = E_L``, ``w0 = 0``.

Example
-------
>>> import numpy as np
>>> from neurosim.neurons.adex import AdExParams, AdExState, adex_run, NAUD_CURRENTS
>>> p = AdExParams.preset("tonic")
>>> xs = np.full((6000, 1), NAUD_CURRENTS["tonic"])            # 600 ms at dt 0.1
>>> spikes, state = adex_run(xs, AdExState.initial(p, 1), p, dt=0.1)
"""
from __future__ import annotations

import dataclasses
import warnings
from typing import NamedTuple

import numpy as np

from neurosim._validation import as_float_array, check_int, check_positive
from neurosim.kernels.adex import ADEX_COEFFICIENTS, EXP_ARG_MAX, adex_integrate
from neurosim.neurons.params import _eq, _field, _initial, _n_from, _size

__all__ = ["AdExParams", "AdExState", "ADEX_PRESETS", "NAUD_CURRENTS", "adex_run", "check_adex_dt",
           "adex_group_args", "adex_coefficient_table"]

_SYNAPSES = ("current", "conductance")
#: most refractory steps a kernel can count (int32 counters)
_MAX_REF_STEPS = 2 ** 31 - 1


@dataclasses.dataclass(frozen=True, eq=False)
class AdExParams:
    """AdEx neuron (Brette & Gerstner 2005); defaults: their regular-spiking cell (Brian2 example).

    Parameters (scalars or 1-D arrays of one length)
    ----------
    c_m : pF
        Membrane capacitance (> 0).
    g_l : nS
        Leak conductance (> 0); ``tau_m = c_m / g_l`` ms.
    e_l, v_t, delta_t : mV
        Leak reversal, threshold of the exponential term, its slope factor (``delta_t > 0``).
    tau_w : ms
        Adaptation time constant (> 0).
    a : nS
        Subthreshold adaptation (any sign: Naud's delayed patterns use a < 0).
    b : pA
        Spike-triggered adaptation (the paper writes 0.0805 nA).
    v_r : mV
        Reset potential (< ``v_peak``).
    v_peak : mV
        Spike cut-off (> ``v_t``): a spike when ``V > v_peak``.
    t_ref : ms
        Refractory clamp of ``V`` at ``v_r`` (>= 0; 0 = none, NEST's default), ``round(t_ref/dt)`` steps.
    tau_syn, tau_syn_inh : ms
        Decay of the excitatory / inhibitory synaptic variable (``tau_syn_inh`` None = ``tau_syn``).
    synapse : {"current", "conductance"}
        Synaptic variables are currents (pA, weights in pA) or conductances (nS, weights in nS,
        driving force ``e_exc - V`` / ``e_inh - V``; NEST ``aeif_cond_exp``).
    e_exc, e_inh : mV
        Reversal potentials of the conductance synapses (``e_inh < e_exc``).
    """

    c_m: float | np.ndarray = 281.0
    g_l: float | np.ndarray = 30.0
    e_l: float | np.ndarray = -70.6
    v_t: float | np.ndarray = -50.4
    delta_t: float | np.ndarray = 2.0
    tau_w: float | np.ndarray = 144.0
    a: float | np.ndarray = 4.0
    b: float | np.ndarray = 80.5
    v_r: float | np.ndarray = -70.6
    v_peak: float | np.ndarray = -40.4
    t_ref: float | np.ndarray = 0.0
    tau_syn: float | np.ndarray = 5.0
    tau_syn_inh: float | np.ndarray | None = None
    synapse: str = "current"
    e_exc: float | np.ndarray = 0.0
    e_inh: float | np.ndarray = -80.0

    _NUMERIC = ("c_m", "g_l", "e_l", "v_t", "delta_t", "tau_w", "a", "b", "v_r", "v_peak", "t_ref", "tau_syn",
                "tau_syn_inh", "e_exc", "e_inh")

    def __post_init__(self):
        for name in self._NUMERIC:
            if name == "tau_syn_inh" and self.tau_syn_inh is None:
                continue
            object.__setattr__(self, name, _field(name, getattr(self, name)))
        for name, unit in (("c_m", "pF"), ("g_l", "nS"), ("delta_t", "mV"), ("tau_w", "ms"), ("tau_syn", "ms"),
                           ("tau_syn_inh", "ms")):
            value = getattr(self, name)
            if value is not None and np.any(np.asarray(value) <= 0):
                raise ValueError(f"{name} must be > 0 ({unit}), got {value}")
        if np.any(np.asarray(self.t_ref) < 0):
            raise ValueError(f"t_ref must be >= 0 ms, got {self.t_ref}")
        if np.any(np.asarray(self.v_peak) <= np.asarray(self.v_t)):
            raise ValueError(f"v_peak must be > v_t (got v_peak={self.v_peak}, v_t={self.v_t}); the cut-off lies "
                             "above the exponential's threshold, e.g. v_t + 5 delta_t or 0 mV")
        if np.any(np.asarray(self.v_r) >= np.asarray(self.v_peak)):
            raise ValueError(f"v_r must be < v_peak (got v_r={self.v_r}, v_peak={self.v_peak}); lower v_r")
        if self.synapse not in _SYNAPSES:
            raise ValueError(f"synapse must be one of {', '.join(map(repr, _SYNAPSES))}; got {self.synapse!r}")
        if np.any(np.asarray(self.e_inh) >= np.asarray(self.e_exc)):
            raise ValueError(f"e_inh must be < e_exc (got e_inh={self.e_inh}, e_exc={self.e_exc}); the reversal "
                             "potentials are in the wrong order")
        _size(self, self._NUMERIC)

    def size(self) -> int | None:
        """Common length of the array-valued fields, or ``None`` when all are scalars."""
        return _size(self, self._NUMERIC)

    @property
    def tau_m(self):
        """Membrane time constant ``c_m / g_l`` (ms)."""
        return np.asarray(self.c_m) / np.asarray(self.g_l)

    @property
    def tau_inh(self):
        """Time constant of the inhibitory channel (``tau_syn_inh`` or ``tau_syn``)."""
        return self.tau_syn if self.tau_syn_inh is None else self.tau_syn_inh

    def n_ref(self, dt: float):
        """Refractory period in whole steps, ``round(t_ref / dt)`` (int or int array)."""
        dt = check_positive("dt", dt, unit="ms")
        steps = np.asarray(self.t_ref) / dt
        if np.any(steps > _MAX_REF_STEPS):
            raise ValueError(f"t_ref / dt = {np.max(steps):.3g} refractory steps exceeds {_MAX_REF_STEPS}; "
                             "use a larger dt or a shorter t_ref")
        n = np.rint(steps).astype(np.int64)
        return int(n) if n.ndim == 0 else n

    def coefficients(self, dt: float) -> dict:
        """Per-step coefficients of the scheme (``neurosim.kernels.adex``), float64 scalars or arrays::

            dt_c = dt / c_m ;  gd = g_l delta_t ;  inv_delta_t = 1 / delta_t ;  k_w = dt / tau_w
            x_cut = min((v_peak - v_t) / delta_t, EXP_ARG_MAX)   (argument cap of the exponential)
            a_e = exp(-dt / tau_syn) ;  a_i = exp(-dt / tau_syn_inh)

        plus ``g_l, e_l, v_t, a, b, v_r, v_peak, e_exc, e_inh`` as they are (every row of
        ``ADEX_COEFFICIENTS`` but ``i_ext``).
        """
        dt = check_positive("dt", dt, unit="ms")
        f = {n: np.asarray(getattr(self, n), dtype=np.float64) for n in self._NUMERIC if n != "tau_syn_inh"}
        return {"dt_c": dt / f["c_m"], "g_l": f["g_l"], "e_l": f["e_l"], "v_t": f["v_t"],
                "inv_delta_t": 1.0 / f["delta_t"], "gd": f["g_l"] * f["delta_t"],
                "x_cut": np.minimum((f["v_peak"] - f["v_t"]) / f["delta_t"], EXP_ARG_MAX),
                "k_w": dt / f["tau_w"], "a": f["a"], "b": f["b"], "v_r": f["v_r"], "v_peak": f["v_peak"],
                "a_e": np.exp(-dt / f["tau_syn"]), "a_i": np.exp(-dt / np.asarray(self.tau_inh, dtype=np.float64)),
                "e_exc": f["e_exc"], "e_inh": f["e_inh"]}

    @classmethod
    def preset(cls, name: str) -> "AdExParams":
        """A published parameter set (see :data:`ADEX_PRESETS`); ``KeyError`` lists the names."""
        key = str(name).lower().replace("-", "_").replace(" ", "_")
        if key not in ADEX_PRESETS:
            raise KeyError(f"unknown AdEx preset {name!r}; valid names: {', '.join(ADEX_PRESETS)}")
        return ADEX_PRESETS[key]

    def replace(self, **changes) -> "AdExParams":
        """A copy with ``changes`` applied (validated)."""
        return dataclasses.replace(self, **changes)

    def __eq__(self, other):
        return _eq(self, other, self._NUMERIC + ("synapse",))

    def __hash__(self):
        return hash(tuple(np.asarray(getattr(self, n)).tobytes() if n != "synapse" else self.synapse
                          for n in self._NUMERIC + ("synapse",)))


def _naud(c_m, g_l, e_l, a, tau_w, b, v_r) -> AdExParams:
    return AdExParams(c_m=c_m, g_l=g_l, e_l=e_l, v_t=-50.0, delta_t=2.0, tau_w=tau_w, a=a, b=b, v_r=v_r, v_peak=0.0)


#: name -> parameters (Brette & Gerstner 2005 cells of Brian2's example; Naud et al. 2008 patterns
#: as in Brian2's example "parameters adapted by P. Mueller to match figures")
ADEX_PRESETS: dict[str, AdExParams] = {
    "brette_gerstner": AdExParams(),
    "brette_gerstner_bursting": AdExParams(tau_w=20.0, b=500.0, v_r=-50.4 + 5.0),
    "brette_gerstner_fast": AdExParams(a=2 * 281.0 / 144.0, b=0.0),
    "tonic": _naud(200.0, 10.0, -70.0, 2.0, 30.0, 0.0, -58.0),
    "adapting": _naud(200.0, 12.0, -70.0, 2.0, 300.0, 60.0, -58.0),
    "initial_burst": _naud(130.0, 18.0, -58.0, 4.0, 150.0, 120.0, -50.0),
    "regular_bursting": _naud(200.0, 10.0, -58.0, 2.0, 120.0, 100.0, -46.0),
    "delayed_accelerating": _naud(200.0, 12.0, -70.0, -10.0, 300.0, 0.0, -58.0),
    "delayed_regular_bursting": _naud(100.0, 10.0, -65.0, -10.0, 90.0, 30.0, -47.0),
    "transient": _naud(100.0, 10.0, -65.0, 10.0, 90.0, 100.0, -47.0),
    "irregular": _naud(100.0, 12.0, -60.0, -11.0, 130.0, 30.0, -48.0),
}
#: Naud pattern -> step current (pA) that shows it (applied from t = 0, V0 = E_L, w0 = 0)
NAUD_CURRENTS: dict[str, float] = {
    "tonic": 500.0, "adapting": 500.0, "initial_burst": 400.0, "regular_bursting": 210.0,
    "delayed_accelerating": 300.0, "delayed_regular_bursting": 110.0, "transient": 180.0, "irregular": 160.0,
}


def check_adex_dt(params: AdExParams, dt: float) -> float:
    """Validate ``dt`` for forward Euler: ``ValueError`` when ``dt >= min(tau_m, tau_w)`` (Euler then
    overshoots the equilibrium), a warning above a tenth of it (inaccurate)."""
    dt = check_positive("dt", dt, unit="ms")
    tau = float(min(np.min(params.tau_m), np.min(params.tau_w)))
    if dt >= tau:
        raise ValueError(f"dt={dt} ms is unstable for forward Euler with tau_m = c_m/g_l or tau_w as short as "
                         f"{tau:g} ms; use dt <= {tau / 10:g} ms")
    if dt > tau / 10:
        warnings.warn(f"dt={dt} ms is coarse for the AdEx Euler scheme (shortest of tau_m, tau_w: {tau:g} ms); "
                      f"use dt <= {tau / 10:g} ms", stacklevel=3)
    return dt


def adex_coefficient_table(params: AdExParams, n: int, dt: float, dtype, i_ext=0.0) -> np.ndarray:
    """The kernel's coefficient table ``[len(ADEX_COEFFICIENTS), n]`` in ``dtype`` (``i_ext`` in the last row)."""
    vals = dict(params.coefficients(dt), i_ext=i_ext)
    out = np.empty((len(ADEX_COEFFICIENTS), n), dtype=dtype)
    for j, k in enumerate(ADEX_COEFFICIENTS):
        out[j] = np.broadcast_to(np.asarray(vals[k], dtype=np.float64), (n,))
    return out


class AdExState(NamedTuple):
    """AdEx state: ``v`` (mV), ``w`` (pA), synaptic ``ge``, ``gi`` (float [N]) and ``refr`` (int32 [N])."""

    v: np.ndarray
    w: np.ndarray
    ge: np.ndarray
    gi: np.ndarray
    refr: np.ndarray

    @classmethod
    def initial(cls, params: AdExParams, n: int | None = None, *, v0=None, w0=0.0, dtype=np.float64) -> "AdExState":
        """``v = e_l`` (or ``v0``), ``w = w0`` (default 0 pA), no synaptic input, not refractory."""
        n = _n_from(n, params, AdExParams)
        v, dt = _initial("v0", params.e_l if v0 is None else v0, n, dtype, 5)
        w, _ = _initial("w0", w0, n, dtype, 5)
        return cls(v, w, np.zeros(n, dtype=dt), np.zeros(n, dtype=dt), np.zeros(n, dtype=np.int32))


def adex_run(xs, state: AdExState, params: AdExParams, dt: float = 0.1):
    """Run ``T`` steps of ``N`` unconnected neurons.

    Parameters
    ----------
    xs : array [T, N]
        External current per step (pA; time first), held over the step.
    state : AdExState
        Initial state (not modified).
    params : AdExParams
        Scalars or arrays of length N.
    dt : float
        Step (ms).

    Returns
    -------
    spikes : bool [T, N]
        ``spikes[m, i]``: neuron ``i`` crossed ``v_peak`` in step ``m`` (time ``(m+1) dt``).
    state : AdExState
        Final state.
    """
    if not isinstance(params, AdExParams):
        raise TypeError(f"params must be AdExParams, got {type(params).__name__}")
    dt = check_adex_dt(params, dt)
    if not isinstance(state, AdExState):
        raise TypeError("state must be an AdExState (use AdExState.initial(params, n)), got "
                        f"{type(state).__name__}")
    v = as_float_array("state.v", state.v, ndim=1).copy()
    F = v.dtype
    st = [as_float_array(f"state.{k}", getattr(state, k), dtype=F, ndim=1).copy() for k in ("w", "ge", "gi")]
    refr = np.ascontiguousarray(np.asarray(state.refr), dtype=np.int32).copy()
    n = v.shape[0]
    if any(a.shape != (n,) for a in (*st, refr)):
        raise ValueError(f"the state arrays must all have shape ({n},)")
    xs = as_float_array("xs", xs, dtype=F, ndim=2)
    if xs.shape[1] != n:
        raise ValueError(f"xs must have shape (T, {n}) to match the state, got {xs.shape}")
    _n_from(n, params, AdExParams, "state size")
    coef = adex_coefficient_table(params, n, dt, F)
    n_ref = np.broadcast_to(np.asarray(params.n_ref(dt), dtype=np.int32), (n,)).copy()
    spikes = np.zeros(xs.shape, dtype=np.uint8)
    w, ge, gi = st
    adex_integrate(np.ascontiguousarray(xs), v, w, ge, gi, refr, coef, n_ref, params.synapse == "conductance", spikes)
    out = AdExState(v, w, ge, gi, refr)
    for k in ("v", "w"):
        if not np.all(np.isfinite(getattr(out, k))):
            raise ValueError(f"the state diverged: state.{k} overflowed to NaN/inf; the input xs is too large for "
                             f"{F} or dt={dt} ms too coarse: scale it down")
    return spikes.astype(bool), out


def adex_group_args(n, params, dt, v0, w0, i_ext):
    """Validated arguments of ``Network.add_adex``: ``(n, params, v0 [n], w0 [n], i_ext [n])`` (float64 arrays).

    ``params`` may be an ``AdExParams``, a preset name or None (the default cell).
    """
    n = check_int("n", n, min_value=1)
    if params is None:
        params = AdExParams()
    elif isinstance(params, str):
        params = AdExParams.preset(params)
    if not isinstance(params, AdExParams):
        raise TypeError(f"params must be AdExParams or a preset name ({', '.join(ADEX_PRESETS)}), "
                        f"got {type(params).__name__}")
    if params.size() not in (None, n):
        raise ValueError(f"params arrays have length {params.size()} but n={n}")
    check_adex_dt(params, dt)
    params.n_ref(dt)
    out = []
    for name, value in (("v0", params.e_l if v0 is None else v0), ("w0", w0), ("i_ext", i_ext)):
        if isinstance(value, (bool, np.bool_)) or (isinstance(value, np.ndarray) and value.dtype == bool):
            raise TypeError(f"{name} must be a number (or an array of numbers), got a boolean")
        arr = as_float_array(name, value, dtype=np.float64)
        if np.ndim(value) == 0:
            arr = np.full(n, arr.reshape(-1)[0])
        elif arr.shape != (n,):
            raise ValueError(f"{name} must be a scalar or have shape ({n},), got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} must be finite, got NaN/inf")
        out.append(arr)
    return (n, params, *out)
