"""NumPy-level LIF step/run: validate, allocate, call ``neurosim.kernels.lif``.

Model and step order: see ``neurosim.neurons.params`` and ``neurosim.kernels.lif``. In short,
per step ``v <- v_inf + (v - v_inf) a_m + k_e i_syn`` with ``v_inf = v_rest + r x`` (exact
exponential integration, ``x`` held over the step), ``i_syn <- a_e i_syn``, spike when
``v >= v_th``, reset, and ``round(t_ref / dt)`` refractory steps with ``v`` held.

``lif_run`` runs the kernel's time loop over the same one-step update that ``lif_step`` uses;
both are pure: the input state is not modified, a new state is returned.

Example
-------
>>> import numpy as np
>>> from neurosim.neurons import LIFParams, LIFState, lif_run
>>> p = LIFParams(tau_mem=10.0, v_th=1.0, t_ref=2.0)
>>> spikes, state = lif_run(np.full((1000, 3), 1.5), LIFState.initial(p, 3), p, dt=0.1)
>>> spikes.shape
(1000, 3)
"""
from __future__ import annotations

import warnings

import numpy as np

from neurosim._validation import as_float_array, check_positive
from neurosim.kernels.lif import BLOCK, RESET_CODES, _lif_block, lif_integrate
from neurosim.neurons.params import LIFParams, LIFState, check_drive, lif_max_dt

__all__ = ["lif_step", "lif_run", "check_lif_dt", "check_diverged"]


def check_lif_dt(params: LIFParams, dt: float) -> float:
    """Validate ``dt`` and warn when it resolves the model poorly (names a recommended dt)."""
    dt = check_positive("dt", dt, unit="ms")
    max_dt = lif_max_dt(params)
    if dt > max_dt:
        warnings.warn(f"dt={dt} ms is coarse for these time constants (exact integration stays stable, but "
                      f"inputs and spike times are poorly resolved); use dt <= {max_dt:g} ms", stacklevel=3)
    steps = np.asarray(params.t_ref) / dt
    if np.any(np.abs(steps - np.rint(steps)) > 1e-6):
        warnings.warn(f"t_ref={params.t_ref} ms is not a multiple of dt={dt} ms; the refractory period is "
                      "rounded to whole steps; choose dt dividing t_ref", stacklevel=3)
    return dt


def _coef_arrays(params: LIFParams, n: int, dt: float, dtype):
    c = params.coefficients(dt)

    def full(x):
        return np.ascontiguousarray(np.broadcast_to(np.asarray(x, dtype=dtype), (n,)))

    return (full(params.v_rest), full(params.r), full(c["a_m"]), full(c["a_e"]), full(c["k_e"]),
            full(params.v_th), full(params.v_reset),
            np.ascontiguousarray(np.broadcast_to(np.asarray(c["n_ref"], dtype=np.int32), (n,))))


def _check_state(state, n_hint=None):
    if not isinstance(state, LIFState):
        raise TypeError(f"state must be a LIFState (use LIFState.initial(params, n)), got {type(state).__name__}")
    v = as_float_array("state.v", state.v, ndim=1)
    dtype = v.dtype
    i_syn = as_float_array("state.i_syn", state.i_syn, dtype=dtype, ndim=1)
    refr = np.asarray(state.refr)
    if refr.dtype.kind not in "iu":
        raise TypeError(f"state.refr must be an integer array, got {refr.dtype}")
    if not (v.shape == i_syn.shape == refr.shape):
        raise ValueError(f"state arrays must have the same shape, got v {v.shape}, i_syn {i_syn.shape}, "
                         f"refr {refr.shape}")
    if np.any(refr < 0):
        raise ValueError("state.refr must be >= 0 (refractory steps left)")
    return LIFState(v.copy(), i_syn.copy(), refr.astype(np.int32, copy=True))


def lif_run(xs, state: LIFState, params: LIFParams, dt: float):
    """Run ``T`` steps.

    Parameters
    ----------
    xs : array [T, N]
        External current per step (time first), held constant within a step.
    state : LIFState
        Initial state (arrays [N]; float32 or float64 sets the precision). Not modified.
    params : LIFParams
        Scalars or arrays of length N.
    dt : float
        Step in ms.

    Returns
    -------
    spikes : bool array [T, N]
    state : LIFState
        State after the last step.
    """
    return _run(xs, state, params, dt, "xs")


def _run(xs, state, params, dt, _name):
    """``lif_run`` with ``_name`` naming the drive in errors (``"x"`` for a single step)."""
    if not isinstance(params, LIFParams):
        raise TypeError(f"params must be LIFParams, got {type(params).__name__}")
    dt = check_lif_dt(params, dt)
    st = _check_state(state)
    n = st.v.shape[0]
    xs = check_drive(xs, st.v.dtype, n, params, _name)
    coef = _coef_arrays(params, n, dt, st.v.dtype)
    spikes = np.zeros(xs.shape, dtype=np.uint8)
    args = (xs, st.v, st.i_syn, st.refr, *coef, RESET_CODES[params.reset], spikes)
    if n > BLOCK:  # parallel over blocks of neurons
        lif_integrate(*args)
    else:  # one block: the same loop without starting threads
        _lif_block(0, n, *args)
    check_diverged(st, _name, "params.r")
    return spikes.view(bool), st


def check_diverged(state, *names) -> None:
    """``ValueError`` naming the inputs when finite inputs drove the state to NaN/inf (overflow)."""
    for field, arr in zip(state._fields, state):
        a = np.asarray(arr)
        if a.dtype.kind == "f" and a.size and not np.all(np.isfinite(a)):
            bad = int(a.size - np.count_nonzero(np.isfinite(a)))
            raise ValueError(f"the state diverged: state.{field} of {bad} neuron(s) overflowed to NaN/inf; "
                             f"the input is too large for {a.dtype} ({' / '.join(names)}): scale it down")


def lif_step(x, state: LIFState, params: LIFParams, dt: float):
    """One step: ``x`` [N] current; returns ``(spikes [N] bool, new_state)`` (same kernel as ``lif_run``)."""
    x = as_float_array("x", x, dtype=None, finite=True)
    if x.ndim != 1:
        raise ValueError(f"x must be 1-D (one current per neuron), got shape {x.shape}")
    spikes, st = _run(x[None, :], state, params, dt, "x")
    return spikes[0], st
