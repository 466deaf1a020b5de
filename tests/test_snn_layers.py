"""LIF layers, surrogates, containers and encoders against independent references."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import neurosim.snn as snn
from neurosim.snn import surrogate as S
import naive_snn as naive

ALL_SG = [S.ATan(), S.Sigmoid(), S.FastSigmoid(), S.SuperSpike(), S.Triangle(), S.Gaussian(), S.Erf(),
          S.Triangle(alpha=2.5), S.ATan(alpha=3.0)]


# -- surrogates ---------------------------------------------------------------------------------
@pytest.mark.parametrize("sg", ALL_SG, ids=repr)
def test_surrogate_backward_is_closed_form_and_primitive_derivative(sg):
    x = torch.linspace(-2, 2, 401, dtype=torch.float64, requires_grad=True)
    spikes = sg(x)
    assert torch.equal(spikes, (x >= 0).double())
    g = torch.randn(401, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    (gx,) = torch.autograd.grad(spikes, x, g)
    ref = naive.sg_grad(sg.name, sg.kernel_param, x.detach().numpy())
    np.testing.assert_allclose(gx.numpy(), g.numpy() * ref, rtol=1e-12, atol=1e-14)
    # grad is the derivative of the primitive (autograd of the smooth function)
    xp = x.detach().clone().requires_grad_(True)
    (dp,) = torch.autograd.grad(sg.primitive(xp).sum(), xp)
    np.testing.assert_allclose(dp.numpy(), ref, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("sg", [S.ATan(), S.Sigmoid(), S.FastSigmoid(slope=3.0), S.Gaussian(), S.Erf()],
                         ids=repr)
def test_surrogate_grad_gradcheck(sg):
    x = (torch.rand(12, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 2 + 0.05)
    x = torch.where(torch.arange(12) % 2 == 0, x, -x).requires_grad_(True)  # avoid |x| kink at 0
    assert torch.autograd.gradcheck(sg.grad, (x,))
    assert torch.autograd.gradcheck(sg.primitive, (x,))


def test_strict_fire_and_registry():
    x = torch.tensor([-1.0, 0.0, 1.0])
    assert S.ATan()(x, strict=True).tolist() == [0, 0, 1]
    assert S.ATan()(x).tolist() == [0, 1, 1]
    assert isinstance(snn.get_surrogate("atan", alpha=3.0), S.ATan)
    assert snn.get_surrogate("Fast-Sigmoid").slope == 25.0
    assert S.SuperSpike().alpha == 100.0 and S.Sigmoid().alpha == 4.0 and S.ATan().alpha == 2.0
    with pytest.raises(KeyError, match="valid names: atan, sigmoid"):
        snn.get_surrogate("relu")
    with pytest.raises(ValueError, match="alpha"):
        S.ATan(alpha=0.0)
    with pytest.raises(TypeError, match="surrogate"):
        snn.LIF(surrogate=3)


# -- LIF vs the naive float64 loop with hand-written BPTT ----------------------------------------
CASES = [
    dict(reset="zero", decay_input=True, detach_reset=False, strict=False),
    dict(reset="zero", decay_input=False, detach_reset=True, strict=True),
    dict(reset="subtract", decay_input=True, detach_reset=False, strict=False),
    dict(reset="subtract", decay_input=False, detach_reset=True, strict=False),
    dict(reset="none", decay_input=True, detach_reset=False, strict=True),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{v}" for v in c.values()))
def test_lif_matches_naive_loop(case):
    gen = torch.Generator().manual_seed(3)
    T, M = 12, 37
    x = (torch.randn(T, M, generator=gen, dtype=torch.float64) * 1.2 + 0.6).requires_grad_(True)
    gs = torch.randn(T, M, generator=gen, dtype=torch.float64)
    lif = snn.LIF(tau=3.0, v_th=1.0, v_reset=-0.2, v_rest=0.1, surrogate=S.Sigmoid(),
                  fire=">" if case["strict"] else ">=", reset=case["reset"],
                  decay_input=case["decay_input"], detach_reset=case["detach_reset"], backend="torch")
    spikes, state = lif(x)
    Sref, H, v = naive.lif_forward(x.detach().numpy(), tau=3.0, v_reset=-0.2, v_rest=0.1, reset=case["reset"],
                                   decay_input=case["decay_input"], strict=case["strict"])
    # 0 ulp: the naive loop does torch's elementwise float64 operations in the same order
    np.testing.assert_array_equal(spikes.detach().numpy(), Sref)
    np.testing.assert_allclose(state.v.detach().numpy(), v, rtol=1e-10, atol=1e-12)
    (gx,) = torch.autograd.grad(spikes, x, gs)
    gref, _ = naive.lif_backward(gs.numpy(), H, tau=3.0, sg="sigmoid", sg_p=4.0, v_reset=-0.2, **case)
    np.testing.assert_allclose(gx.numpy(), gref, rtol=1e-9, atol=1e-12)


def test_lif_subthreshold_relaxes_exponentially():
    """Constant input, no spikes: v_t = x + (v0 - x) (1 - 1/tau)^t (Euler) / exp(-t dt/tau) (exact)."""
    T = 50
    x = torch.full((T, 1, 1), 0.5, dtype=torch.float64)
    for integration, decay in (("euler", 1 - 1 / 8.0), ("exact", np.exp(-1 / 8.0))):
        lif = snn.LIFCell(tau_mem=16.0, dt=2.0, integration=integration)
        state, vs = None, []
        for t in range(T):
            _, state = lif(x[t], state)
            vs.append(float(state.v))
        np.testing.assert_allclose(vs, 0.5 * (1 - decay ** np.arange(1, T + 1)), rtol=1e-12)


def test_cell_equals_sequence_and_state_continues():
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(10, 3, 4, generator=gen) + 0.8
    lif = snn.LIF(backend="torch")
    full, st_full = lif(x)
    a, st = lif(x[:4])
    b, st = lif(x[4:], st)
    assert torch.equal(torch.cat([a, b]), full) and torch.equal(st.v, st_full.v)
    cell = snn.LIFCell()
    state, outs = None, []
    for xt in x:
        s, state = cell(xt, state)
        outs.append(s)
    assert torch.equal(torch.stack(outs), full)


def test_lif_from_lifparams():
    from neurosim.neurons import LIFParams

    p = LIFParams(tau_mem=10.0, v_th=1.5, v_reset=0.0, reset="subtract")
    lif = snn.LIF(params=p, dt=0.5)
    assert lif.spec.tau == 20.0 and lif.spec.v_th == 1.5 and lif.spec.reset == "subtract"
    exact = snn.LIF(params=p, dt=0.5, integration="exact")
    assert exact.spec.tau == pytest.approx(1 / (1 - np.exp(-0.05)))
    with pytest.raises(ValueError, match="t_ref"):
        snn.LIF(params=LIFParams(t_ref=2.0))


# -- stateful layer and containers ---------------------------------------------------------------
def test_lif_layer_keeps_state_until_reset_states():
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(6, 2, 5, generator=gen) + 0.7
    model = nn.Sequential(snn.SeqToANN(nn.Linear(5, 5)), snn.LIFLayer(), snn.SeqToANN(nn.Linear(5, 3)),
                          snn.LIFLayer(reset="subtract"))
    ref = model(x)                       # from rest
    again = model(x)                     # continues from the kept state
    snn.reset_states(model)
    assert torch.equal(model(x), ref) and again.shape == ref.shape
    chain = nn.Sequential(snn.LIFLayer(), snn.LIFLayer(reset="subtract"))
    first, second = chain(x), chain(x)
    snn.reset_states(chain)
    assert torch.equal(chain(torch.cat([x, x])), torch.cat([first, second]))  # state carried over
    layer = model[1]
    v_kept = layer.state.v.clone()
    snn.reset_states(model)
    assert layer.state is None and model[3].state is None
    _, st = snn.LIF()(model[0](x))
    assert torch.equal(v_kept, st.v)
    with pytest.raises(ValueError, match="reset_states"):
        model(x)  # state kept from the previous call ...
        model(torch.randn(6, 3, 5))  # ... does not fit a batch of another size


def test_seq_to_ann_merges_time_and_batch():
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 4, 3)
    x = torch.randn(3, 5, 2, 8, 8)
    y = snn.SeqToANN(conv, nn.Flatten())(x)
    assert y.shape == (3, 5, 4 * 36)
    assert torch.allclose(y[1, 2], conv(x[1, 2:3]).flatten(), atol=1e-6)


# -- encoders ------------------------------------------------------------------------------------
def test_encoders():
    x = torch.tensor([[0.0, 0.25, 1.0]])
    assert torch.equal(snn.direct(x, 3), x.expand(3, 1, 3))
    p1 = snn.poisson(x, 2000, generator=torch.Generator().manual_seed(0))
    p2 = snn.poisson(x, 2000, generator=torch.Generator().manual_seed(0))
    assert torch.equal(p1, p2)
    rates = p1.mean(0)[0]
    assert rates[0] == 0 and rates[2] == 1 and abs(float(rates[1]) - 0.25) < 0.04  # 4 sigma
    lat = snn.latency(torch.tensor([[1.0, 0.5, 0.0]]), 5)
    assert lat.sum(0).tolist() == [[1.0, 1.0, 0.0]]
    assert lat[:, 0, 0].argmax() == 0 and lat[:, 0, 1].argmax() == 2
    seq = torch.tensor([[0.0], [0.5], [0.5], [0.1]])
    assert snn.delta(seq, threshold=0.3, off_spikes=True).flatten().tolist() == [0, 1, 0, -1]
    with pytest.raises(ValueError, match="x must lie in"):
        snn.poisson(x * 2, 3)
    with pytest.raises(ValueError, match="T"):
        snn.direct(x, 0)


@pytest.mark.parametrize("encode", [lambda x: snn.direct(x, 3), lambda x: snn.poisson(x, 3),
                                    lambda x: snn.latency(x, 3), lambda x: snn.delta(x)],
                         ids=["direct", "poisson", "latency", "delta"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")], ids=["nan", "inf", "-inf"])
def test_encoders_refuse_nonfinite_x(encode, value):
    """A NaN passed the [0, 1] range check of poisson/latency (NaN compares False) and direct/delta
    repeated or differenced it without an error."""
    x = torch.full((2, 3), 0.5)
    x[1, 2] = value
    with pytest.raises(ValueError, match=r"^x contains 1 NaN/inf value\(s\) of 6"):
        encode(x)


@pytest.mark.parametrize("encode", [lambda x, T: snn.poisson(x, T), lambda x, T: snn.latency(x, T)],
                         ids=["poisson", "latency"])
def test_encoders_refuse_a_T_that_cannot_fit_in_memory(encode):
    """T = 10**12 tried to allocate 4 TB inside torch (RuntimeError from the allocator)."""
    with pytest.raises(ValueError, match=r"^T: the \[T, 2, 3\] spike array needs .* use a smaller size"):
        encode(torch.full((2, 3), 0.5), 10 ** 12)
    assert snn.direct(torch.full((2, 3), 0.5), 10 ** 12).shape == (10 ** 12, 2, 3)  # a view: nothing allocated


def test_latency_tau_is_validated_for_every_method():
    """``tau`` is only used by ``method="log"``; a negative one was accepted silently with "linear"."""
    x = torch.tensor([[1.0, 0.5]])
    for method in ("linear", "log"):
        with pytest.raises(ValueError, match="tau must be > 0"):
            snn.latency(x, 4, method=method, tau=-0.3)
    assert torch.equal(snn.latency(x, 4, tau=3.0), snn.latency(x, 4))  # "linear" ignores a valid tau


# -- bad input -----------------------------------------------------------------------------------
def test_bad_input_errors():
    lif = snn.LIF()
    with pytest.raises(ValueError, match=r"\[T, B"):
        lif(torch.randn(5))
    with pytest.raises(TypeError, match="floating-point"):
        lif(torch.ones(3, 2, dtype=torch.int64))
    with pytest.raises(ValueError, match="T = 0"):
        lif(torch.randn(0, 2, 3))
    with pytest.raises(ValueError, match="tau"):
        snn.LIF(tau=0.0)
    with pytest.raises(ValueError, match="tau_mem"):
        snn.LIF(tau_mem=-1.0)
    with pytest.raises(TypeError, match="tau"):
        snn.LIF(tau="2")
    with pytest.raises(ValueError, match="reset"):
        snn.LIF(reset="hard")
    with pytest.raises(ValueError, match="fire"):
        snn.LIF(fire="=>")
    with pytest.raises(KeyError, match="valid names"):
        snn.LIF(convention="brian")
    with pytest.raises(KeyError, match="valid names"):
        snn.LIF(surrogate="nope")
    with pytest.raises(ValueError, match="state.v"):
        lif(torch.randn(3, 2, 4), snn.LIFState(torch.zeros(2, 5)))
    with pytest.raises(ValueError, match="beta"):
        snn.LIF(beta=1.5, convention="snntorch")
    with pytest.raises(TypeError, match="floating-point"):
        snn.LIFCell()(torch.ones(2, dtype=torch.bool))
