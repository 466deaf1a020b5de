"""Tsodyks-Markram short-term plasticity (kernels/stp.py, neurosim/sim/stp.py, connect(stp=...)): the spec's
test vectors, naive references, a hypothesis property, static equivalence, validation, NUMBA_DISABLE_JIT."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import naive_sim_stp as naive
from neurosim.kernels.stp import FORMS, STPSynapses, stp_deliver
from neurosim.neurons import LIFParams
from neurosim.sim import Network
from neurosim.sim.stp import TsodyksMarkram, efficacies

DT = 0.1
#: SIMULATION.md section 5: 20 Hz, efficacy / w of spikes 1-5 and the steady state [computed from NEST's code]
VECTORS = [
    (dict(U=0.67, tau_rec=450.0), [.670, .268, .150, .115, .104, .100], [.670, .266, .148, .114, .104, .0994]),
    (dict(U=0.1, tau_rec=100.0, tau_fac=1000.0), [.100, .174, .222, .251, .268, .336],
     [.100, .174, .221, .249, .265, .330]),
    (dict(U=0.5, tau_rec=800.0), [.500, .265, .155, .103, .079, .057], [.500, .264, .154, .102, .078, .057]),
]


def _reference(times, stp):
    if stp.form == "tsodyks2":
        return naive.tsodyks2_efficacies(times, stp.U, stp.tau_rec, stp.tau_fac)
    return naive.three_state_efficacies(times, stp.U, stp.tau_rec, stp.tau_fac, stp.tau_psc)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_network_efficacies_equal_the_spec_test_vectors(dtype):
    """One presynaptic neuron firing at exactly 20 Hz (60 spikes) drives six integrator neurons through one STP
    synapse each (3 parameter sets x 2 forms, target v, weight 1): each jump of v is the efficacy; equal to
    the spec's vectors to 1e-3 and to the naive references to 1e-9 (float64) / 1e-6 (float32)."""
    n_sp, period = 60, 500
    T = 100 + n_sp * period
    spike_steps = 100 + period * np.arange(n_sp)
    net = Network(dt=DT, dtype=dtype, rng=0)
    pre = net.add_lif(1, LIFParams(tau_mem=20.0, v_th=1.0), name="pre")
    kick = np.zeros((T, 1))
    kick[spike_steps, 0] = 2.0  # a jump over threshold: a spike in exactly these steps
    net.add_timed_input(pre, kick, target="v")
    post = net.add_lif(6, LIFParams(tau_mem=1e12, v_th=1e9), name="post")
    stps = [TsodyksMarkram(**kw, form=form) for kw, _, _ in VECTORS for form in ("tsodyks2", "three_state")]
    for k, stp in enumerate(stps):
        net.connect(pre, post, pairs=([0], [k]), weight=1.0, target="v", stp=stp)
    mon = net.add_spike_monitor(pre)
    tr = net.add_state_monitor(post, ["v"])
    net.run(T * DT, progress=False)
    np.testing.assert_array_equal(np.rint(mon.times_ms / DT) - 1, spike_steps)
    # the spike of step k is added to v in step k + 1: seen in the sample of step k + 2
    eff = tr.v[spike_steps + 2] - tr.v[spike_steps + 1]
    times = spike_steps * DT
    tol = 1e-9 if dtype == np.float64 else 1e-5
    for k, stp in enumerate(stps):
        want = VECTORS[k // 2][1 + k % 2]
        got = eff[:, k]
        np.testing.assert_allclose(np.r_[got[:5], got[-1]], want, atol=1e-3, err_msg=str(stp))
        np.testing.assert_allclose(got, _reference(times, stp), atol=tol, err_msg=str(stp))
        np.testing.assert_allclose(efficacies(times, stp), _reference(times, stp), atol=1e-12)


def _projection(stps, n_pre, rng):
    """An STPSynapses by hand: synapse q from neuron q % n_pre to neuron n_pre + q, channel 0, weight 1."""
    n = len(stps)
    pre = np.arange(n) % n_pre
    keys = 3 * pre
    order = np.argsort(keys, kind="stable")
    N = n_pre + n
    indptr = np.zeros(3 * N + 1, dtype=np.int64)
    np.add.at(indptr, keys + 1, 1)
    indptr = np.cumsum(indptr)
    f = lambda k: np.array([getattr(stps[q], k) for q in order], dtype=np.float64)  # noqa: E731
    return STPSynapses(indptr=indptr, indices=(n_pre + order).astype(np.int32), weights=np.ones(n),
                       delays=np.zeros(n, dtype=np.int32), delay_const=0,
                       form=np.array([FORMS[stps[q].form] for q in order], dtype=np.uint8), U=f("U"),
                       tau_rec=f("tau_rec"), tau_fac=f("tau_fac"), tau_psc=f("tau_psc"), u=np.zeros(n),
                       x=np.ones(n), y=np.zeros(n), last=np.full(n, -1, np.int64), dt=DT), order, N


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1))
def test_kernel_state_bounds_and_naive(seed):
    """Random parameters and spike trains (ISIs from 1 step): at every spike u in [U, 1], x and y in [0, 1],
    x + y <= 1, and the efficacies equal the naive references to 1e-9."""
    rng = np.random.default_rng(seed)
    n_pre = 3
    stps = []
    for _ in range(8):
        form = rng.choice(["tsodyks2", "three_state"])
        stps.append(TsodyksMarkram(U=float(rng.uniform(1e-3, 1.0)), tau_rec=float(rng.uniform(0.05, 2000)),
                                   tau_fac=float(rng.choice([0.0, rng.uniform(0.05, 2000)])), form=str(form),
                                   tau_psc=float(rng.uniform(0.5, 10.0))))
    proj, order, N = _projection(stps, n_pre, rng)
    ring = np.zeros((1, 3, N))
    rows = np.zeros((2, 0))
    trains = [np.cumsum(rng.integers(1, rng.choice([3, 50, 3000]), 40)) for _ in range(n_pre)]
    events = sorted((int(t), j) for j, tr in enumerate(trains) for t in tr)
    got = {q: [] for q in range(len(stps))}
    spk = np.zeros(1, dtype=np.int32)
    for t, j in events:
        spk[0] = j
        stp_deliver(proj, spk, 1, t + 1, ring, 0, rows)
        for s in range(len(stps)):
            q = int(np.flatnonzero(order == s)[0])
            if s % n_pre == j:
                got[s].append(ring[0, 0, n_pre + s])
                assert stps[s].U - 1e-12 <= proj.u[q] <= 1.0 + 1e-12
        ring[:] = 0
        eps = 1e-12
        assert np.all((proj.x >= -eps) & (proj.x <= 1 + eps)) and np.all((proj.y >= -eps) & (proj.y <= 1 + eps))
        assert np.all(proj.x + proj.y <= 1 + 1e-12)
    for s, stp in enumerate(stps):
        times = trains[s % n_pre] * DT
        np.testing.assert_allclose(got[s], _reference(times, stp), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("delays", ["zero", "mixed"])
def test_stp_that_never_depresses_gives_the_static_spikes(dtype, delays):
    """U = 1 with an instant recovery (efficacy exactly 1): the same spikes, bit for bit, as static synapses
    (zero delays: the direct-delivery path; mixed: the ring)."""
    def build(stp):
        rng = np.random.default_rng(4)
        net = Network(dt=DT, dtype=dtype, rng=1)
        a = net.add_lif(40, LIFParams(tau_mem=20.0, tau_syn=5.0, v_th=1.0, t_ref=2.0), i_ext=rng.uniform(0.9, 1.3, 40))
        b = net.add_lif(17, LIFParams(tau_mem=10.0, tau_syn=3.0, v_th=1.0), i_ext=0.95)
        d = 0.0 if delays == "zero" else (lambda r, n: r.choice([0.0, 0.5, 1.5], n))
        net.connect(a, a, p=0.2, weight=0.05, delay_ms=d, target="i_syn", stp=stp)
        net.connect(a, b, p=0.3, weight=lambda r, n: r.uniform(0, 0.2, n), delay_ms=d, target="i_syn", stp=stp)
        net.connect(b, a, p=0.3, weight=-0.1, delay_ms=d, target="gi", stp=stp)
        if delays == "mixed":
            net.connect(b, b, p=0.3, weight=0.02, delay_ms=d, target="v", stp=stp)
        mon = net.add_spike_monitor()
        net.run(300.0, progress=False)
        return net, mon

    net_s, m_s = build(None)
    net_p, m_p = build(TsodyksMarkram(U=1.0, tau_rec=1e-9))
    assert net_p._flat["direct"] == net_s._flat["direct"] == (1 if delays == "zero" else 0) * 2
    assert m_s.ids.size > 200
    np.testing.assert_array_equal(m_p.times_ms, m_s.times_ms)
    np.testing.assert_array_equal(m_p.ids, m_s.ids)


def test_weight_change_between_runs_equals_a_fresh_network():
    """Setting an STP group's weights after a run (store, run, restore, change) gives the spikes of a network
    built with the new weights (same seed); the static group beside it keeps its weights."""
    new_w = np.linspace(0.0, 0.12, 400)

    def build():
        net = Network(dt=DT, rng=3)
        a = net.add_lif(20, LIFParams(v_th=1.0), i_ext=np.linspace(1.05, 1.6, 20))
        b = net.add_lif(20, LIFParams(v_th=1.0), i_ext=0.9)
        net.connect(a, b, p=1.0, weight=0.03, target="v", stp=TsodyksMarkram(U=0.5, tau_rec=300.0))
        net.connect(b, a, p=0.5, weight=-0.02, target="v")
        net.add_spike_monitor(name="spikes")
        return net

    net = build()
    net.store("start")
    net.run(200.0, progress=False)
    net.restore("start")
    net.synapses[0].weight = new_w
    net.run(200.0, progress=False)
    fresh = build()
    fresh.synapses[0].weight = new_w
    fresh.run(200.0, progress=False)
    got, ref = net.monitors["spikes"], fresh.monitors["spikes"]
    assert ref.n_spikes > 50
    np.testing.assert_array_equal(got.times_ms, ref.times_ms)
    np.testing.assert_array_equal(got.ids, ref.ids)


def test_depression_lowers_the_postsynaptic_drive():
    """A depressing synapse (U 0.5, tau_rec 800 ms) delivers less than static ones from the second spike on."""
    rates = {}
    for stp in (None, TsodyksMarkram(U=0.5, tau_rec=800.0)):
        net = Network(dt=DT, rng=0)
        a = net.add_lif(20, LIFParams(v_th=1.0), i_ext=1.5)
        b = net.add_lif(20, LIFParams(v_th=1.0), i_ext=0.8)
        net.connect(a, b, p=1.0, weight=0.03, target="v", stp=stp)
        mon = net.add_spike_monitor(b)
        net.run(500.0, progress=False)
        rates[stp is None] = mon.ids.size
    assert rates[False] < rates[True]


@pytest.mark.parametrize("kw, field", [
    ({"U": 0.0}, "U must be in"), ({"U": 1.5}, "U must be in"), ({"U": -0.1}, "U must be in"),
    ({"tau_rec": 0.0}, "tau_rec"), ({"tau_rec": -5.0}, "tau_rec"), ({"tau_fac": -1.0}, "tau_fac"),
    ({"tau_psc": 0.0}, "tau_psc"), ({"form": "two_state"}, "form must be one of"),
    ({"form": "three_state", "tau_psc": 800.0}, "tau_psc must differ"), ({"U": float("nan")}, "U must be finite"),
])
def test_bad_parameters(kw, field):
    with pytest.raises(ValueError, match=field):
        TsodyksMarkram(**kw)


def test_bad_types():
    with pytest.raises(TypeError, match="U must be a number"):
        TsodyksMarkram(U="0.5")
    net = Network(dt=DT)
    a = net.add_lif(3)
    with pytest.raises(TypeError, match="stp must be None or TsodyksMarkram"):
        net.connect(a, a, p=0.5, stp={"U": 0.5})
    with pytest.raises(ValueError, match="spike_times_ms"):
        efficacies([3.0, 1.0], TsodyksMarkram())


_SCRIPT = r"""
import json, numpy as np
from neurosim.neurons import LIFParams
from neurosim.sim import Network
from neurosim.sim.stp import TsodyksMarkram
net = Network(dt=0.1, dtype=np.float32, rng=0)
a = net.add_lif(6, LIFParams(v_th=1.0, t_ref=1.0), i_ext=[1.1, 1.2, 1.3, 1.4, 1.5, 1.6])
b = net.add_lif(3, LIFParams(v_th=1.0), i_ext=0.9)
net.connect(a, b, p=1.0, weight=0.2, delay_ms=0.3, target="i_syn",
            stp=TsodyksMarkram(U=0.2, tau_rec=50.0, tau_fac=200.0))
net.connect(a, b, p=1.0, weight=0.1, target="v", stp=TsodyksMarkram(U=0.6, tau_rec=100.0, form="three_state"))
m = net.add_spike_monitor()
tr = net.add_state_monitor(b, ["v"], every=5)
net.run(150.0, progress=False)
print(json.dumps({"t": m.times_ms.tolist(), "i": m.ids.tolist(), "v": tr.v[-1].tolist()}))
"""


def test_kernels_run_without_jit():
    """Under NUMBA_DISABLE_JIT=1 the STP kernel is plain Python and gives the compiled results."""
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    out = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    nojit = json.loads(out.stdout.strip().splitlines()[-1])
    res = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    jit = json.loads(res.stdout.strip().splitlines()[-1])
    assert nojit == jit and len(jit["t"]) > 20
