"""Numba kernels of the short-term plasticity (Tsodyks-Markram) projection of a network.

Each synapse scales its weight by the efficacy of the presynaptic spike (SIMULATION.md §5);
``Delta`` is the time since the synapse's previous presynaptic spike. Two models (per rule):

``MODEL_TSODYKS2`` (two states; NEST ``tsodyks2_synapse``, Brian2 Stimberg et al. 2018 COBA)::

    x_n = 1 + (x_{n-1} - u_{n-1} x_{n-1} - 1) exp(-Delta / tau_rec)
    u_n = U + u_{n-1} (1 - U) exp(-Delta / tau_fac)          (tau_fac = 0: u_n = U)
    transmitted: w u_n x_n ;   first spike: x_1 = 1, u_1 = U

``MODEL_TSODYKS`` (three states x recovered, y active, z = 1 - x - y inactive; NEST
``tsodyks_synapse``; exact propagation between spikes, ``y`` decays with ``tau_psc``)::

    u <- u exp(-Delta / tau_fac) (0 when tau_fac = 0) ;  x <- x + P_xy y + (1 - exp(-Delta / tau_rec)) z ;
    y <- y exp(-Delta / tau_psc) ;  u <- u + U (1 - u) ;  transmitted: w u x ;  y <- y + u x ;  x <- x - u x
    P_xy = ((exp(-Delta / tau_rec) - 1) tau_rec - (exp(-Delta / tau_psc) - 1) tau_psc) / (tau_psc - tau_rec)
    start: x = 1, y = 0, u = 0 (so u_1 = U)

Timing: the spike of step ``m`` is delivered in step ``m + 1`` (as the static synapses, see
``neurosim.kernels.network``), which computes its efficacy and adds ``w u x`` to the ring slot
of its delay; ``Delta = (m - m_prev) dt`` between the spike steps. Nothing happens after spikes.

State per synapse (CSR order): ``xs`` float64 [S, 3] = (x, y or unused, u) after the last
spike, ``tlast`` int64 (step of the last spike; -1 before the first). Rules: ``coef`` float64
[R, N_STP_COEF] (``U``, ``tau_rec``, ``tau_fac``, ``tau_psc``, ms), ``model`` int64 [R].

Numba only (numpy + numba + ``neurosim.config``).
"""
from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from neurosim.kernels.network_kinds import CH_V, N_CHANNELS, NJIT_LOOP, register_projection

__all__ = ["STPSynapses", "N_STP_COEF", "STP_U", "STP_TAU_REC", "STP_TAU_FAC", "STP_TAU_PSC", "MODEL_TSODYKS2",
           "MODEL_TSODYKS", "STP_MODEL_CODES", "stp_efficacy", "stp_deliver"]

N_STP_COEF = 4
STP_U, STP_TAU_REC, STP_TAU_FAC, STP_TAU_PSC = range(N_STP_COEF)
MODEL_TSODYKS2, MODEL_TSODYKS = 0, 1
#: ``TsodyksMarkram.model`` names -> codes
STP_MODEL_CODES = {"tsodyks2": MODEL_TSODYKS2, "tsodyks": MODEL_TSODYKS}


class STPSynapses(NamedTuple):
    """The short-term plastic synapses of a network: a CSR as ``StaticSynapses`` (``indptr`` over keys
    ``N_CHANNELS pre + c``, int32 ``indices``, ``weights``, ``delays`` / ``delay_const``), the state
    ``xs`` float64 [S, 3] and ``tlast`` int64 [S], ``rule`` int32 [S], and the rules ``coef``, ``model``."""

    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray
    delays: np.ndarray
    delay_const: int
    xs: np.ndarray
    tlast: np.ndarray
    rule: np.ndarray
    coef: np.ndarray
    model: np.ndarray
    dt: float


@numba.njit(**NJIT_LOOP)
def stp_efficacy(st, t_prev, m, co, model, dt):
    """Update the state ``st`` (x, y, u) for a spike at step ``m`` (previous at ``t_prev``, -1: none);
    returns ``u x``, the fraction of the weight this spike transmits."""
    U = co[STP_U]
    tau_rec = co[STP_TAU_REC]
    tau_fac = co[STP_TAU_FAC]
    h = np.float64(m - t_prev) * dt
    if model == MODEL_TSODYKS2:
        if t_prev < 0:
            x = 1.0
            u = U
        else:
            x = 1.0 + (st[0] - st[2] * st[0] - 1.0) * np.exp(-h / tau_rec)
            u = U + st[2] * (1.0 - U) * (np.exp(-h / tau_fac) if tau_fac > 0.0 else 0.0)
        st[0] = x
        st[2] = u
        return u * x
    # three states
    x = st[0]
    y = st[1]
    u = st[2]
    if t_prev >= 0:
        tau_psc = co[STP_TAU_PSC]
        puu = np.exp(-h / tau_fac) if tau_fac > 0.0 else 0.0
        pyy = np.exp(-h / tau_psc)
        pzz = np.exp(-h / tau_rec)
        if tau_psc == tau_rec:  # the limit of P_xy for tau_psc -> tau_rec
            pxy = 1.0 - pzz - h / tau_rec * pzz
        else:
            pxy = ((pzz - 1.0) * tau_rec - (pyy - 1.0) * tau_psc) / (tau_psc - tau_rec)
        z = 1.0 - x - y
        u = u * puu
        x = x + pxy * y + (1.0 - pzz) * z
        y = y * pyy
    u = u + U * (1.0 - u)
    r = u * x
    st[0] = x - r
    st[1] = y + r
    st[2] = u
    return r


@numba.njit(**NJIT_LOOP)
def stp_deliver(p, spk, n_spk, m, ring, direct, direct_rows):
    """Add ``w u x`` of the synapses of the spikes ``spk[:n_spk]`` (of step ``m - 1``) for step ``m``."""
    indptr = p.indptr
    indices = p.indices
    dc = p.delay_const
    D = ring.shape[0]
    for s in range(n_spk):
        base = N_CHANNELS * spk[s]
        for c in range(N_CHANNELS):
            for q in range(indptr[base + c], indptr[base + c + 1]):
                r = p.rule[q]
                eff = stp_efficacy(p.xs[q], p.tlast[q], m - 1, p.coef[r], p.model[r], p.dt)
                p.tlast[q] = m - 1
                val = p.weights[q] * eff
                if dc >= 0:
                    if direct and c != CH_V:
                        direct_rows[c, indices[q]] += val
                    else:
                        ring[(m + dc) % D, c, indices[q]] += val
                else:
                    ring[(m + p.delays[q]) % D, c, indices[q]] += val


@numba.njit(**NJIT_LOOP)
def stp_after_spikes(p, spk, cnt, m):
    """Nothing: the state changes when a spike is delivered."""


register_projection(STPSynapses, deliver=stp_deliver, after_spikes=stp_after_spikes)
