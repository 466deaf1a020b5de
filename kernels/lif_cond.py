"""Numba kernels for the leaky integrate-and-fire neuron with conductance-based synapses, in a network.

Model (``neurosim.neurons.lif_cond.CondLIFParams``; conductances in units of ``g_L``, ms, mV)::

    tau_mem dv/dt = (v_leak - v) + g_e (e_exc - v) + g_i (e_inh - v)     (v_leak = e_leak + r i_ext)
    tau_e dg_e/dt = -g_e ,  tau_i dg_i/dt = -g_i
    spike when v > v_th, then v <- v_reset; refractory: v held, the conductances keep going

One step of one neuron, with ``c_m = dt / tau_mem`` and the per-step decays ``a_e``, ``a_i``
(``CondLIFParams.coefficients``): the step's input is added to ``g_e``, ``g_i`` (channels
``CH_EXC``, ``CH_INH``) and ``jump`` to ``v`` (channel ``CH_V``), then, with
``D = (v_leak - v) + g_e (e_exc - v) + g_i (e_inh - v)``::

    EULER:        v' = v + c_m D                                 (Brian2 method="euler")
    EXPONENTIAL:  v' = v + c_m D phi(c_m (1 + g_e + g_i)),  phi(x) = (1 - exp(-x)) / x
                                                                 (Brian2 method="exponential_euler")
    g_e' = a_e g_e ,  g_i' = a_i g_i

A refractory neuron keeps ``v`` (its jump is discarded) while its conductances decay. Then the
threshold ``v' > v_th`` (strict, Brian's convention) of every neuron: a spike resets ``v`` to
``v_reset`` and sets ``refr = s + n_ref``; the neuron is refractory in step ``s'`` of the call while
``refr > s'``: ``v`` is held in steps ``s+1 ... s+n_ref-1`` and integrated from step ``s + n_ref``
(``n_ref`` from ``CondLIFParams.n_ref``: ``round(t_ref / dt)`` for the Brian2 convention).
Refractory neurons sit at ``v_reset < v_th``, so the threshold pass needs no refractory test.

With the step's conductances ``g`` the exponential scheme is the exact solution of the frozen
linear equation: ``v' = v_inf + (v - v_inf) exp(-x)``, ``v_inf = (v_leak + g_e e_exc + g_i e_inh) /
(1 + g_e + g_i)``, written as a scaled Euler step so that it stays finite for any total
conductance (also 0 or negative, which an unclipped Gaussian initial state can give).
``phi`` is the series ``1 - x/2 + x^2/6 - x^3/24 + x^4/120`` for ``|x| < PHI_SERIES`` (relative
error below 5e-10) and ``(1 - vexp(-x)) / x`` otherwise (``vexp``: vectorised in float32).

Layout and calling conventions as ``neurosim.kernels.lif`` (``LIFPopulation``): a branch-free
integration pass per group (``direct`` delivery supported: the conductances ``g`` take channels 0
and 1), then a threshold pass over blocks of ``SUB`` neurons that skips blocks without a crossing.
Arithmetic happens in the state dtype (float32 or float64). Numba only.
"""
from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np
from numba.extending import overload

from neurosim.config import NJIT
from neurosim.kernels.network_kinds import (
    CH_V, GROUP_CHANNEL, GROUP_HET, GROUP_HI, GROUP_LO, GROUP_MODE, NJIT_LOOP, REC_COL, REC_IDX, REC_VAR, any_crossing,
    get, register_population,
)
from neurosim.kernels.vexp import vexp

__all__ = ["EULER", "EXPONENTIAL", "INTEGRATION_CODES", "COND_LIF_COEFFICIENTS", "EulerConstants",
           "ExponentialConstants",
           "CondLIFPopulation", "cond_lif_constants", "VAR_V", "VAR_GE", "VAR_GI", "VAR_REFR", "PHI_SERIES", "SUB"]

#: integration scheme codes (``GROUP_MODE`` of a group)
EULER, EXPONENTIAL = 0, 1
#: ``CondLIFParams.integration`` -> code
INTEGRATION_CODES = {"euler": EULER, "exponential": EXPONENTIAL}
#: below this ``|x|`` the exponential scheme evaluates ``phi(x)`` by its series
PHI_SERIES = 0.05
#: neurons per block of the threshold pass
SUB = 256
#: codes of the recordable variables (row ``REC_VAR`` of ``CondLIFPopulation.rec``)
VAR_V, VAR_GE, VAR_GI, VAR_REFR = 0, 1, 2, 3
#: rows of ``CondLIFPopulation.coef``
COND_LIF_COEFFICIENTS = ("c_m", "a_e", "a_i", "v_leak", "e_exc", "e_inh", "v_th", "v_reset")
C_M, A_E, A_I, V_LEAK, E_EXC, E_INH, V_TH, V_RESET = range(len(COND_LIF_COEFFICIENTS))


class EulerConstants(NamedTuple):
    """Selects the Euler scheme at compile time; ``one`` is 1 in the state dtype."""

    one: float


class ExponentialConstants(NamedTuple):
    """Selects the exponential scheme at compile time, with its numbers in the state dtype (a literal
    would promote float32 to float64): ``one``, the series coefficients ``s2 = 1/2, s3 = 1/6,
    s4 = 1/24, s5 = 1/120`` of ``phi`` and ``x_small = PHI_SERIES``."""

    one: float
    s2: float
    s3: float
    s4: float
    s5: float
    x_small: float


def cond_lif_constants(dtype) -> tuple:
    """``(EulerConstants, ExponentialConstants)`` in ``dtype``."""
    t = np.dtype(dtype).type
    return (EulerConstants(t(1.0)),
            ExponentialConstants(t(1.0), t(0.5), t(1.0 / 6.0), t(1.0 / 24.0), t(1.0 / 120.0), t(PHI_SERIES)))


class CondLIFPopulation(NamedTuple):
    """The conductance LIF groups of a network, global ids ``start ...``.

    State: ``v`` float [n]; ``g`` float [2, n] (row 0 ``g_e``, channel 0; row 1 ``g_i``, channel 1);
    ``refr`` int32 [n] (refractory steps left between kernel calls; call-relative end steps inside
    a call). ``coef`` float [len(COND_LIF_COEFFICIENTS), n], rows ``C_M ... V_RESET``; ``n_ref``
    int32 [n]; ``k_euler``, ``k_exp`` the constants of the two schemes (:func:`cond_lif_constants`).
    ``groups`` int64 [G, GROUP_COLUMNS]
    (``GROUP_MODE``: the integration code); a homogeneous group reads its coefficients at its first
    neuron. ``rec`` int64 [3, R] as in ``LIFPopulation`` (``VAR_*``).
    """

    start: int
    v: np.ndarray
    g: np.ndarray
    refr: np.ndarray
    coef: np.ndarray
    n_ref: np.ndarray
    k_euler: EulerConstants
    k_exp: ExponentialConstants
    groups: np.ndarray
    rec: np.ndarray


@numba.njit(**NJIT)
def _drift(v, ge, gi, v_leak, e_exc, e_inh):
    """``D = (v_leak - v) + g_e (e_exc - v) + g_i (e_inh - v)`` (``tau_mem dv/dt``)."""
    return (v_leak - v) + ge * (e_exc - v) + gi * (e_inh - v)


@numba.njit(**NJIT)
def _phi(x, k):
    """``(1 - exp(-x)) / x`` (1 at 0), finite for every finite ``x``; branch-free (both sides are computed)."""
    series = k.one - x * (k.s2 - x * (k.s3 - x * (k.s4 - x * k.s5)))
    small = abs(x) < k.x_small
    xs = k.one if small else x  # no 0/0 in the unused lane
    full = np.true_divide(k.one - vexp(-xs), xs)  # numpy semantics: `/` tests for 0 and stays scalar
    return series if small else full


@numba.njit(**NJIT)
def _v_euler(v, ge, gi, c_m, v_leak, e_exc, e_inh, k):
    """One Euler step of ``v`` (Brian2 ``method="euler"``)."""
    return v + c_m * _drift(v, ge, gi, v_leak, e_exc, e_inh)


@numba.njit(**NJIT)
def _v_exponential(v, ge, gi, c_m, v_leak, e_exc, e_inh, k):
    """One exponential-Euler step of ``v`` (exact with the step's conductances)."""
    return v + (c_m * _drift(v, ge, gi, v_leak, e_exc, e_inh)) * _phi(c_m * (k.one + ge + gi), k)


def _v_step(k, v, ge, gi, c_m, v_leak, e_exc, e_inh):
    """One step of ``v`` by the scheme that the type of ``k`` selects (``EulerConstants`` or
    ``ExponentialConstants``; resolved at compile time under Numba, so each pass loop is specialised)."""
    if isinstance(k, ExponentialConstants):
        return _v_exponential(v, ge, gi, c_m, v_leak, e_exc, e_inh, k)
    return _v_euler(v, ge, gi, c_m, v_leak, e_exc, e_inh, k)


@overload(_v_step)
def _v_step_overload(k, v, ge, gi, c_m, v_leak, e_exc, e_inh):
    if getattr(k, "instance_class", None) is ExponentialConstants:
        return lambda k, v, ge, gi, c_m, v_leak, e_exc, e_inh: _v_exponential(v, ge, gi, c_m, v_leak, e_exc, e_inh, k)
    return lambda k, v, ge, gi, c_m, v_leak, e_exc, e_inh: _v_euler(v, ge, gi, c_m, v_leak, e_exc, e_inh, k)


@numba.njit(**NJIT_LOOP)
def _pass1(v, ge, gi, refr, b0, b1, b2, c_m, a_e, a_i, v_leak, e_exc, e_inh, k, s, direct):
    """Deliver the inputs and integrate every neuron of a group (refractory ones keep ``v``).

    ``k`` selects the scheme (:func:`_v_step`; one specialised loop each). ``direct`` as in
    ``neurosim.kernels.lif._lif_pass1``: 1, the conductances already hold
    this step's input (``b0``, ``b1`` not read); 2, besides, no jumps of ``v`` (``b2`` not read).
    A refractory neuron stores ``vo * one`` (exactly ``vo``): see ``_lif_pass1`` on masked stores.
    """
    one = k.one
    if direct == 2:
        for i in range(v.shape[0]):
            e = ge[i]
            n = gi[i]
            vo = v[i]
            vn = _v_step(k, vo, e, n, get(c_m, i), get(v_leak, i), get(e_exc, i), get(e_inh, i))
            v[i] = vo * one if refr[i] > s else vn
            ge[i] = e * get(a_e, i)
            gi[i] = n * get(a_i, i)
        return
    if direct:
        for i in range(v.shape[0]):
            e = ge[i]
            n = gi[i]
            vo = v[i]
            vj = vo + b2[i]
            b2[i] = 0
            vn = _v_step(k, vj, e, n, get(c_m, i), get(v_leak, i), get(e_exc, i), get(e_inh, i))
            v[i] = vo * one if refr[i] > s else vn
            ge[i] = e * get(a_e, i)
            gi[i] = n * get(a_i, i)
        return
    for i in range(v.shape[0]):
        e = ge[i] + b0[i]
        n = gi[i] + b1[i]
        vo = v[i]
        vj = vo + b2[i]
        b0[i] = 0
        b1[i] = 0
        b2[i] = 0
        vn = _v_step(k, vj, e, n, get(c_m, i), get(v_leak, i), get(e_exc, i), get(e_inh, i))
        v[i] = vo * one if refr[i] > s else vn
        ge[i] = e * get(a_e, i)
        gi[i] = n * get(a_i, i)


@numba.njit(**NJIT_LOOP)
def _pass2(lo, v, refr, v_th, v_reset, n_ref, s, spk, cnt):
    """Threshold ``v > v_th`` and reset; blocks of ``SUB`` neurons without a crossing are skipped
    after a vectorised test (spikes are rare)."""
    n = v.shape[0]
    for b0 in range(0, n, SUB):
        b1 = min(n, b0 + SUB)
        if not any_crossing(v, v_th, b0, b1, True):
            continue
        for i in range(b0, b1):
            if v[i] > get(v_th, i):
                v[i] = get(v_reset, i)
                refr[i] = s + get(n_ref, i)
                spk[cnt] = lo + i
                cnt += 1
    return cnt


@numba.njit(**NJIT_LOOP)
def _group_pass1(v, ge, gi, refr, b0, b1, b2, coef, a, z, het, k, s, direct):
    """``_pass1`` over one group: its coefficients ``coef[:, a:z]`` (or the scalars at ``a``)."""
    if het:
        _pass1(v, ge, gi, refr, b0, b1, b2, coef[C_M, a:z], coef[A_E, a:z], coef[A_I, a:z],
               coef[V_LEAK, a:z], coef[E_EXC, a:z], coef[E_INH, a:z], k, s, direct)
    else:
        _pass1(v, ge, gi, refr, b0, b1, b2, coef[C_M, a], coef[A_E, a], coef[A_I, a], coef[V_LEAK, a],
               coef[E_EXC, a], coef[E_INH, a], k, s, direct)


@numba.njit(**NJIT_LOOP)
def cond_lif_population_step(p, buf, x, has_drive, direct, s, one, spk, cnt):
    """One network step of every conductance LIF group (see ``neurosim.kernels.network_kinds``).

    The drive row ``x`` is added to each group's drive channel first (with ``direct``: channels 0
    and 1 straight into the conductances, after the synaptic input), then each group is updated.
    """
    groups = p.groups
    st = p.start
    g = p.g
    if has_drive:
        for q in range(groups.shape[0]):
            lo = groups[q, GROUP_LO]
            hi = groups[q, GROUP_HI]
            ch = groups[q, GROUP_CHANNEL]
            if direct and ch != CH_V:
                row = g[ch, lo - st:hi - st]
            else:
                row = buf[ch, lo:hi]
            for i in range(hi - lo):
                row[i] += x[lo + i]
    v = p.v
    refr = p.refr
    coef = p.coef
    n_ref = p.n_ref
    for q in range(groups.shape[0]):
        lo = groups[q, GROUP_LO]
        hi = groups[q, GROUP_HI]
        a = lo - st
        z = hi - st
        het = groups[q, GROUP_HET] != 0
        if groups[q, GROUP_MODE] == EXPONENTIAL:
            _group_pass1(v[a:z], g[0, a:z], g[1, a:z], refr[a:z], buf[0, lo:hi], buf[1, lo:hi], buf[2, lo:hi],
                         coef, a, z, het, p.k_exp, s, direct)
        else:
            _group_pass1(v[a:z], g[0, a:z], g[1, a:z], refr[a:z], buf[0, lo:hi], buf[1, lo:hi], buf[2, lo:hi],
                         coef, a, z, het, p.k_euler, s, direct)
        if het:
            cnt = _pass2(lo, v[a:z], refr[a:z], coef[V_TH, a:z], coef[V_RESET, a:z], n_ref[a:z], s, spk, cnt)
        else:
            cnt = _pass2(lo, v[a:z], refr[a:z], coef[V_TH, a], coef[V_RESET, a], n_ref[a], s, spk, cnt)
    return cnt


@numba.njit(**NJIT_LOOP)
def cond_lif_population_record(p, row, s):
    """Write the sampled variables into ``row`` (refractory steps left at step ``s`` of the call)."""
    rec = p.rec
    for r in range(rec.shape[1]):
        i = rec[REC_IDX, r]
        var = rec[REC_VAR, r]
        col = rec[REC_COL, r]
        if var == VAR_V:
            row[col] = p.v[i]
        elif var == VAR_GE:
            row[col] = p.g[0, i]
        elif var == VAR_GI:
            row[col] = p.g[1, i]
        else:
            row[col] = max(p.refr[i] - s, 0)


@numba.njit(**NJIT_LOOP)
def cond_lif_population_end_call(p, steps_done):
    """Call-relative end steps of the refractory periods back to steps left (the state kept)."""
    refr = p.refr
    for i in range(refr.shape[0]):
        r = refr[i] - steps_done
        refr[i] = r if r > 0 else 0


register_population(CondLIFPopulation, step=cond_lif_population_step, record=cond_lif_population_record,
                    end_call=cond_lif_population_end_call)
