"""STDP synapse groups, the weight monitor and Poisson source groups against NumPy references
(``tests/naive_sim_stdp.py``: weights replayed pair by pair from the recorded spikes)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import neurosim as ns
from naive_sim_stdp import group_replay, poisson_source_steps, spike_steps, stdp_replay

DT = 0.1


def _net(dtype, rule_a, rule_b, seed=0, delay_b=0.0):
    """Poisson sources -> LIF (rule_a) and LIF -> LIF recurrent (rule_b, autapses allowed), plus a static
    synapse group and a Poisson input that make the LIF neurons fire."""
    net = ns.sim.Network(dt=DT, dtype=dtype, rng=seed)
    src = net.add_poisson_group(7, np.linspace(5.0, 80.0, 7), name="src")
    lif = net.add_lif(5, ns.neurons.LIFParams(tau_mem=10.0, v_th=1.0, t_ref=1.0), name="lif")
    net.add_poisson_input(lif, 300.0, 0.3, target="v")
    wa = rule_a.w_max
    a = net.connect(src, lif, p=0.7, weight=lambda r, n: r.random(n) * wa, target="ge", plasticity=rule_a, name="a")
    wb = rule_b.w_max
    b = net.connect(lif, lif, p=0.6, weight=lambda r, n: r.random(n) * wb, target="v", plasticity=rule_b,
                    delay_ms=delay_b, name="b")
    net.connect(src, lif, p=0.3, weight=0.2, target="v", name="static")
    mon = net.add_spike_monitor(name="spikes")
    return net, a, b, mon


RULES = [
    ("all_to_all", "additive"), ("nearest", "additive"), ("all_to_all", "multiplicative"), ("nearest", "multiplicative"),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("pairing,bounds", RULES)
def test_weights_equal_pair_by_pair_replay(dtype, pairing, bounds):
    """Final weights of two STDP groups (different rules, one with per-synapse delays) equal the
    replay of the recorded spikes; the run is split in two calls of ``run``."""
    ra = ns.sim.STDP(w_max=0.4, tau_plus=16.8, tau_minus=33.7, A_plus=0.05, A_minus=0.06, pairing=pairing,
                     bounds=bounds, mu_plus=0.5, mu_minus=1.0)
    rb = ns.sim.STDP(w_max=0.3, tau_plus=10.0, tau_minus=20.0, A_plus=0.08, A_minus=0.07, pairing=pairing,
                     bounds=bounds, mu_plus=1.0, mu_minus=2.0)
    net, a, b, mon = _net(dtype, ra, rb, delay_b=lambda r, n: r.integers(0, 4, n) * DT)
    net.run(250.0, progress=False)
    net.run(250.0, progress=False)
    steps = spike_steps(mon, DT)
    lif = net.groups["lif"]
    assert sum(steps.get(i, np.zeros(0)).size for i in range(lif.start, lif.stop)) > 20  # the posts fire
    atol = 1e-12 if dtype == np.float64 else 2e-6
    for syn, rule in ((a, ra), (b, rb)):
        ref = group_replay(syn, steps, rule, DT)
        got = syn.weights
        assert got.dtype == dtype
        np.testing.assert_allclose(got, ref, rtol=0, atol=atol * rule.w_max)
        assert np.ptp(ref - np.broadcast_to(syn.weight, ref.shape)) > 0  # the weights changed


def test_transmitted_weight_is_the_weight_before_the_pre_update():
    """The conductance increment of each presynaptic spike equals the replayed weight before that spike's
    own depression (Brian2 order); the current barely decays (tau 1e12 ms), so increments are weights."""
    net = ns.sim.Network(dt=DT, rng=3)
    src = net.add_poisson_group(1, 40.0, name="src")
    post = net.add_lif(1, ns.neurons.LIFParams(tau_mem=10.0, v_th=1.0, tau_syn_inh=1e12), name="post")
    net.add_poisson_input(post, 200.0, 0.6, target="v")
    rule = ns.sim.STDP(w_max=1.0, A_plus=0.2, A_minus=0.25)
    syn = net.connect(src, post, pairs=([0], [0]), weight=0.5, target="gi", plasticity=rule)
    tr = net.add_state_monitor(post, ["gi"], every=1, name="tr")
    mon = net.add_spike_monitor(name="spikes")
    net.run(400.0, progress=False)
    steps = spike_steps(mon, DT)
    pre, pst = steps.get(src.start, np.zeros(0, int)), steps.get(post.start, np.zeros(0, int))
    assert pre.size > 5 and pst.size > 5
    w, sent = stdp_replay(pre, pst, 0.5, dt=DT, w_max=1.0, tau_plus=20.0, tau_minus=20.0, A_plus=0.2, A_minus=0.25)
    gi = tr.gi[:, 0]
    # a spike of step m is integrated in step m + 1 and shows in the sample at the start of step m + 2
    inc = gi[pre + 2] - gi[pre + 1]
    keep = pre + 2 < gi.size
    # atol: the accumulated gi (~1) decays by gi dt / tau ~ 1e-13 per step (a weight depressed to 0 sends 0)
    np.testing.assert_allclose(inc[keep], sent[keep], rtol=1e-9, atol=1e-12)
    assert syn.weights[0] == pytest.approx(w, abs=1e-12)
    assert len(set(np.round(sent, 9))) > 3  # the weight moved between spikes


def test_weight_monitor_snapshots_equal_replay_up_to_the_sample_step():
    ra = ns.sim.STDP(w_max=0.4, A_plus=0.05, A_minus=0.06)
    rb = ns.sim.STDP(w_max=0.3, A_plus=0.05, A_minus=0.06)
    net, a, b, mon = _net(np.float64, ra, rb, seed=5)
    wm = net.add_weight_monitor(a, every_ms=25.0, synapses=[0, 2, 3], name="wm")
    net.run(100.0, progress=False)
    net.run(60.0, progress=False)
    np.testing.assert_allclose(wm.t_ms, np.arange(0.0, 151.0, 25.0))
    steps = spike_steps(mon, DT)
    for t, row in zip(wm.t_ms, wm.w):
        ref = group_replay(a, steps, ra, DT, until=int(round(t / DT)))
        np.testing.assert_allclose(row, ref[[0, 2, 3]], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(wm.w[0], np.asarray(a.weight)[[0, 2, 3]])


def test_weights_setter_and_split_runs_give_the_same_spikes():
    """One run of 300 ms and three of 100 ms give identical spikes and weights (chunking, call
    boundaries and the Poisson rounds do not change the numbers)."""
    rule = ns.sim.STDP(w_max=0.4, A_plus=0.05, A_minus=0.06)
    out = []
    for parts in ([300.0], [100.0, 100.0, 100.0]):
        net, a, b, mon = _net(np.float32, rule, rule, seed=9)
        for k, d in enumerate(parts):
            net.run(d, progress=k == 1)
        out.append((mon.times_ms, mon.ids, a.weights, b.weights))
    for x, y in zip(*out):
        np.testing.assert_array_equal(x, y)
    net, a, b, mon = _net(np.float64, rule, rule, seed=9)
    net.run(10.0, progress=False)
    a.weights = 0.1
    np.testing.assert_array_equal(a.weights, np.full(a.n_synapses, 0.1))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(A_plus=st.floats(0.0, 3.0), A_minus=st.floats(0.0, 3.0), tau=st.floats(0.5, 100.0),
       pairing=st.sampled_from(["all_to_all", "nearest"]), bounds=st.sampled_from(["additive", "multiplicative"]),
       mu=st.floats(0.0, 3.0), seed=st.integers(0, 2 ** 31 - 1), w_max=st.floats(1e-3, 10.0))
def test_property_weights_stay_within_bounds(A_plus, A_minus, tau, pairing, bounds, mu, seed, w_max):
    rule = ns.sim.STDP(w_max=w_max, tau_plus=tau, tau_minus=2 * tau, A_plus=A_plus, A_minus=A_minus, pairing=pairing,
                       bounds=bounds, mu_plus=mu, mu_minus=mu)
    net, a, b, mon = _net(np.float32, rule, rule, seed=seed)
    net.run(60.0, progress=False)
    for syn in (a, b):
        w = syn.weights
        assert np.all(np.isfinite(w)) and w.min() >= 0 and w.max() <= np.float32(w_max)


# ----------------------------------------------------------------------------------- Poisson groups
def test_poisson_group_spikes_equal_the_documented_draw():
    rates = np.array([0.0, 3.0, 15.0, 120.0, 900.0, 10000.0])
    net = ns.sim.Network(dt=DT, rng=0)
    g = net.add_poisson_group(rates.size, rates, name="src", rng=np.random.default_rng(77))
    mon = net.add_spike_monitor(name="spikes")
    net.run(130.0, progress=False)
    net.run(70.0, progress=True)
    ref = poisson_source_steps(np.random.default_rng(77), rates * DT / 1000.0, 2000)
    got = spike_steps(mon, DT)
    for i in range(rates.size):
        np.testing.assert_array_equal(got.get(g.start + i, np.zeros(0, np.int64)), ref[i])
    assert got[g.start + 5].size == 2000  # p = 1: every step


def test_poisson_group_spikes_do_not_depend_on_the_chunking(monkeypatch):
    """Chunks of 3 steps (the event lists hold 3 rows) and widely spread rates give the documented draw."""
    import neurosim.sim.models as models

    monkeypatch.setattr(models, "POISSON_CHUNK_ELEMS", 3 * 5)
    rates = np.array([0.5, 40.0, 700.0, 0.0, 5000.0])
    net = ns.sim.Network(dt=DT, rng=0)
    g = net.add_poisson_group(rates.size, rates, name="src", rng=np.random.default_rng(5))
    mon = net.add_spike_monitor(name="spikes")
    net.run(40.0, progress=False)
    net.run(60.0, progress=False)
    assert net._flat.population("poisson").ev_ptr.size == 4
    ref = poisson_source_steps(np.random.default_rng(5), rates * DT / 1000.0, 1000)
    got = spike_steps(mon, DT)
    for i in range(rates.size):
        np.testing.assert_array_equal(got.get(g.start + i, np.zeros(0, np.int64)), ref[i])


def test_poisson_group_gaps_are_geometric_and_sources_independent():
    """Inter-spike gaps follow P(gap = j) = (1 - p)^(j - 1) p (chi-square over j = 1..12, 13+ pooled),
    and neighbouring sources are uncorrelated (their per-step spike indicators)."""
    from scipy import stats

    p = 0.2
    net = ns.sim.Network(dt=DT, rng=3)
    g = net.add_poisson_group(2, p * 1000.0 / DT, name="src")
    mon = net.add_spike_monitor(name="spikes")
    net.run(4000.0, progress=False)   # 40,000 steps: ~8,000 gaps per source
    steps = spike_steps(mon, DT)
    gaps = np.diff(steps[g.start])
    counts = np.bincount(np.minimum(gaps, 13), minlength=14)[1:]
    j = np.arange(1, 13)
    probs = np.append((1 - p) ** (j - 1) * p, (1 - p) ** 12)
    assert stats.chisquare(counts, probs * counts.sum()).pvalue > 1e-4
    a = np.zeros(40000)
    b = np.zeros(40000)
    a[steps[g.start]] = 1
    b[steps[g.start + 1]] = 1
    assert abs(np.corrcoef(a, b)[0, 1]) < 5 / np.sqrt(40000)


def test_poisson_group_rate():
    net = ns.sim.Network(dt=DT, rng=1)
    net.add_poisson_group(200, 15.0, name="src")
    mon = net.add_spike_monitor(name="spikes")
    net.run(2000.0, progress=False)
    n, p = 200 * 20000, 15.0 * DT / 1000.0  # Binomial(n, p) spike count
    assert abs(mon.n_spikes - n * p) < 5 * np.sqrt(n * p * (1 - p))


# ----------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("kw,field", [
    ({"w_max": 0.0}, "w_max"), ({"w_max": -1.0}, "w_max"), ({"w_max": 1.0, "tau_plus": 0.0}, "tau_plus"),
    ({"w_max": 1.0, "tau_minus": -5.0}, "tau_minus"), ({"w_max": 1.0, "pairing": "nn"}, "pairing"),
    ({"w_max": 1.0, "bounds": "soft"}, "bounds"), ({"w_max": 1.0, "A_plus": -0.1}, "A_plus"),
    ({"w_max": 1.0, "A_minus": float("nan")}, "A_minus"), ({"w_max": 1.0, "mu_plus": -1.0}, "mu_plus"),
])
def test_stdp_rule_validation(kw, field):
    with pytest.raises(ValueError, match=field):
        ns.sim.STDP(**kw)


def test_bad_input_errors():
    net = ns.sim.Network(dt=DT, rng=0)
    src = net.add_poisson_group(3, 10.0, name="src")
    lif = net.add_lif(2, name="lif")
    with pytest.raises(ValueError, match="weight must lie in"):
        net.connect(src, lif, p=1.0, weight=2.0, plasticity=ns.sim.STDP(w_max=1.0))
    with pytest.raises(ValueError, match="weight must lie in"):
        net.connect(src, lif, p=1.0, weight=-0.1, plasticity=ns.sim.STDP(w_max=1.0))
    with pytest.raises(TypeError, match="plasticity"):
        net.connect(src, lif, p=1.0, weight=0.1, plasticity="stdp")
    with pytest.raises(ValueError, match="target"):
        net.connect(lif, src, p=1.0, weight=0.1)  # nothing targets a source
    with pytest.raises(ValueError, match="rate_hz"):
        net.add_poisson_group(2, -1.0)
    with pytest.raises(ValueError, match="rate_hz"):
        net.add_poisson_group(2, 20000.0)  # > 1 spike per step of 0.1 ms
    static = net.connect(src, lif, p=1.0, weight=0.1)
    with pytest.raises(TypeError, match="plastic"):
        net.add_weight_monitor(static, every_ms=1.0)
    syn = net.connect(src, lif, p=1.0, weight=0.1, plasticity=ns.sim.STDP(w_max=1.0))
    with pytest.raises(ValueError, match="every_ms"):
        net.add_weight_monitor(syn, every_ms=0.05)
    with pytest.raises(ValueError, match="every_ms"):
        net.add_weight_monitor(syn, every_ms=-1.0)
    with pytest.raises(ValueError, match="synapses"):
        net.add_weight_monitor(syn, every_ms=1.0, synapses=[99])
    with pytest.raises(ValueError, match="weights"):
        syn.weights = 5.0


_SCRIPT = r"""
import json, numpy as np, neurosim as ns
out = {}
for dtype in (np.float32, np.float64):
    for pairing in ("all_to_all", "nearest"):
        net = ns.sim.Network(dt=0.1, dtype=dtype, rng=4)
        src = net.add_poisson_group(6, 40.0, name="src")
        lif = net.add_lif(3, ns.neurons.LIFParams(tau_mem=10.0, v_th=1.0), name="lif")
        net.add_poisson_input(lif, 300.0, 0.3, target="v")
        rule = ns.sim.STDP(w_max=0.5, A_plus=0.05, A_minus=0.06, pairing=pairing, bounds="multiplicative")
        a = net.connect(src, lif, p=1.0, weight=0.25, target="ge", plasticity=rule)
        b = net.connect(lif, lif, p=1.0, weight=0.25, target="v", delay_ms=0.3, plasticity=rule)
        m = net.add_spike_monitor(name="spikes")
        net.run(200.0, progress=False)
        key = f"{np.dtype(dtype).name}-{pairing}"
        out[key] = {"t": m.times_ms.tolist(), "i": m.ids.tolist(), "wa": a.weights.astype(float).tolist(),
                    "wb": b.weights.astype(float).tolist()}
print(json.dumps(out))
"""


def test_kernels_run_without_jit():
    """Under NUMBA_DISABLE_JIT=1 the STDP and Poisson kernels are plain Python and give the compiled
    spikes, and weights equal to 1e-6 relative (exp from a different libm path)."""
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    res = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    nojit = json.loads(res.stdout.strip().splitlines()[-1])
    res = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    jit = json.loads(res.stdout.strip().splitlines()[-1])
    for key in jit:
        assert nojit[key]["t"] == jit[key]["t"] and nojit[key]["i"] == jit[key]["i"], key
        for w in ("wa", "wb"):
            np.testing.assert_allclose(nojit[key][w], jit[key][w], rtol=1e-6, err_msg=key)
        assert len(jit[key]["t"]) > 10


def test_direct_delivery_equals_the_ring():
    """One LIF group with recurrent STDP at delay 0 runs in direct-delivery mode; adding a silent,
    unconnected source group (ids after the LIF group) forces the ring: identical spikes and weights."""
    rule = ns.sim.STDP(w_max=0.3, A_plus=0.05, A_minus=0.06)
    out = []
    for extra in (False, True):
        net = ns.sim.Network(dt=DT, rng=2)
        lif = net.add_lif(20, ns.neurons.LIFParams(tau_mem=10.0, v_th=1.0, t_ref=1.0), name="lif")
        net.add_poisson_input(lif, 400.0, 0.25, target="v")
        syn = net.connect(lif, lif, p=0.4, weight=lambda r, n: r.random(n) * 0.3, target="ge", plasticity=rule)
        mon = net.add_spike_monitor(lif, name="spikes")
        if extra:
            net.add_poisson_group(3, 0.0, name="silent")
        net.run(200.0, progress=False)
        assert net._flat["direct"] == (0 if extra else 1)
        out.append((mon.times_ms, mon.ids, syn.weights))
        ref = group_replay(syn, spike_steps(mon, DT), rule, DT)
        np.testing.assert_allclose(syn.weights, ref, rtol=0, atol=1e-12 * rule.w_max)
    assert out[0][0].size > 50
    for x, y in zip(*out):
        np.testing.assert_array_equal(x, y)
