"""Signed IF neurons with memory (``ann_to_snn(signed=True)``) against the NumPy reference and the analytic count."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import naive_convert as naive
import neurosim.convert as nc
from neurosim.convert.modules import IFNeuron
from neurosim.snn import reset_states


def _dyadic(net, k=64):
    with torch.no_grad():
        for p in net.parameters():
            if p.ndim:  # weights and biases; QCFS thresholds (0-d) stay as given
                p.copy_(torch.round(p * k) / k)
    return net.eval()


def _count(neuron, x):
    """Spike count over the steps of ``x`` ``[T, ...]`` (neuron called on merged [T*B, ...])."""
    T = x.shape[0]
    with torch.no_grad():
        s = neuron(x.reshape(T * x.shape[1], *x.shape[2:]), T)
    return s.reshape(x.shape).sum(0)


def test_signed_count_is_rounded_input_sum_whatever_the_order():
    """Per-step input |z_t| < 1, V_0 = 1/2: the signed neuron ends with N_T = max(0, floor(sum_t z_t + 1/2))
    (the count invariant: V < 1 always, V >= 0 while N > 0), for any order of the same inputs; the plain IF
    neuron does not (an early spike is never taken back)."""
    g = torch.Generator().manual_seed(0)
    T, B = 8, 4000
    z = (torch.rand(T, B, generator=g, dtype=torch.float64) * 1.9 - 0.95)
    z[:, : B // 2] = torch.sort(z[:, : B // 2], dim=0, descending=True).values  # positive first, then negative
    want = torch.clamp(torch.floor(z.sum(0) + 0.5), min=0)
    signed = IFNeuron(torch.tensor(1.0, dtype=torch.float64), v_init=0.5, signed=True)
    plain = IFNeuron(torch.tensor(1.0, dtype=torch.float64), v_init=0.5)
    got = _count(signed, z)
    assert torch.equal(got, want)
    assert float((_count(plain, z) - want).abs().max()) >= 1  # the plain neuron's unevenness error


@pytest.mark.parametrize("T", [4, 7])
def test_signed_network_matches_numpy_reference(T):
    """Conv-QCFS-pool-Linear-QCFS-Linear converted with signed=True (pool fused into the IF kernel, scales
    folded) equals the NumPy loop with signed neurons (V_0 = 1/2, lambda = the QCFS thresholds 2 and 1), dyadic
    data: equal up to float64 summation order (1e-9), output and per-layer counts; it differs from the
    plain conversion on the same input."""
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(2, 6, 3, padding=1), nc.QCFS(levels=4, threshold=2.0), nn.AvgPool2d(2),
                        nn.Flatten(), nn.Linear(6 * 3 * 3, 12), nc.QCFS(levels=4, threshold=1.0),
                        nn.Linear(12, 3)).double()
    net[4].weight.data.mul_(4)  # larger mixed-sign weights: uneven input trains for the second IF layer
    _dyadic(net)
    x = torch.randint(0, 64, (64, 2, 6, 6), dtype=torch.float64) / 64 - 0.25
    snn = nc.ann_to_snn(net, None, signed=True)
    assert snn.info["signed"] and all(m.signed for m in snn.modules() if isinstance(m, IFNeuron))
    ref, _ = naive.if_simulate(naive.layers_from_sequential(net), [np.float64(2.0), np.float64(1.0)], x.numpy(), T,
                               v_init=0.5, signed=True)
    plain, _ = naive.if_simulate(naive.layers_from_sequential(net), [np.float64(2.0), np.float64(1.0)], x.numpy(), T,
                                 v_init=0.5)
    with torch.no_grad():
        got = snn.run_static(x, T).numpy()
        reset_states(snn)
        steps = snn.forward_steps(x.unsqueeze(0).expand(T, *x.shape)).mean(0).numpy()  # expanded input path
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9)
    np.testing.assert_allclose(steps, ref, rtol=0, atol=1e-9)
    assert np.abs(ref - plain).max() > 1e-3


def test_signed_streaming_reset_and_calibration():
    """Two calls without reset continue one run (the (V, N) state carries on); reset_states restarts;
    calibrate_bias runs on a signed network."""
    torch.manual_seed(2)
    net = nn.Sequential(nn.Linear(5, 10), nc.QCFS(levels=4, threshold=1.0), nn.Linear(10, 10),
                        nc.QCFS(levels=4, threshold=1.0), nn.Linear(10, 2)).eval()
    snn = nc.ann_to_snn(net, None, signed=True)
    x = torch.randn(6, 8, 5)
    with torch.no_grad():
        whole = snn.forward_steps(x)
        reset_states(snn)
        torch.testing.assert_close(torch.cat([snn.forward_steps(x[:3]), snn.forward_steps(x[3:])]), whole,
                                   rtol=0, atol=0)
        again = snn.forward_steps(x)
        assert not torch.equal(again, whole)
        reset_states(snn)
        assert torch.equal(snn.forward_steps(x), whole)
    err = nc.calibrate_bias(snn, net, torch.randn(64, 5), 4)
    assert len(err) == 2


def test_signed_bad_input():
    net = nn.Sequential(nn.Linear(3, 4), nc.QCFS(levels=4), nn.Linear(4, 2)).eval()
    with pytest.raises(ValueError, match="reset='subtract'"):
        nc.ann_to_snn(net, None, signed=True, reset="zero")
    with pytest.raises(TypeError, match="signed must be True or False"):
        nc.ann_to_snn(net, None, signed="yes")
    snn = nc.ann_to_snn(net, None, signed=True)
    x = torch.randn(4, 2, 3, requires_grad=True)
    with pytest.raises(ValueError, match="no surrogate gradient"):
        snn(x)
    pytest.importorskip("nir")
    with pytest.raises(ValueError, match="signed spikes"):
        nc.export_converted(snn, (3,))


def test_signed_recipe_round_trip():
    """A recipe (model files) records signed; rebuild gives signed neurons again; a recipe without the key
    (written before it existed) rebuilds plain neurons."""
    from neurosim.convert.recipe import rebuild, recipe

    net = nn.Sequential(nn.Linear(3, 4), nc.QCFS(levels=4), nn.Linear(4, 2)).eval()
    rec = recipe(nc.ann_to_snn(net, None, signed=True), (3,))
    assert rec["signed"] is True
    assert all(m.signed for m in rebuild(net, rec).modules() if isinstance(m, IFNeuron))
    old = {k: v for k, v in rec.items() if k != "signed"}
    assert not any(m.signed for m in rebuild(net, old).modules() if isinstance(m, IFNeuron))
    with pytest.raises(ValueError, match="reset='subtract'"):
        rebuild(net, {**rec, "reset": "zero"})


def test_signed_activity_counts_every_event():
    """measure_activity counts a -1 spike as one event: spikes per sample and the next layer's SOPs equal a
    NumPy loop's count of non-zero signed spikes (|S_t| summed), not the net count."""
    from neurosim.snn.stats import measure_activity

    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(5, 20), nc.QCFS(levels=4, threshold=1.0), nn.Linear(20, 7)).double().eval()
    x = torch.randn(6, 16, 5, dtype=torch.float64)
    snn = nc.ann_to_snn(net, None, signed=True)
    with torch.no_grad():
        stats = measure_activity(snn, x)
    z = (x.numpy() @ net[0].weight.detach().numpy().T) + net[0].bias.detach().numpy()  # threshold 1: z as is
    v, n, events = np.full(z.shape[1:], 0.5), np.zeros(z.shape[1:]), 0.0
    for t in range(z.shape[0]):
        v = v + z[t]
        s = (v >= 1.0).astype(float) - ((v < 0.0) & (n > 0)).astype(float)
        v, n, events = v - s, n + s, events + np.abs(s).sum()
    assert (z < 0).any() and events > np.abs(n).sum()  # some spikes were taken back
    assert stats.spikes_per_sample["body.1.neuron"] == pytest.approx(events / 16, rel=1e-12)
    assert stats.sops["body.2"] == pytest.approx(events * 7 / 16, rel=1e-12)
