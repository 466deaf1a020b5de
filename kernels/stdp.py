"""Numba kernels of the plastic (pair-based STDP) projection of a network.

Rule (Song, Miller & Abbott 2000; Brian2 ``examples/synapses/STDP.py``; NEST ``stdp_synapse``),
per synapse ``q`` with weight ``w`` in ``[0, w_max]`` and two traces (time in steps of ``dt``)::

    dA_pre/dt  = -A_pre / tau_plus        dA_post/dt = -A_post / tau_minus
    presynaptic spike:   transmit w;  A_pre  <- A_pre  + da_pre   ("all_to_all") or da_pre  ("nearest");
                         w <- clip(w + A_post f_minus(w), 0, w_max)          (A_post <= 0: depression)
    postsynaptic spike:  A_post <- A_post + da_post  ("all_to_all") or da_post ("nearest");
                         w <- clip(w + A_pre f_plus(w), 0, w_max)           (potentiation)
    da_pre = A_plus w_max,  da_post = -A_minus w_max
    f_plus = f_minus = 1 ("additive")  or  f_plus(w) = ((w_max - w) / w_max)^mu_plus,
    f_minus(w) = (w / w_max)^mu_minus ("multiplicative", NEST's Guetig et al. 2003 form)

Traces are event-driven and exact: each holds its value at its last update and the step of that
update; the value at step ``m`` is ``A exp(-(m - t_last) dt / tau)`` (no per-step decay work).

Order and timing (the spike of step ``m`` has time ``(m + 1) dt``): after the neurons of step
``m`` are integrated, :func:`stdp_after_spikes` processes the step's spikes in Brian2's order,
first every presynaptic spike (``on_pre``: trace, depression), then every postsynaptic spike
(``on_post``: trace, potentiation). So a pre and a post spike in the same step form a
potentiating pair (``t_post - t_pre = 0`` counts as LTP), as in Brian2. The weight a presynaptic
spike transmits is the weight *before* its own depression (Brian2; NEST transmits it after):
the pre pass stores it in ``w_sent``, and :func:`stdp_deliver` adds ``w_sent`` to the ring at
step ``m + 1`` like the static synapses (a spike of step ``m`` over a delay of ``d`` steps acts
on the integration of step ``m + 1 + d``). Pairing uses the spike times at the neurons: a delay
shifts only the transmission, not the STDP window (Brian2 applies ``on_pre`` after the delay,
NEST treats the delay as dendritic; with delay 0, all three agree).

Layout (:class:`STDPSynapses`): CSR over keys ``N_CHANNELS pre + channel`` (global ids) for the
presynaptic passes, and a CSC-like index (``post_ptr`` [N + 1], ``post_syn``: synapse numbers
sorted by target) for the postsynaptic pass. Rules (one per synapse group) are rows of
``coef`` float64 ``[R, N_STDP_COEF]`` and ``modes`` int64 ``[R, 2]``; ``rule[q]`` is the row of
synapse ``q``. Weights and traces are stored in the state dtype; the update arithmetic runs in
float64 and is rounded to the state dtype on store.

Numba only (numpy + numba + ``neurosim.config``).
"""
from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from neurosim.kernels.network_kinds import CH_V, N_CHANNELS, NJIT_LOOP, register_projection

__all__ = ["STDPSynapses", "N_STDP_COEF", "DT_TAU_PLUS", "DT_TAU_MINUS", "DA_PRE", "DA_POST", "W_MAX",
           "MU_PLUS", "MU_MINUS", "MODE_PAIRING", "MODE_BOUNDS", "PAIRING_CODES", "BOUNDS_CODES",
           "stdp_deliver", "stdp_after_spikes"]

#: columns of ``STDPSynapses.coef`` (one row per rule)
N_STDP_COEF = 7
DT_TAU_PLUS, DT_TAU_MINUS, DA_PRE, DA_POST, W_MAX, MU_PLUS, MU_MINUS = range(N_STDP_COEF)
#: columns of ``STDPSynapses.modes``
MODE_PAIRING, MODE_BOUNDS = 0, 1
PAIR_ALL, PAIR_NEAREST = 0, 1
BOUNDS_ADDITIVE, BOUNDS_MULTIPLICATIVE = 0, 1
#: ``STDP.pairing`` / ``STDP.bounds`` names -> codes
PAIRING_CODES = {"all_to_all": PAIR_ALL, "nearest": PAIR_NEAREST}
BOUNDS_CODES = {"additive": BOUNDS_ADDITIVE, "multiplicative": BOUNDS_MULTIPLICATIVE}


class STDPSynapses(NamedTuple):
    """The STDP synapses of a network (all groups with ``plasticity=STDP(...)``).

    ``indptr`` int64 [N_CHANNELS N + 1] and ``indices`` int32 (global targets): CSR over keys
    ``N_CHANNELS pre + c``; ``delays`` int32 steps per synapse (empty when all share
    ``delay_const`` >= 0; else ``delay_const`` is -1). Per synapse (CSR order): ``w`` (current
    weight), ``w_sent`` (the weight the last presynaptic spike transmits), ``apre``/``apost``
    (trace values at steps ``tpre``/``tpost``, int64), ``rule`` int32. ``post_ptr`` int64
    [N + 1], ``post_syn`` int32: the synapses onto neuron ``k`` are
    ``post_syn[post_ptr[k]:post_ptr[k + 1]]``. ``coef``, ``modes``: the rules (module docstring).
    """

    indptr: np.ndarray
    indices: np.ndarray
    delays: np.ndarray
    delay_const: int
    w: np.ndarray
    w_sent: np.ndarray
    apre: np.ndarray
    tpre: np.ndarray
    apost: np.ndarray
    tpost: np.ndarray
    rule: np.ndarray
    coef: np.ndarray
    modes: np.ndarray
    post_ptr: np.ndarray
    post_syn: np.ndarray


@numba.njit(**NJIT_LOOP)
def _clip(w, w_max):
    if w < 0.0:
        return 0.0
    if w > w_max:
        return w_max
    return w


@numba.njit(**NJIT_LOOP)
def _trace(a, t_last, m, dt_tau):
    """Trace value ``a`` of step ``t_last`` decayed to step ``m`` (float64)."""
    return a * np.exp(-np.float64(m - t_last) * dt_tau)


@numba.njit(**NJIT_LOOP)
def stdp_deliver(p, spk, n_spk, m, ring, direct, direct_rows):
    """Add ``w_sent`` of the synapses of the spikes ``spk[:n_spk]`` (of step ``m - 1``) for step ``m``."""
    indptr = p.indptr
    indices = p.indices
    w_sent = p.w_sent
    dc = p.delay_const
    D = ring.shape[0]
    for s in range(n_spk):
        base = N_CHANNELS * spk[s]
        for c in range(N_CHANNELS):
            q0 = indptr[base + c]
            q1 = indptr[base + c + 1]
            if q0 == q1:
                continue
            if dc >= 0:
                if direct and c != CH_V:
                    row = direct_rows[c]
                else:
                    row = ring[(m + dc) % D, c]
                for q in range(q0, q1):
                    row[indices[q]] += w_sent[q]
            else:
                for q in range(q0, q1):
                    ring[(m + p.delays[q]) % D, c, indices[q]] += w_sent[q]


@numba.njit(**NJIT_LOOP)
def _pre_spike(p, q, m):
    """``on_pre`` of synapse ``q`` at step ``m``: keep the weight to transmit, pre trace, depression."""
    r = p.rule[q]
    co = p.coef[r]
    w = np.float64(p.w[q])
    p.w_sent[q] = p.w[q]
    a = co[DA_PRE]
    if p.modes[r, MODE_PAIRING] == PAIR_ALL:
        a += _trace(np.float64(p.apre[q]), p.tpre[q], m, co[DT_TAU_PLUS])
    p.apre[q] = a
    p.tpre[q] = m
    ap = _trace(np.float64(p.apost[q]), p.tpost[q], m, co[DT_TAU_MINUS])
    w_max = co[W_MAX]
    if p.modes[r, MODE_BOUNDS] == BOUNDS_MULTIPLICATIVE:
        ap *= (w / w_max) ** co[MU_MINUS]
    p.w[q] = _clip(w + ap, w_max)


@numba.njit(**NJIT_LOOP)
def _post_spike(p, q, m):
    """``on_post`` of synapse ``q`` at step ``m``: post trace, potentiation."""
    r = p.rule[q]
    co = p.coef[r]
    w = np.float64(p.w[q])
    a = co[DA_POST]
    if p.modes[r, MODE_PAIRING] == PAIR_ALL:
        a += _trace(np.float64(p.apost[q]), p.tpost[q], m, co[DT_TAU_MINUS])
    p.apost[q] = a
    p.tpost[q] = m
    ap = _trace(np.float64(p.apre[q]), p.tpre[q], m, co[DT_TAU_PLUS])
    w_max = co[W_MAX]
    if p.modes[r, MODE_BOUNDS] == BOUNDS_MULTIPLICATIVE:
        x = (w_max - w) / w_max  # >= 0 up to the rounding of w_max to the state dtype
        ap *= (x if x > 0.0 else 0.0) ** co[MU_PLUS]
    p.w[q] = _clip(w + ap, w_max)


@numba.njit(**NJIT_LOOP)
def stdp_after_spikes(p, spk, cnt, m):
    """Plasticity of the spikes ``spk[:cnt]`` of step ``m``: all presynaptic events, then all postsynaptic ones."""
    indptr = p.indptr
    post_ptr = p.post_ptr
    post_syn = p.post_syn
    if post_syn.shape[0] == 0:
        return
    for s in range(cnt):
        base = N_CHANNELS * spk[s]
        for q in range(indptr[base], indptr[base + N_CHANNELS]):
            _pre_spike(p, q, m)
    for s in range(cnt):
        k = spk[s]
        for t in range(post_ptr[k], post_ptr[k + 1]):
            _post_spike(p, post_syn[t], m)


register_projection(STDPSynapses, deliver=stdp_deliver, after_spikes=stdp_after_spikes)
