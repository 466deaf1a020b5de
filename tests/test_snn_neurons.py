"""Parametric LIF, IF, adaptive LIF, current-based LIF, recurrent LIF and Izhikevich cells.

Spike trains are compared bit for bit with peers (spikingjelly, snntorch, norse) and naive loops:
each side does the same elementwise IEEE-754 operations in the same order (the presets reproduce
the peer's order; the learnable leak ``k = sigmoid(w)`` is the same torch op on both sides; the
adaptation decay is ``math.exp`` on both), with no reduction or library function in the forward,
so the membranes, and the spikes, are identical on any machine. Where a sum enters (the
recurrent input) its terms are exact (see there). Gradients and continuous states: rtol 1e-5
(float32; the backward multiplies in another order), 1e-12 (float64).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import naive_snn as naive
import neurosim.snn as snn
from neurosim.snn import surrogate as S


def _data(shape, seed, scale=1.5, shift=0.3, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=gen, dtype=dtype) * scale + shift,
            torch.randn(*shape, generator=gen, dtype=dtype))


@pytest.mark.parametrize("backend", ["torch", "auto"])
@pytest.mark.parametrize("decay_input,hard", [(True, True), (False, False)])
def test_parametric_lif_equals_spikingjelly(backend, decay_input, hard):
    sj = pytest.importorskip("spikingjelly.activation_based.neuron")
    sjs = pytest.importorskip("spikingjelly.activation_based.surrogate")
    x, g = _data((12, 3, 21), seed=3)
    node = sj.ParametricLIFNode(init_tau=3.0, decay_input=decay_input, v_reset=0.0 if hard else None,
                                surrogate_function=sjs.ATan(), step_mode="m")
    ours = snn.ParametricLIF(3.0, decay_input=decay_input, reset="zero" if hard else "subtract",
                             convention="spikingjelly", surrogate=S.ATan(), backend=backend)
    res = []
    for m, w in ((node, node.w), (ours, ours.w)):
        xr = x.clone().requires_grad_(True)
        out = m(xr)
        s = out[0] if isinstance(out, tuple) else out
        gx, gw = torch.autograd.grad((s * g).sum(), [xr, w])
        res.append((s.detach(), gx, gw))
    assert res[0][0].sum() > 0 and torch.equal(res[0][0], res[1][0])
    np.testing.assert_allclose(res[1][1].numpy(), res[0][1].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(float(res[1][2]), float(res[0][2]), rtol=1e-4)
    assert ours.tau == pytest.approx(3.0)


@pytest.mark.parametrize("backend", ["torch", "fused"])
def test_parametric_tau_gradcheck(backend):
    """Without reset the membrane is smooth in x, v0 and w: autograd (incl. the kernel's dL/dk) = finite differences."""
    plif = snn.ParametricLIF(2.5, reset="none", backend=backend).double()
    x, _ = _data((5, 2, 3), seed=4, dtype=torch.float64)
    x.requires_grad_(True)
    v0 = torch.rand(2, 3, dtype=torch.float64, requires_grad=True)

    def _vt(x, v0, w):
        _, st = snn.lif_run(x, snn.LIFState(v0), plif.spec, backend=backend, k=torch.sigmoid(w))
        return st.v

    w = plif.w.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(_vt, (x, v0, w))


@pytest.mark.parametrize("backend", ["torch", "auto"])
def test_if_equals_spikingjelly(backend):
    sj = pytest.importorskip("spikingjelly.activation_based.neuron")
    sjs = pytest.importorskip("spikingjelly.activation_based.surrogate")
    x, g = _data((10, 2, 17), seed=5, scale=0.7, shift=0.1)
    node = sj.IFNode(surrogate_function=sjs.ATan(), step_mode="m")
    ours = snn.IF(surrogate=S.ATan(), convention="spikingjelly", backend=backend)
    res = []
    for m in (node, lambda z: ours(z)[0]):
        xr = x.clone().requires_grad_(True)
        s = m(xr)
        (gx,) = torch.autograd.grad((s * g).sum(), xr)
        res.append((s.detach(), gx))
    assert res[0][0].sum() > 0 and torch.equal(res[0][0], res[1][0])
    np.testing.assert_allclose(res[1][1].numpy(), res[0][1].numpy(), rtol=1e-5, atol=1e-6)


def test_adaptive_lif_matches_naive_and_adapts():
    x = torch.full((200, 1, 1), 1.5, dtype=torch.float64)
    xr, _ = _data((30, 1, 25), seed=6, dtype=torch.float64)
    for inp in (x, xr):
        s, st = snn.AdaptiveLIF(2.0, reset="subtract", tau_adapt=30.0, beta_adapt=1.8)(inp)
        ref, _ = naive.alif_forward(inp[:, 0].numpy(), tau=2.0, tau_adapt=30.0, beta_adapt=1.8)
        np.testing.assert_array_equal(s[:, 0].numpy(), ref)
    # spike-frequency adaptation: fewer spikes late than early under constant drive
    s = snn.AdaptiveLIF(2.0, tau_adapt=30.0)(x)[0]
    assert s[:20].sum() > s[-20:].sum() > 0
    plain = snn.LIF(2.0)(x)[0]
    assert s.sum() < plain.sum()
    with pytest.raises(ValueError, match="tau_adapt"):
        snn.AdaptiveLIF(tau_adapt=0.0)


def test_cuba_lif_equals_norse():
    pytest.importorskip("norse")
    from norse.torch.functional.lif import LIFFeedForwardState, LIFParameters, lif_feed_forward_step
    x, g = _data((20, 3, 16), seed=7, scale=6.0, shift=1.0)
    p = LIFParameters(tau_syn_inv=torch.as_tensor(200.0), tau_mem_inv=torch.as_tensor(100.0),
                      v_leak=torch.as_tensor(0.0), v_th=torch.as_tensor(1.0), v_reset=torch.as_tensor(0.0))

    def ref(z):
        st = LIFFeedForwardState(v=torch.zeros_like(z[0]), i=torch.zeros_like(z[0]))
        out = []
        for zt in z:
            spk, st = lif_feed_forward_step(zt, st, p, dt=1e-3)
            out.append(spk)
        return torch.stack(out), st

    ours = snn.CubaLIF(convention="norse", tau_mem=10.0, tau_syn=5.0, dt=1.0)
    res = []
    for m in (ref, ours):
        xr = x.clone().requires_grad_(True)
        s, st = m(xr)
        (gx,) = torch.autograd.grad((s * g).sum(), xr)
        res.append((s.detach(), st, gx))
    assert res[0][0].sum() > 0 and torch.equal(res[0][0], res[1][0])
    np.testing.assert_allclose(res[1][1].i.detach().numpy(), res[0][1].i.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(res[1][2].numpy(), res[0][2].numpy(), rtol=1e-5, atol=1e-6)


def test_cuba_lif_equals_snntorch_synaptic():
    snntorch = pytest.importorskip("snntorch")
    x, g = _data((15, 2, 19), seed=8, scale=0.6, shift=0.1)
    syn = snntorch.Synaptic(alpha=0.8, beta=0.7, spike_grad=snntorch.surrogate.atan())

    def ref(z):
        s_, m_ = syn.init_synaptic()
        out = []
        for zt in z:
            spk, s_, m_ = syn(zt, s_, m_)
            out.append(spk)
        return torch.stack(out)

    ours = snn.CubaLIF(convention="snntorch", alpha=0.8, beta=0.7)
    res = []
    for m in (ref, lambda z: ours(z)[0]):
        xr = x.clone().requires_grad_(True)
        s = m(xr)
        (gx,) = torch.autograd.grad((s * g).sum(), xr)
        res.append((s.detach(), gx))
    assert res[0][0].sum() > 0 and torch.equal(res[0][0], res[1][0])
    np.testing.assert_allclose(res[1][1].numpy(), res[0][1].numpy(), rtol=1e-5, atol=1e-6)


def test_recurrent_lif():
    x, g = _data((12, 2, 8), seed=9, scale=1.0, shift=0.4, dtype=torch.float64)
    rl = snn.RecurrentLIF(8, 2.0).double()
    with torch.no_grad():  # weights on a 1/8 grid: W s (spikes 0/1) is exact in torch's GEMM and NumPy's,
        w = torch.randn(8, 8, generator=torch.Generator().manual_seed(1)) * 0.5  # whatever their summation order
        rl.recurrent.weight.copy_((w * 8).round() / 8)
    s, st = rl(x)
    assert s.sum() > 0
    for b in range(2):
        ref = naive.recurrent_lif_forward(x[:, b].numpy(), rl.recurrent.weight.detach().numpy(), tau=2.0)
        # 0 ulp: exact recurrent input, then the same elementwise operations in the same order
        np.testing.assert_array_equal(s[:, b].detach().numpy(), ref)
    (s * g).sum().backward()
    assert rl.recurrent.weight.grad.abs().sum() > 0
    with torch.no_grad():
        rl.recurrent.weight.zero_()
    assert torch.equal(rl(x)[0], snn.LIF(2.0)(x)[0])
    with pytest.raises(ValueError, match="n=8"):
        rl(torch.randn(3, 2, 5, dtype=torch.float64))


@pytest.mark.parametrize("order", ["listing", "nest"])
@pytest.mark.parametrize("preset", ["RS", "FS", "CH"])
def test_izhikevich_equals_numpy_kernel(preset, order):
    from neurosim.neurons import IzhikevichParams, IzhikevichState
    from neurosim.neurons.izhikevich import izhikevich_run

    p = IzhikevichParams.preset(preset, order=order)
    gen = torch.Generator().manual_seed(10)
    cur = 8.0 + 4.0 * torch.randn(300, 1, 6, generator=gen, dtype=torch.float64)
    s, st = snn.Izhikevich(p, dt=0.5)(cur)
    ref, rst = izhikevich_run(cur[:, 0].numpy(), IzhikevichState.initial(p, 6), p, dt=0.5)
    assert ref.sum() > 5
    np.testing.assert_array_equal(s[:, 0].numpy(), ref.astype(float))
    np.testing.assert_allclose(st.v[0].numpy(), rst.v, rtol=1e-12)


def test_izhikevich_is_differentiable():
    cur = torch.full((100, 2, 3), 10.0, requires_grad=True)
    s, _ = snn.Izhikevich(dt=1.0)(cur)
    s.sum().backward()
    assert torch.isfinite(cur.grad).all() and cur.grad.abs().sum() > 0


def test_every_stateful_layer_resets():
    x = torch.randn(4, 2, 5) + 0.5
    layers = [snn.LIFLayer(), snn.ParametricLIFLayer(), snn.IFLayer(), snn.AdaptiveLIFLayer(),
              snn.CubaLIFLayer(), snn.RecurrentLIFLayer(5), snn.IzhikevichLayer()]
    model = torch.nn.ModuleList(layers)
    first = [m(x * (10 if isinstance(m, snn.IzhikevichLayer) else 1)) for m in layers]
    assert all(m.state is not None for m in layers)
    snn.reset_states(model)
    assert all(m.state is None for m in layers)
    again = [m(x * (10 if isinstance(m, snn.IzhikevichLayer) else 1)) for m in layers]
    assert all(torch.equal(a, b) for a, b in zip(first, again))


def test_neuron_option_errors():
    with pytest.raises(ValueError, match="init_tau"):
        snn.ParametricLIF(1.0)
    with pytest.raises(TypeError, match="init_tau"):
        snn.ParametricLIF(tau=2.0)
    with pytest.raises(ValueError, match="tau_syn"):
        snn.CubaLIF(tau_syn=0.0)
    with pytest.raises(ValueError, match="alpha"):
        snn.CubaLIF(alpha=1.0)
    with pytest.raises(TypeError, match="no leak"):
        snn.IF(tau=2.0)
    with pytest.raises(ValueError, match="beta_adapt"):
        snn.AdaptiveLIF(beta_adapt=-1.0)
    with pytest.raises(ValueError, match="dt"):
        snn.Izhikevich(dt=0.0)
    from neurosim.snn.functional.izhikevich import IzhikevichSpec
    with pytest.raises(ValueError, match="order"):
        IzhikevichSpec(order="matlab")
    with pytest.raises(TypeError, match="n"):
        snn.RecurrentLIF(2.5)
    with pytest.raises(ValueError, match="T = 0"):
        snn.AdaptiveLIF()(torch.zeros(0, 2, 3))
