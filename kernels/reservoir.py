"""Numba time loops for reservoirs (numpy + numba only).

Every public ``*_integrate`` / ``*_train`` kernel loops over time and calls a private
one-step ``_*_update``. Kernels take C-contiguous float64 arrays, write into caller-allocated
outputs and draw no random numbers (noise is drawn by the numpy wrapper and passed in).
Naive pure-Python references live in ``tests/naive_reservoir.py``.

Models
------
Discrete LIF (liquid-state machine, template of ALGORITHMS.md §4.2)::

    mem_t = mem_{t-1} * decay * (1 - s_{t-1}) + I_t + W_rec s_{t-1}      (reset="zero")
    mem_t = mem_{t-1} * decay - v_th * s_{t-1} + I_t + W_rec s_{t-1}     (reset="subtract")
    s_t   = mem_t > v_th

E/I sigmoid rate reservoir (template of §5)::

    h_t = W_E r_{t-1} - g * (W_I r_{t-1}) + drive_t
    r_t = (1 - a) r_{t-1} + a * sigma(h_t)
    g  <- max(g + eta * (r_t - rho), 0)          (homeostatic inhibitory gains; eta = 0 freezes)

Izhikevich (2003) with two 0.5 ms half steps per 1 ms step (§7.1) and exponential traces::

    v' = 0.04 v^2 + 5 v + 140 - u + I,  u' = a (b v - u);  v >= 30 -> v = c, u += d
    x_j <- x_j * trace_decay_j + s_j

Readout rules (template of §6)::

    three-factor:  z = W x;  e = y - z;  W += eta * gate_t * e x^T
    FORCE (RLS):   k = P x; c = 1 / (1 + x.k); P -= c k k^T; W -= c (z - y) k^T
"""
from __future__ import annotations

import numba
import numpy as np

from neurosim.config import NJIT, NJIT_PARALLEL

__all__ = [
    "lsm_integrate", "lsm_integrate_batch", "lsm_integrate_batch_sparse", "ei_rate_integrate", "izhikevich_reservoir_integrate",
    "three_factor_train", "force_train",
]

RESET_ZERO = 0
RESET_SUBTRACT = 1


# --------------------------------------------------------------------------- discrete LIF
@numba.njit(**NJIT)
def _lsm_update(mem, spike, current, w_rec_t, decay, v_th, reset_mode, new_spike):
    """One step of the discrete LIF liquid; ``w_rec_t[j]`` = outgoing weights of neuron j."""
    n = mem.shape[0]
    for i in range(n):
        if reset_mode == RESET_ZERO:
            mem[i] = mem[i] * decay * (1.0 - spike[i]) + current[i]
        else:
            mem[i] = mem[i] * decay - v_th * spike[i] + current[i]
    for j in range(n):  # event-driven recurrent input from last step's spikes
        if spike[j] != 0.0:
            row = w_rec_t[j]
            for i in range(n):
                mem[i] += row[i]
    for i in range(n):
        new_spike[i] = 1.0 if mem[i] > v_th else 0.0


@numba.njit(**NJIT)
def lsm_integrate(currents, w_rec_t, decay, v_th, reset_mode, mem, spike, spikes_out):
    """Run one sequence. ``currents`` [T, N] (input drive), ``mem``/``spike`` [N] updated in place,
    ``spikes_out`` [T, N]."""
    n_t = currents.shape[0]
    new = np.empty_like(spike)
    for t in range(n_t):
        _lsm_update(mem, spike, currents[t], w_rec_t, decay, v_th, reset_mode, new)
        spike[:] = new
        spikes_out[t] = new


@numba.njit(**NJIT_PARALLEL)
def lsm_integrate_batch(currents, w_rec_t, decay, v_th, reset_mode, spikes_out):
    """Independent sequences from rest. ``currents`` [B, T, N], ``spikes_out`` [B, T, N]."""
    n_b = currents.shape[0]
    n = currents.shape[2]
    for b in numba.prange(n_b):
        mem = np.zeros(n)
        spike = np.zeros(n)
        new = np.empty(n)
        for t in range(currents.shape[1]):
            _lsm_update(mem, spike, currents[b, t], w_rec_t, decay, v_th, reset_mode, new)
            spike[:] = new
            spikes_out[b, t] = new


@numba.njit(**NJIT_PARALLEL)
def lsm_integrate_batch_sparse(x, w_in_t, w_rec_t, decay, v_th, reset_mode, spikes_out):
    """Like :func:`lsm_integrate_batch` but the input drive ``I_t = W_in x_t`` is accumulated
    event by event: ``x`` [B, T, d] (float32 spikes/counts, mostly zero), ``w_in_t`` [d, N]."""
    n_b = x.shape[0]
    n_t = x.shape[1]
    d = x.shape[2]
    n = w_rec_t.shape[0]
    for b in numba.prange(n_b):
        mem = np.zeros(n)
        spike = np.zeros(n)
        new = np.empty(n)
        cur = np.empty(n)
        for t in range(n_t):
            cur[:] = 0.0
            for k in range(d):
                xv = x[b, t, k]
                if xv != 0.0:
                    row = w_in_t[k]
                    for i in range(n):
                        cur[i] += xv * row[i]
            _lsm_update(mem, spike, cur, w_rec_t, decay, v_th, reset_mode, new)
            spike[:] = new
            for i in range(n):
                spikes_out[b, t, i] = np.uint8(new[i])


# --------------------------------------------------------------------------- E/I rate reservoir
@numba.njit(**NJIT)
def _ei_rate_update(r, drive, e_ptr, e_idx, e_val, i_ptr, i_idx, i_val, g, leak, eta, target, new_r):
    """One step; ``W_E`` and ``W_I`` in CSR form (row i = inputs of neuron i)."""
    n = r.shape[0]
    for i in range(n):
        he = 0.0
        for q in range(e_ptr[i], e_ptr[i + 1]):
            he += e_val[q] * r[e_idx[q]]
        hi = 0.0
        for q in range(i_ptr[i], i_ptr[i + 1]):
            hi += i_val[q] * r[i_idx[q]]
        h = he - g[i] * hi + drive[i]
        new_r[i] = (1.0 - leak) * r[i] + leak / (1.0 + np.exp(-h))
    if eta != 0.0:
        for i in range(n):
            gi = g[i] + eta * (new_r[i] - target[i])
            g[i] = gi if gi > 0.0 else 0.0


@numba.njit(**NJIT)
def ei_rate_integrate(drive, e_ptr, e_idx, e_val, i_ptr, i_idx, i_val, g, leak, eta, target, r, states_out):
    """``drive`` [T, N] = W_in u_t + b; CSR ``W_E``/``W_I``; ``r`` and ``g`` [N] updated in place;
    ``states_out`` [T, N]."""
    new = np.empty_like(r)
    for t in range(drive.shape[0]):
        _ei_rate_update(r, drive[t], e_ptr, e_idx, e_val, i_ptr, i_idx, i_val, g, leak, eta, target, new)
        r[:] = new
        states_out[t] = new


# --------------------------------------------------------------------------- Izhikevich reservoir
@numba.njit(**NJIT)
def _izhikevich_reservoir_update(v, u, x, syn, current, w_t, a, b, c, d, trace_decay, spike_out):
    """One 1 ms step: reset fired neurons, deliver their synapses, two 0.5 ms v half steps."""
    n = v.shape[0]
    for i in range(n):
        syn[i] = current[i]
    for j in range(n):
        if v[j] >= 30.0:
            spike_out[j] = 1.0
            v[j] = c[j]
            u[j] += d[j]
            row = w_t[j]
            for i in range(n):
                syn[i] += row[i]
        else:
            spike_out[j] = 0.0
    for i in range(n):
        vi = v[i]
        vi += 0.5 * (0.04 * vi * vi + 5.0 * vi + 140.0 - u[i] + syn[i])
        vi += 0.5 * (0.04 * vi * vi + 5.0 * vi + 140.0 - u[i] + syn[i])
        if vi > 30.0:
            vi = 30.0  # spike peak (numerical guard as in the 2003 listing, which plots v=30)
        v[i] = vi
        u[i] += a[i] * (b[i] * vi - u[i])
        x[i] = x[i] * trace_decay[i] + spike_out[i]


@numba.njit(**NJIT)
def izhikevich_reservoir_integrate(currents, w_t, a, b, c, d, trace_decay, v, u, x,
                                   spikes_out, traces_out):
    """``currents`` [T, N] (external input incl. noise, pA-like units of the 2003 model);
    ``trace_decay`` [N] per-neuron trace factors; ``v``, ``u``, ``x`` [N] updated in place;
    ``spikes_out``/``traces_out`` [T, N]."""
    n = v.shape[0]
    syn = np.empty(n)
    sp = np.empty(n)
    for t in range(currents.shape[0]):
        _izhikevich_reservoir_update(v, u, x, syn, currents[t], w_t, a, b, c, d, trace_decay, sp)
        spikes_out[t] = sp
        traces_out[t] = x


# --------------------------------------------------------------------------- online readouts
@numba.njit(**NJIT)
def _readout(w, x, z):
    """``z = w @ x`` (the readout before this step's update), accumulated in float64."""
    for k in range(w.shape[0]):
        acc = 0.0
        for j in range(w.shape[1]):
            acc += w[k, j] * x[j]
        z[k] = acc


@numba.njit(**NJIT)
def _three_factor_update(w, x, y, gate, eta, decay, z):
    n_out, n_in = w.shape
    _readout(w, x, z)
    if gate != 0.0:
        for k in range(n_out):
            e = y[k] - z[k]
            for j in range(n_in):
                w[k, j] += eta * gate * e * x[j] - decay * w[k, j]


@numba.njit(**NJIT)
def three_factor_train(x, y, gate, w, eta, decay, z_out):
    """``x`` [T, N] presynaptic traces, ``y`` [T, K] targets, ``gate`` [T] (attention/
    neuromodulation factor), ``w`` [K, N] updated in place, ``z_out`` [T, K] (output before update)."""
    z = np.empty(w.shape[0])
    for t in range(x.shape[0]):
        _three_factor_update(w, x[t], y[t], gate[t], eta, decay, z)
        z_out[t] = z


@numba.njit(**NJIT)
def _force_update(w, p, x, y, gate, z, k):
    n_out, n_in = w.shape
    _readout(w, x, z)
    if gate != 0.0:
        for i in range(n_in):
            acc = 0.0
            for j in range(n_in):
                acc += p[i, j] * x[j]
            k[i] = acc
        xk = 0.0
        for i in range(n_in):
            xk += x[i] * k[i]
        cc = 1.0 / (1.0 + xk)
        for i in range(n_in):
            for j in range(n_in):
                p[i, j] -= cc * k[i] * k[j]
        for q in range(n_out):
            e = z[q] - y[q]
            for j in range(n_in):
                w[q, j] -= cc * e * k[j]


@numba.njit(**NJIT)
def force_train(x, y, gate, w, p, z_out):
    """Recursive least squares (FORCE). ``p`` [N, N] inverse correlation, updated in place."""
    z = np.empty(w.shape[0])
    k = np.empty(w.shape[1])
    for t in range(x.shape[0]):
        _force_update(w, p, x[t], y[t], gate[t], z, k)
        z_out[t] = z
