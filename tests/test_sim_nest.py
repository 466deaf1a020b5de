"""The same ``sim.Network`` on NEST 3.10 (``neurosim.sim.nest``): deterministic and statistical parity,
the standalone script, the command line and bad input.

References: NEST itself (an independent implementation) for the parity tests, and for Izhikevich
a naive NumPy loop with NEST's arithmetic order. Spike times are compared exactly (both stamp a
spike at the end of its step, ``(m + 1) dt``); membrane traces within 1e-9 mV (the two exact LIF
propagators round differently in the last bits). NEST runs with one thread except where threads
are the point (the machine's two cores are shared; NEST's thread barrier spins).
"""
from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

nest = pytest.importorskip("nest", reason="NEST 3.10 is not installed (pip install nest-simulator)")

import neurosim as ns  # noqa: E402
from neurosim.neurons import IzhikevichParams, LIFParams  # noqa: E402
from neurosim.sim import Network  # noqa: E402
from neurosim.sim.nest import network_spec, read_nest_spikes  # noqa: E402

CUBA_LIKE = LIFParams(tau_mem=20.0, tau_syn=5.0, tau_syn_inh=10.0, v_rest=-65.0, v_th=-50.0, v_reset=-70.0,
                      t_ref=2.0, r=1.0)


def _quiet_run(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return fn()


def _same_spikes(a, b):
    assert a.n_spikes > 0
    np.testing.assert_array_equal(a.times_ms, b.times_ms)
    np.testing.assert_array_equal(a.ids, b.ids)


def _lif_exp_net(n=20, T=3000, seed=1):
    """LIF exp-current neurons (heterogeneous v0, i_ext), a timed input into i_syn, spike generators through
    explicit synapses on both currents (per-synapse weights and delays), recurrent synapses."""
    rng = np.random.default_rng(seed)
    net = Network(dt=0.1, dtype=np.float64, rng=0)
    g = net.add_lif(n, CUBA_LIKE, v0=np.linspace(-70, -55, n), i_ext=np.linspace(0, 14.0, n), name="lif")
    vals = np.zeros((T, n))
    vals[2:] = (rng.random((T - 2, n)) < 0.02) * rng.uniform(0, 20, (T - 2, n))
    net.add_timed_input(g, vals, target="i_syn")
    gen = net.add_spike_generator(5, times_ms=rng.choice(np.arange(1, T), 200, replace=False) * 0.1,
                                  ids=rng.integers(0, 5, 200), name="gen")
    pre, post = rng.integers(0, 5, 60), rng.integers(0, n, 60)
    net.connect(gen, g, pairs=(pre, post), weight=rng.uniform(0.5, 8, 60),
                delay_ms=rng.integers(1, 20, 60) * 0.1, target="i_syn")
    net.connect(gen, g, p=0.5, weight=-6.0, delay_ms=0.5, target="gi", rng=3)
    net.connect(g, g, p=0.2, weight=3.0, delay_ms=1.0, target="i_syn", rng=4)
    net.add_spike_monitor([g, gen], name="spikes")
    net.add_state_monitor(g, ["v"], neurons=[0, 5, n - 1], every=3, name="st")
    return net


def test_lif_exp_current_gives_identical_spikes():
    """iaf_psc_exp vs neurosim's exact LIF: the same spike times, ids and membrane samples; two NEST runs
    of 150 ms continue like one of 300 ms (spikes held back across the multimeter's slice lag)."""
    net = _lif_exp_net()
    nn = net.to_nest()
    nn.run(150.0).run(150.0)
    net.run(300.0, progress=False)
    _same_spikes(nn.monitors["spikes"], net.monitors["spikes"])
    assert np.any(nn.monitors["spikes"].ids >= net.groups["gen"].start)  # generator spikes are reported
    sa, sb = nn.monitors["st"], net.monitors["st"]
    np.testing.assert_array_equal(sa.t_ms, sb.t_ms)
    np.testing.assert_allclose(sa.v, sb.v, rtol=0, atol=1e-9)
    assert net.monitors["spikes"].n_spikes > 30


def test_lif_delta_gives_identical_spikes():
    """Voltage jumps -> iaf_psc_delta (delay D + 1 steps, weight w exp(-dt/tau_m)): identical spikes, with
    refractory drops, delay 0 (exact for jumps), recurrence and a Poisson source group's spikes recorded."""
    rng = np.random.default_rng(5)
    net = Network(dt=0.1, dtype=np.float64, rng=2)
    p = LIFParams(tau_mem=rng.uniform(10, 30, 30), v_rest=0.0, v_th=20.0, v_reset=rng.uniform(0, 10, 30),
                  t_ref=2.0)
    g = net.add_lif(30, p, v0=rng.uniform(0, 19, 30), i_ext=rng.uniform(10, 25, 30), name="d")
    gen = net.add_spike_generator(4, times_ms=np.arange(1.0, 400.0, 0.7), ids=np.arange(570) % 4, name="gen")
    net.connect(gen, g, p=0.5, weight=lambda r, k: r.uniform(-3, 6, k), delay_ms=0.0, target="v", rng=1)
    net.connect(g, g, p=0.3, weight=lambda r, k: r.uniform(-2, 2.5, k),
                delay_ms=lambda r, k: r.integers(0, 30, k) * 0.1, target="v", rng=2)
    vals = np.zeros((4000, 30))
    vals[1::50] = 4.0
    net.add_timed_input(g, vals, target="v")
    net.add_spike_monitor(name="spikes")
    nn = net.to_nest()
    nn.run(400.0)
    net.run(400.0, progress=False)
    _same_spikes(nn.monitors["spikes"], net.monitors["spikes"])
    assert nn.spec["populations"][0]["model"] == "iaf_psc_delta"


def _nest_order_izhikevich(p, i_e, v, u, steps, h=1.0):
    """Naive loop with NEST's arithmetic order (models/izhikevich.cpp, consistent_integration=False)."""
    times, ids = [], []
    for s in range(steps):
        for _ in range(2):
            v = v + h * 0.5 * (0.04 * v * v + 5.0 * v + 140.0 - u + 0.0 + i_e + 0.0)
        u = u + h * p.a * (p.b * v - u)
        spk = v >= p.v_peak
        v = np.where(spk, p.c, v)
        u = np.where(spk, u + p.d, u)
        times += [(s + 1) * h] * int(spk.sum())
        ids += np.flatnonzero(spk).tolist()
    return np.array(times), np.array(ids)


@pytest.mark.parametrize("preset", ["RS", "IB", "CH", "FS", "LTS", "TC", "RZ"])
def test_izhikevich_presets_at_dt_1ms(preset):
    """izhikevich (consistent_integration=False) = the 2003 half steps. With ``order="nest"`` ((0.04 v) v, NEST's
    order) neurosim's spikes are NEST's over 1 s, and both equal a NumPy loop in NEST's arithmetic order. The
    default order (the listing's 0.04 (v v)) is warned on export and agrees for the first 60 ms only: last-bit
    differences, amplified ~x10 per 10 ms on the upstroke at dt = 1 ms, then move spikes."""
    i_e = np.array([3.0, 5.0, 10.0, 15.0])
    nets = {}
    for order in ("nest", "listing"):
        net = Network(dt=1.0, dtype=np.float64, rng=0)
        g = net.add_izhikevich(4, IzhikevichParams.preset(preset, order=order), v0=-65.0, i_ext=i_e, name="izh")
        net.add_spike_monitor(name="spikes")
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            nets[order] = (net, net.to_nest())
        assert any("(0.04 v) v" in str(w.message) for w in rec) == (order == "listing")
    net, nn = nets["nest"]
    g = net.groups["izh"]
    nn.run(1000.0)
    net.run(1000.0, progress=False)
    _same_spikes(nn.monitors["spikes"], net.monitors["spikes"])
    t, i = _nest_order_izhikevich(g.params, i_e, np.full(4, -65.0), g.params.b * -65.0, 1000)
    order = np.lexsort((i, t))
    np.testing.assert_array_equal(nn.monitors["spikes"].times_ms, t[order])
    np.testing.assert_array_equal(nn.monitors["spikes"].ids, i[order])
    assert nn.monitors["spikes"].n_spikes > 4 * 5
    net, nn = nets["listing"]
    nn.run(60.0)
    net.run(60.0, progress=False)
    _same_spikes(nn.monitors["spikes"], net.monitors["spikes"])


def test_izhikevich_with_synaptic_input_gives_identical_spikes():
    """Izhikevich (order="nest") driven by spike generators and recurrent synapses (target ``i``: a current over
    the step, NEST delay D + 1): identical spikes over 1 s."""
    rng = np.random.default_rng(0)
    net = Network(dt=1.0, dtype=np.float64, rng=0)
    g = net.add_izhikevich(6, IzhikevichParams.preset("RS", order="nest"), v0=-65.0,
                           i_ext=np.linspace(0.0, 6.0, 6), name="izh")
    gen = net.add_spike_generator(5, times_ms=np.sort(rng.choice(np.arange(1, 1000), 300, replace=False)) * 1.0,
                                  ids=rng.integers(0, 5, 300), name="gen")
    pre, post = np.divmod(np.arange(30), 6)
    net.connect(gen, g, pairs=(pre, post), weight=rng.uniform(2.0, 8.0, 30), delay_ms=2.0, target="i")
    net.connect(g, g, p=0.5, weight=-3.0, delay_ms=1.0, target="i", rng=2)
    net.add_spike_monitor(g, name="spikes")
    nn = net.to_nest()
    nn.run(1000.0)
    net.run(1000.0, progress=False)
    _same_spikes(nn.monitors["spikes"], net.monitors["spikes"])
    assert net.monitors["spikes"].n_spikes > 30


# ------------------------------------------------------------------------------ statistical parity
def _rates(make, duration, seeds=(1, 2, 3)):
    out = []
    for seed in seeds:
        net = make(seed)
        nn = _quiet_run(lambda: net.to_nest(seed=seed))
        nn.run(duration)
        net.run(duration, progress=False)
        scale = 1000.0 / (net.n_neurons * duration)
        out.append((nn.monitors["spikes"].n_spikes * scale, net.monitors["spikes"].n_spikes * scale))
    return np.array(out)


@pytest.mark.parametrize("name,make,duration", [
    ("cuba", lambda s: ns.sim.cuba(4000, rng=s, dtype=np.float64), 1000.0),
    ("brunel", lambda s: ns.sim.brunel(n_neurons=2500, rng=s, dtype=np.float64), 500.0),
    ("izhikevich2003", lambda s: ns.sim.izhikevich2003(rng=s, dtype=np.float64), 2000.0),
    ("coba", lambda s: ns.sim.coba(2000, rng=s, dtype=np.float64), 400.0),
])
def test_canonical_networks_rates_match(name, make, duration):
    """Same connectivity and initial state, three seeds: NEST's mean rate within 5 % of neurosim's, every
    seed within 10 % (CUBA exported with delay one step instead of 0; Brunel's delta synapses, Poisson
    input and 1.5 ms delay exactly; Izhikevich's thalamic noise as noise_generator; COBA's conductance LIF as
    iaf_cond_exp: RKF45 against neurosim's Euler, >= against >)."""
    r = _rates(make, duration)
    assert np.all(r > 1.0), r
    assert abs(r[:, 0].mean() / r[:, 1].mean() - 1) < 0.05, r
    assert np.all(np.abs(r[:, 0] / r[:, 1] - 1) < 0.10), r


@pytest.mark.parametrize("synapse", ["conductance", "current"])
def test_adex_network_rates_match(synapse):
    """A recurrent AdEx network (400 exc, 100 inh, delays 1 ms) driven by a Poisson source group -> aeif_cond_exp /
    aeif_psc_exp; three seeds: mean rate within 5 %, each seed within 10 % (RKF45 against Euler, >= against >)."""
    from neurosim.neurons.adex import AdExParams

    def make(seed):
        net = Network(dt=0.1, dtype=np.float64, rng=seed)
        p = AdExParams(synapse=synapse, tau_syn=5.0, tau_syn_inh=10.0, t_ref=2.0)
        rng = np.random.default_rng(seed)
        e = net.add_adex(400, p, v0=rng.uniform(-70, -55, 400), name="e")
        i = net.add_adex(100, p, v0=rng.uniform(-70, -55, 100), name="i")
        we, wi, wx = (1.0, 4.0, 2.0) if synapse == "conductance" else (60.0, -240.0, 120.0)
        for pre, w, target in ((e, we, "ge"), (i, wi, "gi")):
            for post in (e, i):
                net.connect(pre, post, p=0.05, weight=w, delay_ms=1.0, target=target)
        src = net.add_poisson_group(200, 60.0 if synapse == "conductance" else 50.0, name="src")
        for post in (e, i):
            net.connect(src, post, p=0.2, weight=wx, delay_ms=0.5, target="ge")
        net.add_spike_monitor([e, i], name="spikes")
        return net

    r = _rates(make, 500.0) * 700 / 500  # the monitor holds 500 of the 700 ids (sources excluded)
    assert np.all(r > 5.0), r
    assert abs(r[:, 0].mean() / r[:, 1].mean() - 1) < 0.05, r
    assert np.all(np.abs(r[:, 0] / r[:, 1] - 1) < 0.10), r


@pytest.mark.parametrize("form,tau_fac", [("tsodyks2", 0.0), ("tsodyks2", 300.0), ("three_state", 0.0),
                                           ("three_state", 200.0)])
def test_stp_gives_identical_spikes(form, tau_fac):
    """Tsodyks-Markram synapses -> tsodyks2_synapse / tsodyks_synapse (through parrots from spike generators):
    the same spikes and membrane potentials (the efficacies are the same numbers)."""
    from neurosim.sim.stp import TsodyksMarkram

    net = Network(dt=0.1, dtype=np.float64, rng=0)
    p = LIFParams(tau_mem=20.0, tau_syn=3.0, v_rest=0.0, v_th=1.0, v_reset=0.0, t_ref=2.0)
    post = net.add_lif(4, p, i_ext=0.8, name="post")
    rng = np.random.default_rng(2)
    gen = net.add_spike_generator(6, times_ms=np.sort(rng.choice(np.arange(2, 5000), 600, replace=False)) * 0.1,
                                  ids=rng.integers(0, 6, 600), name="gen")
    net.connect(gen, post, p=0.7, weight=lambda r, k: r.uniform(2, 6, k), delay_ms=0.4, target="i_syn", rng=1,
                stp=TsodyksMarkram(U=0.4, tau_rec=150.0, tau_fac=tau_fac, form=form, tau_psc=3.0), name="stp")
    net.add_spike_monitor([post], name="spikes")
    st = net.add_state_monitor(post, ["v"], every=1, name="st")
    nn = _quiet_run(net.to_nest)
    nn.run(500.0)
    net.run(500.0, progress=False)
    _same_spikes(nn.monitors["spikes"], net.monitors["spikes"])
    assert net.monitors["spikes"].n_spikes > 20
    np.testing.assert_allclose(nn.monitors["st"].v, st.v, rtol=0, atol=1e-9)


def test_hh_firing_rates_match():
    """HH (Traub-Miles) -> hh_cond_exp_traub with the gates set: spike counts of a constant-current f-I curve
    within 2 % (one spike in 1 s); NEST stamps the peak, neurosim the -20 mV crossing ~0.1 ms earlier."""
    net = Network(dt=0.01, dtype=np.float64, rng=0)
    net.add_hh(5, i_ext=np.array([200.0, 300.0, 500.0, 800.0, 1200.0]), name="hh")
    net.add_spike_monitor(name="spikes")
    nn = _quiet_run(net.to_nest)
    nn.run(1000.0)
    net.run(1000.0, progress=False)
    a, b = (np.bincount(m.ids, minlength=5) for m in (nn.monitors["spikes"], net.monitors["spikes"]))
    assert np.all(b >= 40), b
    assert np.all(np.abs(a - b) <= np.maximum(1, 0.02 * b)), (a, b)
    first = nn.monitors["spikes"].times_ms[0] - net.monitors["spikes"].times_ms[0]
    assert 0.0 <= first <= 0.3


def _pair_rule(pre_times, post_times, w0, rule, shift):
    """Naive pair-based additive STDP on event lists: post spikes seen ``shift`` ms late at the synapse (NEST's
    dendritic delay; neurosim 0), LTD at a pre spike from the earlier post spikes, LTP at a post spike."""
    w = w0
    events = sorted([(t, 0) for t in pre_times] + [(t + shift, 1) for t in post_times])
    for t, kind in events:
        if kind == 0:
            w += -rule.A_minus * sum(np.exp(-(t - s) / rule.tau_minus) for s, k in events if k == 1 and s < t)
        else:
            w += rule.A_plus * sum(np.exp(-(t - s) / rule.tau_plus) for s, k in events if k == 0 and s <= t)
        w = min(max(w, 0.0), 1.0)
    return w * rule.w_max


def test_stdp_weights_follow_the_pair_rule():
    """STDP -> stdp_synapse (Wmax = w_max, lambda = A_plus, alpha = A_minus / A_plus, mu = 0, tau_minus on the
    neuron). Pre spikes from generators (via parrots), post spikes forced by a strong drive; weights too small to
    move the post spikes. NEST's weights (read with the potentiation it applies only at the next pre spike) follow
    the pair rule with post spikes seen one delay late, neurosim's with no shift."""
    net = Network(dt=0.1, dtype=np.float64, rng=0)
    post = net.add_lif(1, LIFParams(tau_mem=10.0, tau_syn=0.5, v_th=1.0, t_ref=1.0), name="post")
    drive = net.add_spike_generator(1, times_ms=np.arange(10.0, 200.0, 10.0), ids=np.zeros(19, int), name="drive")
    net.connect(drive, post, p=1.0, weight=100.0, delay_ms=0.1, target="i_syn")
    pre_t = {0: [5.0, 60.0], 1: [12.0, 95.2], 2: [18.3, 130.0], 3: [31.0], 4: [47.5]}
    times = np.concatenate(list(pre_t.values()))
    ids = np.concatenate([np.full(len(v), k) for k, v in pre_t.items()])
    pre = net.add_spike_generator(5, times_ms=times, ids=ids, name="pre")
    rule = ns.sim.STDP(w_max=0.001, A_plus=0.1, A_minus=0.12, tau_plus=15.0, tau_minus=25.0)
    syn = net.connect(pre, post, p=1.0, weight=0.0005, delay_ms=0.5, target="i_syn", plasticity=rule, name="plastic")
    net.add_spike_monitor([post], name="spikes")
    nn = _quiet_run(net.to_nest)
    nn.run(200.0)
    net.run(200.0, progress=False)
    _same_spikes(nn.monitors["spikes"], net.monitors["spikes"])
    post_t = net.monitors["spikes"].times_ms
    assert nn.spec["populations"][0]["params"]["tau_minus"] == 25.0
    for k in range(5):
        assert syn.weights[k] == pytest.approx(_pair_rule(pre_t[k], post_t, 0.5, rule, 0.0), rel=1e-9)
        assert nn.weights("plastic")[k] == pytest.approx(_pair_rule(pre_t[k], post_t, 0.5, rule, 0.5), rel=1e-9)


def _song_abbott_on_trains(seed: int, ms: float):
    """Song-Abbott (SIMULATION.md section 4, published rule) with neurosim's Poisson trains of ``ms`` replayed
    by a spike generator, so that neurosim and NEST see identical input spikes."""
    from neurosim.sim.canonical_stdp import SONG_ABBOTT_NEURON

    ref = ns.sim.song_abbott_stdp(1000, rng=seed)
    w0 = np.asarray(ref.synapses[0].weight, dtype=np.float64)
    inp = ref.add_spike_monitor("inputs", name="inp")
    ref.run(ms, progress=False)
    net = Network(dt=0.1, dtype=np.float64, rng=seed)
    keep = inp.times_ms >= 0.2 - 1e-9  # NEST relays generator spikes to plastic synapses via parrots (one step)
    gen = net.add_spike_generator(1000, inp.times_ms[keep], inp.ids[keep] - ref.groups["inputs"].start, name="inputs")
    post = net.add_lif_cond(1, SONG_ABBOTT_NEURON, v0=0.0, name="post")
    rule = ns.sim.STDP(w_max=0.01, tau_plus=20.0, tau_minus=20.0, A_plus=0.01, A_minus=0.0105)
    net.connect(gen, post, pairs=(np.arange(1000), np.zeros(1000, dtype=np.int64)), weight=w0, target="ge",
                plasticity=rule, name="plastic")
    net.add_spike_monitor(post, name="post")
    return net, w0


def test_song_abbott_stdp_final_weights_match():
    """Song-Abbott on identical input trains (neurosim's, replayed by spike generators in both simulators),
    20 s, two seeds: final weight histograms agree to KS < 0.05 (the issue's bound) while both moved away
    from the initial weights (KS > 0.05); NEST's output rate is lower (see below). (Per synapse they differ:
    NEST's minimum delay of one step shifts the post spikes, and the trains diverge.)"""
    from scipy.stats import ks_2samp

    for seed in (1, 2):
        net, w0 = _song_abbott_on_trains(seed, 20000.0)
        nn = _quiet_run(lambda: net.to_nest(seed=seed))
        nn.run(20000.0)
        net.run(20000.0, progress=False)
        a, b = nn.weights("plastic") / 0.01, net.synapses[0].weights / 0.01
        # both must learn: the weights left unchanged (a mapping without plasticity) give KS(w0, w) ~ 0.06
        assert ks_2samp(w0 / 0.01, b).statistic > 0.05 and ks_2samp(w0 / 0.01, a).statistic > 0.05
        assert ks_2samp(a, b).statistic < 0.05
        n_nest, n_ns = nn.monitors["post"].n_spikes, net.monitors["post"].n_spikes
        # NEST's stdp_synapse sends the weight after the spike's own depression (Brian2 and neurosim: before),
        # so the post neuron gets less drive and fires ~15-20 % less here; the weight histograms still agree
        assert 0.7 * n_ns < n_nest <= n_ns


# ------------------------------------------------------------------------------ script, CLI
def test_write_nest_script_runs_with_threads_and_matches_to_nest(tmp_path):
    """run_nest.py (numpy + nest only) in a subprocess with 2 NEST threads: the per-rank files merge into the
    spikes ``to_nest(threads=2)`` gives (same seed: the Poisson generators draw the same numbers)."""
    net = _lif_exp_net(n=12, T=1000)
    src = net.add_poisson_group(6, 80.0, name="src")
    net.connect(src, "lif", p=0.5, weight=5.0, delay_ms=0.3, target="i_syn", rng=7)
    net.add_spike_monitor(["lif", src], name="both")
    path = net.write_nest_script(tmp_path, duration_ms=100.0)
    out = subprocess.run([sys.executable, path, "--threads", "2", "--seed", "3"], capture_output=True, text=True,
                         timeout=300, env={**os.environ, "PYTHONPATH": ""})
    assert out.returncode == 0, out.stderr[-2000:]
    with open(path) as fh:
        assert "neurosim" not in "".join(line for line in fh if line.startswith(("import", "from")))
    nn = _quiet_run(lambda: net.to_nest(threads=2, seed=3))
    nn.run(100.0)
    for name in ("spikes", "both"):
        _same_spikes(read_nest_spikes(tmp_path, name), nn.monitors[name])
    assert np.any(read_nest_spikes(tmp_path, "both").ids >= src.start)


_CONNECT_LIST = """
import json, sys
import numpy as np
import nest
from neurosim.sim.nest import build as b
nest.set_verbosity("M_ERROR")
nest.ResetKernel()
pre, post = nest.Create("parrot_neuron", 5), nest.Create("iaf_psc_exp", 9)
a = json.loads(sys.argv[1])
local = None if a["local"] is None else np.asarray(a["local"], dtype=bool)
b._connect_list(nest, b._ids(pre), b._ids(post), np.asarray(a["source"]), np.asarray(a["target"]),
                np.asarray(a["weight"]), a["delay"], 0, local=local, chunk=a["chunk"])
c = nest.GetConnections(source=pre)
print(json.dumps({k: [float(x) for x in c.get(k)] for k in ("source", "target", "weight", "delay")}))
"""


def test_connect_list_keeps_local_targets_in_order_chunk_by_chunk():
    """``build._connect_list`` (what each MPI rank runs on the memory-mapped synapse list): chunks of 7 with a
    rank's local-target flags create exactly the synapses whose target is local, with their weights; without flags, all of them. Real NEST, in a subprocess (NEST and torch's OpenMP in one process
    crash on ``ResetKernel``)."""
    import json

    rng = np.random.default_rng(0)
    m = 40
    src, tgt = rng.integers(0, 5, m), rng.integers(0, 9, m)
    w = rng.uniform(1, 5, m).round(3)
    flags = rng.random(9) < 0.5
    for local, chunk in ((flags, 7), (None, 7), (flags, 1000)):
        arg = dict(source=src.tolist(), target=tgt.tolist(), weight=w.tolist(), delay=0.5, chunk=chunk,
                   local=None if local is None else local.tolist())
        out = subprocess.run([sys.executable, "-c", _CONNECT_LIST, json.dumps(arg)], capture_output=True, text=True,
                             timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        got = json.loads(out.stdout.strip().splitlines()[-1])
        keep = np.ones(m, bool) if local is None else local[tgt]
        assert 0 < keep.sum() <= m
        # GetConnections lists by thread and source: compare the (source, target, weight) multisets
        ref = np.stack([src[keep], tgt[keep], w[keep]], axis=1)
        mine = np.stack([np.asarray(got["source"]) - 1, np.asarray(got["target"]) - 6, got["weight"]], axis=1)
        np.testing.assert_array_equal(mine[np.lexsort(mine.T[::-1])], ref[np.lexsort(ref.T[::-1])])
        assert set(got["delay"]) == {0.5}


def test_script_arrays_are_memory_mapped_and_round_trip(tmp_path):
    """``network/`` holds one .npy per array, mapped read-only by ``load_spec``; a re-export replaces it whole."""
    from neurosim.sim.nest.build import load_spec, save_spec

    net = _lif_exp_net(n=8, T=1000)
    net.write_nest_script(tmp_path, duration_ms=20.0)
    spec = _quiet_run(lambda: network_spec(net))
    got = load_spec(tmp_path / "network")
    proj = got["projections"][0]
    assert isinstance(proj["source"], np.memmap) and not proj["source"].flags.writeable
    for a, b in zip(spec["projections"], got["projections"]):
        for key in ("source", "target", "weight", "delay"):
            np.testing.assert_array_equal(a[key], b[key])
    assert got["duration_ms"] == 20.0 and got["n_neurons"] == spec["n_neurons"]
    save_spec(tmp_path / "x.npz", spec)                  # the .npz form reads the same
    np.testing.assert_array_equal(load_spec(tmp_path / "x.npz")["projections"][1]["weight"],
                                  spec["projections"][1]["weight"])
    before = sorted(os.listdir(tmp_path / "network"))
    net.write_nest_script(tmp_path, duration_ms=30.0)
    assert sorted(os.listdir(tmp_path / "network")) == before and load_spec(tmp_path / "network")["duration_ms"] == 30.0
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".network-")]


def test_run_backend_nest_fills_the_networks_monitors():
    net = _lif_exp_net(n=10, T=500)
    mon = net.monitors["spikes"]
    net.run(50.0, backend="nest")
    ref = _lif_exp_net(n=10, T=500)
    ref.run(50.0, progress=False)
    _same_spikes(mon, ref.monitors["spikes"])
    assert net.timing["nest_build_wall_s"] > 0 and net.timing["sim_wall_s"] >= 0
    with pytest.raises(RuntimeError, match="already run"):
        net.run(10.0, backend="nest")
    with pytest.raises(RuntimeError, match="NEST run"):
        net.run(10.0)


# ------------------------------------------------------------------------------ bad input
def _small(target="i_syn", params=CUBA_LIKE):
    net = Network(dt=0.1, rng=0)
    g = net.add_lif(3, params, name="g")
    net.connect(g, g, p=1.0, weight=1.0, delay_ms=0.5, target=target)
    return net


def test_unmapped_model_and_options_are_named(monkeypatch):
    from neurosim.sim.nest import export

    net = Network(dt=0.1, rng=0)
    net.add_adex(2, name="ad")
    monkeypatch.delitem(export.NEURON_MAPPERS, "adex")
    with pytest.raises(ValueError, match="group 'ad'.*'adex' model has no NEST mapping"):
        network_spec(net)
    monkeypatch.undo()
    cond = Network(dt=0.1, rng=0)
    c = cond.add_lif_cond(2, name="c")
    cond.connect(c, c, p=1.0, weight=0.1, target="v")
    with pytest.raises(ValueError, match="group 'c': target 'v' .* conductance LIF group has no NEST equivalent"):
        _quiet_run(lambda: network_spec(cond))
    hh = Network(dt=0.01, rng=0)
    h = hh.add_hh(2, name="h")
    hh.connect(h, h, p=1.0, weight=1.0, target="i", name="cur")
    with pytest.raises(ValueError, match="synapse group 'cur': target 'i' of a hh group has no NEST mapping"):
        _quiet_run(lambda: network_spec(hh))
    with pytest.raises(ValueError, match=r"reset='subtract'.*use reset='zero'"):
        network_spec(_small(params=LIFParams(reset="subtract")))
    mixed = _small()
    mixed.connect("g", "g", p=1.0, weight=1.0, target="v")
    with pytest.raises(ValueError, match="group 'g' receives both currents"):
        network_spec(mixed)
    neg = _small()
    neg.connect("g", "g", p=1.0, weight=-1.0, target="i_syn", name="bad")
    with pytest.raises(ValueError, match="synapse group 'bad': negative weights on target 'i_syn'"):
        network_spec(neg)


def test_conversions_warn_what_changes():
    net = Network(dt=0.1, rng=0)
    g = net.add_lif(3, CUBA_LIKE, name="g")
    net.connect(g, g, p=1.0, weight=1.0, delay_ms=0.0, target="i_syn", name="d0")
    with pytest.warns(UserWarning, match="synapse group 'd0': delay 0 has no NEST equivalent.*one step later"):
        spec = network_spec(net)
    assert np.all(spec["projections"][0]["delay"] == 0.1)
    t = Network(dt=0.1, rng=0)
    t.add_timed_input(t.add_lif(2, CUBA_LIKE, name="g"), np.ones((5, 2)))
    with pytest.warns(UserWarning, match="values before t = 0.2 ms .* added at t = 0.2 ms"):
        spec = network_spec(t)
    stim = spec["stimuli"][0]
    assert stim["spike_weights"].sum() == pytest.approx(10.0)  # nothing lost: moved to the earliest step


def test_resolution_threads_and_missing_nest(monkeypatch):
    net = _small()
    with pytest.raises(ValueError, match="resolution=0.03 ms does not divide"):
        network_spec(net, resolution=0.03)
    with pytest.raises(ValueError, match="not a whole number of NEST tics"):
        network_spec(net, resolution=0.0001)
    with pytest.raises(ValueError, match="resolution must be a positive"):
        network_spec(net, resolution=-1.0)
    with pytest.warns(UserWarning, match="resolution=0.05 ms differs"):
        network_spec(net, resolution=0.05)
    cores = len(os.sched_getaffinity(0))
    with pytest.warns(UserWarning, match=f"threads={cores + 1} exceeds the {cores} CPU cores"):
        _small().to_nest(threads=cores + 1)
    monkeypatch.setitem(sys.modules, "nest", None)
    with pytest.raises(ImportError, match="pip install nest-simulator"):
        _small().to_nest()


def test_cli_simulate_backend_nest(tmp_path, capsys, monkeypatch):
    """``neurosim simulate cuba --backend nest --threads 1``: summary with the backend and NEST's timings, the
    rate of the same network within 15 % of neurosim's over 200 ms; missing NEST is ``error:`` and exit 2."""
    import json

    from neurosim.cli import main

    args = ["simulate", "cuba", "--neurons", "1000", "--duration-ms", "200", "--no-progress", "--seed", "1"]
    assert main([*args, "--backend", "nest", "--threads", "1", "--out", str(tmp_path / "n")]) == 0
    assert main([*args, "--out", str(tmp_path / "s")]) == 0
    sn, ss = (json.loads((tmp_path / d / "summary.json").read_text()) for d in "ns")
    assert sn["backend"] == "nest" and ss["backend"] == "neurosim"
    assert sn["nest_build_wall_s"] > 0 and sn["sim_wall_s"] > 0 and sn["threads"] == 1
    assert sn["n_synapses"] == ss["n_synapses"]
    assert abs(sn["rate_hz"] / ss["rate_hz"] - 1) < 0.15, (sn["rate_hz"], ss["rate_hz"])
    assert any("delay 0 has no NEST equivalent" in w for w in sn["warnings"])
    capsys.readouterr()
    assert main([*args, "--backend", "brian", "--out", str(tmp_path / "b")]) == 2
    assert "error: backend must be 'neurosim' or 'nest'" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "nest", None)
    assert main([*args, "--backend", "nest", "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "pip install nest-simulator" in err and "Traceback" not in err
