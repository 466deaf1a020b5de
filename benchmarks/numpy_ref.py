"""Plain NumPy references for the network benchmark (no Numba, no neurosim).

What a careful user writes with vectorised NumPy: one Python iteration per time step,
float64 state, spikes propagated through a CSR list of outgoing synapses (``np.bincount``
of the targets of this step's spikes) or, for small all-to-all networks, a dense matrix.

Models (ALGORITHMS.md §7)
-------------------------
* Izhikevich (2003) ``spnet``: ``v' = 0.04 v^2 + 5 v + 140 - u + I``, ``u' = a (b v - u)``,
  ``v >= 30 mV -> v = c, u += d``; dt = 1 ms, two 0.5 ms half-steps for v, thalamic noise
  ``I = 5 N(0,1)`` (exc) / ``2 N(0,1)`` (inh). Connectivity: every neuron receives
  ``k_exc`` excitatory inputs of weight ``0.5 U(0,1)`` and ``k_inh`` inhibitory inputs of
  weight ``-U(0,1)``, sources drawn without replacement (``k_exc = 800, k_inh = 200`` at
  N = 1000 is the published all-to-all network, self-connections included).
* CUBA (Vogels-Abbott, Brette et al. 2007 benchmark 2): ``dv/dt = (ge + gi - (v - El))/taum``,
  ``dge/dt = -ge/taue``, ``dgi/dt = -gi/taui``, integrated exactly over dt = 0.1 ms;
  threshold -50 mV, reset -60 mV, refractory 5 ms (v clamped), p = 0.02,
  we = 1.62 mV, wi = -9 mV (times ``w_scale``).

Run as a script for a quick check: ``python benchmarks/numpy_ref.py cuba 4000``.
"""
from __future__ import annotations

import math
import sys
import time

import numpy as np


def _csr_from_lists(pre, post, w, n):
    """Outgoing-synapse CSR: targets of neuron i are ``post[indptr[i]:indptr[i+1]]``."""
    order = np.argsort(pre, kind="stable")
    pre, post, w = pre[order], post[order], w[order]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(pre, minlength=n), out=indptr[1:])
    return indptr, post.astype(np.int64), w


def _sorted_by_pre(pre, post, w):
    """Synapses ordered by (pre, post), the layout every simulator prefers for spike delivery."""
    order = np.lexsort((post, pre))
    return pre[order], post[order], w[order]


def izhikevich2003_network(n_neurons=1000, *, k_exc=None, k_inh=None, seed=0):
    """Parameters and connectivity of the (scaled) 2003 network; returns a dict."""
    rng = np.random.default_rng(seed)
    n = int(n_neurons)
    ne = int(round(0.8 * n))
    ni = n - ne
    k_exc = min(ne, 800) if k_exc is None else int(k_exc)
    k_inh = min(ni, 200) if k_inh is None else int(k_inh)
    re, ri = rng.random(ne), rng.random(ni)
    a = np.r_[0.02 * np.ones(ne), 0.02 + 0.08 * ri]
    b = np.r_[0.2 * np.ones(ne), 0.25 - 0.05 * ri]
    c = np.r_[-65 + 15 * re**2, -65 * np.ones(ni)]
    d = np.r_[8 - 6 * re**2, 2 * np.ones(ni)]
    sigma = np.r_[5.0 * np.ones(ne), 2.0 * np.ones(ni)]
    pre = np.concatenate([
        np.concatenate([rng.choice(ne, k_exc, replace=False),
                        ne + rng.choice(ni, k_inh, replace=False)]) for _ in range(n)])
    post = np.repeat(np.arange(n), k_exc + k_inh)
    w = np.where(pre < ne, 0.5 * rng.random(pre.size), -rng.random(pre.size))
    pre, post, w = _sorted_by_pre(pre, post, w)
    return dict(model="izhikevich2003", n=n, ne=ne, a=a, b=b, c=c, d=d, sigma=sigma,
                pre=pre.astype(np.int32), post=post.astype(np.int32), w=w, n_synapses=int(pre.size))


def run_izhikevich2003(net, duration_ms=1000.0, seed=1):
    """Simulate; returns (times_ms, ids, loop_wall_s, loop_cpu_s)."""
    rng = np.random.default_rng(seed)
    n, a, b, c, d, sigma = net["n"], net["a"], net["b"], net["c"], net["d"], net["sigma"]
    v = -65.0 * np.ones(n)
    u = b * v
    dense, csr = None, None
    if net["n_synapses"] == n * n:  # all-to-all (the published 1000-neuron network): dense rows
        dense = np.zeros((n, n))
        dense[net["pre"], net["post"]] = net["w"]
    else:
        csr = _csr_from_lists(net["pre"], net["post"], net["w"], n)
    times, ids = [], []
    steps = int(round(duration_ms))
    t0, c0 = time.perf_counter(), time.process_time()
    for t in range(steps):
        I = sigma * rng.standard_normal(n)
        fired = np.flatnonzero(v >= 30.0)
        if fired.size:
            times.append(np.full(fired.size, float(t)))
            ids.append(fired)
            v[fired] = c[fired]
            u[fired] += d[fired]
            if dense is not None:
                I += dense[fired].sum(axis=0)
            else:
                indptr, post, w = csr
                sel = np.concatenate([np.arange(indptr[f], indptr[f + 1]) for f in fired])
                I += np.bincount(post[sel], weights=w[sel], minlength=n)
        v += 0.5 * (0.04 * v * v + 5.0 * v + 140.0 - u + I)
        v += 0.5 * (0.04 * v * v + 5.0 * v + 140.0 - u + I)
        u += a * (b * v - u)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    times = np.concatenate(times) if times else np.zeros(0)
    ids = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)
    return times, ids, wall, cpu


CUBA = dict(taum=20.0, taue=5.0, taui=10.0, v_th=-50.0, v_reset=-60.0, el=-49.0, t_ref=5.0,
            we=60 * 0.27 / 10, wi=-20 * 4.5 / 10, p=0.02)


def cuba_network(n_neurons=4000, *, w_scale=None, p=0.02, seed=0):
    """Random fixed-probability connectivity (autapses allowed, as Brian2's ``connect(p=...)``)."""
    rng = np.random.default_rng(seed)
    n = int(n_neurons)
    ne = int(round(0.8 * n))
    if w_scale is None:
        w_scale = 1.0 if n <= 4000 else 4000.0 / n
    counts = rng.binomial(n, p, size=n)
    pre = np.repeat(np.arange(n), counts)
    post = np.concatenate([rng.choice(n, k, replace=False) for k in counts])
    w = np.where(pre < ne, CUBA["we"], CUBA["wi"]) * w_scale
    pre, post, w = _sorted_by_pre(pre, post, w)
    v0 = CUBA["v_reset"] + rng.random(n) * (CUBA["v_th"] - CUBA["v_reset"])
    return dict(model="cuba", n=n, ne=ne, pre=pre.astype(np.int32), post=post.astype(np.int32), w=w,
                v0=v0, w_scale=w_scale, n_synapses=int(pre.size))


def run_cuba(net, duration_ms=1000.0, dt=0.1):
    """Exact integration of the linear CUBA system; returns (times_ms, ids, loop_wall_s, loop_cpu_s)."""
    P = CUBA
    n, ne = net["n"], net["ne"]
    tm, te, ti = P["taum"], P["taue"], P["taui"]
    em, ee, ei = math.exp(-dt / tm), math.exp(-dt / te), math.exp(-dt / ti)
    ke = te / (te - tm) * (ee - em)  # v response to ge(0) = 1 after dt
    ki = ti / (ti - tm) * (ei - em)
    ref_steps = int(round(P["t_ref"] / dt))
    v = net["v0"].copy()
    ge = np.zeros(n)
    gi = np.zeros(n)
    last = np.full(n, -10**9, dtype=np.int64)
    indptr, post, w = _csr_from_lists(net["pre"], net["post"], net["w"], n)
    times, ids = [], []
    steps = int(round(duration_ms / dt))
    t0, c0 = time.perf_counter(), time.process_time()
    for k in range(steps):
        active = (k - last) >= ref_steps
        v_new = P["el"] + (v - P["el"]) * em + ge * ke + gi * ki
        v = np.where(active, v_new, v)
        ge *= ee
        gi *= ei
        fired = np.flatnonzero(v > P["v_th"])
        if fired.size:
            times.append(np.full(fired.size, k * dt))
            ids.append(fired)
            v[fired] = P["v_reset"]
            last[fired] = k
            sel = np.concatenate([np.arange(indptr[f], indptr[f + 1]) for f in fired])
            tgt, ww = post[sel], w[sel]
            e = ww > 0
            ge += np.bincount(tgt[e], weights=ww[e], minlength=n)
            gi += np.bincount(tgt[~e], weights=ww[~e], minlength=n)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    times = np.concatenate(times) if times else np.zeros(0)
    ids = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)
    return times, ids, wall, cpu


if __name__ == "__main__":  # quick manual check
    model = sys.argv[1] if len(sys.argv) > 1 else "cuba"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else (4000 if model == "cuba" else 1000)
    if model == "cuba":
        net = cuba_network(n)
        t, i, wall, cpu = run_cuba(net)
    else:
        net = izhikevich2003_network(n)
        t, i, wall, cpu = run_izhikevich2003(net)
    print(f"{model} N={n}: {t.size} spikes, rate {t.size / n:.2f} Hz, loop {wall:.3f} s (cpu {cpu:.3f} s)")
