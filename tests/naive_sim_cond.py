"""Slow pure-Python reference of a network of conductance-based LIF neurons (one neuron and one
synapse at a time), for ``kernels/lif_cond.py`` in the network loop.

Follows the equations of ``neurosim.neurons.lif_cond`` literally, without sharing code with the
kernels: per step ``m`` the inputs due (spikes of step ``m - 1 - delay``, then the drive) are
added to ``g_e``/``g_i`` (or to ``v``), ``v`` is integrated unless the neuron is refractory
(``m < until``), the conductances decay, and ``v > v_th`` spikes, resets ``v`` and sets
``until = m + n_ref``. Arithmetic runs in ``dtype`` (NumPy float32 scalars for float32). The
exponential scheme evaluates ``(1 - exp(-x)) / x`` with ``np.expm1`` (the kernel: a series for
small ``x``, ``exp`` otherwise), so it agrees with the kernel to a few ulps, not bit for bit.
"""
from __future__ import annotations

import numpy as np

COEF = ("c_m", "a_e", "a_i", "v_leak", "e_exc", "e_inh", "v_th", "v_reset")


def coefficients(dt, *, tau_mem, tau_e, tau_i, scheme):
    """``c_m``, ``a_e``, ``a_i`` from the time constants (float64 arrays): ``c_m = dt / tau_mem``; decay per
    step ``1 - dt / tau`` (Euler) or ``exp(-dt / tau)`` (exponential)."""
    tau_e, tau_i = np.asarray(tau_e, dtype=np.float64), np.asarray(tau_i, dtype=np.float64)
    if scheme == "euler":
        a_e, a_i = 1.0 - dt / tau_e, 1.0 - dt / tau_i
    else:
        a_e, a_i = np.exp(-dt / tau_e), np.exp(-dt / tau_i)
    return dt / np.asarray(tau_mem, dtype=np.float64), a_e, a_i


def v_step(v, ge, gi, c_m, v_leak, e_exc, e_inh, scheme, f):
    """One step of ``v`` with the step's conductances, in the scalar type ``f``."""
    drift = f(f(f(v_leak - v) + f(ge * f(e_exc - v))) + f(gi * f(e_inh - v)))
    if scheme == "euler":
        return f(v + f(c_m * drift))
    x = f(c_m * f(f(f(1.0) + ge) + gi))
    phi = f(1.0) if x == 0 else f(-np.expm1(-x) / x)
    return f(v + f(f(c_m * drift) * phi))


def cond_lif_network(T, v0, g0, coef, n_ref, schemes, synapses, drive=None, drive_target=None, dtype=np.float64,
                     direct=False):
    """Run ``T`` steps; returns ``(spikes, v, ge, gi)`` with ``spikes`` a list of ``(step, neuron)``.

    ``coef``: dict of per-neuron float64 arrays named :data:`COEF` (cast to ``dtype``, as the
    simulator stores them); ``n_ref`` int [N]; ``schemes`` [N] of ``"euler"``/``"exponential"``;
    ``g0`` [2, N]; ``synapses``: list of ``(pre, post, w, delay_steps, target)`` with target
    ``"e"``, ``"i"`` or ``"v"``, in the simulator's order per presynaptic neuron; ``drive`` [T, N]
    added to target ``drive_target[n]``. ``direct``: inputs to ``"e"``/``"i"`` are added one by one
    to the decayed conductances (the simulator's mode for one population and zero delays)
    instead of being summed in an inbox first.
    """
    f = np.dtype(dtype).type
    N = len(v0)
    c = {k: np.asarray(coef[k], dtype=dtype) for k in COEF}
    v = np.asarray(v0, dtype=dtype).copy()
    ge = np.asarray(g0[0], dtype=dtype).copy()
    gi = np.asarray(g0[1], dtype=dtype).copy()
    until = np.zeros(N, dtype=np.int64)
    pending: dict[int, list] = {}
    out = []
    for m in range(T):
        inbox = {t: np.zeros(N, dtype=dtype) for t in "eiv"}
        cur = {"e": ge, "i": gi}
        arrivals = pending.pop(m, [])
        if drive is not None:
            arrivals = arrivals + [(n, drive[m, n], drive_target[n]) for n in range(N)]
        for post, w, tgt in arrivals:
            if direct and tgt in cur:
                cur[tgt][post] = f(cur[tgt][post] + f(w))
            else:
                inbox[tgt][post] = f(inbox[tgt][post] + f(w))
        fired = []
        for n in range(N):
            e = ge[n] if direct else f(ge[n] + inbox["e"][n])
            i = gi[n] if direct else f(gi[n] + inbox["i"][n])
            if m >= until[n]:   # not refractory: integrate (a jump first)
                vv = f(v[n] + inbox["v"][n])
                v[n] = v_step(vv, e, i, c["c_m"][n], c["v_leak"][n], c["e_exc"][n], c["e_inh"][n], schemes[n], f)
            ge[n] = f(e * c["a_e"][n])
            gi[n] = f(i * c["a_i"][n])
            if v[n] > c["v_th"][n]:
                fired.append(n)
                v[n] = c["v_reset"][n]
                until[n] = m + n_ref[n]
        out.extend((m, n) for n in fired)
        for tgt_order in "eiv":  # the simulator's order: channel, then spiking id, then synapse
            for n in fired:
                for pre, post, w, d, tgt in synapses:
                    if pre == n and tgt == tgt_order:
                        pending.setdefault(m + 1 + d, []).append((post, w, tgt))
    return out, v, ge, gi
