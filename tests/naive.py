"""Slow pure-Python references for every kernel (one neuron / one synapse at a time).

They follow the documented equations literally, without sharing code with the kernels, so a
test that compares the two checks the kernels' loops, layouts and step order. Arithmetic runs
in the precision of the inputs: NumPy float32 scalars for float32 (as the kernels do), Python
floats for float64. The Izhikevich reference evaluates the model in float64 and rounds the state
to its storage dtype at the end of each step, like the kernels.
"""
from __future__ import annotations

import numpy as np


# --------------------------------------------------------------------------------------- LIF
def lif_run(xs, v, i_syn, refr, *, v_rest, r, a_m, a_s, k_s, v_th, v_reset, n_ref, reset):
    """LIF with one current channel; per-neuron coefficient arrays; returns (spikes, v, i_syn, refr)."""
    xs = np.asarray(xs)
    T, N = xs.shape
    dt_ = v.dtype.type
    v, i_syn, refr = v.copy(), i_syn.copy(), refr.copy()
    spikes = np.zeros((T, N), dtype=bool)
    for n in range(N):
        vn, ie, rn = dt_(v[n]), dt_(i_syn[n]), int(refr[n])
        for t in range(T):
            if rn > 0:  # refractory: v held, current decays
                rn -= 1
                ie = dt_(ie * a_s[n])
                continue
            v_inf = dt_(v_rest[n] + r[n] * xs[t, n])
            vn = dt_(dt_(v_inf + (vn - v_inf) * a_m[n]) + k_s[n] * ie)
            ie = dt_(ie * a_s[n])
            if vn >= v_th[n]:
                spikes[t, n] = True
                if reset == "zero":
                    vn = dt_(v_reset[n])
                elif reset == "subtract":
                    vn = dt_(vn - (v_th[n] - v_reset[n]))
                rn = int(n_ref[n])
        v[n], i_syn[n], refr[n] = vn, ie, rn
    return spikes, v, i_syn, refr


# -------------------------------------------------------------------------------- Izhikevich
def _izh_step(v, u, cur, a, b, h, dt, order):
    v, u, cur, a, b = float(v), float(u), float(cur), float(a), float(b)
    for _ in range(2):
        quad = 0.04 * (v * v) if order == "listing" else (0.04 * v) * v   # NEST: 0.04 * V_m * V_m
        v = v + h * (quad + 5.0 * v + 140.0 - u + cur)
    u = u + (dt * a) * (b * v - u)
    return v, u


def izhikevich_run(xs, v, u, *, a, b, c, d, v_peak, dt, order="listing"):
    """Per-neuron loop of the two-half-step scheme; returns (spikes, v, u).

    ``order`` evaluates ``0.04 v^2`` as ``0.04 (v v)`` ("listing") or ``(0.04 v) v`` ("nest").
    """
    xs = np.asarray(xs)
    T, N = xs.shape
    st = v.dtype.type
    v, u = v.copy(), u.copy()
    spikes = np.zeros((T, N), dtype=bool)
    for n in range(N):
        vn, un = v[n], u[n]
        for t in range(T):
            vf, uf = _izh_step(vn, un, xs[t, n], a[n], b[n], 0.5 * dt, dt, order)
            if vf >= v_peak[n]:
                spikes[t, n] = True
                vf, uf = float(c[n]), uf + float(d[n])
            vn, un = st(vf), st(uf)
        v[n], u[n] = vn, un
    return spikes, v, u


def spnet(re, ri, S, noise):
    """The Izhikevich (2003) MATLAB listing, 1-ms steps, float64.

    ``S`` [N, N] is the listing's matrix (row = post, column = pre), ``noise`` [T, N] the
    thalamic input of each iteration. Synaptic input is summed over the fired neurons in
    increasing index order. Returns a list of ``(t, neuron)`` with the listing's 1-based ``t``.
    """
    ne, ni = re.size, ri.size
    a = np.r_[0.02 * np.ones(ne), 0.02 + 0.08 * ri]
    b = np.r_[0.2 * np.ones(ne), 0.25 - 0.05 * ri]
    c = np.r_[-65 + 15 * re ** 2, -65 * np.ones(ni)]
    d = np.r_[8 - 6 * re ** 2, 2 * np.ones(ni)]
    v = -65.0 * np.ones(ne + ni)
    u = b * v
    firings = []
    for t in range(1, noise.shape[0] + 1):
        I = noise[t - 1].copy()
        fired = np.flatnonzero(v >= 30)
        firings += [(t, int(j)) for j in fired]
        v[fired] = c[fired]
        u[fired] = u[fired] + d[fired]
        syn = np.zeros(ne + ni)
        for j in fired:
            syn = syn + S[:, j]
        I = syn + I
        v = v + 0.5 * (0.04 * (v * v) + 5 * v + 140 - u + I)
        v = v + 0.5 * (0.04 * (v * v) + 5 * v + 140 - u + I)
        u = u + a * (b * v - u)
    return firings


# ------------------------------------------------------------------------------------ synapses
def dense_propagate(spike_idx, w, out):
    out = out.copy()
    for j in spike_idx:
        for k in range(w.shape[1]):
            out[k] += w[j, k]
    return out


def csr_propagate(spike_idx, indptr, indices, weights, out):
    out = out.copy()
    for j in spike_idx:
        for q in range(indptr[j], indptr[j + 1]):
            out[indices[q]] += weights[q]
    return out


def csr_propagate_delayed(spike_idx, indptr, indices, weights, delays, ring, t):
    ring = ring.copy()
    D = ring.shape[0]
    for j in spike_idx:
        for q in range(indptr[j], indptr[j + 1]):
            ring[(t + delays[q]) % D, indices[q]] += weights[q]
    return ring


# ------------------------------------------------------------------------------------- network
def lif_network(T, v0, coef, n_ref, reset, synapses, drive=None, drive_target=None, dtype=np.float64,
                direct=False):
    """A LIF network, one neuron and one synapse at a time.

    ``coef``: dict of per-neuron float64 arrays ``a_m, a_e, a_i, k_e, k_i, v_inf, v_th, v_reset``
    (cast to ``dtype`` like the simulator); ``synapses``: list of ``(pre, post, w, delay_steps,
    target)`` with target ``"e"``, ``"i"`` or ``"v"``; ``drive`` [T, N] added to target
    ``drive_target[n]`` at each step. A spike in step ``m`` reaches its target before the
    integration of step ``m + 1 + delay``. Returns a list of ``(step, neuron)``.

    ``direct`` (the simulator's mode for LIF-only networks with zero delays): inputs to ``"e"``
    and ``"i"`` are added one by one straight into the decayed currents instead of being summed
    in an inbox first (a different float rounding order).
    """
    f = np.dtype(dtype).type
    N = v0.size
    c = {k: np.asarray(val, dtype=dtype) for k, val in coef.items()}
    v = np.asarray(v0, dtype=dtype).copy()
    ie = np.zeros(N, dtype=dtype)
    ii = np.zeros(N, dtype=dtype)
    refr = np.zeros(N, dtype=np.int64)
    pending: dict[int, list] = {}
    out = []
    for m in range(T):
        inbox = {"e": np.zeros(N, dtype=dtype), "i": np.zeros(N, dtype=dtype), "v": np.zeros(N, dtype=dtype)}
        cur = {"e": ie, "i": ii}
        for post, w, tgt in pending.pop(m, []):
            if direct and tgt in cur:
                cur[tgt][post] = f(cur[tgt][post] + f(w))
            else:
                inbox[tgt][post] = f(inbox[tgt][post] + f(w))
        if drive is not None:
            for n in range(N):
                tgt = drive_target[n]
                if direct and tgt in cur:
                    cur[tgt][n] = f(cur[tgt][n] + f(drive[m, n]))
                else:
                    inbox[tgt][n] = f(inbox[tgt][n] + f(drive[m, n]))
        fired = []
        for n in range(N):
            e = ie[n] if direct else f(ie[n] + inbox["e"][n])
            i = ii[n] if direct else f(ii[n] + inbox["i"][n])
            if refr[n] > 0:
                refr[n] -= 1
            else:
                vv = f(v[n] + inbox["v"][n])
                vv = f(f(f(c["v_inf"][n] + f(vv - c["v_inf"][n]) * c["a_m"][n]) + c["k_e"][n] * e) + c["k_i"][n] * i)
                if vv >= c["v_th"][n]:
                    fired.append(n)
                    refr[n] = n_ref[n]
                    if reset == "zero":
                        vv = c["v_reset"][n]
                    elif reset == "subtract":
                        vv = f(vv - f(c["v_th"][n] - c["v_reset"][n]))
                v[n] = vv
            ie[n] = f(e * c["a_e"][n])
            ii[n] = f(i * c["a_i"][n])
        for n in fired:
            out.append((m, n))
        for tgt_order in ("e", "i", "v"):  # the simulator's order: channel, then spiking id, then synapse
            for n in fired:
                for pre, post, w, d, tgt in synapses:
                    if pre == n and tgt == tgt_order:
                        pending.setdefault(m + 1 + d, []).append((post, w, tgt))
    return out


# ------------------------------------------------------------------------- CSR helpers
def csr_order(keys, n_keys):
    """Stable sort of ``keys`` by Python's (stable) ``sorted``; row pointers by counting."""
    order = sorted(range(len(keys)), key=lambda q: keys[q])
    indptr = [0] * (n_keys + 1)
    for k in keys:
        indptr[k + 1] += 1
    for k in range(n_keys):
        indptr[k + 1] += indptr[k]
    return np.array(order, dtype=np.int64), np.array(indptr, dtype=np.int64)


def csr_contiguous_rows(indptr, indices):
    """1 for a non-empty row whose targets are k0, k0 + 1, ... (a run), else 0."""
    out = []
    for r in range(len(indptr) - 1):
        row = list(indices[indptr[r]:indptr[r + 1]])
        out.append(1 if row and row == list(range(row[0], row[0] + len(row))) else 0)
    return np.array(out, dtype=np.uint8)


def csr_uniform_rows(indptr, weights, flags):
    """``flags | 2`` for a non-empty row whose later weights all equal its first (NaN equals
    nothing, so a row with a NaN after its first weight is not uniform; one weight always is)."""
    out = np.array(flags, dtype=np.uint8).copy()
    for r in range(len(indptr) - 1):
        row = [float(w) for w in weights[indptr[r]:indptr[r + 1]]]
        if row and all(w == row[0] for w in row[1:]):
            out[r] |= 2
    return out


# ------------------------------------------------------------------------- normal variates
def normal_block(units):
    """float64 Box-Muller of one block of int32 units (the bit layout of ``kernels/normal.py``):
    unit ``k`` gives ``U1 = float32(top 30 bits + 1) 2^-30`` and unit ``H + k`` gives
    ``U2 = (top 24 bits) 2^-24``; ``z[k] = sqrt(-2 ln U1) cos(2 pi U2)``, ``z[H + k]`` the sine."""
    u = np.asarray(units, dtype=np.int32)
    h = u.size // 2
    u1 = (((u[:h] >> 2) & 0x3FFFFFFF) + 1).astype(np.float32).astype(np.float64) * 2.0 ** -30
    u2 = ((u[h:] >> 8) & 0xFFFFFF) * 2.0 ** -24
    rho = np.sqrt(-2.0 * np.log(u1))
    return np.r_[rho * np.cos(2 * np.pi * u2), rho * np.sin(2 * np.pi * u2)]
