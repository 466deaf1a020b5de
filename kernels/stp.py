"""Numba kernels for Tsodyks-Markram short-term plasticity (STP) synapses in a network.

Each synapse keeps its own resources and release probability, updated event-driven at its
presynaptic spikes with the exact solution over the inter-spike interval ``h`` (ms); the
weight delivered for a spike is ``weight * efficacy``.

Two-state form ``FORM_TSODYKS2`` (NEST ``tsodyks2_synapse``; Brian2's Stimberg et al. 2018
synapse), state ``(u, x)`` just after the previous spike (initially ``u = 0``, ``x = 1``)::

    u <- u exp(-h / tau_fac)          (tau_fac = 0: u <- 0, no facilitation)
    x <- 1 + (x - 1) exp(-h / tau_rec)
    u <- u + U (1 - u) ;  efficacy r = u x ;  x <- x - r

which is, spike for spike, the recursion ``x_{n+1} = 1 + (x_n - u_n x_n - 1) e^{-h/tau_rec}``,
``u_{n+1} = U + u_n (1 - U) e^{-h/tau_fac}``, ``x_1 = 1``, ``u_1 = U``.

Three-state form ``FORM_THREE_STATE`` (NEST ``tsodyks_synapse``, Tsodyks et al. 1998), state
``(u, x, y)``, ``z = 1 - x - y``; ``dx/dt = z / tau_rec``, ``dy/dt = -y / tau_psc``, ``du/dt = -u /
tau_fac`` propagated exactly::

    P_yy = e^{-h/tau_psc} ;  P_zz = e^{-h/tau_rec}
    P_xy = ((P_zz - 1) tau_rec - (P_yy - 1) tau_psc) / (tau_psc - tau_rec) ;  P_xz = 1 - P_zz
    u <- u e^{-h/tau_fac} (0 without facilitation) ;  x <- x + P_xy y + P_xz z ;  y <- P_yy y
    u <- u + U (1 - u) ;  efficacy r = u x ;  x <- x - r ;  y <- y + r

Timing: a spike of step ``m - 1`` (delivered at the start of step ``m``) is an event at step
``m - 1``; ``h = (m_now - m_last) dt``. The efficacy is computed at the spike and the weighted
input arrives after the synapse's delay, like a static synapse (``neurosim.kernels.synapse``).

Numba only (numpy + numba + ``neurosim.config``).
"""
from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from neurosim.kernels.network_kinds import CH_V, N_CHANNELS, NJIT_LOOP, register_projection

__all__ = ["STPSynapses", "FORM_TSODYKS2", "FORM_THREE_STATE", "FORMS", "stp_deliver", "stp_after_spikes"]

FORM_TSODYKS2, FORM_THREE_STATE = 0, 1
#: form name (``TsodyksMarkram.form``) -> code
FORMS = {"tsodyks2": FORM_TSODYKS2, "three_state": FORM_THREE_STATE}


class STPSynapses(NamedTuple):
    """The STP synapses of a network: a CSR over keys ``N_CHANNELS pre + channel`` (as ``StaticSynapses``).

    ``indptr`` int64 [N_CHANNELS N + 1]; ``indices`` int32 (targets, global ids); ``weights``
    float (state dtype); ``delays`` int32 steps per synapse and ``delay_const`` (>= 0 when every
    synapse has that delay, else -1). Per synapse (float64): ``form`` uint8 (``FORM_*``), ``U``,
    ``tau_rec``, ``tau_fac`` (0: no facilitation), ``tau_psc`` (three-state form), and the state
    ``u``, ``x``, ``y`` after the last spike; ``last`` int64 its step (-1: none yet). ``dt`` ms.
    """

    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray
    delays: np.ndarray
    delay_const: int
    form: np.ndarray
    U: np.ndarray
    tau_rec: np.ndarray
    tau_fac: np.ndarray
    tau_psc: np.ndarray
    u: np.ndarray
    x: np.ndarray
    y: np.ndarray
    last: np.ndarray
    dt: float


@numba.njit(**NJIT_LOOP)
def _stp_event(p, q, step):
    """Advance synapse ``q`` to a presynaptic spike at ``step``; returns its efficacy (float64)."""
    h = (step - p.last[q]) * p.dt
    p.last[q] = step
    tf = p.tau_fac[q]
    u = p.u[q] * np.exp(-h / tf) if tf > 0 else 0.0
    x = p.x[q]
    if p.form[q] == FORM_TSODYKS2:
        x = 1.0 + (x - 1.0) * np.exp(-h / p.tau_rec[q])
        u = u + p.U[q] * (1.0 - u)
        r = u * x
        p.x[q] = x - r
    else:
        tr = p.tau_rec[q]
        tp = p.tau_psc[q]
        y = p.y[q]
        p_yy = np.exp(-h / tp)
        p_zz = np.exp(-h / tr)
        p_xy = ((p_zz - 1.0) * tr - (p_yy - 1.0) * tp) / (tp - tr)
        x = x + p_xy * y + (1.0 - p_zz) * (1.0 - x - y)
        y = y * p_yy
        u = u + p.U[q] * (1.0 - u)
        r = u * x
        p.x[q] = x - r
        p.y[q] = y + r
    p.u[q] = u
    return r


@numba.njit(**NJIT_LOOP)
def stp_deliver(p, spk, n_spk, m, ring, direct, direct_rows):
    """Add ``weight * efficacy`` of the synapses of the spiking neurons ``spk[:n_spk]`` (spikes of step
    ``m - 1``) for step ``m`` (rows ``N_CHANNELS pre + c``, in spike then row order; with ``direct``
    (uniform delay 0) channels 0 and 1 go straight into ``direct_rows``)."""
    indptr = p.indptr
    indices = p.indices
    weights = p.weights
    if indices.shape[0] == 0:  # no STP synapses in this network: nothing to look up per spike
        return
    D = ring.shape[0]
    step = m - 1
    for s in range(n_spk):
        base = N_CHANNELS * spk[s]
        for c in range(N_CHANNELS):
            key = base + c
            for q in range(indptr[key], indptr[key + 1]):
                val = weights[q] * _stp_event(p, q, step)
                d = p.delay_const if p.delay_const >= 0 else p.delays[q]
                if direct and c != CH_V:
                    direct_rows[c, indices[q]] += val
                else:
                    ring[(m + d) % D, c, indices[q]] += val


@numba.njit(**NJIT_LOOP)
def stp_after_spikes(p, spk, cnt, m):
    """Nothing to do after the postsynaptic spikes (STP depends on presynaptic spikes only)."""


register_projection(STPSynapses, deliver=stp_deliver, after_spikes=stp_after_spikes)
