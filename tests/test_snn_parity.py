"""Parity with the peer libraries: spikingjelly 2.0 LIFNode, snntorch 1.0 Leaky, norse 1.1 LIFBox.

Under the matching convention preset, spikes must be identical element by element and input
gradients allclose (float32, different order of the backward products -> rtol 1e-5).

Why bit equality of spikes is portable here: each preset performs the peer's elementwise IEEE-754
operations (``+ - * /``, compare) in the peer's order, in the same dtype, with no reduction and
no library function (``exp``, BLAS) in the forward; such operations are correctly rounded on
every machine, so the membranes are bit-identical and so are the spikes.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import neurosim.snn as snn
from neurosim.snn import surrogate as S

BACKENDS = ["torch", "auto"]


def _data(T=16, B=4, N=33, seed=0, scale=1.5, shift=0.3):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(T, B, N, generator=gen) * scale + shift
    g = torch.randn(T, B, N, generator=gen)
    return x, g


def _run(module_fn, x, g):
    xr = x.clone().requires_grad_(True)
    s = module_fn(xr)
    (gx,) = torch.autograd.grad(s, xr, g)
    return s.detach(), gx


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("decay_input", [True, False])
@pytest.mark.parametrize("hard", [True, False])
@pytest.mark.parametrize("detach_reset", [True, False])
def test_spikingjelly_lifnode(backend, decay_input, hard, detach_reset):
    sj_neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
    sj_surrogate = pytest.importorskip("spikingjelly.activation_based.surrogate")
    tau = 3.0  # not a power of two: the order of operations matters
    x, g = _data(seed=int(decay_input) + 2 * int(hard) + 4 * int(detach_reset))
    node = sj_neuron.LIFNode(tau=tau, decay_input=decay_input, v_reset=0.0 if hard else None,
                             detach_reset=detach_reset, surrogate_function=sj_surrogate.ATan(),
                             step_mode="m")
    s_ref, g_ref = _run(node, x, g)
    lif = snn.LIF(tau, convention="spikingjelly", decay_input=decay_input,
                  reset="zero" if hard else "subtract", detach_reset=detach_reset,
                  surrogate=S.ATan(), backend=backend)
    s, gx = _run(lambda z: lif(z)[0], x, g)
    assert s.sum() > 0 and torch.equal(s, s_ref)
    np.testing.assert_allclose(gx.numpy(), g_ref.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
@pytest.mark.parametrize("beta", [0.5, 0.9])
def test_snntorch_leaky(backend, reset, beta):
    snntorch = pytest.importorskip("snntorch")
    x, g = _data(seed=11, scale=0.8, shift=0.2)
    leaky = snntorch.Leaky(beta=beta, threshold=1.0, reset_mechanism=reset,
                           spike_grad=snntorch.surrogate.atan())

    def ref(z):
        mem = leaky.init_leaky()
        out = []
        for zt in z:
            spk, mem = leaky(zt, mem)
            out.append(spk)
        return torch.stack(out)

    s_ref, g_ref = _run(ref, x, g)
    lif = snn.LIF(convention="snntorch", beta=beta, reset=reset, backend=backend)
    s, gx = _run(lambda z: lif(z)[0], x, g)
    assert s.sum() > 0 and torch.equal(s, s_ref)
    np.testing.assert_allclose(gx.numpy(), g_ref.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_norse_lif_box(backend):
    pytest.importorskip("norse")
    from norse.torch.functional.lif_box import (
        LIFBoxFeedForwardState, LIFBoxParameters, lif_box_feed_forward_step,
    )

    x, g = _data(seed=21, scale=8.0, shift=2.0)
    p = LIFBoxParameters(tau_mem_inv=torch.as_tensor(100.0), v_leak=torch.as_tensor(0.0),
                         v_th=torch.as_tensor(1.0), v_reset=torch.as_tensor(0.0))

    def ref(z):
        state = LIFBoxFeedForwardState(v=torch.zeros_like(z[0]))
        out = []
        for zt in z:
            spk, state = lif_box_feed_forward_step(zt, state, p, dt=1e-3)
            out.append(spk)
        return torch.stack(out)

    s_ref, g_ref = _run(ref, x, g)
    lif = snn.LIF(convention="norse", tau_mem=10.0, dt=1.0, backend=backend)
    s, gx = _run(lambda z: lif(z)[0], x, g)
    assert s.sum() > 0 and torch.equal(s, s_ref)
    np.testing.assert_allclose(gx.numpy(), g_ref.numpy(), rtol=1e-5, atol=1e-6)


def test_norse_equations_reference():
    """Independent of norse being installed: the PEERS.md forward-Euler equations."""
    from naive_snn import norse_lif_box

    x, _ = _data(T=20, B=1, N=50, seed=4, scale=8.0, shift=2.0)
    s, _ = snn.LIF(convention="norse", tau_mem=10.0, dt=1.0, backend="torch")(x.double())
    np.testing.assert_array_equal(s[:, 0].numpy(), norse_lif_box(x[:, 0].double().numpy()))
