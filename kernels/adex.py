"""Numba kernels for the adaptive exponential integrate-and-fire neuron (AdEx; Brette & Gerstner 2005).

Model (ms, mV, pF, nS, pA; parameters in ``neurosim.neurons.adex.AdExParams``)::

    C dV/dt   = -g_L (V - E_L) + g_L Delta_T exp((V - V_T)/Delta_T) - w + I_ext + I_syn
    tau_w dw/dt = a (V - E_L) - w
    I_syn = g_e + g_i                              (synapse="current": g_e, g_i are currents, pA)
    I_syn = g_e (E_exc - V) + g_i (E_inh - V)      (synapse="conductance": g_e, g_i in nS)
    tau_syn dg_e/dt = -g_e ,  tau_syn_inh dg_i/dt = -g_i
    if V > V_peak:  V <- V_r,  w <- w + b,  then V held at V_r for n_ref = round(t_ref/dt) steps

Integration: forward Euler for ``(V, w)`` with both derivatives taken at the start of the step
(Brian2 ``method="euler"``, the scheme of the spec's measured anchors), exact exponential decay
for ``g_e, g_i``. One step of one neuron (``_adex_update``), with the per-step coefficients of
``AdExParams.coefficients(dt)`` (rows :data:`ADEX_COEFFICIENTS`)::

    g_e += inbox_e ; g_i += inbox_i           (synaptic input of this step, before integration)
    refractory (refr > 0):  V <- V_r ; w <- w + k_w (a (V_r - E_L) - w) ; refr -= 1 (a jump is discarded)
    otherwise:
        V  <- V + jump                        (a "v" synapse: instantaneous jump)
        xe = min((V - V_T) / Delta_T, x_cut)  (overflow guard, see below)
        V' = V + dt_c (-g_L (V - E_L) + g_L Delta_T exp(xe) - w + I_ext + I_syn(V))
        w' = w + k_w (a (V - E_L) - w)
        spike when V' > V_peak (strict, as Brian's examples), then V' <- V_r, w' <- w' + b, refr <- n_ref
    g_e <- a_e g_e ; g_i <- a_i g_i

``dt_c = dt / C``, ``k_w = dt / tau_w``. The exponential is evaluated at ``min(V, V_peak)`` like
NEST's ``aeif_*`` models (``x_cut = (V_peak - V_T) / Delta_T``, also capped at
:data:`EXP_ARG_MAX` = 40): ``V`` only exceeds ``V_peak`` after a jump input or an initial value
above it, and the step then crosses ``V_peak`` anyway; so the exponential never overflows (the
float32 limit is exp(88)), and no inf/NaN arises while ``V`` runs up to the cut-off.

Timing convention: as the network (``neurosim.kernels.network``): step ``m`` integrates
``(m dt, (m+1) dt]``, a spike found at its end is stamped ``(m+1) dt``. Brian2 stamps the same
spike ``m dt`` (it records the step's start), so spike times here are one ``dt`` later than
Brian's for the same trajectory.

Arithmetic is in the dtype of the state (the coefficient table has that dtype). Kernels write
into caller-allocated arrays and draw no random numbers. Numba only.
"""
from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from neurosim.config import NJIT
from neurosim.kernels.network_kinds import (
    GROUP_CHANNEL, GROUP_HI, GROUP_LO, GROUP_MODE, NJIT_LOOP, REC_COL, REC_IDX, REC_VAR, register_population,
)

__all__ = ["adex_integrate", "AdExPopulation", "ADEX_COEFFICIENTS", "EXP_ARG_MAX", "SYN_CURRENT", "SYN_CONDUCTANCE",
           "VAR_V", "VAR_W", "VAR_GE", "VAR_GI", "VAR_REFR"]

#: largest argument of the exponential term (exp(40) = 2.4e17: finite in float32 after scaling)
EXP_ARG_MAX = 40.0
#: ``GROUP_MODE`` codes: what ``g_e, g_i`` are
SYN_CURRENT, SYN_CONDUCTANCE = 0, 1
#: rows of the coefficient table (``AdExParams.coefficients(dt)`` plus the constant current ``i_ext``)
ADEX_COEFFICIENTS = ("dt_c", "g_l", "e_l", "v_t", "inv_delta_t", "gd", "x_cut", "k_w", "a", "b", "v_r", "v_peak",
                     "a_e", "a_i", "e_exc", "e_inh", "i_ext")
(C_DT_C, C_G_L, C_E_L, C_V_T, C_INV_DELTA_T, C_GD, C_X_CUT, C_K_W, C_A, C_B, C_V_R, C_V_PEAK, C_A_E, C_A_I, C_E_EXC,
 C_E_INH, C_I_EXT) = range(len(ADEX_COEFFICIENTS))


@numba.njit(**NJIT)
def _adex_update(v, w, ge, gi, refr, jump, i_in, cond, c, i, n_ref):
    """One step of neuron ``i`` (coefficients ``c[:, i]``); ``ge, gi`` already hold this step's input.

    ``i_in`` is the external current of the step (pA); ``cond`` true for conductance synapses.
    Returns ``(v, w, ge, gi, refr, spiked)``.
    """
    e_l = c[C_E_L, i]
    if refr > 0:
        v_r = c[C_V_R, i]
        w = w + c[C_K_W, i] * (c[C_A, i] * (v_r - e_l) - w)
        return v_r, w, ge * c[C_A_E, i], gi * c[C_A_I, i], refr - 1, False
    v = v + jump
    xe = min((v - c[C_V_T, i]) * c[C_INV_DELTA_T, i], c[C_X_CUT, i])
    if cond:
        i_syn = ge * (c[C_E_EXC, i] - v) + gi * (c[C_E_INH, i] - v)
    else:
        i_syn = ge + gi
    dv = -c[C_G_L, i] * (v - e_l) + c[C_GD, i] * np.exp(xe) - w + i_in + i_syn
    w_new = w + c[C_K_W, i] * (c[C_A, i] * (v - e_l) - w)
    v_new = v + c[C_DT_C, i] * dv
    ge = ge * c[C_A_E, i]
    gi = gi * c[C_A_I, i]
    if v_new > c[C_V_PEAK, i]:
        return c[C_V_R, i], w_new + c[C_B, i], ge, gi, n_ref, True
    return v_new, w_new, ge, gi, refr, False


@numba.njit(**NJIT)
def adex_integrate(xs, v, w, ge, gi, refr, coef, n_ref, cond, spikes):
    """Integrate ``T = xs.shape[0]`` steps of ``N`` unconnected neurons in place.

    Parameters
    ----------
    xs : float [T, N]
        External current per step (pA), added to ``coef[C_I_EXT]``.
    v, w, ge, gi : float [N]
        State (mV, pA, and pA or nS), updated in place.
    refr : int32 [N]
        Refractory steps left, updated in place.
    coef : float [len(ADEX_COEFFICIENTS), N]
        Per-neuron coefficients (same dtype as ``v``).
    n_ref : int32 [N]
        Refractory steps after a spike.
    cond : bool
        Conductance synapses (``ge``, ``gi`` in nS) instead of currents.
    spikes : uint8 [T, N]
        Output: 1 where a neuron spiked.
    """
    for t in range(xs.shape[0]):
        for i in range(v.shape[0]):
            x = xs[t, i]
            vi, wi, e, n, r, s = _adex_update(v[i], w[i], ge[i], gi[i], refr[i], x - x, coef[C_I_EXT, i] + x, cond,
                                              coef, i, n_ref[i])
            v[i] = vi
            w[i] = wi
            ge[i] = e
            gi[i] = n
            refr[i] = r
            spikes[t, i] = 1 if s else 0


# ------------------------------------------------------------------------------ in a network
#: codes of the recordable variables (row ``REC_VAR`` of ``AdExPopulation.rec``)
VAR_V, VAR_W, VAR_GE, VAR_GI, VAR_REFR = range(5)


class AdExPopulation(NamedTuple):
    """The AdEx groups of a network, global ids ``start ...``, as ``adex_population_step`` reads them.

    State ``v, w`` float [n]; ``g`` float [2, n] (row 0 ``g_e``, channel 0; row 1 ``g_i``,
    channel 1); ``refr`` int32 [n] (refractory steps left). ``coef`` float
    [len(ADEX_COEFFICIENTS), n] (always read per neuron); ``n_ref`` int32 [n]; ``groups`` int64
    [G, GROUP_COLUMNS] (``GROUP_MODE``: ``SYN_CURRENT`` or ``SYN_CONDUCTANCE``); ``rec`` as in
    ``LIFPopulation`` (``VAR_*``).
    """

    start: int
    v: np.ndarray
    w: np.ndarray
    g: np.ndarray
    refr: np.ndarray
    coef: np.ndarray
    n_ref: np.ndarray
    groups: np.ndarray
    rec: np.ndarray


@numba.njit(**NJIT_LOOP)
def _adex_group(a, z, lo, v, w, ge, gi, refr, coef, n_ref, b0, b1, b2, x, ch, cond, spk, cnt):
    """Neurons ``[a, z)`` of the population (global ids ``lo ...``): inbox, drive on channel ``ch``
    (-1: none), the update, the spike list."""
    for i in range(a, z):
        k = lo + i - a
        in_e = b0[k]
        in_i = b1[k]
        jump = b2[k]
        b0[k] = 0
        b1[k] = 0
        b2[k] = 0
        if ch == 0:  # the drive after the synapses, as if added to the ring slot (as LIF groups do)
            in_e += x[k]
        elif ch == 1:
            in_i += x[k]
        elif ch == 2:
            jump += x[k]
        e = ge[i] + in_e
        n = gi[i] + in_i
        vi, wi, e, n, r, s = _adex_update(v[i], w[i], e, n, refr[i], jump, coef[C_I_EXT, i], cond, coef, i,
                                          n_ref[i])
        v[i] = vi
        w[i] = wi
        ge[i] = e
        gi[i] = n
        refr[i] = r
        if s:
            spk[cnt] = k
            cnt += 1
    return cnt


@numba.njit(**NJIT_LOOP)
def adex_population_step(p, buf, x, has_drive, direct, s, one, spk, cnt):
    """One network step of every AdEx group (see ``neurosim.kernels.network_kinds``; never direct).

    The drive row ``x`` is added to the group's drive channel together with the inbox.
    """
    groups = p.groups
    st = p.start
    for g in range(groups.shape[0]):
        lo = groups[g, GROUP_LO]
        hi = groups[g, GROUP_HI]
        ch = groups[g, GROUP_CHANNEL] if has_drive else -1
        cnt = _adex_group(lo - st, hi - st, lo, p.v, p.w, p.g[0], p.g[1], p.refr, p.coef, p.n_ref, buf[0], buf[1],
                          buf[2], x, ch, groups[g, GROUP_MODE] != 0, spk, cnt)
    return cnt


@numba.njit(**NJIT_LOOP)
def adex_population_record(p, row, s):
    """Write the sampled variables into ``row``."""
    rec = p.rec
    for r in range(rec.shape[1]):
        i = rec[REC_IDX, r]
        var = rec[REC_VAR, r]
        col = rec[REC_COL, r]
        if var == VAR_V:
            row[col] = p.v[i]
        elif var == VAR_W:
            row[col] = p.w[i]
        elif var == VAR_GE:
            row[col] = p.g[0, i]
        elif var == VAR_GI:
            row[col] = p.g[1, i]
        else:
            row[col] = p.refr[i]


@numba.njit(**NJIT_LOOP)
def adex_population_end_call(p, steps_done):
    """Nothing to convert: ``refr`` counts steps left at all times."""


register_population(AdExPopulation, step=adex_population_step, record=adex_population_record,
                    end_call=adex_population_end_call)
