"""DSR LIF (HLOP's default training, ALGORITHMS.md §2.3) against literal NumPy loops, and HLOP on a DSR network."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from neurosim.continual.dsr import DSRLIF, rate_weights, weighted_rate


def _naive_dsr(x, v_th, tau, dt, alpha):
    """Spec §2.3 line by line (float64)."""
    beta = math.exp(-dt / tau)
    u = np.zeros(x.shape[1:])
    out = np.zeros_like(x)
    for t in range(x.shape[0]):
        u = beta * u + (1 - beta) * x[t]
        s = (u >= alpha * v_th).astype(float)
        u = u - v_th * s
        out[t] = s * v_th / dt
    return out


def _naive_wfr(x, tau, dt):
    T = x.shape[0]
    w = np.array([math.exp(-1 / tau * (dt * T - i * dt)) for i in range(1, T + 1)])
    return np.tensordot(w, x, axes=(0, 0)) / w.sum()


def test_weights_and_weighted_rate():
    w = rate_weights(20, 1.0, 0.05, dtype=torch.float64)
    assert float(w[-1]) == 1.0 and math.isclose(float(w[0]), math.exp(-0.95))
    x = torch.randn(20, 3, 4, dtype=torch.float64)
    np.testing.assert_allclose(weighted_rate(x).numpy(), _naive_wfr(x.numpy(), 1.0, 0.05), rtol=1e-12)
    const = torch.full((7, 2), 3.5, dtype=torch.float64)
    np.testing.assert_allclose(weighted_rate(const).numpy(), 3.5, rtol=1e-12)


def test_forward_and_backward_match_the_spec():
    torch.manual_seed(0)
    T, tau, dt, alpha, vth = 20, 1.0, 0.05, 0.3, 0.3
    base = torch.rand(5, 7, dtype=torch.float64) * 14.0 - 3.0  # per-neuron rates below 0, inside, above 6
    x = (base + 0.5 * torch.randn(T, 5, 7, dtype=torch.float64)).requires_grad_(True)
    lay = DSRLIF(vth, tau, dt, alpha).double()
    with torch.no_grad():
        lay.v_th.fill_(vth)  # exactly 0.3 in float64
    out = lay(x)
    # 0 ulp: the same elementwise float64 operations in the same order (beta from math.exp on both sides)
    np.testing.assert_array_equal(out.detach().numpy(), _naive_dsr(x.detach().numpy(), vth, tau, dt, alpha))
    g = torch.randn_like(out)
    out.backward(g)
    r = _naive_wfr(x.detach().numpy(), tau, dt)
    gc = _naive_wfr(g.numpy(), tau, dt) * T
    top = vth * tau / dt
    gi = np.where((r > 0) & (r < top), gc / tau, 0.0) / T
    np.testing.assert_allclose(x.grad.numpy(), np.broadcast_to(gi, x.shape), rtol=1e-12)
    assert ((r > top).any() and (r <= 0).any() and ((r > 0) & (r < top)).any())  # all three regimes hit
    np.testing.assert_allclose(float(lay.v_th.grad), (gc * (r > top)).sum() * dt, rtol=1e-12)


def test_threshold_clip_and_bad_input():
    lay = DSRLIF(0.3)
    with torch.no_grad():
        lay.v_th.fill_(-1.0)
    lay(torch.zeros(3, 2))
    assert float(lay.v_th.detach()) == pytest.approx(5e-4)
    with pytest.raises(ValueError, match=r"\[T, B"):
        lay(torch.zeros(4))
    with pytest.raises(ValueError, match="tau"):
        DSRLIF(tau=0.0)


def test_hlop_on_a_dsr_network_records_rates_and_projects():
    from neurosim.continual.hlop import HLOP, SpikingMLP
    from neurosim.continual.protocols import Task, run_sequence

    g = torch.Generator().manual_seed(0)
    tasks = []
    for k in range(2):
        w = torch.zeros(12)
        w[3 * k:3 * k + 3] = 1.0
        x = torch.randn(96, 12, generator=g) * 0.3
        y = torch.randint(0, 2, (96,), generator=g)
        x = x + 2.0 * (2 * y[:, None] - 1) * w
        tasks.append(Task(f"t{k}", x[:72], y[:72], x[72:], y[72:], n_classes=2, head=0))
    model = SpikingMLP(12, (24, 24), 2, timesteps=20, neuron="dsr", rng=0)
    strat = HLOP((3, 3, 2), (2, 2, 2), etas=(0.01,) * 3, rng=0)
    layers = list(model.protected_layers())
    seen = []
    orig_update = strat._update

    def spy(xs):
        seen.append([None if x is None else x.shape for x in xs])
        orig_update(xs)

    strat._update = spy
    snap = {}

    def cb(t, m, R):
        snap[t] = ([lay.weight.detach().clone() for lay in layers], [lay.proj_basis.clone() for lay in layers])

    res = run_sequence(model, strat, tasks, seed=0, batch_size=8, lr=0.5, on_task_end=cb)
    assert seen and all(s == [torch.Size([8, 12]), torch.Size([8, 24]), torch.Size([8, 24])] for s in seen[:5])
    (w0, q0), (w1, _) = snap[0], snap[1]
    for a, b, q in zip(w0, w1, q0):
        if (b - a).abs().max() > 0:
            torch.testing.assert_close((b - a) @ q.T, torch.zeros(a.shape[0], q.shape[0]), atol=2e-6, rtol=0)
    assert (w1[0] - w0[0]).abs().max() > 1e-4                  # fc1 learnt task 1, in the free space
    ids = lambda ps: {id(p) for p in ps}  # noqa: E731  thresholds train on task 0 only (HLOP's fix_bn)
    assert id(model.lifs[0].v_th) in ids(strat.parameters(model, 0))
    assert id(model.lifs[0].v_th) not in ids(strat.parameters(model, 1))
    assert np.isfinite(res["R"][1]).all()
