"""Slow NumPy references for the Hodgkin-Huxley kernels (``kernels/hh.py``); no code shared with them.

Written from SIMULATION.md §2 with ``scipy.special.exprel`` for the three ratios and ``np.exp``
elsewhere, vectorised over neurons, float64 throughout (a float32 kernel is compared with a bound).
"""
from __future__ import annotations

import numpy as np
from scipy.special import exprel

#: benchmark 3 parameters (mV, ms, nS, pF)
DEFAULT = dict(c_m=200.0, g_l=10.0, g_na=20000.0, g_k=6000.0, e_l=-60.0, e_na=50.0, e_k=-90.0, v_t=-63.0,
               e_exc=0.0, e_inh=-80.0, tau_exc=5.0, tau_inh=10.0, v_th=-20.0, t_ref=3.0)


def rates(v, v_t):
    """Traub-Miles rates (1/ms) at membrane potential ``v`` (mV)."""
    u = np.asarray(v, dtype=np.float64) - v_t
    am = 0.32 * 4.0 / exprel((13.0 - u) / 4.0)
    bm = 0.28 * 5.0 / exprel((u - 40.0) / 5.0)
    ah = 0.128 * np.exp((17.0 - u) / 18.0)
    bh = 4.0 / (1.0 + np.exp((40.0 - u) / 5.0))
    an = 0.032 * 5.0 / exprel((15.0 - u) / 5.0)
    bn = 0.5 * np.exp((10.0 - u) / 40.0)
    return am, bm, ah, bh, an, bn


def membrane_current(v, m, h, n, ge, gi, cur, p):
    """``C dV/dt`` in pA."""
    return (p["g_l"] * (p["e_l"] - v) + p["g_na"] * m ** 3 * h * (p["e_na"] - v) + p["g_k"] * n ** 4 * (p["e_k"] - v)
            + ge * (p["e_exc"] - v) + gi * (p["e_inh"] - v) + cur)


def step_exp_euler(state, cur, p, dt):
    """Brian2's exponential Euler: each variable exact with the others frozen at the step's start."""
    v, m, h, n, ge, gi = state
    am, bm, ah, bh, an, bn = rates(v, p["v_t"])
    gates = []
    for x, a, b in ((m, am, bm), (h, ah, bh), (n, an, bn)):
        tau = 1.0 / (a + b)
        x_inf = a * tau
        gates.append(x_inf + (x - x_inf) * np.exp(-dt / tau))
    g_tot = p["g_l"] + p["g_na"] * m ** 3 * h + p["g_k"] * n ** 4 + ge + gi
    v_inf = (p["g_l"] * p["e_l"] + p["g_na"] * m ** 3 * h * p["e_na"] + p["g_k"] * n ** 4 * p["e_k"] + ge * p["e_exc"]
             + gi * p["e_inh"] + cur) / g_tot
    v_new = v_inf + (v - v_inf) * np.exp(-g_tot * dt / p["c_m"])
    return (v_new, *gates, ge * np.exp(-dt / p["tau_exc"]), gi * np.exp(-dt / p["tau_inh"]))


def _deriv(v, m, h, n, ge, gi, cur, p):
    am, bm, ah, bh, an, bn = rates(v, p["v_t"])
    return (membrane_current(v, m, h, n, ge, gi, cur, p) / p["c_m"], am * (1 - m) - bm * m, ah * (1 - h) - bh * h,
            an * (1 - n) - bn * n)


def step_rk4(state, cur, p, dt):
    """Classical RK4 on (V, m, h, n); the conductances decay exactly (their values at t, t + dt/2, t + dt)."""
    v, m, h, n, ge, gi = state
    ge_half, gi_half = ge * np.exp(-dt / (2 * p["tau_exc"])), gi * np.exp(-dt / (2 * p["tau_inh"]))
    ge1, gi1 = ge * np.exp(-dt / p["tau_exc"]), gi * np.exp(-dt / p["tau_inh"])
    y = np.array([v, m, h, n])
    k1 = np.array(_deriv(*y, ge, gi, cur, p))
    k2 = np.array(_deriv(*(y + dt / 2 * k1), ge_half, gi_half, cur, p))
    k3 = np.array(_deriv(*(y + dt / 2 * k2), ge_half, gi_half, cur, p))
    k4 = np.array(_deriv(*(y + dt * k3), ge1, gi1, cur, p))
    y = y + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return (*y, ge1, gi1)


def run(xs, state, p, dt, method="exponential_euler", pre=None, post=None, w=None, channel=None):
    """``T = len(xs)`` steps of ``N`` neurons; ``xs`` [T, N] injected current (pA).

    Optional synapses ``pre -> post`` with weights ``w`` (nS) on ``channel`` (0: g_e, 1: g_i): a
    spike of step ``m`` is added to the conductance before the integration of step ``m + 1``.
    Spike: V rises through ``v_th`` during the step and the last spike is ``n_ref`` or more steps
    back. Returns ``(spikes bool [T, N], state)``.
    """
    step = step_exp_euler if method == "exponential_euler" else step_rk4
    state = tuple(np.array(s, dtype=np.float64) for s in state)
    T, N = xs.shape
    n_ref = int(round(p["t_ref"] / dt))
    last = np.full(N, -10 ** 9)
    spikes = np.zeros((T, N), dtype=bool)
    fired = np.zeros(N, dtype=bool)
    for t in range(T):
        v, m, h, n, ge, gi = state
        if pre is not None:
            act = fired[pre]
            for c, g in ((0, ge), (1, gi)):
                sel = act & (channel == c)
                np.add.at(g, post[sel], w[sel])
        state = step((v, m, h, n, ge, gi), xs[t], p, dt)
        fired = (v <= p["v_th"]) & (state[0] > p["v_th"]) & (t - last >= n_ref)
        last[fired] = t
        spikes[t] = fired
    return spikes, state
