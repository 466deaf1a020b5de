"""NumPy-level Izhikevich step/run: validate, allocate, call ``neurosim.kernels.izhikevich``.

Per step of ``dt`` ms (the 2003 ``spnet`` scheme generalised; ``h = dt/2``)::

    v <- v + h (0.04 v^2 + 5 v + 140 - u + I)   (twice, same u and I)
    u <- u + dt a (b v - u)
    spike if v >= v_peak:  v <- c,  u <- u + d

At ``dt = 1`` this reproduces the published listing operation for operation (a spike reported
here at the end of step ``n`` is the listing's ``fired`` of iteration ``n + 2`` in its 1-based
``t``). For ``dt > 1 ms`` the quadratic term makes the scheme inaccurate: a warning names 1 ms.

Example
-------
>>> import numpy as np
>>> from neurosim.neurons import IzhikevichParams, IzhikevichState, izhikevich_run
>>> p = IzhikevichParams.preset("RS")
>>> spikes, state = izhikevich_run(np.full((1000, 1), 10.0), IzhikevichState.initial(p, 1), p, dt=0.5)
"""
from __future__ import annotations

import warnings

import numpy as np

from neurosim._validation import as_float_array, check_positive
from neurosim.kernels.izhikevich import (
    BLOCK, ORDER_CODES, IzhikevichCoefficients, _izhikevich_block, izhikevich_integrate,
)
from neurosim.neurons.lif import check_diverged
from neurosim.neurons.params import IZHIKEVICH_MAX_DT, IzhikevichParams, IzhikevichState, check_drive

__all__ = ["izhikevich_step", "izhikevich_run", "check_izhikevich_dt"]


def check_izhikevich_dt(dt: float) -> float:
    """Validate ``dt`` (> 0) and warn above 1 ms."""
    dt = check_positive("dt", dt, unit="ms")
    if dt > IZHIKEVICH_MAX_DT:
        warnings.warn(f"dt={dt} ms is outside the accurate range of the Izhikevich two-half-step scheme; "
                      f"use dt <= {IZHIKEVICH_MAX_DT:g} ms", stacklevel=3)
    return dt


def _check_state(state):
    if not isinstance(state, IzhikevichState):
        raise TypeError("state must be an IzhikevichState (use IzhikevichState.initial(params, n)), "
                        f"got {type(state).__name__}")
    v = as_float_array("state.v", state.v, ndim=1)
    u = as_float_array("state.u", state.u, dtype=v.dtype, ndim=1)
    if v.shape != u.shape:
        raise ValueError(f"state.v and state.u must have the same shape, got {v.shape} and {u.shape}")
    return IzhikevichState(v.copy(), u.copy())


def izhikevich_run(xs, state: IzhikevichState, params: IzhikevichParams, dt: float = 1.0):
    """Run ``T`` steps.

    Parameters
    ----------
    xs : array [T, N]
        Input current per step (time first).
    state : IzhikevichState
        Initial state (float32 or float64 arrays [N]); not modified.
    params : IzhikevichParams
        Scalars or arrays of length N.
    dt : float
        Step in ms (<= 1 ms recommended).

    Returns
    -------
    spikes : bool array [T, N]
    state : IzhikevichState
    """
    return _run(xs, state, params, dt, "xs")


def _run(xs, state, params, dt, _name):
    """``izhikevich_run`` with ``_name`` naming the drive in errors (``"x"`` for a single step)."""
    if not isinstance(params, IzhikevichParams):
        raise TypeError(f"params must be IzhikevichParams, got {type(params).__name__}")
    dt = check_izhikevich_dt(dt)
    st = _check_state(state)
    n = st.v.shape[0]
    xs = check_drive(xs, st.v.dtype, n, params, _name)
    cols = [np.ascontiguousarray(np.broadcast_to(np.asarray(getattr(params, f), dtype=st.v.dtype), (n,)))
            for f in ("a", "b", "c", "d", "v_peak")]
    spikes = np.zeros(xs.shape, dtype=np.uint8)
    k = IzhikevichCoefficients(**params.coefficients(dt))
    args = (xs, st.v, st.u, *cols, k, ORDER_CODES[params.order], spikes)
    if n > BLOCK:  # parallel over blocks of neurons
        izhikevich_integrate(*args)
    else:  # one block: the same loop without starting threads
        _izhikevich_block(0, n, *args)
    check_diverged(st, _name, "state.v")
    return spikes.view(bool), st


def izhikevich_step(x, state: IzhikevichState, params: IzhikevichParams, dt: float = 1.0):
    """One step: ``x`` [N]; returns ``(spikes [N] bool, new_state)`` (same kernel as the run)."""
    x = as_float_array("x", x, dtype=None, finite=True)
    if x.ndim != 1:
        raise ValueError(f"x must be 1-D (one current per neuron), got shape {x.shape}")
    spikes, st = _run(x[None, :], state, params, dt, "x")
    return spikes[0], st
