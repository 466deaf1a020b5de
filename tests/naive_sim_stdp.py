"""Slow NumPy references for the STDP projection and the Poisson source group.

They share no code with ``kernels/stdp.py`` / ``neurosim.sim.poisson_group``: the weight of each
synapse is replayed from the recorded spike trains, event by event, with the trace values
written as explicit sums over spike pairs (all-to-all: every earlier spike of the other side;
nearest: only the latest one), not as decaying state. Order of the documented rule: in a step
with both, the presynaptic event comes first, so a same-step pair potentiates (lag 0 counts as
t_post - t_pre >= 0); the transmitted weight of a presynaptic spike is the weight before its
own update. Arithmetic in float64.
"""
from __future__ import annotations

import numpy as np


def stdp_replay(pre_steps, post_steps, w0, *, dt, w_max, tau_plus, tau_minus, A_plus, A_minus,
                pairing="all_to_all", bounds="additive", mu_plus=1.0, mu_minus=1.0, until=None):
    """Weight of one synapse after the spikes ``pre_steps`` / ``post_steps`` (step indices).

    Returns ``(w_final, sent)``: ``sent[k]`` is the weight transmitted by the k-th presynaptic spike.
    Only events at steps ``< until`` count (all when None).
    """
    pre = np.sort(np.asarray(pre_steps, dtype=np.int64))
    post = np.sort(np.asarray(post_steps, dtype=np.int64))
    if until is not None:
        pre, post = pre[pre < until], post[post < until]
    events = sorted([(int(m), 0) for m in pre] + [(int(m), 1) for m in post])  # (step, 0 = pre first)
    w = float(w0)
    sent = []
    mult = bounds == "multiplicative"
    for m, kind in events:
        if kind == 0:
            sent.append(w)
            earlier = post[post < m]
            if pairing == "nearest":
                earlier = earlier[-1:]
            dep = -A_minus * w_max * float(np.sum(np.exp(-(m - earlier) * dt / tau_minus)))
            f = (w / w_max) ** mu_minus if mult else 1.0
            w = min(max(w + dep * f, 0.0), w_max)
        else:
            earlier = pre[pre <= m]
            if pairing == "nearest":
                earlier = earlier[-1:]
            pot = A_plus * w_max * float(np.sum(np.exp(-(m - earlier) * dt / tau_plus)))
            f = (max(w_max - w, 0.0) / w_max) ** mu_plus if mult else 1.0
            w = min(max(w + pot * f, 0.0), w_max)
    return w, np.asarray(sent)


def group_replay(syn, spike_steps_by_id, rule, dt, until=None):
    """Final weights of every synapse of an STDP group (global ids -> sorted spike steps)."""
    kw = {f: getattr(rule, f) for f in ("w_max", "tau_plus", "tau_minus", "A_plus", "A_minus", "pairing", "bounds",
                                         "mu_plus", "mu_minus")}
    w0 = np.broadcast_to(np.asarray(syn.weight, dtype=np.float64), (syn.n_synapses,))
    out = np.empty(syn.n_synapses)
    empty = np.zeros(0, dtype=np.int64)
    for q in range(syn.n_synapses):
        gi = syn.pre_group.start + int(syn.pre[q])
        gk = syn.post_group.start + int(syn.post[q])
        out[q] = stdp_replay(spike_steps_by_id.get(gi, empty), spike_steps_by_id.get(gk, empty), w0[q], dt=dt,
                             until=until, **kw)[0]
    return out


def spike_steps(monitor, dt):
    """Global id -> sorted step indices of its spikes (``times_ms = (m + 1) dt``)."""
    steps = np.rint(monitor.times_ms / dt).astype(np.int64) - 1
    out = {}
    for i in np.unique(monitor.ids):
        out[int(i)] = np.sort(steps[monitor.ids == i])
    return out


def poisson_source_steps(rng, p, n_steps):
    """Spike steps of Bernoulli(p) sources over steps ``[0, n_steps)``, drawn as documented in
    ``neurosim.sim.poisson_group`` (counter-based geometric gaps), here with Python integers and
    ``math`` one neuron and one gap at a time."""
    import math

    mask, gamma = (1 << 64) - 1, 0x9E3779B97F4A7C15

    def mix(z):
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        return z ^ (z >> 31)

    base = int(rng.integers(0, 2 ** 64, dtype=np.uint64))
    out = []
    for i, pi in enumerate(np.asarray(p, dtype=np.float64)):
        key = mix((base + (i + 1) * gamma) & mask)
        steps, t, k = [], -1, 0
        while pi > 0:
            u = ((mix((key + (k + 1) * gamma) & mask) >> 11) + 1) / 2.0 ** 53
            t += math.floor(math.log(u) / math.log1p(-pi)) + 1 if pi < 1 else 1
            k += 1
            if t >= n_steps:
                break
            steps.append(t)
        out.append(np.asarray(steps, dtype=np.int64))
    return out
