"""AdEx neurons (kernels/adex.py, neurosim/neurons/adex.py, Network.add_adex): the spec's measured Brian2
anchors, naive NumPy references, a hypothesis property, validation, and a NUMBA_DISABLE_JIT run."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import naive_sim_adex as naive
from neurosim.neurons.adex import ADEX_PRESETS, NAUD_CURRENTS, AdExParams, AdExState, adex_run
from neurosim.sim import Network

DT = 0.1
#: SIMULATION.md section 3 [measured, Brian2 2.9 Euler dt 0.1 ms; Brian stamps a spike at the start of its step]
BRETTE_GERSTNER_MS = [31.8, 45.5, 61.4, 80.1, 102.1]
#: pattern -> (spike count in 600 ms, first spike ms)
NAUD = {"tonic": (60, 14.4), "adapting": (12, 15.1), "initial_burst": (12, 5.7), "regular_bursting": (11, 16.4),
        "delayed_accelerating": (45, 33.8), "delayed_regular_bursting": (32, 57.5), "transient": (1, 30.4),
        "irregular": (33, 15.9)}


def _brette_gerstner_current(dt):
    xs = np.zeros((int(round(140 / dt)), 1))
    xs[int(round(20 / dt)):int(round(120 / dt))] = 1000.0  # pA: 0 for 20 ms, 1 nA for 100 ms, 0 for 20 ms
    return xs


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_brette_gerstner_spike_times_match_brian2(dtype):
    """5 spikes within +-0.2 ms of Brian2's (spec); here each is Brian's time + dt (our stamp is the step's end)."""
    p = AdExParams()
    xs = _brette_gerstner_current(DT).astype(dtype)
    spikes, _ = adex_run(xs, AdExState.initial(p, 1, dtype=dtype), p, DT)
    t = (np.flatnonzero(spikes[:, 0]) + 1) * DT
    assert t.size == 5
    np.testing.assert_allclose(t - DT, BRETTE_GERSTNER_MS, atol=0.2)
    np.testing.assert_allclose(t - DT, BRETTE_GERSTNER_MS, atol=1e-6)  # in fact the same steps as Brian2


def test_brette_gerstner_at_fine_dt():
    """dt 0.01 ms: Brian2 measured 31.7, 45.3, 61.0, 79.6, 101.4 (rounded to 0.1 ms)."""
    p = AdExParams()
    spikes, _ = adex_run(_brette_gerstner_current(0.01), AdExState.initial(p, 1), p, 0.01)
    t = (np.flatnonzero(spikes[:, 0]) + 1) * 0.01 - 0.01
    np.testing.assert_allclose(t, [31.7, 45.3, 61.0, 79.6, 101.4], atol=0.06)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_naud_patterns_in_a_network_match_brian2(dtype):
    """All eight Naud patterns as one-neuron groups of one network (i_ext from t = 0): counts +-1 and first
    spikes +-0.5 ms of Brian2's (spec table); "irregular" only its count range 28-38 and unsettled ISIs."""
    net = Network(dt=DT, dtype=dtype, rng=0)
    groups = {k: net.add_adex(1, k, i_ext=NAUD_CURRENTS[k], name=k) for k in NAUD}
    mon = net.add_spike_monitor()
    net.run(600.0, progress=False)
    for k, (count, first) in NAUD.items():
        t = mon.times_ms[mon.ids == groups[k].start]
        if k == "irregular":
            assert 28 <= t.size <= 38
            isi = np.diff(t[t > 300.0])
            assert np.std(isi) / np.mean(isi) > 0.1, isi  # no settled period
        else:
            assert abs(t.size - count) <= 1, (k, t.size)
        assert abs(t[0] - DT - first) <= 0.5, (k, t[0])


def test_presets_and_default():
    assert AdExParams.preset("Brette-Gerstner") == AdExParams()
    assert AdExParams.preset("tonic").v_peak == 0.0 and AdExParams().v_peak == pytest.approx(-50.4 + 5 * 2.0)
    assert set(NAUD_CURRENTS) <= set(ADEX_PRESETS)
    with pytest.raises(KeyError, match="valid names: brette_gerstner"):
        AdExParams.preset("bursty")


def _random_params(rng, n, synapse="current"):
    return AdExParams(c_m=rng.uniform(80, 300, n), g_l=rng.uniform(8, 30, n), e_l=rng.uniform(-72, -58, n),
                      v_t=-50.0, delta_t=rng.uniform(0.5, 3.0, n), tau_w=rng.uniform(20, 300, n),
                      a=rng.uniform(-8, 6, n), b=rng.uniform(0, 120, n), v_r=rng.uniform(-60, -46, n),
                      v_peak=rng.choice([-30.0, 0.0, 20.0], n), t_ref=rng.choice([0.0, 0.3, 2.0], n),
                      tau_syn=rng.uniform(1, 8, n), tau_syn_inh=rng.uniform(2, 10, n), synapse=synapse)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 7, 33])
def test_adex_run_matches_naive(dtype, n):
    """Heterogeneous neurons (awkward sizes), random currents, some starting above v_peak (the guard)."""
    rng = np.random.default_rng(n)
    p = _random_params(rng, n)
    T = 2500
    xs = rng.uniform(400, 2000, (T, n)) * (rng.random((T, n)) < 0.7)
    v0 = rng.uniform(-70, -40, n)
    v0[::3] = 50.0  # above v_peak: exponential capped, a spike in the first step
    w0 = rng.uniform(0, 50, n)
    spikes, st_ = adex_run(xs.astype(dtype), AdExState.initial(p, n, v0=v0, w0=w0, dtype=dtype), p, DT)
    P = naive.params_table([(n, p, 0.0)])
    ref, v, w = naive.adex_run(xs.astype(dtype), v0, w0, P, DT, dtype)
    assert spikes[0, ::3].all()
    assert spikes.sum() > 3 * n
    np.testing.assert_array_equal(spikes, ref)
    rtol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(st_.v, v, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(st_.w, w, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adex_network_matches_naive(dtype):
    """A current-synapse group and a conductance group, targets ge / gi / v, per-synapse delays, a timed drive."""
    rng = np.random.default_rng(5)
    T = 1500
    pa = _random_params(rng, 5)
    pb = AdExParams.preset("adapting").replace(synapse="conductance", tau_syn=3.0, tau_syn_inh=8.0, t_ref=1.0)
    net = Network(dt=DT, dtype=dtype, rng=0)
    a = net.add_adex(5, pa, v0=rng.uniform(-65, -50, 5), i_ext=rng.uniform(200, 600, 5), name="a")
    b = net.add_adex(3, pb, w0=10.0, i_ext=450.0, name="b")
    syn = []
    specs = [(a, a, "ge", 80.0), (a, b, "ge", 3.0), (a, b, "v", 4.0), (b, a, "gi", -120.0), (b, b, "gi", 2.0)]
    for pre, post, target, scale in specs:
        i = rng.integers(0, pre.n, 6)
        j = rng.integers(0, post.n, 6)
        w = rng.uniform(0.2, 1.0, 6) * scale
        d = rng.choice([0.0, 0.5, 1.0, 2.5], 6)
        net.connect(pre, post, pairs=(i, j), weight=w, delay_ms=d, target=target)
        tag = {"ge": "e", "gi": "i", "v": "v"}[target]
        for q in np.argsort(i, kind="stable"):
            syn.append((pre.start + i[q], post.start + j[q], w[q], int(round(d[q] / DT)), tag))
    drive = rng.normal(0.0, 30.0, (T, 5))
    net.add_timed_input(a, drive, target="ge")
    mon = net.add_spike_monitor()
    tr = net.add_state_monitor(b, ["v", "w", "ge", "gi"], every=7)
    net.run(T * DT, progress=False)
    P = naive.params_table([(5, pa, a.i_ext), (3, pb, b.i_ext)])
    full = np.zeros((T, 8))
    full[:, :5] = drive
    ref, st_ = naive.adex_network(T, np.r_[a.v0, b.v0], np.r_[a.w0, b.w0], P, DT, syn, full, ["e"] * 8, dtype)
    steps = np.rint(mon.times_ms / DT).astype(np.int64) - 1
    assert sorted(zip(steps.tolist(), mon.ids.tolist())) == sorted(ref)
    assert len(ref) > 40 and {n for _, n in ref} >= set(range(8))
    rtol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(np.r_[a.v, b.v], st_["v"], rtol=rtol, atol=rtol)
    np.testing.assert_allclose(np.r_[a.w, b.w], st_["w"], rtol=rtol, atol=rtol)
    assert np.all(tr.ge >= 0) and np.all(tr.gi >= 0)  # conductances stay non-negative with positive weights


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2 ** 32 - 1), i_max=st.sampled_from([0.0, 1e3, 1e5, 1e7]),
       dtype=st.sampled_from([np.float32, np.float64]), v_hi=st.sampled_from([-40.0, 0.0, 1e3, 1e6]),
       delta_t=st.sampled_from([0.05, 0.5, 2.0, 5.0]))
def test_no_nan_or_inf_for_admissible_inputs(seed, i_max, dtype, v_hi, delta_t):
    """Any admissible parameters (validated, dt below the Euler bound), currents up to 1e7 pA of either
    sign and initial V far above V_peak: the state stays finite (the exponential is capped)."""
    rng = np.random.default_rng(seed)
    n = 6
    p = AdExParams(c_m=rng.uniform(20, 400, n), g_l=rng.uniform(2, 40, n), e_l=rng.uniform(-80, -50, n),
                   v_t=rng.uniform(-55, -40, n), delta_t=delta_t, tau_w=rng.uniform(5, 500, n),
                   a=rng.uniform(-2, 10, n), b=rng.uniform(-50, 500, n), v_r=-60.0,
                   v_peak=rng.uniform(-35.0, 40.0, n), t_ref=rng.uniform(0, 3, n))
    dt = float(min(np.min(p.tau_m), np.min(p.tau_w))) / 20
    xs = rng.uniform(-0.3, 1.0, (400, n)) * i_max
    spikes, s = adex_run(xs.astype(dtype), AdExState.initial(p, n, v0=rng.uniform(-80, v_hi, n), dtype=dtype), p, dt)
    assert np.all(np.isfinite(s.v)) and np.all(np.isfinite(s.w))
    assert np.all(s.v <= np.asarray(p.v_peak, dtype=dtype))


def test_refractory_clamp_holds_v_and_w_keeps_evolving():
    p = AdExParams(t_ref=2.0)
    spikes, _ = adex_run(np.full((400, 1), 3000.0), AdExState.initial(p, 1), p, DT)
    t = np.flatnonzero(spikes[:, 0])
    assert t.size >= 2 and np.all(np.diff(t) > 20)  # 20 held steps after each spike
    net = Network(dt=DT, rng=0)
    g = net.add_adex(1, p, i_ext=3000.0)
    tr = net.add_state_monitor(g, ["v", "w", "refr"])
    net.run(40.0, progress=False)
    held = tr.refr[:, 0] > 0
    assert held.sum() >= 20 and np.all(tr.v[held, 0] == p.v_r)
    w_held = tr.w[held, 0]
    assert np.ptp(w_held) > 0  # w integrates a (V_r - E_L) - w during the clamp


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("kw, field", [
    ({"c_m": 0.0}, "c_m"), ({"g_l": -1.0}, "g_l"), ({"delta_t": 0.0}, "delta_t"), ({"tau_w": 0.0}, "tau_w"),
    ({"tau_syn": 0.0}, "tau_syn"), ({"tau_syn_inh": -2.0}, "tau_syn_inh"), ({"t_ref": -1.0}, "t_ref"),
    ({"v_peak": -60.0}, "v_peak"), ({"v_r": -30.0}, "v_r"), ({"synapse": "cond"}, "synapse"),
    ({"e_inh": 10.0}, "e_inh"), ({"a": float("nan")}, "a"), ({"b": [1.0, 2.0], "a": [1.0, 2.0, 3.0]}, "same length"),
])
def test_params_validation(kw, field):
    with pytest.raises(ValueError, match=field):
        AdExParams(**kw)


def test_add_adex_validation():
    net = Network(dt=DT, rng=0)
    with pytest.raises(TypeError, match="params must be AdExParams"):
        net.add_adex(3, object())
    with pytest.raises(KeyError, match="unknown AdEx preset"):
        net.add_adex(3, "nope")
    with pytest.raises(ValueError, match="n must be"):
        net.add_adex(0)
    with pytest.raises(ValueError, match="v0"):
        net.add_adex(3, v0=[1.0, 2.0])
    with pytest.raises(ValueError, match="w0"):
        net.add_adex(3, w0=np.nan)
    with pytest.raises(TypeError, match="i_ext"):
        net.add_adex(3, i_ext=True)
    with pytest.raises(ValueError, match="params arrays have length 2"):
        net.add_adex(3, AdExParams(a=[1.0, 2.0]))
    with pytest.raises(ValueError, match="dt=20.0 ms is unstable.*use dt <="):
        Network(dt=20.0).add_adex(2)
    with pytest.warns(UserWarning, match="coarse"):
        Network(dt=2.0).add_adex(2)
    with pytest.raises(ValueError, match="target must be one of"):
        g = net.add_adex(2)
        net.connect(g, g, p=0.5, target="u")
    # conductance synapses take non-negative weights (inhibition is the gi target); currents may be negative
    gc = net.add_adex(2, AdExParams(synapse="conductance"))
    for target in ("ge", "gi", "i_syn"):
        with pytest.raises(ValueError, match=f"weight must be >= 0 for the conductance target '{target}'"):
            net.connect(g, gc, p=1.0, weight=-1.0, target=target)
    with pytest.raises(ValueError, match="weight must be >= 0 for the conductance target 'ge'"):
        net.add_poisson_input(gc, 100.0, -0.5, target="ge")
    net.connect(g, g, p=1.0, weight=-1.0, target="gi")  # current synapses
    syn = net.connect(g, gc, p=1.0, weight=1.0, target="ge")
    with pytest.raises(ValueError, match="weight must be >= 0 for the conductance target 'ge'"):
        syn.weight = -2.0


_SCRIPT = r"""
import json, numpy as np
from neurosim.neurons.adex import AdExParams, AdExState, adex_run, NAUD_CURRENTS
from neurosim.sim import Network
p = AdExParams.preset("regular_bursting")
s, st = adex_run(np.full((1500, 2), 210.0), AdExState.initial(p, 2, v0=[-58.0, 10.0]), p, 0.1)
net = Network(dt=0.1, dtype=np.float32, rng=0)
a = net.add_adex(4, "tonic", i_ext=[400.0, 450.0, 500.0, 550.0], name="a")
b = net.add_adex(2, AdExParams(synapse="conductance"), i_ext=500.0, name="b")
net.connect(a, b, p=1.0, weight=2.0, delay_ms=0.5, target="ge")
net.connect(b, a, p=1.0, weight=-50.0, target="gi")
m = net.add_spike_monitor()
net.run(100.0, progress=False)
print(json.dumps({"s": np.flatnonzero(s).tolist(), "v": st.v.tolist(), "t": m.times_ms.tolist(),
                  "i": m.ids.tolist(), "w": b.w.tolist()}))
"""


def test_kernels_run_without_jit():
    """Under NUMBA_DISABLE_JIT=1 the AdEx kernels are plain Python and give the compiled results."""
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    out = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    nojit = json.loads(out.stdout.strip().splitlines()[-1])
    jit = json.loads(subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True,
                                    timeout=600).stdout.strip().splitlines()[-1])
    assert nojit == jit
    assert len(jit["s"]) > 5 and len(jit["t"]) > 10
