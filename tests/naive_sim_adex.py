"""Slow NumPy references for the AdEx neuron (kernels/adex.py): one neuron at a time, written from
the equations (SIMULATION.md section 3), sharing no code with the kernels.

Per step (forward Euler for V, w from the start of the step; exact decay of the synaptic variables)::

    ge += inbox_e ; gi += inbox_i
    refractory: V = V_r ; w += dt/tau_w (a (V_r - E_L) - w) ; refr -= 1
    else: V += jump ; x = min((V - V_T)/Delta_T, (V_peak - V_T)/Delta_T, 40)
          I_syn = ge + gi  or  ge (E_exc - V) + gi (E_inh - V)
          V' = V + dt/C (-g_L (V - E_L) + g_L Delta_T e^x - w + I + I_syn) ; w' = w + dt/tau_w (a (V - E_L) - w)
          V' > V_peak: spike, V' = V_r, w' += b, refr = round(t_ref/dt)
    ge *= exp(-dt/tau_syn) ; gi *= exp(-dt/tau_syn_inh)
"""
from __future__ import annotations

import numpy as np

FIELDS = ("c_m", "g_l", "e_l", "v_t", "delta_t", "tau_w", "a", "b", "v_r", "v_peak", "t_ref", "tau_syn", "e_exc",
          "e_inh")


def params_table(groups) -> dict:
    """``groups``: list of ``(n, AdExParams, i_ext)`` -> dict of per-neuron float64 arrays (+ ``tau_inh``,
    ``cond`` bool, ``i_ext``)."""
    out = {k: [] for k in FIELDS + ("tau_inh", "cond", "i_ext")}
    for n, p, i_ext in groups:
        for k in FIELDS:
            out[k].append(np.broadcast_to(np.asarray(getattr(p, k), dtype=np.float64), (n,)))
        out["tau_inh"].append(np.broadcast_to(np.asarray(p.tau_syn if p.tau_syn_inh is None else p.tau_syn_inh,
                                                         dtype=np.float64), (n,)))
        out["cond"].append(np.full(n, p.synapse == "conductance"))
        out["i_ext"].append(np.broadcast_to(np.asarray(i_ext, dtype=np.float64), (n,)))
    return {k: np.concatenate(v) for k, v in out.items()}


def neuron_step(n, st, P, dt, e_in, i_in, jump, current, f):
    """Advance neuron ``n`` of state dict ``st`` by one step (in the dtype of ``f``); returns True on a spike."""
    c = {k: f(P[k][n]) for k in FIELDS}
    ge = f(st["ge"][n] + f(e_in))
    gi = f(st["gi"][n] + f(i_in))
    spiked = False
    if st["refr"][n] > 0:
        st["refr"][n] -= 1
        v = c["v_r"]
        w = f(st["w"][n] + f(dt / P["tau_w"][n]) * f(c["a"] * f(c["v_r"] - c["e_l"]) - st["w"][n]))
    else:
        v0 = f(st["v"][n] + f(jump))
        x = min(f(f(v0 - c["v_t"]) * f(1.0 / P["delta_t"][n])),
                f(min((P["v_peak"][n] - P["v_t"][n]) / P["delta_t"][n], 40.0)))
        if P["cond"][n]:
            i_syn = f(f(ge * f(c["e_exc"] - v0)) + f(gi * f(c["e_inh"] - v0)))
        else:
            i_syn = f(ge + gi)
        expo = f(np.exp(x)) * f(P["g_l"][n] * P["delta_t"][n])
        dv = f(f(f(f(-c["g_l"] * f(v0 - c["e_l"]) + expo) - st["w"][n]) + f(current)) + i_syn)
        w = f(st["w"][n] + f(dt / P["tau_w"][n]) * f(c["a"] * f(v0 - c["e_l"]) - st["w"][n]))
        v = f(v0 + f(dt / P["c_m"][n]) * dv)
        if v > c["v_peak"]:
            spiked = True
            v = c["v_r"]
            w = f(w + c["b"])
            st["refr"][n] = int(np.rint(P["t_ref"][n] / dt))
    st["v"][n] = v
    st["w"][n] = w
    st["ge"][n] = f(ge * f(np.exp(-dt / P["tau_syn"][n])))
    st["gi"][n] = f(gi * f(np.exp(-dt / P["tau_inh"][n])))
    return spiked


def adex_run(xs, v0, w0, P, dt, dtype=np.float64):
    """Unconnected neurons with external currents ``xs`` [T, N] (plus ``P["i_ext"]``); returns
    ``(spikes bool [T, N], v, w)``."""
    f = np.dtype(dtype).type
    T, N = xs.shape
    st = {"v": np.asarray(v0, dtype=dtype).copy(), "w": np.asarray(w0, dtype=dtype).copy(),
          "ge": np.zeros(N, dtype=dtype), "gi": np.zeros(N, dtype=dtype), "refr": np.zeros(N, dtype=np.int64)}
    spikes = np.zeros((T, N), dtype=bool)
    for m in range(T):
        for n in range(N):
            spikes[m, n] = neuron_step(n, st, P, dt, 0.0, 0.0, 0.0, f(f(P["i_ext"][n]) + f(xs[m, n])), f)
    return spikes, st["v"], st["w"]


def adex_network(T, v0, w0, P, dt, synapses, drive=None, drive_target=None, dtype=np.float64):
    """AdEx neurons connected by ``synapses`` (list of ``(pre, post, w, delay_steps, target)``, target
    ``"e"``, ``"i"`` or ``"v"``), ``drive`` [T, N] added to target ``drive_target[n]``. A spike in step
    ``m`` reaches its target before the integration of step ``m + 1 + delay``. Returns a list of
    ``(step, neuron)`` and the final state dict."""
    f = np.dtype(dtype).type
    N = v0.size
    st = {"v": np.asarray(v0, dtype=dtype).copy(), "w": np.asarray(w0, dtype=dtype).copy(),
          "ge": np.zeros(N, dtype=dtype), "gi": np.zeros(N, dtype=dtype), "refr": np.zeros(N, dtype=np.int64)}
    pending: dict[int, list] = {}
    out = []
    for m in range(T):
        inbox = {t: np.zeros(N, dtype=dtype) for t in "eiv"}
        for post, w, tgt in pending.pop(m, []):
            inbox[tgt][post] = f(inbox[tgt][post] + f(w))
        if drive is not None:
            for n in range(N):
                inbox[drive_target[n]][n] = f(inbox[drive_target[n]][n] + f(drive[m, n]))
        fired = [n for n in range(N)
                 if neuron_step(n, st, P, dt, inbox["e"][n], inbox["i"][n], inbox["v"][n], P["i_ext"][n], f)]
        out += [(m, n) for n in fired]
        for tgt_order in "eiv":  # channel, then spiking id, then synapse order (as the simulator sums each buffer)
            for n in fired:
                for pre, post, w, d, tgt in synapses:
                    if pre == n and tgt == tgt_order:
                        pending.setdefault(m + 1 + d, []).append((post, w, tgt))
    return out, st
