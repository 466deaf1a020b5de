"""Numba kernels for the Izhikevich (2003) simple model.

Model (v in mV, t in ms)::

    dv/dt = 0.04 v^2 + 5 v + 140 - u + I ;   du/dt = a (b v - u)
    if v >= v_peak:  v <- c,  u <- u + d

Integration (the 2003 ``spnet`` scheme generalised to any ``dt``), with the per-step constants
``k`` = :class:`IzhikevichCoefficients` from ``IzhikevichParams.coefficients(dt)``
(``v2, v1, v0 = 0.04, 5, 140``, ``h = dt / 2``)::

    v <- v + h (v2 v^2 + v1 v + v0 - u + I)     # first half step
    v <- v + h (v2 v^2 + v1 v + v0 - u + I)     # second half step (same u, I)
    u <- u + (dt a) (b v - u)                   # one Euler step with the new v
    spike if v >= v_peak, then v <- c, u <- u + d

``v2 v^2`` is evaluated in one of two orders (``IzhikevichParams.order``, the code
:data:`ORDER_CODES`): ``ORDER_LISTING`` ``v2 (v v)``, as the MATLAB listing's ``0.04*v.^2``, and
``ORDER_NEST`` ``(v2 v) v``, as NEST's ``izhikevich`` (``0.04 * V_m * V_m``). They differ in the
last bit, which the map amplifies at dt = 1 ms (spikes move after ~60-100 ms); the order makes
neurosim's spikes NEST's exactly.

At ``dt = 1 ms`` this is, operation for operation, the listing in Izhikevich (2003): there the
threshold test comes first in the loop body (``fired = v >= 30``), which is the test at the end
of the previous iteration here; so a spike reported here at the end of step ``n`` (time
``(n+1) dt``) is reported by the listing one iteration later. Accurate for ``dt <= 1 ms``.

One integrator, ``_izhikevich_integrate``, serves every kernel; it computes in the dtype of its
arguments. :func:`izhikevich_integrate` evaluates it in float64 and rounds the state to its
dtype (float32 or float64) once per step; in a network (:class:`IzhikevichPopulation`,
``neurosim.kernels.network``) it runs in the state dtype with ``k`` in that dtype: the same
operations in the same order, so float64 gives identical numbers and float32 computes in
float32 (twice the SIMD width). Kernels write into caller-allocated arrays and draw no random
numbers.
"""
from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np
from numba import prange

from neurosim.config import NJIT, NJIT_PARALLEL
from neurosim.kernels.network_kinds import (
    GROUP_CHANNEL, GROUP_HI, GROUP_LO, GROUP_MODE, NJIT_LOOP, REC_COL, REC_IDX, REC_VAR, get, register_population,
)

__all__ = ["izhikevich_integrate", "BLOCK", "IzhikevichCoefficients", "IzhikevichPopulation", "IZHIKEVICH_COEFFICIENTS",
           "VAR_V", "VAR_U", "ORDER_LISTING", "ORDER_NEST", "ORDER_CODES"]

BLOCK = 2048
#: evaluation order of ``v2 v^2``: ``v2 (v v)`` (the 2003 listing) or ``(v2 v) v`` (NEST); the ``GROUP_MODE`` of a group
ORDER_LISTING, ORDER_NEST = 0, 1
#: ``IzhikevichParams.order`` -> code
ORDER_CODES = {"listing": ORDER_LISTING, "nest": ORDER_NEST}


class IzhikevichCoefficients(NamedTuple):
    """Per-step constants of the scheme (``IzhikevichParams.coefficients(dt)``), in the evaluation dtype."""

    v2: float
    v1: float
    v0: float
    h: float
    dt: float


@numba.njit(**NJIT)
def _quadratic(v, k, order):
    """``v2 v^2`` in the group's order (:data:`ORDER_CODES`)."""
    if order == ORDER_NEST:
        return (k.v2 * v) * v
    return k.v2 * (v * v)


@numba.njit(**NJIT)
def _izhikevich_integrate(v, u, current, a, b, k, order):
    """Two half steps of v and one step of u, without the reset (the one integrator of the model)."""
    v = v + k.h * (_quadratic(v, k, order) + k.v1 * v + k.v0 - u + current)
    v = v + k.h * (_quadratic(v, k, order) + k.v1 * v + k.v0 - u + current)
    u = u + (k.dt * a) * (b * v - u)
    return v, u


@numba.njit(**NJIT)
def _izhikevich_update(v, u, current, a, b, c, d, v_peak, k, order):
    """One step of one neuron in float64 (``* 1.0`` promotes a float32 state exactly); returns
    ``(v, u, spiked)``, rounded by the caller to the storage dtype."""
    v, u = _izhikevich_integrate(v * 1.0, u * 1.0, current, a, b, k, order)
    if v >= v_peak:
        return c, u + d, True
    return v, u, False


@numba.njit(**NJIT)
def _izhikevich_block(lo, hi, xs, v, u, a, b, c, d, v_peak, k, order, spikes):
    """Time loop over neurons ``[lo, hi)``; see :func:`izhikevich_integrate`."""
    for t in range(xs.shape[0]):
        for i in range(lo, hi):
            vi, ui, s = _izhikevich_update(v[i], u[i], xs[t, i], a[i], b[i], c[i], d[i], v_peak[i], k, order)
            v[i] = vi
            u[i] = ui
            spikes[t, i] = 1 if s else 0


@numba.njit(**NJIT_PARALLEL)
def izhikevich_integrate(xs, v, u, a, b, c, d, v_peak, k, order, spikes):
    """Integrate ``T = xs.shape[0]`` steps in place, in parallel over blocks of ``BLOCK`` neurons.

    Parameters
    ----------
    xs : float [T, N]
        Input current per step (mV/ms in the model's units).
    v, u : float [N]
        State, updated in place.
    a, b, c, d, v_peak : float [N]
        Per-neuron parameters.
    k : IzhikevichCoefficients
        Per-step constants (float64), ``IzhikevichCoefficients(**params.coefficients(dt))``.
    order : int
        :data:`ORDER_LISTING` or :data:`ORDER_NEST` (``ORDER_CODES[params.order]``).
    spikes : uint8 [T, N]
        Output: 1 where a neuron spiked.

    For ``N <= BLOCK`` call ``_izhikevich_block(0, N, ...)`` directly (no thread start-up).
    """
    N = xs.shape[1]
    nb = (N + BLOCK - 1) // BLOCK
    for blk in prange(nb):
        _izhikevich_block(blk * BLOCK, min(N, (blk + 1) * BLOCK), xs, v, u, a, b, c, d, v_peak, k, order, spikes)


# ------------------------------------------------------------------------------ in a network
#: codes of the recordable variables (row ``REC_VAR`` of ``IzhikevichPopulation.rec``)
VAR_V, VAR_U = 0, 1
#: rows of ``IzhikevichPopulation.coef``: the parameters and the constant current ``i_ext``
IZHIKEVICH_COEFFICIENTS = ("a", "b", "c", "d", "v_peak", "i_ext")
P_A, P_B, P_C, P_D, P_V_PEAK, P_I_EXT = range(len(IZHIKEVICH_COEFFICIENTS))


class IzhikevichPopulation(NamedTuple):
    """The Izhikevich groups of a network, global ids ``start ...``, as ``izhikevich_population_step`` reads them.

    State ``v, u`` float [n]; ``coef`` float [len(IZHIKEVICH_COEFFICIENTS), n], rows ``P_A ...
    P_I_EXT`` (always read per neuron: Izhikevich groups are usually heterogeneous, one
    compiled variant); ``k`` the per-step constants in the state dtype; ``groups`` int64
    [G, GROUP_COLUMNS]; ``rec`` as in ``LIFPopulation`` (``VAR_V``, ``VAR_U``).
    """

    start: int
    v: np.ndarray
    u: np.ndarray
    coef: np.ndarray
    k: IzhikevichCoefficients
    groups: np.ndarray
    rec: np.ndarray


@numba.njit(**NJIT_LOOP)
def _izh_pass1(v, u, b0, b1, b2, x, c0, c1, c2, a, b, i_ext, k, order):
    """Deliver the inputs and integrate; the drive row ``x`` is read here, not through the ring.

    ``c0, c1, c2`` (0 or 1 in the state dtype) say which channel ``x`` goes to; ``b_c + x c_c``
    is exactly what the ring slot held when the drive was added to it after the synapses.
    """
    for i in range(v.shape[0]):
        xi = x[i]
        cur = get(i_ext, i) + (b0[i] + xi * c0) + (b1[i] + xi * c1)
        vi = v[i] + (b2[i] + xi * c2)
        b0[i] = 0
        b1[i] = 0
        b2[i] = 0
        vi, ui = _izhikevich_integrate(vi, u[i], cur, get(a, i), get(b, i), k, order)
        v[i] = vi
        u[i] = ui


@numba.njit(**NJIT_LOOP)
def _izh_pass2(lo, v, u, c, d, v_peak, spk, cnt):
    """Threshold and reset; appends the global ids of spiking neurons to ``spk``."""
    for i in range(v.shape[0]):
        if v[i] >= get(v_peak, i):
            v[i] = get(c, i)
            u[i] = u[i] + get(d, i)
            spk[cnt] = lo + i
            cnt += 1
    return cnt


@numba.njit(**NJIT_LOOP)
def izhikevich_population_step(p, buf, x, has_drive, direct, s, one, spk, cnt):
    """One network step of every Izhikevich group (see ``neurosim.kernels.network_kinds``).

    The drive row is read by the update itself (without drive: a row of zeros, weight 0).
    """
    groups = p.groups
    st = p.start
    v = p.v
    u = p.u
    coef = p.coef
    k = p.k
    zero = one - one
    for g in range(groups.shape[0]):
        lo = groups[g, GROUP_LO]
        hi = groups[g, GROUP_HI]
        a = lo - st
        z = hi - st
        ch = groups[g, GROUP_CHANNEL] if has_drive else -1
        _izh_pass1(v[a:z], u[a:z], buf[0, lo:hi], buf[1, lo:hi], buf[2, lo:hi], x[lo:hi], one if ch == 0 else zero,
                   one if ch == 1 else zero, one if ch == 2 else zero, coef[P_A, a:z], coef[P_B, a:z],
                   coef[P_I_EXT, a:z], k, groups[g, GROUP_MODE])
        cnt = _izh_pass2(lo, v[a:z], u[a:z], coef[P_C, a:z], coef[P_D, a:z], coef[P_V_PEAK, a:z], spk, cnt)
    return cnt


@numba.njit(**NJIT_LOOP)
def izhikevich_population_record(p, row, s):
    """Write the sampled variables into ``row``."""
    rec = p.rec
    for r in range(rec.shape[1]):
        i = rec[REC_IDX, r]
        row[rec[REC_COL, r]] = p.v[i] if rec[REC_VAR, r] == VAR_V else p.u[i]


@numba.njit(**NJIT_LOOP)
def izhikevich_population_end_call(p, steps_done):
    """Nothing to convert: the state is kept as it is."""


register_population(IzhikevichPopulation, step=izhikevich_population_step, record=izhikevich_population_record,
                    end_call=izhikevich_population_end_call)
