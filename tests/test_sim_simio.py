"""Spike-generator groups, the rate monitor, store/restore and parameter changes between runs.

References: a NumPy loop for the generator's delivery (membrane jumps of non-spiking LIF
targets), a histogram of a SpikeMonitor's spikes for the rate monitor, the same network run
twice (bit equality: same code) for store/restore, and a fresh network built with the new
value (bit equality: the same packing code, once in place and once at build) for parameter
changes, with the kernel's signature count showing that nothing was recompiled.
"""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import neurosim as ns
from neurosim.kernels.network import network_integrate
from neurosim.neurons import IzhikevichParams, LIFParams
from neurosim.sim import Network

PROPS = settings(max_examples=20, deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.too_slow])


def _signatures() -> int:
    sigs = getattr(network_integrate, "signatures", None)
    if sigs is None:
        pytest.skip("NUMBA_DISABLE_JIT: no compiled signatures to count")
    return len(sigs)


def _schedule(rng, n, n_spikes, t_max, dt):
    """Random (times_ms, ids) without two spikes of one neuron in one step; times off the grid."""
    k = rng.integers(1, int(t_max / dt) + 1, n_spikes)
    ids = rng.integers(0, n, n_spikes)
    _, first = np.unique(k * n + ids, return_index=True)
    k, ids = k[first], ids[first]
    jitter = rng.uniform(-0.49, 0.49, k.size) * dt
    perm = rng.permutation(k.size)  # any input order
    return (k * dt + jitter)[perm], ids[perm]


# ------------------------------------------------------------------------------ spike generator
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_spike_generator_delivers_at_the_given_steps(dtype):
    """Reported at ``rint(t / dt) dt``; a synapse of ``d`` steps adds its weight to ``v`` before step
    ``rint(t / dt) + d`` (NumPy loop of the exact LIF update, targets that never fire)."""
    rng = np.random.default_rng(7)
    dt, T, n_gen, n_post = 0.25, 160, 7, 5
    times, ids = _schedule(rng, n_gen, 60, (T - 20) * dt, dt)
    p = LIFParams(tau_mem=rng.uniform(5, 20, n_post), v_th=1e9)
    net = Network(dt=dt, dtype=dtype, rng=0)
    post = net.add_lif(n_post, p, name="post")  # created first: the generator's ids come after it
    gen = net.add_spike_generator(n_gen, times, ids, name="gen")
    pre = rng.integers(0, n_gen, 30)
    tgt = rng.integers(0, n_post, 30)
    w = np.round(rng.uniform(-1, 1, 30) * 64) / 64
    d = rng.choice([0.0, 0.25, 1.0, 3.0], 30)
    net.connect(gen, post, pairs=(pre, tgt), weight=w, delay_ms=d, target="v")
    sp = net.add_spike_monitor(gen, name="spikes")
    trace = net.add_state_monitor(post, "v", every=1)
    net.run(T * dt, progress=False)

    k = np.rint(times / dt).astype(np.int64)
    order = np.lexsort((ids, k))
    np.testing.assert_array_equal(sp.times_ms, k[order] * dt)
    np.testing.assert_array_equal(sp.ids, gen.start + ids[order])
    assert gen.start == n_post and post.start == 0

    jump = np.zeros((T + 1, n_post))
    for q in range(pre.size):
        for kk in k[ids == pre[q]]:
            if kk + round(d[q] / dt) <= T:
                jump[kk + round(d[q] / dt), tgt[q]] += w[q]
    a_m = np.exp(-dt / p.tau_mem)
    v = np.zeros((T, n_post))
    for m in range(T - 1):
        v[m + 1] = (v[m] + jump[m]) * a_m
    tol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(trace.v, v, rtol=tol, atol=tol)


@PROPS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 9), n_spikes=st.integers(0, 40),
       cuts=st.lists(st.integers(1, 30), min_size=1, max_size=4), dtype=st.sampled_from([np.float32, np.float64]))
def test_spike_generator_emits_exactly_its_schedule_across_runs(seed, n, n_spikes, cuts, dtype):
    """Any schedule, any split into runs: exactly the scheduled spikes, once each, at their steps."""
    rng = np.random.default_rng(seed)
    dt = 0.1
    T = sum(cuts)
    times, ids = _schedule(rng, n, n_spikes, T * dt + 1.0, dt)  # some beyond the end: not emitted
    net = Network(dt=dt, dtype=dtype, rng=0)
    net.add_izhikevich(2, "RS", name="other")
    gen = net.add_spike_generator(n, times, ids, name="gen")
    sp = net.add_spike_monitor(gen)
    for c in cuts:
        net.run(c * dt, progress=False)
    k = np.rint(times / dt).astype(np.int64)
    due = k <= T
    order = np.lexsort((ids[due], k[due]))
    np.testing.assert_array_equal(np.rint(sp.times_ms / dt), k[due][order])
    np.testing.assert_array_equal(sp.ids, gen.start + ids[due][order])


def test_spike_generator_bad_input():
    net = Network(dt=0.1, rng=0)
    with pytest.raises(ValueError, match=r"neuron 2 spikes more than once in the step ending at 0.5 ms"):
        net.add_spike_generator(3, [0.5, 0.52], [2, 2])
    with pytest.raises(ValueError, match=r"times_ms=0.04 rounds to step 0 .* use times_ms >= 0.1"):
        net.add_spike_generator(3, [0.04, 1.0], [0, 1])
    with pytest.raises(ValueError, match=r"ids must be neuron indices in \[0, 3\)"):
        net.add_spike_generator(3, [1.0], [3])
    with pytest.raises(ValueError, match="same length"):
        net.add_spike_generator(3, [1.0, 2.0], [0])
    with pytest.raises(ValueError, match="integer neuron indices"):
        net.add_spike_generator(3, [1.0], [0.5])
    with pytest.raises(ValueError, match=">= 0 ms"):
        net.add_spike_generator(3, [-1.0], [0])
    with pytest.raises(ValueError, match="NaN/inf"):
        net.add_spike_generator(3, [np.nan], [0])
    with pytest.raises(TypeError, match="n must be an integer"):
        net.add_spike_generator(2.5, [1.0], [0])
    gen = net.add_spike_generator(3, [0.06, 1.0], [0, 1], name="gen")  # 0.06 ms rounds to step 1
    lif = net.add_lif(2)
    with pytest.raises(ValueError, match="target must be one of"):
        net.connect(lif, gen, p=1.0)
    with pytest.raises(ValueError, match="target must be one of"):
        net.add_poisson_input(gen, 10.0, 1.0)
    with pytest.raises(ValueError, match="'v' is not a spikegen variable"):
        net.add_state_monitor(gen, ["v"])
    assert net.add_spike_generator(2, [], [], name="silent").n == 2  # no spikes is fine


# ------------------------------------------------------------------------------ rate monitor
def _brunel_like(dtype=np.float64, seed=0):
    net = Network(dt=0.1, dtype=dtype, rng=seed)
    exc = net.add_lif(40, LIFParams(tau_mem=10.0, v_th=1.0, t_ref=2.0), name="exc")
    inh = net.add_izhikevich(10, "FS", name="inh")
    gen = net.add_spike_generator(4, [0.3, 0.3, 1.0, 7.7], [0, 1, 3, 2], name="gen")
    net.connect(exc, inh, p=0.3, weight=2.0, delay_ms=0.5, target="i")
    net.connect(inh, exc, p=0.3, weight=-0.2, delay_ms=1.0, target="v")
    net.connect(gen, exc, p=0.5, weight=0.3, target="v")
    net.add_poisson_input(exc, 900.0, 0.15)
    net.add_noise(inh, 3.0, mean=4.0, target="i")
    return net


def test_rate_monitor_equals_a_histogram_of_the_spike_monitor():
    net = _brunel_like()
    sp = net.add_spike_monitor(name="spikes")
    every = net.add_rate_monitor(None, bin_ms=0.5, name="all")
    one = net.add_rate_monitor("exc", name="exc_rate")   # one step per bin
    two = net.add_rate_monitor([net.groups["inh"], "gen"], bin_ms=2.0, name="two")
    net.run(21.3, progress=False)
    net.run(10.0, progress=False)   # 313 steps: the last 2 ms bin has 13 steps
    steps = np.rint(sp.times_ms / 0.1).astype(np.int64) - 1
    groups = list(net.groups.values())
    for mon, gs, k in ((every, groups, 5), (one, [groups[0]], 1), (two, groups[1:], 20)):
        B = -(-313 // k)
        ref = np.zeros((B, len(gs)), dtype=np.int64)
        for j, g in enumerate(gs):
            mine = (sp.ids >= g.start) & (sp.ids < g.stop)
            ref[:, j] = np.bincount(steps[mine] // k, minlength=B)
        dur = np.full(B, k * 0.1)
        dur[-1] = (313 - (B - 1) * k) * 0.1
        rate = ref / (dur[:, None] / 1000.0) / np.array([g.n for g in gs])
        if mon is one:
            ref, rate = ref[:, 0], rate[:, 0]
        np.testing.assert_array_equal(mon.counts, ref)
        np.testing.assert_allclose(mon.rate_hz, rate, rtol=1e-12)
        np.testing.assert_allclose(mon.t_ms, np.arange(B) * k * 0.1, rtol=1e-12)
        assert mon.counts.sum() > 0
    np.testing.assert_allclose(two.rate("gen"), two.rate_hz[:, 1])
    np.testing.assert_allclose(every.mean_rate_hz(), [np.sum((sp.ids >= g.start) & (sp.ids < g.stop)) / g.n / 0.0313
                                                      for g in groups], rtol=1e-12)
    assert every.counts[:, 2].sum() == 4   # the generator's four spikes


def test_rate_monitor_without_a_spike_monitor_and_bad_input():
    net = _brunel_like()
    mon = net.add_rate_monitor("gen", bin_ms=0.3)
    net.run(1.2, progress=False)
    np.testing.assert_array_equal(mon.counts, [2, 0, 0, 1])   # reported at 0.3, 0.3 (bin (0, 0.3]), 1.0 ms
    np.testing.assert_allclose(mon.rate_hz[0], 2 / 4 / 0.3e-3, rtol=1e-12)
    net = _brunel_like()
    with pytest.raises(ValueError, match=r"bin_ms=0.25 must be a whole number of steps of dt=0.1 ms"):
        net.add_rate_monitor(bin_ms=0.25)
    with pytest.raises(ValueError, match="bin_ms must be > 0"):
        net.add_rate_monitor(bin_ms=0.0)
    with pytest.raises(KeyError, match="unknown group 'nope'"):
        net.add_rate_monitor("nope")
    with pytest.raises(ValueError, match="twice"):
        net.add_rate_monitor(["exc", "exc"])
    m = net.add_rate_monitor(["exc"])
    with pytest.raises(KeyError, match="not monitored"):
        m.rate("inh")
    assert m.rate_hz.shape == (0, 1)


# ------------------------------------------------------------------------------ store / restore
def _snapshot_view(net):
    sp = net.monitors["spikes"]
    return (sp.times_ms.copy(), sp.ids.copy(), net.monitors["trace"].v.copy(), net.monitors["rates"].counts.copy(),
            net.groups["exc"].v, net.groups["inh"].u, net.t_ms)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_store_restore_gives_identical_spikes(dtype):
    net = _brunel_like(dtype)
    net.add_spike_monitor(name="spikes")
    net.add_state_monitor("exc", ["v", "i_syn"], neurons=[0, 5], every=3, name="trace")
    net.add_rate_monitor(bin_ms=1.0, name="rates")
    net.store("t0")                       # before any run: builds the network
    net.run(3.1, progress=False)          # spikes in flight over the 1 ms delays, generator half done
    net.store()
    net.run(12.0, progress=False)
    a = _snapshot_view(net)
    net.restore()
    assert net.t_ms == pytest.approx(3.1) and net.monitors["spikes"].times_ms.max() <= 3.1
    net.run(12.0, progress=False)
    b = _snapshot_view(net)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert a[0].size > 20 and np.any(a[0] > 7.0) and np.any(a[1] >= net.groups["gen"].start)
    net.restore("t0")                     # back to the start: same as a fresh network
    assert net.step == 0 and net.monitors["spikes"].n_spikes == 0 and net.monitors["rates"].counts.size == 0
    net.run(15.1, progress=False)
    fresh = _brunel_like(dtype)
    fresh.add_spike_monitor(name="spikes")
    fresh.run(15.1, progress=False)
    np.testing.assert_array_equal(fresh.monitors["spikes"].times_ms, net.monitors["spikes"].times_ms)
    np.testing.assert_array_equal(fresh.monitors["spikes"].ids, net.monitors["spikes"].ids)
    np.testing.assert_array_equal(net.monitors["spikes"].times_ms[-b[0].size:], b[0])
    with pytest.raises(KeyError, match=r"no state stored under 'nope'; stored: 't0', 'default'"):
        net.restore("nope")
    with pytest.raises(TypeError, match="name"):
        net.store("")


# ------------------------------------------------------------------------------ parameter changes
def _changes(net, which):
    exc, inh = net.groups["exc"], net.groups["inh"]
    if which == "weight_scalar":
        net.synapses[2].weight = 0.6
    elif which == "weight_array":
        net.synapses[1].weight = np.linspace(-0.5, 0.1, net.synapses[1].n_synapses)
    elif which == "i_ext":
        exc.i_ext = np.linspace(0.0, 0.6, exc.n)   # a homogeneous group becomes heterogeneous
    elif which == "lif_params":
        exc.params = dataclasses.replace(exc.params, tau_mem=14.0, v_th=1.1, t_ref=1.0, reset="subtract")
    elif which == "izh_params":
        inh.params = dataclasses.replace(inh.params, a=0.05, d=3.0)
    elif which == "poisson_rate":
        net.inputs[0].rate_hz = 1300.0
        net.inputs[0].weight = 0.12
    elif which == "noise":
        net.inputs[1].mean, net.inputs[1].std = np.full(inh.n, 6.0), 1.0


CHANGES = ["weight_scalar", "weight_array", "i_ext", "lif_params", "izh_params", "poisson_rate", "noise"]


@pytest.mark.parametrize("which", CHANGES)
def test_parameter_change_between_runs_equals_a_fresh_network_without_recompiling(which):
    """Run, restore the start, change a value, run again: the spikes of a network built with the
    new value (same seed), and the kernel's compiled signatures do not grow."""
    net = _brunel_like(np.float32)
    net.add_spike_monitor(name="spikes")
    net.store("start")
    net.run(20.0, progress=False)                 # compiled here (or loaded from the cache)
    before = net.monitors["spikes"].n_spikes
    n_sig = _signatures()
    net.restore("start")
    _changes(net, which)
    net.run(20.0, progress=False)
    assert _signatures() == n_sig
    fresh = _brunel_like(np.float32)
    _changes(fresh, which)                        # before its first run: packed by build_flat
    fresh.add_spike_monitor(name="spikes")
    fresh.run(20.0, progress=False)
    got, ref = net.monitors["spikes"], fresh.monitors["spikes"]
    np.testing.assert_array_equal(got.times_ms, ref.times_ms)
    np.testing.assert_array_equal(got.ids, ref.ids)
    assert got.n_spikes != before                 # the change matters for these spikes


def test_weight_change_mid_run_changes_the_jump_size():
    """A generator neuron spikes every 2 ms into a LIF target that never fires: each jump of ``v`` is
    the weight in force when the spike is delivered (analytic: ``v`` after the jump minus ``v``
    decayed from the step before)."""
    dt = 0.5
    net = Network(dt=dt, rng=0)
    post = net.add_lif(1, LIFParams(tau_mem=10.0, v_th=1e9))
    gen = net.add_spike_generator(1, np.arange(2.0, 40.0, 2.0), np.zeros(19, dtype=int))
    syn = net.connect(gen, post, p=1.0, weight=0.25, target="v")
    tr = net.add_state_monitor(post, "v")
    net.run(20.0, progress=False)
    syn.weight = -0.75
    assert syn.weight == -0.75
    net.run(20.0, progress=False)
    v = tr.v[:, 0]
    a = np.exp(-dt / 10.0)
    jumps = v[1:] / a - v[:-1]          # v[m+1] = (v[m] + jump[m]) a
    k = np.flatnonzero(np.abs(jumps) > 1e-9)
    np.testing.assert_array_equal(k, np.arange(4, 80, 4))   # spike at 2 ms = step 4 -> jump before step 4
    np.testing.assert_allclose(jumps[k], np.where(k < 40, 0.25, -0.75), rtol=1e-10)


def test_parameter_change_bad_input():
    net = _brunel_like()
    net.run(1.0, progress=False)
    exc, syn = net.groups["exc"], net.synapses[0]
    with pytest.raises(ValueError, match=rf"weight must be a scalar or have shape \({syn.n_synapses},\)"):
        syn.weight = np.ones(syn.n_synapses + 1)
    with pytest.raises(ValueError, match="weight must be finite"):
        syn.weight = float("inf")
    with pytest.raises(TypeError, match="boolean"):
        syn.weight = True
    with pytest.raises(TypeError, match="params must be LIFParams for a lif group, got IzhikevichParams"):
        exc.params = IzhikevichParams()
    with pytest.raises(ValueError, match="params arrays have length 3"):
        exc.params = LIFParams(tau_mem=np.ones(3) * 10.0)
    with pytest.raises(ValueError, match=r"i_ext must be a scalar or have shape \(40,\)"):
        exc.i_ext = np.ones(3)
    with pytest.raises(ValueError, match="NaN"):
        exc.i_ext = np.nan
    with pytest.raises(ValueError, match="rate_hz must be >= 0"):
        net.inputs[0].rate_hz = -1.0
    with pytest.raises(ValueError, match="std must be >= 0"):
        net.inputs[1].std = -1.0
    with pytest.raises(ValueError, match="weight must be a scalar"):
        net.inputs[0].weight = np.ones(2)
    with pytest.raises(ValueError, match="resizes spikegen.steps"):
        net.groups["gen"].params = ns.sim.SpikeTimes(4, [1.0], [0])
    with pytest.raises(ValueError, match="read-only"):
        exc.i_ext[0] = 5.0   # an in-place edit would bypass the update: the array is read-only
    # nothing above changed the network: it still runs as before
    ref = _brunel_like()
    ref.add_spike_monitor(name="s")
    ref.run(5.0, progress=False)
    net2 = _brunel_like()
    m = net2.add_spike_monitor(name="s")
    net2.run(1.0, progress=False)
    for bad in (lambda: setattr(net2.synapses[0], "weight", np.ones(2)), lambda: setattr(net2.inputs[1], "std", -1)):
        with pytest.raises(ValueError):
            bad()
    net2.run(4.0, progress=False)
    np.testing.assert_array_equal(m.times_ms, ref.monitors["s"].times_ms)


# ------------------------------------------------------------------------------ without JIT
_SCRIPT = r"""
import json, numpy as np, neurosim as ns
net = ns.sim.Network(dt=0.5, rng=3)
g = net.add_lif(6, ns.neurons.LIFParams(tau_mem=8.0, v_th=1.0, t_ref=1.0), name="g")
gen = net.add_spike_generator(3, [1.0, 1.0, 2.5, 4.0, 9.0], [0, 2, 1, 0, 2], name="gen")
net.connect(gen, g, p=0.8, weight=0.7, delay_ms=0.5, target="v")
net.connect(g, g, p=0.3, weight=0.2, target="ge")
net.add_poisson_input(g, 300.0, 0.4)
sp = net.add_spike_monitor(name="spikes")
rm = net.add_rate_monitor(bin_ms=1.0, name="rates")
net.run(5.0, progress=False)
net.store()
net.run(10.0, progress=False)
a = sp.times_ms.tolist()
net.restore()
g.params = ns.neurons.LIFParams(tau_mem=6.0, v_th=0.9, t_ref=1.0)
net.synapses[0].weight = 0.9
net.run(10.0, progress=False)
print(json.dumps({"a": a, "t": sp.times_ms.tolist(), "i": sp.ids.tolist(), "r": rm.counts.tolist()}))
"""


def test_sources_rates_store_and_updates_run_without_jit():
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    out = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    nojit = json.loads(out.stdout.strip().splitlines()[-1])
    from contextlib import redirect_stdout
    from io import StringIO

    buf = StringIO()
    with redirect_stdout(buf):
        exec(_SCRIPT, {})
    jit = json.loads(buf.getvalue().strip().splitlines()[-1])
    assert nojit == jit
    assert len(jit["a"]) > 5 and len(jit["t"]) > 5 and jit["a"] != jit["t"]
