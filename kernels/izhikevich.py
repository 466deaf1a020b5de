"""Numba kernels for the Izhikevich (2003) simple model.

Model (v in mV, t in ms)::

    dv/dt = 0.04 v^2 + 5 v + 140 - u + I ;   du/dt = a (b v - u)
    if v >= v_peak:  v <- c,  u <- u + d

Integration (the 2003 ``spnet`` scheme generalised to any ``dt``): with ``h = dt / 2``::

    v <- v + h (0.04 v^2 + 5 v + 140 - u + I)      # first half step
    v <- v + h (0.04 v^2 + 5 v + 140 - u + I)      # second half step (same u, I)
    u <- u + dt a (b v - u)                         # one Euler step with the new v
    spike if v >= v_peak, then v <- c, u <- u + d

At ``dt = 1 ms`` this is, operation for operation, the listing in Izhikevich (2003): there the
threshold test comes first in the loop body (``fired = v >= 30``), which is the test at the end
of the previous iteration here; so a spike reported here at the end of step ``n`` (time
``(n+1) dt``) is reported by the listing one iteration later. Accurate for ``dt <= 1 ms``.

The update is evaluated in float64 and rounded to the state dtype (float32 or float64) once per
step. Kernels write into caller-allocated arrays and draw no random numbers.
"""
from __future__ import annotations

import numba
from numba import prange

from neurosim.config import NJIT, NJIT_PARALLEL

__all__ = ["izhikevich_integrate", "BLOCK"]

BLOCK = 2048


@numba.njit(**NJIT)
def _izhikevich_integrate(v, u, current, a, b, h, dt):
    """Two half steps of v and one step of u, without the reset (shared by every kernel).

    Evaluated in float64 for float32 states too (``* 1.0`` promotes exactly); the caller rounds
    the result to the storage dtype.
    """
    v = v * 1.0
    u = u * 1.0
    v = v + h * (0.04 * (v * v) + 5.0 * v + 140.0 - u + current)
    v = v + h * (0.04 * (v * v) + 5.0 * v + 140.0 - u + current)
    u = u + (dt * a) * (b * v - u)
    return v, u


@numba.njit(**NJIT)
def _izhikevich_update(v, u, current, a, b, c, d, v_peak, h, dt):
    """One step of one neuron; returns ``(v, u, spiked)``."""
    v, u = _izhikevich_integrate(v, u, current, a, b, h, dt)
    if v >= v_peak:
        return c, u + d, True
    return v, u, False


@numba.njit(**NJIT)
def _izhikevich_block(lo, hi, xs, v, u, a, b, c, d, v_peak, dt, spikes):
    """Time loop over neurons ``[lo, hi)``; see :func:`izhikevich_integrate`."""
    h = 0.5 * dt
    for t in range(xs.shape[0]):
        for i in range(lo, hi):
            vi, ui, s = _izhikevich_update(v[i], u[i], xs[t, i], a[i], b[i], c[i], d[i], v_peak[i], h, dt)
            v[i] = vi
            u[i] = ui
            spikes[t, i] = 1 if s else 0


@numba.njit(**NJIT_PARALLEL)
def izhikevich_integrate(xs, v, u, a, b, c, d, v_peak, dt, spikes):
    """Integrate ``T = xs.shape[0]`` steps in place, in parallel over blocks of ``BLOCK`` neurons.

    Parameters
    ----------
    xs : float [T, N]
        Input current per step (mV/ms in the model's units).
    v, u : float [N]
        State, updated in place.
    a, b, c, d, v_peak : float [N]
        Per-neuron parameters.
    dt : float
        Step in ms.
    spikes : uint8 [T, N]
        Output: 1 where a neuron spiked.

    For ``N <= BLOCK`` call ``_izhikevich_block(0, N, ...)`` directly (no thread start-up).
    """
    N = xs.shape[1]
    nb = (N + BLOCK - 1) // BLOCK
    for blk in prange(nb):
        _izhikevich_block(blk * BLOCK, min(N, (blk + 1) * BLOCK), xs, v, u, a, b, c, d, v_peak, dt, spikes)
