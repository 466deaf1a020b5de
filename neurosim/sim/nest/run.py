"""``NestNetwork``: a ``Network`` built in NEST (``Network.to_nest``), run like the original.

``run(duration_ms)`` advances NEST and fills monitors of neurosim's own types
(``SpikeMonitor``, ``StateMonitor``, in ``nest_net.monitors`` by name; the network's own monitor
objects when ``net.run(..., backend="nest")`` asks for it): spike times are NEST's stamps (the end
of the step, as in neurosim), ids neurosim's global ids, state samples at the start of each
sampled step (the first sample the initial state) in neurosim's units. NEST hands multimeter data
over one ``min_delay`` slice late, so with state monitors NEST runs one slice ahead and the
samples and spikes beyond the requested time wait for the next ``run``.

NEST runs in a child process of its own (``neurosim.sim.nest.worker``: NEST's and PyTorch's
OpenMP runtimes crash one process together), one per ``NestNetwork``; ``close()`` (or garbage
collection) ends it. ``timing``: ``build_wall_s`` (export + NEST build), ``nest_build_wall_s``,
``sim_wall_s`` (the last ``nest.Simulate``s).
"""
from __future__ import annotations

import copy
import os
import time
import warnings

import numpy as np

from neurosim._validation import check_int, check_positive
from neurosim.sim.monitors import SpikeMonitor, StateMonitor
from neurosim.sim.nest import build as _build
from neurosim.sim.nest.export import network_spec
from neurosim.sim.nest.worker import Worker

__all__ = ["NestNetwork", "import_nest", "check_threads"]

INSTALL_HINT = "pip install nest-simulator  (or: pip install 'neurosim[nest]')"


def import_nest():
    """Check that the ``nest`` module is installed (without importing it here: NEST runs in a child
    process); ``ImportError`` saying how to install it."""
    import importlib.util

    if importlib.util.find_spec("nest") is None:
        raise ImportError(f"the NEST backend needs the nest module (NEST 3.10): {INSTALL_HINT}")


def check_threads(threads) -> int:
    """``threads`` as an int >= 1; a ``UserWarning`` when it exceeds the CPU cores this process may use."""
    threads = check_int("threads", threads, min_value=1)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if threads > cores:
        warnings.warn(f"threads={threads} exceeds the {cores} CPU cores available: NEST's threads will share cores "
                      "(slower, same results)", UserWarning, stacklevel=3)
    return threads


class NestNetwork:
    """The NEST twin of a ``Network``; create with ``net.to_nest(threads=..., resolution=...)``."""

    def __init__(self, net, *, threads=1, resolution=None, seed=1, monitors=None):
        t0 = time.perf_counter()
        threads = check_threads(threads)
        seed = check_int("seed", seed, min_value=1)
        self.spec = network_spec(net, resolution=resolution)
        import_nest()
        self.dt = self.spec["resolution"]
        self.threads = threads
        self.worker = Worker()
        self.handles = self.worker.call("build", self.spec, threads, seed)
        if monitors is None:  # fresh monitors of the same types, so the network's own stay neurosim's
            monitors = {k: copy.copy(m) for k, m in net.monitors.items()}
            for m in monitors.values():
                if isinstance(m, SpikeMonitor):
                    m._t, m._i, m._cache = [], [], None
                elif isinstance(m, StateMonitor):
                    m._t, m._vals, m._cache = [], [], None
        self.monitors = monitors
        for m in self.monitors.values():
            if isinstance(m, SpikeMonitor):
                m.bind(net.n_neurons)
            elif isinstance(m, StateMonitor):
                m.global_ids = m.group.start + m.neurons
        self.step = 0            # steps handed to the monitors
        self._nest_step = 0      # steps NEST has simulated (ahead with state monitors)
        self._lookahead = 0
        if self.spec["multimeters"]:
            self._lookahead = int(round(self.handles["min_delay"] / self.dt))
        self._pending_spikes = {r["name"]: (np.zeros(0), np.zeros(0, np.int64)) for r in self.spec["spike_recorders"]}
        self._pending_samples = {m["name"]: [] for m in self.spec["multimeters"]}
        self._stdp_spikes = []  # (times, NEST senders) of the neurons around STDP synapses
        for m in self.spec["multimeters"]:  # the initial state is the first sample (t = 0)
            self._pending_samples[m["name"]].append((np.zeros(1), np.asarray(m["initial"])[None]))
        self.timing = {"build_wall_s": time.perf_counter() - t0, "nest_build_wall_s": self.handles["build_s"],
                       "sim_wall_s": 0.0}

    @property
    def t_ms(self) -> float:
        return self.step * self.dt

    def run(self, duration_ms: float) -> "NestNetwork":
        """Advance by ``duration_ms`` (rounded to whole steps) and fill the monitors; returns ``self``."""
        duration_ms = check_positive("duration_ms", duration_ms, unit="ms")
        n = int(round(duration_ms / self.dt))
        if n < 1:
            raise ValueError(f"duration_ms={duration_ms} is shorter than one step (resolution={self.dt} ms)")
        end = self.step + n
        ahead = end + self._lookahead - self._nest_step
        self.timing["sim_wall_s"] = 0.0
        if ahead > 0:
            self.timing["sim_wall_s"] = self.worker.call("simulate", ahead * self.dt)
            self._nest_step += ahead
        ev = self.worker.call("stdp_events")
        if ev is not None:
            self._stdp_spikes.append(ev)
        t_lo, t_hi = self.step * self.dt, end * self.dt
        for rec in self.spec["spike_recorders"]:
            self._deliver_spikes(rec, t_lo, t_hi)
        for m in self.spec["multimeters"]:
            self._deliver_samples(m, t_hi)
        self.step = end
        return self

    def _deliver_spikes(self, rec, t_lo, t_hi):
        name = rec["name"]
        t, i = self.worker.call("take_spikes", name)
        tg, ig = _build.generated_spikes(self.spec, rec, t_lo, t_hi)
        pt, pi = self._pending_spikes[name]
        t, i = np.concatenate([pt, t, tg]), np.concatenate([pi, i, ig])
        now = t <= t_hi + 1e-9
        self._pending_spikes[name] = (t[~now], i[~now])
        t, i = t[now], i[now]
        order = np.lexsort((i, t))
        mon = self.monitors.get(name)
        if mon is not None and t.size:
            mon._t.append(t[order])
            mon._i.append(i[order])
            mon._cache = None

    def _deliver_samples(self, m, t_hi):
        name = m["name"]
        self._pending_samples[name].append(self.worker.call("take_samples", name))
        t = np.concatenate([x[0] for x in self._pending_samples[name]])
        v = np.concatenate([x[1] for x in self._pending_samples[name]])
        now = t < t_hi - 1e-9
        self._pending_samples[name] = [(t[~now], v[~now])]
        mon = self.monitors.get(name)
        if mon is not None and np.any(now):
            t, v = t[now], v[now]
            mon._t.append(t)
            mon._vals.append(v.reshape(t.size, -1))
            mon._cache = None

    def close(self) -> None:
        """End the NEST process (the network cannot run afterwards)."""
        self.worker.close()

    def weights(self, name: str) -> np.ndarray:
        """Current weights of synapse group ``name`` in neurosim's units and synapse order (plastic groups change)."""
        proj = next((p for p in self.spec["projections"] if p["name"] == name), None)
        if proj is None:
            names = ", ".join(p["name"] for p in self.spec["projections"])
            raise KeyError(f"unknown synapse group {name!r}; groups: {names}")
        w = self.worker.call("connection_weights", name)
        if "stdp" in proj["synapse_model"]:
            w = self._with_pending_potentiation(proj, w)
        return w / proj["weight_scale"]

    def _with_pending_potentiation(self, proj, w):
        """NEST's stdp synapses apply the potentiation of postsynaptic spikes at the synapse's next presynaptic
        spike; neurosim applies it at the postsynaptic spike. Add what NEST still owes (NEST's own rule: the post
        spikes after ``t_last - d``, with ``Kplus`` at ``t_last`` and the dendritic delay ``d``)."""
        t = np.concatenate([x[0] for x in self._stdp_spikes] + [np.zeros(0)])
        snd = np.concatenate([x[1] for x in self._stdp_spikes] + [np.zeros(0, np.int64)])
        order = np.lexsort((t, snd))
        t, snd = t[order], snd[order]
        bounds = {int(g): (a, b) for g, a, b in zip(*_runs(snd))}  # sender -> its spikes t[a:b], sorted
        pre = self.handles["gids"][proj["pre"]][proj["source"]]
        post = self.handles["gids"][proj["post"]][proj["target"]]
        nearest = proj["synapse_model"] != "stdp_synapse"  # stdp_nn_symm: the first post spike pairs, Kplus 1
        keys = ["source", "target"] + ([] if nearest else ["Kplus"])
        st = self.worker.call("stdp_connections", proj["name"], keys)
        src, tgt = st["source"], st["target"]
        kplus = np.ones(src.size) if nearest else np.atleast_1d(np.asarray(st["Kplus"], dtype=np.float64))
        kp = np.full(len(pre), np.nan)
        o_n, o_s = np.lexsort((tgt, src)), np.lexsort((post, pre))
        if len(o_n) == len(o_s):
            kp[o_s] = kplus[o_n]
        sp = proj["synapse_params"]
        w_max, lam, mu, tau = sp["Wmax"], sp["lambda"], sp["mu_plus"], sp["tau_plus"]
        d = np.asarray(proj["delay"], dtype=np.float64) * np.ones(len(pre))
        out = w.copy()
        for q in range(len(pre)):
            a, b = bounds.get(int(pre[q]), (0, 0))
            c, e = bounds.get(int(post[q]), (0, 0))
            if a == b or c == e or not np.isfinite(kp[q]):
                continue
            t_last = t[b - 1]
            tp = t[c:e][t[c:e] > t_last - d[q]]
            for x in tp[:1] if nearest else tp:
                nw = out[q] / w_max
                nw += lam * (1.0 - nw) ** mu * kp[q] * np.exp((t_last - (x + d[q])) / tau)
                out[q] = min(nw, 1.0) * w_max
        return out

    def __repr__(self):
        return (f"NestNetwork(resolution={self.dt}, threads={self.threads}, t_ms={self.t_ms:g}, "
                f"populations={[p['name'] for p in self.spec['populations']]})")


def _runs(sorted_ids):
    """``(values, starts, stops)`` of the runs of equal values in a sorted array."""
    if sorted_ids.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    return sorted_ids[starts], starts, np.r_[starts[1:], sorted_ids.size]
