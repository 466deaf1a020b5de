"""Conductance-based LIF groups (``kernels/lif_cond.py``, ``CondLIFParams``) and ``sim.coba()``.

References: the naive loop ``tests/naive_sim_cond.py``, closed forms of a single neuron with
frozen conductances, the refractory rules of Brian2 and of ``LIFParams``, and the measured
Brian2 rates of SIMULATION.md §1 (set-up A: 18.2, 19.8, 19.0 Hz for seeds 1-3; 17-21 Hz accepted).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import naive_sim_cond as naive
import neurosim as ns
from neurosim.neurons import CondLIFParams
from neurosim.sim import Network


def _events(mon, dt):
    steps = np.rint(mon.times_ms / dt).astype(np.int64) - 1
    return sorted(zip(steps.tolist(), mon.ids.tolist()))


def _state(g, name):
    return getattr(g, name)


def _build(dtype, delays, scheme, rng_seed=3, T=300):
    """Three conductance LIF groups of 1, 7 and 13 neurons (one Euler, one heterogeneous, one with a
    constant drive), synapses on every target, a timed drive; returns the network and the naive inputs."""
    rng = np.random.default_rng(rng_seed)
    dt = 0.1
    pa = CondLIFParams(t_ref=0.3)  # Euler always
    pb = CondLIFParams(tau_mem=rng.uniform(10, 25, 7), tau_e=rng.uniform(2, 6, 7), tau_i=8.0, e_leak=-62.0,
                       v_th=rng.uniform(-52, -48, 7), v_reset=-65.0, t_ref=rng.choice([0.0, 0.5, 1.0], 7),
                       integration=scheme)
    pc = CondLIFParams(tau_mem=15.0, e_exc=5.0, e_inh=-75.0, t_ref=2.0, r=2.0, integration=scheme,
                       ref_convention="lif")
    net = Network(dt=dt, dtype=dtype, rng=0)
    a = net.add_lif_cond(1, pa, v0=-51.0, ge0=1.5, gi0=0.5, i_ext=4.0, name="a")
    b = net.add_lif_cond(7, pb, v0=rng.uniform(-60, -49, 7), ge0=rng.normal(2.0, 1.5, 7),
                         gi0=rng.normal(1.0, 1.0, 7), name="b")   # a few negative start values, as in COBA
    c = net.add_lif_cond(13, pc, v0=rng.uniform(-70, -55, 13), i_ext=rng.uniform(4.0, 7.0, 13), name="c")
    syn = []
    specs = [(a, b, "ge", 0.8), (b, c, "ge", 0.6), (c, b, "gi", 1.5), (c, c, "ge", 0.3), (b, a, "gi", 0.4),
             (c, a, "gi" if delays == "zero_no_v" else "v", 0.9)]
    for pre, post, target, scale in specs:
        i = rng.integers(0, pre.n, 12)
        j = rng.integers(0, post.n, 12)
        w = rng.uniform(0.2, 1.0, 12) * scale
        d = rng.choice([0.0, 0.1, 0.3], 12) * (delays == "mixed")
        net.connect(pre, post, pairs=(i, j), weight=w, delay_ms=d, target=target)
        tag = {"ge": "e", "gi": "i", "v": "v"}[target]
        for q in np.argsort(i, kind="stable"):
            syn.append((pre.start + i[q], post.start + j[q], w[q], int(round(d[q] / dt)), tag))
    drive = np.abs(rng.normal(0.0, 0.8, (T, 13)))
    net.add_timed_input(c, drive, target="ge")
    mon = net.add_spike_monitor(name="spikes")

    N = 21
    coef = {k: np.zeros(N) for k in naive.COEF}
    n_ref = np.zeros(N, dtype=np.int64)
    schemes = []
    for g, p in ((a, pa), (b, pb), (c, pc)):
        sl = slice(g.start, g.stop)
        coef["c_m"][sl], coef["a_e"][sl], coef["a_i"][sl] = naive.coefficients(
            dt, tau_mem=p.tau_mem, tau_e=p.tau_e, tau_i=p.tau_i, scheme=p.integration)
        coef["v_leak"][sl] = np.asarray(p.e_leak) + np.asarray(p.r) * g.i_ext
        for k in ("e_exc", "e_inh", "v_th", "v_reset"):
            coef[k][sl] = getattr(p, k)
        n_ref[sl] = np.rint(np.asarray(p.t_ref) / dt) + (p.ref_convention == "lif")
        schemes += [p.integration] * g.n
    full_drive = np.zeros((T, N))
    full_drive[:, c.start:c.stop] = drive
    ref_in = dict(T=T, v0=np.r_[a.v0, b.v0, c.v0], g0=np.c_[a.g0, b.g0, c.g0], coef=coef, n_ref=n_ref,
                  schemes=schemes, synapses=syn, drive=full_drive, drive_target=["e"] * N)
    return net, (a, b, c), mon, ref_in


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("delays", ["mixed", "zero", "zero_no_v"])
@pytest.mark.parametrize("scheme", ["euler", "exponential"])
def test_cond_lif_network_matches_naive(dtype, delays, scheme):
    """Groups of 1, 7 and 13 neurons, heterogeneous parameters, both refractory conventions, every
    target, per-synapse delays, a timed drive on g_e, negative initial conductances.

    Euler: the naive loop adds the same numbers in the same order: identical spikes and 0 ulp.
    Exponential: ``phi`` differs (series / exp against expm1; < 5e-10 relative in float64, a few
    ulps in float32), so spikes must agree and the state within rtol 1e-9 (float64) / 1e-4 (float32).
    """
    net, groups, mon, ref_in = _build(dtype, delays, scheme)
    T = ref_in["T"]
    net.run(T * 0.1, progress=False)
    assert net._flat["direct"] == {"mixed": 0, "zero": 1, "zero_no_v": 2}[delays]
    spikes, v, ge, gi = naive.cond_lif_network(**ref_in, dtype=dtype, direct=delays != "mixed")
    assert _events(mon, 0.1) == sorted(spikes)
    assert len(spikes) > 30 and {n for _, n in spikes} >= {0, 1, 10}
    got = {k: np.concatenate([_state(g, k) for g in groups]) for k in ("v", "ge", "gi")}
    exact = scheme == "euler"
    rtol = 0 if exact else (1e-9 if dtype == np.float64 else 1e-4)
    for k, want in (("v", v), ("ge", ge), ("gi", gi)):
        assert got[k].dtype == dtype
        np.testing.assert_allclose(got[k], want, rtol=rtol, atol=0 if exact else rtol * 1e-2, err_msg=k)


_NOJIT_SCRIPT = r"""
import json, sys, numpy as np
sys.path.insert(0, {tests!r})
from test_sim_coba import _build
out = {{}}
for dtype, scheme in ((np.float64, "euler"), (np.float64, "exponential"), (np.float32, "euler")):
    for delays in ("mixed", "zero_no_v"):
        net, groups, mon, _ = _build(dtype, delays, scheme, T=120)
        net.run(12.0, progress=False)
        out[f"{{np.dtype(dtype).name}}-{{scheme}}-{{delays}}"] = {{
            "t": mon.times_ms.tolist(), "i": mon.ids.tolist(),
            "v": np.concatenate([g.v for g in groups]).astype(float).tolist(),
            "g": np.concatenate([g.ge for g in groups]).astype(float).tolist()}}
print(json.dumps(out))
"""


def test_cond_lif_kernels_run_without_jit():
    """Under NUMBA_DISABLE_JIT=1 the kernels are plain Python and give the compiled results: equal
    spikes and states (float64 to 1e-12: the exponential scheme's ``vexp`` is ``np.exp`` both ways,
    but LLVM and NumPy may round the last bits of exp differently; Euler float32 exact)."""
    script = _NOJIT_SCRIPT.format(tests=os.path.dirname(__file__))
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    nojit = json.loads(res.stdout.strip().splitlines()[-1])
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    jit = json.loads(res.stdout.strip().splitlines()[-1])
    assert nojit.keys() == jit.keys()
    for key in jit:
        assert nojit[key]["t"] == jit[key]["t"] and nojit[key]["i"] == jit[key]["i"], key
        assert len(jit[key]["t"]) > 5
        for k in ("v", "g"):
            np.testing.assert_allclose(nojit[key][k], jit[key][k], rtol=0 if "euler" in key else 1e-12, err_msg=key)


# ------------------------------------------------------------------------------------------- analytic
@pytest.mark.parametrize("scheme", ["euler", "exponential"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_single_neuron_relaxes_to_the_conductance_steady_state(scheme, dtype):
    """Conductances frozen (tau_e = tau_i = 1e15 ms): v relaxes to ``v_inf = (E_L + g_e E_e + g_i E_i) /
    (1 + g_e + g_i)``; exactly as ``v_inf + (v0 - v_inf) (1 - c_m g_tot)^n`` (Euler) or ``... exp(-n c_m
    g_tot)`` (exponential, exact for frozen conductances). Bounds: float64 1e-9 mV (g decays by at most
    1 ulp per step, 2e-12 over 20,000 steps, x 26 mV per unit of g), float32 2e-3 mV (rounding of
    each step, damped by 1 - c_m g_tot per step)."""
    ge, gi, el, ee, ei, tau = 0.5, 0.25, -60.0, 0.0, -80.0, 20.0
    dt = 0.1
    p = CondLIFParams(tau_mem=tau, tau_e=1e15, tau_i=1e15, e_leak=el, e_exc=ee, e_inh=ei, v_th=-10.0,
                      v_reset=-70.0, integration=scheme)
    v0 = np.array([-75.0, -46.0, -20.0])
    net = Network(dt=dt, dtype=dtype)
    g = net.add_lif_cond(3, p, v0=v0, ge0=ge, gi0=gi)
    mon = net.add_state_monitor(g, ["v", "ge"], every=100)
    net.run(2000.0, progress=False)
    gt = 1.0 + ge + gi
    v_inf = (el + ge * ee + gi * ei) / gt
    n = np.arange(mon.t_ms.size)[:, None] * 100
    c_m = dt / tau
    want = v_inf + (v0 - v_inf) * ((1.0 - c_m * gt) ** n if scheme == "euler" else np.exp(-n * c_m * gt))
    tol = 1e-9 if dtype == np.float64 else 2e-3
    np.testing.assert_allclose(mon.v, want, rtol=0, atol=tol)
    np.testing.assert_allclose(g.v, v_inf, rtol=0, atol=tol)
    assert abs(v_inf - (-320.0 / 7.0)) < 1e-12


@pytest.mark.parametrize("convention, period", [("brian2", 30), ("lif", 31)])
def test_refractory_conventions(convention, period):
    """A jump of 100 mV every step fires the neuron as soon as it integrates: spikes every ``round(t_ref
    / dt)`` steps with the Brian2 rule (held ``n - 1`` steps), every ``n + 1`` with the LIF rule; the
    conductances keep decaying and receiving input while v is held."""
    p = CondLIFParams(t_ref=3.0, ref_convention=convention)
    net = Network(dt=0.1, dtype=np.float64)
    g = net.add_lif_cond(1, p, ge0=2.0)
    h = net.add_lif_cond(1, p, v0=-90.0 + 10.0)  # receives g_e from g's spikes, never fires
    net.add_timed_input(g, np.full((400, 1), 100.0), target="v")
    net.connect(g, h, pairs=([0], [0]), weight=0.5, target="ge")
    mon = net.add_spike_monitor(g)
    tr = net.add_state_monitor(g, ["v", "ge", "refr"], every=1)
    trh = net.add_state_monitor(h, ["ge"], every=1)
    net.run(40.0, progress=False)
    steps = np.rint(mon.times_ms / 0.1).astype(int) - 1
    assert steps[0] == 0 and np.all(np.diff(steps) == period)
    assert np.all(tr.v[1:period + 1, 0] == p.v_reset)                       # held at the reset value
    np.testing.assert_allclose(tr.ge[1:60, 0], 2.0 * (1.0 - 0.1 / 5.0) ** np.arange(1, 60), rtol=1e-12)  # decays
    assert tr.refr[1, 0] == period - 1 and tr.refr[period + 1, 0] == period - 1
    # g's spike of step 0 adds 0.5 to h's conductance before step 1 (samples: the state at the start of a step)
    assert trh.ge[1, 0] == 0.0 and trh.ge[2, 0] == 0.5 * (1.0 - 0.1 / 5.0)


# ------------------------------------------------------------------------------------------ property
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 40), p=st.floats(0.0, 1.0), we=st.floats(0.0, 5.0), wi=st.floats(0.0, 20.0),
       tau_e=st.floats(0.1, 30.0), tau_i=st.floats(0.1, 30.0), dt=st.sampled_from([0.01, 0.05, 0.1]),
       scheme=st.sampled_from(["euler", "exponential"]), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2 ** 16))
def test_conductances_stay_non_negative(n, p, we, wi, tau_e, tau_i, dt, scheme, dtype, seed):
    """Started >= 0, with weights >= 0 and drive >= 0, g_e and g_i are >= 0 at every step (Euler decays by
    1 - dt / tau >= 0, the check rejects dt > tau), and v stays finite."""
    if scheme == "euler" and dt > min(tau_e, tau_i):
        return
    rng = np.random.default_rng(seed)
    prm = CondLIFParams(tau_e=tau_e, tau_i=tau_i, integration=scheme, t_ref=0.0)
    net = Network(dt=dt, dtype=dtype, rng=seed)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = net.add_lif_cond(n, prm, v0=rng.uniform(-70, -49, n), ge0=rng.exponential(2.0, n),
                             gi0=rng.exponential(10.0, n) * (rng.random(n) < 0.5))
    net.connect(g, g, p=p, weight=we, target="ge")
    net.connect(g, g, p=p, weight=lambda r, k: r.uniform(0, wi, k), target="gi")
    net.add_poisson_input(g, 2000.0, weight=we, target="ge")
    mon = net.add_state_monitor(g, ["ge", "gi", "v"], every=1)
    net.run(30.0, progress=False)
    assert mon.ge.min() >= 0 and mon.gi.min() >= 0
    assert np.isfinite(mon.v).all()


# -------------------------------------------------------------------------------------------- COBA
@pytest.mark.parametrize("seed, dtype", [(1, np.float32), (2, np.float64), (3, np.float32)])
def test_coba_rate_matches_brian2(seed, dtype):
    """4000 neurons, 1 s: 17-21 Hz (Brian2: 18.2 / 19.8 / 19.0 Hz for seeds 1-3, SIMULATION.md §1),
    self-sustained (the last 500 ms within the same band), excitatory and inhibitory rates alike."""
    net = ns.sim.coba(n_neurons=4000, rng=seed, dtype=dtype)
    assert net.n_neurons == 4000 and abs(net.n_synapses - 0.02 * 4000 ** 2) < 5 * np.sqrt(0.02 * 4000 ** 2)
    assert net._flat is None and net.meta["we_gL"] == 0.6 and net.meta["wi_gL"] == 6.7
    net.run(1000.0, progress=False)
    m = net.monitors["spikes"]
    rate = m.ids.size / 4000
    late = np.count_nonzero(m.times_ms > 500.0) / 4000 / 0.5
    exc = np.count_nonzero(m.ids < 3200) / 3200
    inh = np.count_nonzero(m.ids >= 3200) / 800
    assert 17.0 <= rate <= 21.0 and 17.0 <= late <= 21.0, (rate, late)
    assert abs(exc - inh) < 0.15 * rate
    assert net._flat["direct"] == 2   # one population, delay "next step", no jumps: the fast path


def test_coba_initial_state_is_the_published_gaussians():
    """V = E_L + 5 N - 5 mV, g_e = 4 + 1.5 N, g_i = 20 + 12 N, unclipped (about 5 % of g_i < 0)."""
    net = ns.sim.coba(n_neurons=4000, rng=0, dtype=np.float64)
    exc, inh = net.groups["exc"], net.groups["inh"]
    v0, ge0, gi0 = np.r_[exc.v0, inh.v0], np.r_[exc.g0[0], inh.g0[0]], np.r_[exc.g0[1], inh.g0[1]]
    for x, mu, sd in ((v0, -65.0, 5.0), (ge0, 4.0, 1.5), (gi0, 20.0, 12.0)):
        assert abs(x.mean() - mu) < 4 * sd / np.sqrt(x.size) and abs(x.std() / sd - 1) < 0.04
    assert 0.04 < np.mean(gi0 < 0) < 0.06


def test_coba_in_the_network_table():
    entry = ns.sim.NETWORKS["coba"]
    assert entry.default_neurons == 4000
    a, b = entry(n_neurons=500, rng=4), ns.sim.coba(n_neurons=500, rng=4)
    assert a.n_synapses == b.n_synapses and np.array_equal(a.groups["exc"].v0, b.groups["exc"].v0)
    assert a.meta["weight_scale"] == 8.0
    a.run(5.0, progress=False)
    b.run(5.0, progress=False)
    assert np.array_equal(a.monitors["spikes"].ids, b.monitors["spikes"].ids)


# ------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("kwargs, match", [
    (dict(e_inh=0.0, e_exc=0.0), "e_inh must be < e_exc"),
    (dict(e_inh=10.0), "e_inh must be < e_exc"),
    (dict(v_th=5.0), "v_th must lie between e_inh and e_exc"),
    (dict(v_th=-85.0, v_reset=-90.0), "v_th must lie between"),
    (dict(v_reset=-85.0), "v_reset must be >= e_inh"),
    (dict(v_reset=-50.0), "v_th must be > v_reset"),
    (dict(tau_e=0.0), "tau_e must be > 0"),
    (dict(tau_i=-1.0), "tau_i must be > 0"),
    (dict(tau_mem=np.array([20.0, 0.0])), "tau_mem must be > 0"),
    (dict(t_ref=-1.0), "t_ref must be >= 0"),
    (dict(r=0.0), "r must be > 0"),
    (dict(e_exc=float("nan")), "e_exc must be finite"),
    (dict(integration="rk4"), "integration must be one of"),
    (dict(ref_convention="nest"), "ref_convention must be one of"),
    (dict(tau_e=np.ones(3), tau_i=np.ones(2)), "same length"),
])
def test_bad_params(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CondLIFParams(**kwargs)


def test_bad_network_input():
    net = Network(dt=0.1)
    g = net.add_lif_cond(4)
    for target in ("ge", "gi"):
        with pytest.raises(ValueError, match="weight must be >= 0 for the conductance target"):
            net.connect(g, g, p=1.0, weight=-0.1, target=target)
        with pytest.raises(ValueError, match="weight must be >= 0"):
            net.connect(g, g, pairs=([0, 1], [1, 2]), weight=np.array([0.1, -0.1]), target=target)
        with pytest.raises(ValueError, match="weight must be >= 0"):
            net.add_poisson_input(g, 100.0, weight=-1.0, target=target)
    syn = net.connect(g, g, p=1.0, weight=0.5, target="ge")
    with pytest.raises(ValueError, match="weight must be >= 0 for the conductance target 'ge'"):
        syn.weight = -0.5                                # also when changed later (neurosim.sim.update)
    net.run(1.0, progress=False)
    with pytest.raises(ValueError, match="weight must be >= 0"):
        syn.weight = np.full(16, -1.0)
    with pytest.raises(ValueError, match="dt=0.1 ms exceeds the shortest conductance time constant"):
        g.params = CondLIFParams(tau_i=0.05)
    syn.weight = 0.7
    net = Network(dt=0.1)
    g = net.add_lif_cond(4)
    net.connect(g, g, p=1.0, weight=-1.0, target="v")   # a jump of v may be negative
    with pytest.raises(ValueError, match="target must be one of"):
        net.connect(g, g, p=1.0, weight=1.0, target="i_syn")
    with pytest.raises(TypeError, match="params must be CondLIFParams"):
        net.add_lif_cond(2, ns.neurons.LIFParams())
    with pytest.raises(ValueError, match="ge0"):
        net.add_lif_cond(3, ge0=np.ones(2))
    with pytest.raises(ValueError, match="params arrays have length 2 but n=3"):
        net.add_lif_cond(3, CondLIFParams(tau_mem=np.array([10.0, 20.0])))
    with pytest.raises(ValueError, match="dt=1.0 ms exceeds the shortest conductance time constant"):
        Network(dt=1.0).add_lif_cond(2, CondLIFParams(tau_e=0.5))
    with pytest.warns(UserWarning, match="coarse"):
        Network(dt=1.0).add_lif_cond(2, CondLIFParams(tau_e=0.5, integration="exponential"))
    with pytest.raises(ValueError, match="n_neurons"):
        ns.sim.coba(n_neurons=4)
    with pytest.raises(ValueError, match="integration"):
        ns.sim.coba(n_neurons=100, integration="midpoint")


def test_coefficients_and_equality():
    p = CondLIFParams(tau_mem=20.0, tau_e=5.0, tau_i=10.0, t_ref=5.0)
    c = p.coefficients(0.1)
    assert c["c_m"] == 0.1 / 20.0 and c["a_e"] == 1.0 - 0.1 / 5.0 and c["n_ref"] == 50
    q = CondLIFParams(integration="exponential", ref_convention="lif")
    cq = q.coefficients(0.1)
    assert cq["a_i"] == np.exp(-0.01) and cq["n_ref"] == 51
    assert p == CondLIFParams() and p != q and hash(p) == hash(CondLIFParams())
    with pytest.raises(ValueError, match="dt"):
        p.coefficients(0.0)


@pytest.mark.parametrize("change", ["integration", "taus", "weight"])
def test_coba_store_restore_and_parameter_change_equal_a_fresh_network(change):
    """``store``/``restore`` and in-place changes (``neurosim.sim.update``) cover the conductance layout:
    restore the start, change the parameters, run: the spikes of a network built with the change."""
    import dataclasses

    def apply(net):
        for g in net.groups.values():
            if change == "integration":
                g.params = dataclasses.replace(g.params, integration="exponential")
            elif change == "taus":
                g.params = dataclasses.replace(g.params, tau_e=4.0, tau_i=12.0, t_ref=3.0, e_inh=-75.0)
        if change == "weight":
            net.synapses[0].weight = 0.8

    net = ns.sim.coba(n_neurons=800, rng=5, dtype=np.float64)
    net.store("start")
    net.run(30.0, progress=False)
    first = (net.monitors["spikes"].times_ms.copy(), net.monitors["spikes"].ids.copy())
    net.restore("start")
    net.run(30.0, progress=False)
    assert np.array_equal(net.monitors["spikes"].times_ms, first[0])
    net.restore("start")
    apply(net)
    net.run(30.0, progress=False)
    fresh = ns.sim.coba(n_neurons=800, rng=5, dtype=np.float64)
    apply(fresh)
    fresh.run(30.0, progress=False)
    got, ref = net.monitors["spikes"], fresh.monitors["spikes"]
    np.testing.assert_array_equal(got.times_ms, ref.times_ms)
    np.testing.assert_array_equal(got.ids, ref.ids)
    assert got.ids.size != first[1].size and got.ids.size > 100
