"""Numba kernels for Hodgkin-Huxley neurons with Traub-Miles channels and exponential conductance synapses.

Model (Brette et al. 2007 benchmark 3; Brian2 ``examples/COBAHH.py``, NEST ``hh_cond_exp_traub``;
V in mV, t in ms, conductances in nS, C in pF, currents in pA)::

    C dV/dt = g_L (E_L - V) + g_Na m^3 h (E_Na - V) + g_K n^4 (E_K - V)
              + g_e (E_e - V) + g_i (E_i - V) + I_ext + I_syn
    dx/dt   = alpha_x(V) (1 - x) - beta_x(V) x          x in {m, h, n}
    dg_e/dt = -g_e / tau_e,   dg_i/dt = -g_i / tau_i

Traub-Miles rates (1/ms) with ``u = V - V_T``, the ratios written with ``exprel(y) = (e^y - 1)/y``
(:mod:`neurosim.kernels.hh_math`), so ``u = 13, 40, 15`` mV give the limits, not 0/0::

    alpha_m = 0.32 * 4 / exprel((13 - u) / 4)     beta_m = 0.28 * 5 / exprel((u - 40) / 5)
    alpha_h = 0.128 exp((17 - u) / 18)            beta_h = 4 / (1 + exp((40 - u) / 5))
    alpha_n = 0.032 * 5 / exprel((15 - u) / 5)    beta_n = 0.5 exp((10 - u) / 40)

Integration methods (per group, ``GROUP_MODE``):

``METHOD_EXP_EULER`` (Brian2's ``exponential_euler``, the benchmark's method): every variable is
advanced from the state at the start of the step, each equation solved exactly as linear in its
own variable with the others frozen::

    x' = x_inf + (x - x_inf) exp(-(alpha_x + beta_x) dt),   x_inf = alpha_x / (alpha_x + beta_x)
    V' = V + (dt / C) (I - G V) exprel(-G dt / C)            (= V_inf + (V - V_inf) e^{-G dt/C})
    G = g_L + g_Na m^3 h + g_K n^4 + g_e + g_i,   I = g_L E_L + ... + g_i E_i + I_ext + I_syn

  Gates stay in [0, 1] for any dt (a convex combination of x and x_inf) and V between its
  start and V_inf; first order in dt (Brian2 measured 37.3 Hz at dt = 0.1 ms against ~41 Hz for
  dt -> 0 on COBAHH).
``METHOD_RK4``: classical Runge-Kutta on (V, m, h, n) with the conductances' exact decay at the
  stages (``g(t + dt/2) = g sqrt(a)``); fourth order, but explicit: it diverged at dt = 0.08 ms
  during spikes (``neurosim.neurons.hh.HH_MAX_DT``). Gates are not guaranteed to stay in [0, 1].

Spike detection, no reset: a spike is emitted at step ``s`` when V rises through ``v_th``
during the step (``V <= v_th < V'``) and no spike was emitted in the ``n_ref - 1`` steps
before (``n_ref = round(t_ref / dt)``; Brian2's ``refractory`` without ``unless refractory``:
detection only, V is never clamped). Brian2 tests the level ``V > v_th`` instead of the
crossing; the two count the same spikes whenever V spends less than ``t_ref`` above ``v_th``
per action potential (< 1 ms of the 3 ms in COBAHH).

Inputs (channels of ``neurosim.kernels.network_kinds``): ``CH_EXC`` adds to ``g_e`` and
``CH_INH`` to ``g_i`` (nS; a spike of step ``m - 1`` acts from step ``m``, Brian2's order);
``CH_V`` is a current ``I_syn`` (pA) held for one step (the HH counterpart of a jump of V:
``I dt / C`` mV of charge).

In a network the HH groups form one :class:`HHPopulation`; :func:`hh_population_step` runs a
branch-free, vectorised pass over each group (inputs, integration, crossing flags: ``exp`` is
:func:`exp_parts` arithmetic, no libm call), then a threshold pass that scans only the blocks of
``SUB`` neurons with a crossing. :func:`hh_integrate` runs the same passes over a drive array
(single neurons, tests). Arithmetic is in the state dtype (float32 or float64). The exponential
Euler pass of a homogeneous group (scalar coefficients, the benchmark) vectorises (AVX-512:
8 float64 / 16 float32 neurons per instruction). A heterogeneous group (array parameters or a
per-neuron ``i_ext``; :func:`coef_at` reads its column of the coefficient table) and RK4 run the
same arithmetic one neuron at a time (LLVM does not vectorise those loops; several times slower).
"""
from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from neurosim.config import NJIT
from neurosim.kernels.hh_math import exp_parts, exprel, select
from neurosim.kernels.network_kinds import (
    GROUP_CHANNEL, GROUP_HET, GROUP_HI, GROUP_LO, GROUP_MODE, NJIT_LOOP, REC_COL, REC_IDX, REC_VAR, get,
    register_population,
)

__all__ = ["METHOD_EXP_EULER", "METHOD_RK4", "METHOD_CODES", "HH_COEFFICIENTS", "HHCoefficients", "HHPopulation",
           "hh_rates", "hh_integrate", "VAR_V", "VAR_M", "VAR_H", "VAR_N", "VAR_GE", "VAR_GI", "SUB"]

#: flags of the HH passes: the network loop's (no reference counting), with NumPy's error model:
#: a division by zero gives inf/NaN instead of a branch that raises ``ZeroDivisionError``, so the
#: loop has no exit and LLVM vectorises it (the divisions here never divide by zero: see the docstrings)
NJIT_VEC = {**NJIT_LOOP, "error_model": "numpy"}
METHOD_EXP_EULER, METHOD_RK4 = 0, 1
#: method name (``HHParams.method``) -> ``GROUP_MODE`` code
METHOD_CODES = {"exponential_euler": METHOD_EXP_EULER, "rk4": METHOD_RK4}
#: neurons per block of the threshold pass (blocks without a crossing are skipped)
SUB = 256
#: codes of the recordable variables (row ``REC_VAR`` of ``HHPopulation.rec``)
VAR_V, VAR_M, VAR_H, VAR_N, VAR_GE, VAR_GI = range(6)
#: rows of ``HHPopulation.coef`` (``HHParams.coefficients(dt)`` plus the constant current ``i_ext``)
HH_COEFFICIENTS = ("g_l", "e_l", "g_na", "e_na", "g_k", "e_k", "v_t", "kc", "e_exc", "e_inh", "a_e", "a_i", "i_ext",
                   "v_th")
(G_L, E_L, G_NA, E_NA, G_K, E_K, V_T, KC, E_EXC, E_INH, A_E, A_I, I_EXT, V_TH) = range(len(HH_COEFFICIENTS))


class HHCoefficients(NamedTuple):
    """One neuron's (or one homogeneous group's) coefficients: scalars, or arrays read at ``i``.

    ``kc = dt / C`` (mV per pA), ``a_e = exp(-dt / tau_e)``, ``a_i = exp(-dt / tau_i)``; the
    others as in ``HHParams`` (nS, mV, pA).
    """

    g_l: float
    e_l: float
    g_na: float
    e_na: float
    g_k: float
    e_k: float
    v_t: float
    kc: float
    e_exc: float
    e_inh: float
    a_e: float
    a_i: float
    i_ext: float
    v_th: float


def _make_rates(F, jit):
    """The six Traub-Miles rates at ``u = V - V_T`` with constants of dtype ``F`` (no promotion);
    ``jit``: for Numba (else the select is plain Python, so NumPy scalars keep their dtype)."""
    sel = select if jit else getattr(select, "py_func", select)
    c_am, c_bm, c_ah, c_bh, c_an, c_bn = F(0.32 * 4.0), F(0.28 * 5.0), F(0.128), F(4.0), F(0.032 * 5.0), F(0.5)
    u_am, u_bm, u_ah, u_an, u_bn = F(13.0), F(40.0), F(17.0), F(15.0), F(10.0)
    q4, q5, q18, q40 = F(0.25), F(0.2), F(1.0 / 18.0), F(0.025)
    one = F(1.0)
    big = F(1e30)

    def rates(u):
        """``(alpha_m, beta_m, alpha_h, beta_h, alpha_n, beta_n)`` in 1/ms."""
        am = c_am / exprel((u_am - u) * q4)
        z = (u - u_bm) * q5                      # beta_m and beta_h share e^z
        s, q = exp_parts(z)
        ez = s * q + s
        nz = z != 0
        bm = c_bm * sel(nz, z, one) / sel(nz, s * q + (s - one), one)
        bh = c_bh * sel(ez > big, one, ez / (ez + one))  # = 4 / (1 + e^{-z}), without 4 e^z or inf / inf
        sa, qa = exp_parts((u_ah - u) * q18)
        ah = c_ah * (sa * qa + sa)
        an = c_an / exprel((u_an - u) * q5)
        sb, qb = exp_parts((u_bn - u) * q40)
        bn = c_bn * (sb * qb + sb)
        return am, bm, ah, bh, an, bn

    return rates


_RATES64 = _make_rates(np.float64, False)
_RATES32 = _make_rates(np.float32, False)


def hh_rates(u):
    """Traub-Miles rates (1/ms) at ``u = V - V_T`` (mV), in the dtype of ``u`` (a NumPy/Numba scalar)."""
    return (_RATES32 if isinstance(u, np.float32) else _RATES64)(u)


@numba.extending.overload(hh_rates, inline="always")
def _hh_rates_overload(u):
    if u == numba.types.float32:
        return _make_rates(np.float32, True)
    if u == numba.types.float64:
        return _make_rates(np.float64, True)
    return None


@numba.njit(inline="always", **NJIT_VEC)
def _gate_ee(x, a, b, dt):
    """Exponential-Euler step of a gate: ``x_inf + (x - x_inf) exp(-(a + b) dt)``."""
    r = a + b
    s, q = exp_parts(-r * dt)
    xinf = a / r
    return xinf + (x - xinf) * (s * q + s)


@numba.njit(inline="always", **NJIT_VEC)
def _hh_exp_euler(v, m, h, n, ge, gi, cur, k, dt):
    """One exponential-Euler step of one neuron (``k``: its coefficients); returns ``(v, m, h, n)``."""
    am, bm, ah, bh, an, bn = hh_rates(v - k.v_t)
    gna = k.g_na * (m * m * m * h)
    n2 = n * n
    gk = k.g_k * (n2 * n2)
    g = k.g_l + gna + gk + ge + gi
    i = k.g_l * k.e_l + gna * k.e_na + gk * k.e_k + ge * k.e_exc + gi * k.e_inh + cur
    vn = v + k.kc * (i - g * v) * exprel(-g * k.kc)
    return vn, _gate_ee(m, am, bm, dt), _gate_ee(h, ah, bh, dt), _gate_ee(n, an, bn, dt)


@numba.njit(inline="always", **NJIT_VEC)
def _hh_deriv(v, m, h, n, ge, gi, cur, k, dt):
    """Increments ``dt f(V, m, h, n)`` of the ODE (V in mV, gates dimensionless)."""
    am, bm, ah, bh, an, bn = hh_rates(v - k.v_t)
    n2 = n * n
    i = (k.g_l * (k.e_l - v) + k.g_na * (m * m * m * h) * (k.e_na - v) + k.g_k * (n2 * n2) * (k.e_k - v)
         + ge * (k.e_exc - v) + gi * (k.e_inh - v) + cur)
    return k.kc * i, dt * (am - (am + bm) * m), dt * (ah - (ah + bh) * h), dt * (an - (an + bn) * n)


@numba.njit(inline="always", **NJIT_VEC)
def _hh_rk4(v, m, h, n, ge, gi, cur, k, dt):
    """One classical RK4 step of one neuron; conductances decay exactly between the stages."""
    half = dt / (dt + dt)  # 0.5 in the state dtype
    sixth = half / (half + half + half) * half  # fl(1/3) / 2 = fl(1/6)
    ge2 = ge * np.sqrt(k.a_e)
    gi2 = gi * np.sqrt(k.a_i)
    v1, m1, h1, n1 = _hh_deriv(v, m, h, n, ge, gi, cur, k, dt)
    v2, m2, h2, n2 = _hh_deriv(v + half * v1, m + half * m1, h + half * h1, n + half * n1, ge2, gi2, cur, k, dt)
    v3, m3, h3, n3 = _hh_deriv(v + half * v2, m + half * m2, h + half * h2, n + half * n2, ge2, gi2, cur, k, dt)
    v4, m4, h4, n4 = _hh_deriv(v + v3, m + m3, h + h3, n + n3, ge * k.a_e, gi * k.a_i, cur, k, dt)
    two = half + half + half + half  # 2 in the state dtype (half * 4 would be float64 under Numba)
    return (v + sixth * (v1 + two * (v2 + v3) + v4), m + sixth * (m1 + two * (m2 + m3) + m4),
            h + sixth * (h1 + two * (h2 + h3) + h4), n + sixth * (n1 + two * (n2 + n3) + n4))


def coef_at(k, i):
    """The coefficients of neuron ``i``: ``k`` itself for a homogeneous group (an
    :class:`HHCoefficients` of scalars), else ``k = (coef, a)`` with ``coef`` the population's
    2-D coefficient table and ``a`` the group's first column."""
    if isinstance(k, HHCoefficients):
        return k
    c, a = k
    j = a + i
    return HHCoefficients(c[G_L, j], c[E_L, j], c[G_NA, j], c[E_NA, j], c[G_K, j], c[E_K, j], c[V_T, j], c[KC, j],
                          c[E_EXC, j], c[E_INH, j], c[A_E, j], c[A_I, j], c[I_EXT, j], c[V_TH, j])


@numba.extending.overload(coef_at, inline="always")
def _coef_at_overload(k, i):
    if isinstance(k, numba.types.BaseNamedTuple):
        return lambda k, i: k

    def impl(k, i):
        c, a = k
        j = a + i
        return HHCoefficients(c[G_L, j], c[E_L, j], c[G_NA, j], c[E_NA, j], c[G_K, j], c[E_K, j], c[V_T, j],
                              c[KC, j], c[E_EXC, j], c[E_INH, j], c[A_E, j], c[A_I, j], c[I_EXT, j], c[V_TH, j])
    return impl


@numba.njit(**NJIT_VEC)
def _hh_pass1(v, m, h, n, ge, gi, cross, b0, b1, b2, x, c0, c1, c2, k, dt, method, one):
    """Deliver the inputs, integrate every neuron, flag the crossings of ``v_th`` (branch-free).

    ``b0, b1, b2``: this step's inbox rows (cleared here); ``x`` the drive row, added to the
    channel whose ``c`` is 1 (all 0 without drive); ``k`` the coefficients (see :func:`coef_at`).
    ``cross[i]`` is 1 where V rose through ``v_th`` during the step, else 0.
    """
    zero = one - one
    for i in range(v.shape[0]):
        ki = coef_at(k, i)
        xi = x[i]
        e = ge[i] + (b0[i] + xi * c0)
        g = gi[i] + (b1[i] + xi * c1)
        cur = ki.i_ext + (b2[i] + xi * c2)
        b0[i] = 0
        b1[i] = 0
        b2[i] = 0
        vo = v[i]
        if method == METHOD_EXP_EULER:
            vn, mn, hn, nn = _hh_exp_euler(vo, m[i], h[i], n[i], e, g, cur, ki, dt)
        else:
            vn, mn, hn, nn = _hh_rk4(vo, m[i], h[i], n[i], e, g, cur, ki, dt)
        v[i] = vn
        m[i] = mn
        h[i] = hn
        n[i] = nn
        ge[i] = e * ki.a_e
        gi[i] = g * ki.a_i
        cross[i] = one if (vo <= ki.v_th) & (vn > ki.v_th) else zero


@numba.njit(**NJIT_LOOP)
def _hh_pass2(lo, cross, refr, n_ref, s, spk, cnt):
    """Spikes: crossings outside the detection refractory period (``refr[i] <= s``); a spike at
    call step ``s`` sets ``refr = s + n_ref``. Blocks of ``SUB`` neurons without a crossing are skipped."""
    nn = cross.shape[0]
    for c0 in range(0, nn, SUB):
        c1 = min(nn, c0 + SUB)
        cb = cross[c0:c1]  # indexed from 0 (see network_kinds.any_crossing: no gathers)
        hit = False
        for i in range(cb.shape[0]):
            hit |= cb[i] != 0
        if not hit:
            continue
        for i in range(c0, c1):
            if cross[i] != 0 and refr[i] <= s:
                refr[i] = s + get(n_ref, i)
                spk[cnt] = lo + i
                cnt += 1
    return cnt


# ------------------------------------------------------------------------------ in a network
class HHPopulation(NamedTuple):
    """The HH groups of a network, global ids ``start ...``, as :func:`hh_population_step` reads them.

    State ``v, m, h, n`` float [n]; ``g_syn`` float [2, n] (row 0 ``g_e``, row 1 ``g_i``, nS);
    ``cross`` float [n] (scratch: the crossing flags of the current step); ``refr`` int32 [n]
    (between calls: steps until detection is possible again; inside a call: the call step from
    which it is). ``coef`` float [len(HH_COEFFICIENTS), n], rows ``G_L ... V_TH``; ``n_ref`` int32
    [n]; ``dt`` the step (ms) in the state dtype. ``groups`` (``GROUP_MODE``: the method code) and
    ``rec`` (``VAR_*``) as in ``LIFPopulation``; a homogeneous group reads its coefficients at its
    first neuron only.
    """

    start: int
    v: np.ndarray
    m: np.ndarray
    h: np.ndarray
    n: np.ndarray
    g_syn: np.ndarray
    cross: np.ndarray
    refr: np.ndarray
    coef: np.ndarray
    n_ref: np.ndarray
    dt: float
    groups: np.ndarray
    rec: np.ndarray


@numba.njit(**NJIT_LOOP)
def _hh_group(p, buf, x, a, z, lo, hi, het, method, ch, one, s, spk, cnt):
    """Both passes over one group (population indices ``[a, z)``, global ids ``[lo, hi)``)."""
    zero = one - one
    c = p.coef
    c0 = one if ch == 0 else zero
    c1 = one if ch == 1 else zero
    c2 = one if ch == 2 else zero
    args = (p.v[a:z], p.m[a:z], p.h[a:z], p.n[a:z], p.g_syn[0, a:z], p.g_syn[1, a:z], p.cross[a:z], buf[0, lo:hi],
            buf[1, lo:hi], buf[2, lo:hi], x[lo:hi], c0, c1, c2)
    if het:
        _hh_pass1(*args, (c, a), p.dt, method, one)
        return _hh_pass2(lo, p.cross[a:z], p.refr[a:z], p.n_ref[a:z], s, spk, cnt)
    k = HHCoefficients(c[G_L, a], c[E_L, a], c[G_NA, a], c[E_NA, a], c[G_K, a], c[E_K, a], c[V_T, a], c[KC, a],
                       c[E_EXC, a], c[E_INH, a], c[A_E, a], c[A_I, a], c[I_EXT, a], c[V_TH, a])
    _hh_pass1(*args, k, p.dt, method, one)
    return _hh_pass2(lo, p.cross[a:z], p.refr[a:z], p.n_ref[a], s, spk, cnt)


@numba.njit(**NJIT_LOOP)
def hh_population_step(p, buf, x, has_drive, direct, s, one, spk, cnt):
    """One network step of every HH group (see ``neurosim.kernels.network_kinds``; never direct).

    The drive row is read by the update itself (without drive: a row of zeros, weight 0).
    """
    groups = p.groups
    st = p.start
    for g in range(groups.shape[0]):
        lo = groups[g, GROUP_LO]
        hi = groups[g, GROUP_HI]
        ch = groups[g, GROUP_CHANNEL] if has_drive else -1
        cnt = _hh_group(p, buf, x, lo - st, hi - st, lo, hi, groups[g, GROUP_HET] != 0, groups[g, GROUP_MODE], ch,
                        one, s, spk, cnt)
    return cnt


@numba.njit(**NJIT_LOOP)
def hh_population_record(p, row, s):
    """Write the sampled variables into ``row``."""
    rec = p.rec
    for r in range(rec.shape[1]):
        i = rec[REC_IDX, r]
        var = rec[REC_VAR, r]
        col = rec[REC_COL, r]
        if var == VAR_V:
            row[col] = p.v[i]
        elif var == VAR_M:
            row[col] = p.m[i]
        elif var == VAR_H:
            row[col] = p.h[i]
        elif var == VAR_N:
            row[col] = p.n[i]
        elif var == VAR_GE:
            row[col] = p.g_syn[0, i]
        else:
            row[col] = p.g_syn[1, i]


@numba.njit(**NJIT_LOOP)
def hh_population_end_call(p, steps_done):
    """Call-relative detection end steps back to steps left (the state kept between calls)."""
    refr = p.refr
    for i in range(refr.shape[0]):
        r = refr[i] - steps_done
        refr[i] = r if r > 0 else 0


register_population(HHPopulation, step=hh_population_step, record=hh_population_record,
                    end_call=hh_population_end_call)


# ------------------------------------------------------------------------------ standalone run
@numba.njit(**NJIT)
def hh_integrate(xs, v, m, h, n, g_syn, refr, coef, n_ref, dt, method, spikes):
    """Integrate ``T = xs.shape[0]`` steps of ``N`` independent neurons in place (the network passes).

    Parameters
    ----------
    xs : float [T, N]
        Injected current per step (pA), held over the step (channel ``CH_V``).
    v, m, h, n : float [N]
        State, updated in place.
    g_syn : float [2, N]
        ``g_e``, ``g_i`` (nS), decaying; updated in place.
    refr : int32 [N]
        Steps until a spike can be detected again; updated in place.
    coef : float [len(HH_COEFFICIENTS), N]
        Per-neuron coefficients (same dtype as ``v``).
    n_ref : int32 [N]
        Detection refractory period in steps.
    dt : float
        Step (ms), in the state dtype.
    method : int
        ``METHOD_EXP_EULER`` or ``METHOD_RK4``.
    spikes : uint8 [T, N]
        Output: 1 where a neuron spiked.
    """
    N = v.shape[0]
    one = dt / dt
    zero = one - one
    cross = np.zeros(N, dtype=v.dtype)
    inbox = np.zeros((3, N), dtype=v.dtype)
    spk = np.zeros(max(N, 1), dtype=np.int32)
    k = (coef, 0)
    for t in range(xs.shape[0]):
        _hh_pass1(v, m, h, n, g_syn[0], g_syn[1], cross, inbox[0], inbox[1], inbox[2], xs[t], zero, zero, one, k,
                  dt, method, one)
        cnt = _hh_pass2(0, cross, refr, n_ref, np.int32(t), spk, 0)
        for q in range(cnt):
            spikes[t, spk[q]] = 1
    for i in range(N):
        r = refr[i] - xs.shape[0]
        refr[i] = r if r > 0 else 0
