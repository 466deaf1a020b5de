"""Tsodyks-Markram short-term plasticity (``plasticity=TsodyksMarkram(...)``) against the spec's test
vectors (SIMULATION.md §5, to 1e-3) and the references of ``tests/naive_sim_stp.py``."""
from __future__ import annotations

import numpy as np
import pytest

import neurosim as ns
from naive_sim_stdp import spike_steps
from naive_sim_stp import tsodyks2_efficacies, tsodyks_efficacies

DT = 0.1

# (U, tau_rec, tau_fac): efficacies of spikes 1-5 and the steady state at 20 Hz, two-state / three-state (tau_psc 3)
VECTORS = [
    ((0.67, 450.0, 0.0), [.670, .268, .150, .115, .104, .100], [.670, .266, .148, .114, .104, .0994]),
    ((0.1, 100.0, 1000.0), [.100, .174, .222, .251, .268, .336], [.100, .174, .221, .249, .265, .330]),
    ((0.5, 800.0, 0.0), [.500, .265, .155, .103, .079, .057], [.500, .264, .154, .102, .078, .057]),
]


def _regular_network(model, U, tau_rec, tau_fac, n_spikes, dtype=np.float64):
    """A 20 Hz source (a timed jump input makes a LIF fire every 50 ms) -> accumulator (tau 1e12 ms)."""
    net = ns.sim.Network(dt=DT, dtype=dtype, rng=0)
    pre = net.add_lif(1, ns.neurons.LIFParams(tau_mem=10.0, v_th=1.0), name="pre")
    kick = np.zeros((n_spikes * 500, 1))
    kick[::500] = 5.0
    net.add_timed_input(pre, kick, target="v")
    post = net.add_lif(1, ns.neurons.LIFParams(tau_mem=10.0, v_th=1e9, tau_syn_inh=1e12), name="post")
    stp = ns.sim.TsodyksMarkram(U=U, tau_rec=tau_rec, tau_fac=tau_fac, tau_psc=3.0, model=model)
    net.connect(pre, post, pairs=([0], [0]), weight=1.0, target="gi", plasticity=stp)
    tr = net.add_state_monitor(post, ["gi"], every=1, name="tr")
    mon = net.add_spike_monitor(pre, name="spikes")
    net.run(n_spikes * 50.0, progress=False)
    return net, tr, mon


@pytest.mark.parametrize("model", ["tsodyks2", "tsodyks"])
@pytest.mark.parametrize("k", range(len(VECTORS)))
def test_efficacies_equal_the_spec_test_vectors(model, k):
    (U, tau_rec, tau_fac), two, three = VECTORS[k]
    n = 120
    net, tr, mon = _regular_network(model, U, tau_rec, tau_fac, n)
    steps = np.rint(mon.times_ms / DT).astype(int) - 1
    assert steps.size == n and np.all(np.diff(steps) == 500)  # exactly 20 Hz
    gi = tr.gi[:, 0]
    # a spike of step m is integrated in step m + 1 and shows in the sample at the start of step m + 2
    eff = gi[steps[:-1] + 2] - gi[steps[:-1] + 1]
    want = two if model == "tsodyks2" else three
    np.testing.assert_allclose(eff[:5], want[:5], atol=1e-3)
    assert eff[n - 2] == pytest.approx(want[5], abs=1e-3)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_irregular_trains_equal_the_references(dtype):
    """Poisson sources, one per target, two groups with different models and delays: each increment of
    the target's (non-decaying) current is ``w`` times the reference efficacy of that spike."""
    net = ns.sim.Network(dt=DT, dtype=dtype, rng=4)
    src = net.add_poisson_group(4, [20.0, 60.0, 150.0, 5.0], name="src")
    post = net.add_lif(4, ns.neurons.LIFParams(tau_mem=10.0, v_th=1e9, tau_syn_inh=1e12), name="post")
    a = ns.sim.TsodyksMarkram(U=0.3, tau_rec=200.0, tau_fac=500.0, model="tsodyks2")
    b = ns.sim.TsodyksMarkram(U=0.6, tau_rec=300.0, tau_fac=50.0, tau_psc=4.0, model="tsodyks")
    w = np.array([0.7, 1.3, 0.9, 2.0])
    net.connect(src, post, pairs=([0, 1], [0, 1]), weight=w[:2], target="gi", plasticity=a)
    net.connect(src, post, pairs=([2, 3], [2, 3]), weight=w[2:], target="gi", plasticity=b, delay_ms=0.5)
    tr = net.add_state_monitor(post, ["gi"], every=1, name="tr")
    mon = net.add_spike_monitor(src, name="spikes")
    net.run(1500.0, progress=False)
    steps = spike_steps(mon, DT)
    for i in range(4):
        s = steps[src.start + i]
        rule = a if i < 2 else b
        d = 0 if i < 2 else 5
        t = (s + 1) * DT
        ref = (tsodyks2_efficacies(t, rule.U, rule.tau_rec, rule.tau_fac) if i < 2 else
               tsodyks_efficacies(t, rule.U, rule.tau_rec, rule.tau_fac, rule.tau_psc))
        gi = tr.gi[:, i].astype(np.float64)
        keep = s + d + 2 < gi.size
        inc = gi[s[keep] + d + 2] - gi[s[keep] + d + 1]
        tol = 1e-9 if dtype == np.float64 else 2e-6 * max(1.0, gi.max())
        assert keep.sum() > 3
        np.testing.assert_allclose(inc, w[i] * ref[keep], rtol=0, atol=tol)


@pytest.mark.parametrize("kw,field", [
    ({"U": 0.0}, "U"), ({"U": 1.5}, "U"), ({"tau_rec": 0.0}, "tau_rec"), ({"tau_fac": -1.0}, "tau_fac"),
    ({"tau_psc": 0.0}, "tau_psc"), ({"model": "markram"}, "model"),
])
def test_validation(kw, field):
    with pytest.raises(ValueError, match=field):
        ns.sim.TsodyksMarkram(**kw)
