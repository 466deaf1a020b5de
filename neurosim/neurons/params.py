"""Parameter dataclasses and state tuples for the point-neuron models.

One frozen dataclass per model holds the *continuous-time* parameters in physical units
(time in ms, voltages in mV or in arbitrary units where noted); the discrete factors a kernel
needs are derived in one method (:meth:`LIFParams.coefficients` with :meth:`LIFParams.decay`,
:meth:`IzhikevichParams.coefficients`). Every field may be a scalar or a 1-D array (a
heterogeneous population); arrays must share one length, checked by :meth:`LIFParams.size`.

Leaky integrate-and-fire with current-based synapses (``LIFParams``)
--------------------------------------------------------------------
::

    tau_mem dv/dt    = -(v - v_rest) + r (i_syn + i_inh + x)
    tau_syn di_syn/dt = -i_syn           (excitatory / generic synaptic current)
    tau_syn_inh di_inh/dt = -i_inh       (second channel; tau_syn_inh defaults to tau_syn)
    spike when v >= v_th, then reset:
        reset="zero":     v <- v_reset
        reset="subtract": v <- v - (v_th - v_reset)
        reset="none":     v unchanged (the neuron keeps firing while v >= v_th)
    refractory: for n_ref = round(t_ref / dt) steps after a spike v is not integrated
    (held at its post-reset value); the synaptic currents keep decaying and inputs to them
    are accepted; direct jumps of v ("v" synapses) arriving then are discarded.

``x`` is an external current held constant over a step; ``r`` scales currents to voltage
(``r * i`` has the units of ``v``). Integration is the exact solution of the linear system over
one step (no Euler error), so any ``dt`` is *stable*; a large ``dt`` is only *inaccurate*:
spike times are quantised to the step and a synaptic kick cannot be resolved when
``dt > tau_syn``. :func:`lif_max_dt` returns the largest recommended step.

Izhikevich (2003) simple model (``IzhikevichParams``)
-----------------------------------------------------
::

    dv/dt = 0.04 v^2 + 5 v + 140 - u + I      (v in mV, t in ms)
    du/dt = a (b v - u)
    if v >= v_peak (30 mV):  v <- c,  u <- u + d

Presets (Izhikevich 2003, Fig. 2): RS, IB, CH, FS, LTS, TC, RZ (see :data:`IZHIKEVICH_PRESETS`).
The quadratic model is integrated with the 2003 two-half-step scheme (constants from
:meth:`IzhikevichParams.coefficients`; see ``neurosim.kernels.izhikevich``); it is accurate for
``dt <= 1 ms`` (:data:`IZHIKEVICH_MAX_DT`).
"""
from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

from neurosim.kernels.izhikevich import ORDER_CODES

__all__ = [
    "LIFParams", "IzhikevichParams", "LIFState", "IzhikevichState", "IZHIKEVICH_PRESETS",
    "IZHIKEVICH_MAX_DT", "IZHIKEVICH_QUADRATIC", "lif_max_dt", "RS", "IB", "CH", "FS", "LTS", "TC", "RZ",
]

#: largest step (ms) for which the Izhikevich two-half-step scheme is accurate
IZHIKEVICH_MAX_DT = 1.0
#: coefficients of the quadratic ``0.04 v^2 + 5 v + 140`` in ``dv/dt`` (Izhikevich 2003)
IZHIKEVICH_QUADRATIC = (0.04, 5.0, 140.0)

_LIF_RESETS = ("zero", "subtract", "none")
#: most refractory steps a kernel can count (int32 counters)
_MAX_REF_STEPS = 2 ** 31 - 1


def check_drive(xs, dtype, n: int, params, name: str = "xs") -> np.ndarray:
    """Validate a ``[T, n]`` input drive for ``n`` neurons (and ``params`` arrays of length ``n``);
    ``name="x"`` describes the ``[n]`` input of a single step."""
    from neurosim._validation import as_float_array

    xs = as_float_array(name, xs, dtype=dtype, ndim=2)
    if xs.shape[1] != n:
        want = f"({n},)" if name == "x" else f"(T, {n})"
        got = xs.shape[1:] if name == "x" else xs.shape
        raise ValueError(f"{name} must have shape {want} to match the state, got {got}")
    size = params.size()
    if size is not None and size != n:
        raise ValueError(f"params arrays have length {size} but the state has {n} neurons")
    return xs


def _field(name: str, value) -> float | np.ndarray:
    """Normalise a parameter to a float or a read-only 1-D float64 array; NaN/inf -> ValueError."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a number or a 1-D array of numbers, got bool")
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a number or a 1-D array of numbers, got {arr.dtype}")
    if arr.ndim > 1:
        raise ValueError(f"{name} must be a scalar or a 1-D array (one value per neuron), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got NaN/inf")
    if arr.ndim == 0:
        return float(arr)
    if arr.size == 0:
        raise ValueError(f"{name} must not be an empty array")
    out = np.array(arr, dtype=np.float64)
    out.flags.writeable = False
    return out


def _size(obj, names) -> int | None:
    sizes = {n: np.size(getattr(obj, n)) for n in names if isinstance(getattr(obj, n), np.ndarray)}
    if len(set(sizes.values())) > 1:
        desc = ", ".join(f"{k}={v}" for k, v in sizes.items())
        raise ValueError(f"parameter arrays must have the same length, got {desc}")
    return next(iter(sizes.values())) if sizes else None


def _eq(a, b, names) -> bool:
    return type(a) is type(b) and all(np.array_equal(getattr(a, n), getattr(b, n)) for n in names)


@dataclasses.dataclass(frozen=True, eq=False)
class LIFParams:
    """Leaky integrate-and-fire neuron with exponential current-based synapses.

    Parameters
    ----------
    tau_mem : float or array, ms
        Membrane time constant (> 0).
    tau_syn : float or array, ms
        Decay time constant of the synaptic current ``i_syn`` (> 0).
    v_rest : float or array
        Resting potential (mV or arbitrary units; ``v`` relaxes to ``v_rest + r x``).
    v_th : float or array
        Threshold; a spike is emitted when ``v >= v_th``. Must exceed ``v_reset``.
    v_reset : float or array
        Potential after a spike (``reset="zero"``); the subtracted amount is ``v_th - v_reset``
        for ``reset="subtract"``.
    t_ref : float or array, ms
        Absolute refractory period (>= 0), rounded to ``round(t_ref / dt)`` steps.
    r : float or array
        Membrane resistance: currents are multiplied by ``r`` (> 0).
    reset : {"zero", "subtract", "none"}
        What happens to ``v`` after a spike (see the module docstring).
    tau_syn_inh : float, array or None, ms
        Time constant of the second (inhibitory) current channel; ``None`` = ``tau_syn``.
    """

    tau_mem: float | np.ndarray = 20.0
    tau_syn: float | np.ndarray = 5.0
    v_rest: float | np.ndarray = 0.0
    v_th: float | np.ndarray = 1.0
    v_reset: float | np.ndarray = 0.0
    t_ref: float | np.ndarray = 0.0
    r: float | np.ndarray = 1.0
    reset: str = "zero"
    tau_syn_inh: float | np.ndarray | None = None

    _NUMERIC = ("tau_mem", "tau_syn", "v_rest", "v_th", "v_reset", "t_ref", "r", "tau_syn_inh")

    def __post_init__(self):
        for name in self._NUMERIC:
            value = getattr(self, name)
            if name == "tau_syn_inh" and value is None:
                continue
            object.__setattr__(self, name, _field(name, value))
        for name in ("tau_mem", "tau_syn", "r") + (("tau_syn_inh",) if self.tau_syn_inh is not None else ()):
            if np.any(np.asarray(getattr(self, name)) <= 0):
                raise ValueError(f"{name} must be > 0 (ms for time constants), got {getattr(self, name)}")
        if np.any(np.asarray(self.t_ref) < 0):
            raise ValueError(f"t_ref must be >= 0 ms, got {self.t_ref}")
        if np.any(np.asarray(self.v_th) <= np.asarray(self.v_reset)):
            raise ValueError(f"v_th must be > v_reset (got v_th={self.v_th}, v_reset={self.v_reset}); "
                             "raise v_th or lower v_reset")
        if self.reset not in _LIF_RESETS:
            raise ValueError(f"reset must be one of {', '.join(map(repr, _LIF_RESETS))}; got {self.reset!r}")
        _size(self, self._NUMERIC)

    # -- derived quantities -------------------------------------------------------------------
    def size(self) -> int | None:
        """Common length of the array-valued fields, or ``None`` when all are scalars."""
        return _size(self, self._NUMERIC)

    @property
    def tau_inh(self):
        """Time constant of the inhibitory channel (``tau_syn_inh`` or ``tau_syn``)."""
        return self.tau_syn if self.tau_syn_inh is None else self.tau_syn_inh

    def decay(self, dt: float):
        """Exact per-step decay factors ``(alpha_mem, alpha_syn) = exp(-dt / tau)``."""
        dt = _check_dt(dt)
        return np.exp(-dt / np.asarray(self.tau_mem)), np.exp(-dt / np.asarray(self.tau_syn))

    def n_ref(self, dt: float):
        """Refractory period in whole steps, ``round(t_ref / dt)`` (int or int array)."""
        dt = _check_dt(dt)
        steps = np.asarray(self.t_ref) / dt
        if np.any(steps > _MAX_REF_STEPS):
            raise ValueError(f"t_ref / dt = {np.max(steps):.3g} refractory steps (t_ref={np.max(self.t_ref):g} ms, "
                             f"dt={dt:g} ms) exceeds {_MAX_REF_STEPS}; use a larger dt")
        n = np.rint(steps).astype(np.int64)
        return int(n) if n.ndim == 0 else n

    def coefficients(self, dt: float) -> dict:
        """Per-step coefficients of the exact solution (arrays broadcast to the population).

        Over one step with the currents ``i_syn``, ``i_inh`` at the start and ``x`` constant::

            v'     = v_rest + r x + (v - v_rest - r x) a_m + k_e i_syn + k_i i_inh
            i_syn' = a_e i_syn ;  i_inh' = a_i i_inh
            k = r tau_s / (tau_s - tau_m) (a_s - a_m)   (tau_s != tau_m),  r (dt / tau_m) a_m otherwise

        Returns a dict with float64 entries ``a_m, a_e, a_i, k_e, k_i`` and int ``n_ref``.
        """
        dt = _check_dt(dt)
        tm = np.asarray(self.tau_mem, dtype=np.float64)
        a_m = np.exp(-dt / tm)
        out = {"a_m": a_m}
        for key, tau in (("e", self.tau_syn), ("i", self.tau_inh)):
            ts = np.asarray(tau, dtype=np.float64)
            a_s = np.exp(-dt / ts)
            same = np.isclose(ts, tm, rtol=1e-9, atol=0.0)
            with np.errstate(divide="ignore", invalid="ignore"):
                k = np.where(same, dt / tm * a_m, ts / np.where(same, 1.0, ts - tm) * (a_s - a_m))
            out["a_" + key] = a_s
            out["k_" + key] = np.asarray(self.r) * k
        out["n_ref"] = self.n_ref(dt)
        return out

    def __eq__(self, other):
        return _eq(self, other, self._NUMERIC + ("reset",))

    def __hash__(self):
        return hash(tuple(np.asarray(getattr(self, n)).tobytes() if n != "reset" else self.reset
                          for n in self._NUMERIC + ("reset",)))


def lif_max_dt(params: LIFParams) -> float:
    """Largest recommended step (ms) for exact LIF integration: ``min(tau_mem, tau_syn, tau_syn_inh) / 2``.

    The exact scheme never diverges; above this step the synaptic currents decay by more than
    ``exp(-2)`` within one step, so input timing and spike times are resolved poorly.
    """
    taus = [np.min(params.tau_mem), np.min(params.tau_syn), np.min(params.tau_inh)]
    return float(min(taus)) / 2.0


@dataclasses.dataclass(frozen=True, eq=False)
class IzhikevichParams:
    """Izhikevich (2003) simple model: ``v' = 0.04 v^2 + 5 v + 140 - u + I``, ``u' = a (b v - u)``.

    Parameters
    ----------
    a : float or array, 1/ms
        Recovery rate of ``u`` (> 0).
    b : float or array
        Sensitivity of ``u`` to ``v``.
    c : float or array, mV
        Reset potential after a spike (< ``v_peak``).
    d : float or array, mV/ms
        Jump of ``u`` after a spike.
    v_peak : float or array, mV
        Spike cut-off: a spike is emitted when ``v >= v_peak`` (30 mV in the paper).
    order : {"listing", "nest"}
        Floating-point order of ``0.04 v^2``: ``"listing"`` (default) computes ``0.04 (v v)`` as the
        2003 MATLAB listing (``0.04*v.^2``) and Brian2 do; ``"nest"`` computes ``(0.04 v) v`` as NEST's
        ``izhikevich`` model. The two differ in the last bit only, but at dt = 1 ms the map amplifies
        that (about tenfold per 10 ms on an upstroke): spikes agree for the first 60-100 ms, then
        move; rates agree. ``"nest"`` gives NEST's spikes exactly (``Network.to_nest``).

    Use :meth:`preset` (``"RS", "IB", "CH", "FS", "LTS", "TC", "RZ"``) for the published types.
    """

    a: float | np.ndarray = 0.02
    b: float | np.ndarray = 0.2
    c: float | np.ndarray = -65.0
    d: float | np.ndarray = 8.0
    v_peak: float | np.ndarray = 30.0
    order: str = "listing"

    _NUMERIC = ("a", "b", "c", "d", "v_peak")
    ORDERS = tuple(ORDER_CODES)

    def __post_init__(self):
        if not isinstance(self.order, str) or self.order not in self.ORDERS:
            raise ValueError(f"order must be one of {self.ORDERS} (the evaluation order of 0.04 v^2: 'listing' "
                             f"0.04 (v v), 'nest' (0.04 v) v), got {self.order!r}")
        for name in self._NUMERIC:
            object.__setattr__(self, name, _field(name, getattr(self, name)))
        if np.any(np.asarray(self.a) <= 0):
            raise ValueError(f"a must be > 0 (1/ms), got {self.a}")
        if np.any(np.asarray(self.c) >= np.asarray(self.v_peak)):
            raise ValueError(f"c must be < v_peak (got c={self.c}, v_peak={self.v_peak}); the reset must lie below the peak")
        _size(self, self._NUMERIC)

    def size(self) -> int | None:
        """Common length of the array-valued fields, or ``None`` when all are scalars."""
        return _size(self, self._NUMERIC)

    def coefficients(self, dt: float) -> dict:
        """Per-step constants of the two-half-step scheme (Izhikevich 2003, generalised to any ``dt``).

        With ``h = dt / 2``, one step with the current ``I`` held::

            v <- v + h (v2 v^2 + v1 v + v0 - u + I)     (twice, with the same u and I)
            u <- u + (dt a) (b v - u)
            v2, v1, v0 = 0.04, 5, 140 (the quadratic of dv/dt, 1/mV/ms, 1/ms, mV/ms)

        Returns a dict with float entries ``v2, v1, v0, h, dt`` (the same for every neuron;
        ``a``, ``b``, ``c``, ``d``, ``v_peak`` enter the update as they are).
        """
        dt = _check_dt(dt)
        v2, v1, v0 = IZHIKEVICH_QUADRATIC
        return {"v2": v2, "v1": v1, "v0": v0, "h": 0.5 * dt, "dt": dt}

    @classmethod
    def preset(cls, name: str, *, order: str = "listing") -> "IzhikevichParams":
        """One of the published cell types (Izhikevich 2003, Fig. 2); ``KeyError`` lists the names.

        ``order`` as in the class (``"nest"`` for NEST's floating-point order)."""
        key = str(name).upper()
        if key not in IZHIKEVICH_PRESETS:
            raise KeyError(f"unknown Izhikevich preset {name!r}; valid names: {', '.join(IZHIKEVICH_PRESETS)}")
        p = IZHIKEVICH_PRESETS[key]
        return p if order == p.order else dataclasses.replace(p, order=order)

    def __eq__(self, other):
        return _eq(self, other, self._NUMERIC + ("order",))

    def __hash__(self):
        return hash(tuple(np.asarray(getattr(self, n)).tobytes() for n in self._NUMERIC) + (self.order,))


RS = IzhikevichParams(0.02, 0.2, -65.0, 8.0)     #: regular spiking (excitatory)
IB = IzhikevichParams(0.02, 0.2, -55.0, 4.0)     #: intrinsically bursting
CH = IzhikevichParams(0.02, 0.2, -50.0, 2.0)     #: chattering
FS = IzhikevichParams(0.1, 0.2, -65.0, 2.0)      #: fast spiking (inhibitory)
LTS = IzhikevichParams(0.02, 0.25, -65.0, 2.0)   #: low-threshold spiking
TC = IzhikevichParams(0.02, 0.25, -65.0, 0.05)   #: thalamo-cortical
RZ = IzhikevichParams(0.1, 0.26, -65.0, 2.0)     #: resonator

#: name -> preset (Izhikevich 2003, Fig. 2)
IZHIKEVICH_PRESETS = {"RS": RS, "IB": IB, "CH": CH, "FS": FS, "LTS": LTS, "TC": TC, "RZ": RZ}


def _check_dt(dt) -> float:
    from neurosim._validation import check_positive

    return check_positive("dt", dt, unit="ms")


def _n_from(n, params, cls, name="n") -> int:
    from neurosim._validation import check_int

    if not isinstance(params, cls):
        raise TypeError(f"params must be {cls.__name__}, got {type(params).__name__}")
    size = params.size()
    if n is None:
        if size is None:
            raise ValueError(f"{name} is required when all parameters are scalars")
        return size
    n = check_int(name, n, min_value=1)
    if size is not None and size != n:
        raise ValueError(f"{name}={n} does not match the params arrays of length {size}")
    return n


def _initial(name: str, value, n: int, dtype, bytes_per_neuron: int) -> tuple[np.ndarray, np.dtype]:
    """``value`` (a number or an array [n]) broadcast into a new array [n] of ``dtype`` (validated)."""
    from neurosim._validation import as_float_array, check_dtype, check_memory

    dt = check_dtype("dtype", dtype)
    check_memory("n", n, bytes_per_neuron * dt.itemsize, "the neuron state")
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a number or an array of {n} numbers, got bool")
    a = as_float_array(name, value, dtype=np.float64)
    if np.ndim(value) == 0:
        a = a.reshape(())
    if a.ndim > 1 or (a.ndim == 1 and a.shape[0] != n):
        raise ValueError(f"{name} must be a number or an array of shape ({n},), got shape {a.shape}")
    out = np.empty(n, dtype=dt)
    out[:] = a
    return out, dt


class LIFState(NamedTuple):
    """LIF state: membrane ``v``, synaptic current ``i_syn`` (float arrays [N]) and ``refr``
    (int32 [N], refractory steps left)."""

    v: np.ndarray
    i_syn: np.ndarray
    refr: np.ndarray

    @classmethod
    def initial(cls, params: LIFParams, n: int | None = None, *, v0=None, dtype=np.float64) -> "LIFState":
        """Resting state (``v = v_rest`` or ``v0``, ``i_syn = 0``, not refractory) for ``n`` neurons."""
        n = _n_from(n, params, LIFParams)
        v, dt = _initial("v0", params.v_rest if v0 is None else v0, n, dtype, 3)
        return cls(v, np.zeros(n, dtype=dt), np.zeros(n, dtype=np.int32))


class IzhikevichState(NamedTuple):
    """Izhikevich state: membrane ``v`` (mV) and recovery ``u`` (float arrays [N])."""

    v: np.ndarray
    u: np.ndarray

    @classmethod
    def initial(cls, params: IzhikevichParams, n: int | None = None, *, v0=-65.0,
                dtype=np.float64) -> "IzhikevichState":
        """``v = v0`` (default -65 mV), ``u = b v0`` as in the 2003 listing."""
        n = _n_from(n, params, IzhikevichParams)
        v, dt = _initial("v0", v0, n, dtype, 2)
        u = np.empty(n, dtype=dt)
        u[:] = np.asarray(params.b) * v
        return cls(v, u)
