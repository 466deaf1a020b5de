"""Guards of the SNN layers: time constants below one step and non-finite inputs raise ValueError.

A time constant below one step makes the decay per step ``1 - 1/tau`` negative: the membrane
flips sign every step, fires on every step or diverges (``LIF(0.2, convention="spikingjelly")``
fired on every step for a sub-threshold input; ``convention="snntorch"`` ran to -8e28). A NaN or
inf input made the state NaN and the spikes 0 without an error. Both are now errors; the fused
kernel detects a non-finite input from its final membranes (``kernels/bptt.py``).
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import neurosim.snn as snn
from neurosim.snn import fused
from neurosim.snn.functional.cuba import CubaLIFSpec
from neurosim.snn.functional.lif import LIFSpec

CONVENTIONS = ["neurosim", "spikingjelly", "snntorch", "norse"]


# -- time constants ----------------------------------------------------------------------------
@pytest.mark.parametrize("tau", [0.2, 0.999])
@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("make", [
    lambda **kw: snn.LIF(**kw), lambda **kw: snn.LIFCell(**kw), lambda **kw: snn.LIFLayer(**kw),
    lambda **kw: snn.LIFAvgPool(**kw), lambda **kw: snn.AdaptiveLIF(**kw), lambda **kw: snn.CubaLIF(**kw),
    lambda **kw: snn.RecurrentLIF(4, **kw),
], ids=["LIF", "LIFCell", "LIFLayer", "LIFAvgPool", "AdaptiveLIF", "CubaLIF", "RecurrentLIF"])
def test_tau_below_one_step_is_rejected(make, convention, tau):
    with pytest.raises(ValueError, match=r"tau must be >= 1 step .*\[0, 1\).*integration='exact'"):
        make(tau=tau, convention=convention)


def test_the_reported_cases_and_the_physical_forms():
    with pytest.raises(ValueError, match="tau must be >= 1"):
        snn.LIF(0.2, convention="spikingjelly")
    with pytest.raises(ValueError, match="tau must be >= 1"):
        snn.LIF(0.2, convention="snntorch")
    with pytest.raises(ValueError, match=r"tau_mem / dt must be >= 1 .*integration='exact'"):
        snn.LIF(tau_mem=1.0, dt=2.0)
    with pytest.raises(ValueError, match=r"tau must be > 1 step with convention='spikingjelly'"):
        snn.LIF(1.0, convention="spikingjelly")  # spikingjelly's LIFNode asserts tau > 1
    assert snn.LIF(1.0).spec.decay == 0.0  # decay 0 is a valid (memoryless) LIF elsewhere
    # exact integration is stable for any tau_mem: decay exp(-dt / tau_mem) in (0, 1)
    lif = snn.LIF(tau_mem=1.0, dt=2.0, integration="exact", convention="spikingjelly")
    assert lif.spec.decay == pytest.approx(np.exp(-2.0)) and lif.spec.tau > 1.0
    with pytest.raises(ValueError, match="tau must be >= 1"):
        LIFSpec(tau=0.5)
    with pytest.raises(ValueError, match="beta"):
        LIFSpec(tau=2.0, beta=1.5)


def test_synaptic_and_learnable_time_constants():
    with pytest.raises(ValueError, match=r"tau_syn / dt must be >= 1 \(got tau_syn=0.5, dt=1.0"):
        snn.CubaLIF(tau_syn=0.5)
    with pytest.raises(ValueError, match=r"tau_syn / dt must be >= 1"):
        snn.CubaLIFCell(tau_syn=2.0, dt=4.0, tau_mem=8.0)
    with pytest.raises(ValueError, match="tau_syn must be >= 1"):
        CubaLIFSpec(LIFSpec(), tau_syn=0.3)
    for init_tau in (0.5, 1.0):  # 1/tau = sigmoid(w) < 1 needs tau > 1
        with pytest.raises(ValueError, match="init_tau"):
            snn.ParametricLIF(init_tau)
    for make in (snn.ParametricLIFCell, snn.ParametricLIFLayer):
        with pytest.raises(ValueError, match="init_tau"):
            make(0.7)


def test_sub_one_step_tau_would_fire_on_sub_threshold_input():
    """Why the rule exists: the same spec built around validation fires on every step for a
    constant input at half the threshold (h = v + (x - v) / 0.2 = 5x - 4v overshoots), while a
    valid tau never reaches threshold (the membrane relaxes to x = 0.5 < v_th)."""
    x = torch.full((20, 1, 1), 0.5, dtype=torch.float64)
    spec = object.__new__(LIFSpec)  # the default spec with tau = 0.2, bypassing the validation
    for f, v in LIFSpec().__dict__.items():
        object.__setattr__(spec, f, 0.2 if f == "tau" else v)
    s_bad, _ = snn.lif_run(x, None, spec, backend="torch")
    assert s_bad.sum() >= 10
    s_ok, _ = snn.LIF(2.0, backend="torch")(x)
    assert s_ok.sum() == 0


# -- non-finite input --------------------------------------------------------------------------
VALUES = [float("nan"), float("inf"), float("-inf")]


@pytest.fixture
def many_blocks():
    """Blocks of 16 neurons on every worker thread (the OpenMP team when available)."""
    with fused.fused_options(block=16, parallel_min_steps=0):
        yield


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("backend", ["fused", "torch"])
@pytest.mark.parametrize("value", VALUES, ids=["nan", "inf", "-inf"])
def test_nonfinite_input_raises(many_blocks, backend, dtype, value):
    T, B, N = 6, 3, 50
    for t, b, n in [(0, 0, 0), (T - 1, B - 1, N - 1), (2, 1, 37)]:  # first, last and a middle block
        x = torch.randn(T, B, N, generator=torch.Generator().manual_seed(t), dtype=dtype)
        x[t, b, n] = value
        for layer in (snn.LIF(2.0, backend=backend), snn.ParametricLIF(2.0, backend=backend),
                      snn.IF(backend=backend), snn.LIF(convention="snntorch", beta=0.0, backend=backend)):
            layer = layer.to(dtype)
            with pytest.raises(ValueError, match=rf"x contains 1 non-finite values .* index \({t}, {b}, {n}\)"):
                layer(x.clone().requires_grad_(True))
    xp = torch.randn(T, B, 2, 4, 6, dtype=dtype)
    xp[3, 2, 1, 2, 5] = value
    with pytest.raises(ValueError, match="x contains"):
        snn.LIFAvgPool(2.0, backend=backend).to(dtype)(xp)
    with pytest.raises(ValueError, match="x contains"):
        snn.LIF(2.0, backend=backend).run_static(xp[3], 4)


@pytest.mark.parametrize("backend", ["fused", "torch"])
def test_nonfinite_input_raises_for_every_form(backend):
    """Every convention, reset, input scaling and detach flag: one NaN or inf anywhere raises
    (the kernel sees it in the final membrane of its neuron, however the dynamics go on)."""
    rng = np.random.default_rng(0)
    combos = itertools.product(CONVENTIONS, ["zero", "subtract", "none"], [True, False], VALUES)
    n = 0
    for conv, reset, decay_input, value in combos:
        x = torch.randn(7, 2, 30, generator=torch.Generator().manual_seed(n)) * 2.0 + 0.5
        x[tuple(int(rng.integers(s)) for s in x.shape)] = value
        lif = snn.LIF(3.0, convention=conv, reset=reset, decay_input=decay_input, backend=backend)
        with pytest.raises(ValueError, match="x contains 1 non-finite"):
            lif(x)
        n += 1
    assert n == 72


def test_nonfinite_state_and_overflow_are_named():
    x = torch.rand(4, 2, 8)
    v0 = torch.zeros(2, 8)
    v0[1, 3] = float("nan")
    for backend in ("fused", "torch"):
        with pytest.raises(ValueError, match=r"state\.v .* NaN or inf"):
            snn.LIF(2.0, backend=backend)(x, snn.LIFState(v0))
        # finite but huge float32 input: without leak of the input the membrane exceeds float32
        big = torch.full((4, 1, 3), 3e38)
        with pytest.raises(ValueError, match="overflowed to inf although x is finite"):
            snn.LIF(2.0, reset="none", decay_input=False, backend=backend)(big)


@pytest.mark.parametrize("make", [
    lambda: snn.LIFCell(), lambda: snn.ParametricLIFCell(), lambda: snn.IFCell(), lambda: snn.CubaLIFCell(),
    lambda: snn.AdaptiveLIFCell(), lambda: snn.RecurrentLIFCell(5), lambda: snn.IzhikevichCell(),
    lambda: snn.CubaLIF(), lambda: snn.AdaptiveLIF(), lambda: snn.RecurrentLIF(5), lambda: snn.Izhikevich(),
], ids=["LIFCell", "ParametricLIFCell", "IFCell", "CubaLIFCell", "AdaptiveLIFCell", "RecurrentLIFCell",
        "IzhikevichCell", "CubaLIF", "AdaptiveLIF", "RecurrentLIF", "Izhikevich"])
@pytest.mark.parametrize("value", VALUES, ids=["nan", "inf", "-inf"])
def test_nonfinite_input_raises_in_cells_and_step_loops(make, value):
    layer = make()
    x = torch.rand(3, 2, 5) + 0.5
    x[1, 0, 2] = value
    if "Cell" in type(layer).__name__:
        x = x[1]
    with pytest.raises(ValueError, match="x contains 1 non-finite"):
        layer(x)


def test_finite_input_gives_the_same_results_on_both_paths():
    """The checks do not change results: fused and torch loops still agree (spikes bit for bit:
    the same IEEE operations in the same order; gradients within float32 rounding)."""
    x = torch.randn(8, 4, 33, generator=torch.Generator().manual_seed(9)) * 1.5 + 0.4
    out = []
    for backend in ("fused", "torch"):
        xr = x.clone().requires_grad_(True)
        s, st = snn.LIF(2.0, backend=backend)(xr)
        s.sum().backward()
        out.append((s, st.v, xr.grad))
    assert out[0][0].sum() > 0 and torch.equal(out[0][0], out[1][0])
    np.testing.assert_allclose(out[0][2].numpy(), out[1][2].numpy(), rtol=1e-5, atol=1e-6)


# -- fuzz census (issue 15): parameters and inputs are checked at the boundary -----------------
@pytest.mark.parametrize("kw,exc,name", [
    ({"v_scale": float("inf")}, ValueError, "v_scale"), ({"v_scale": b"1"}, TypeError, "v_scale"),
    ({"v_scale": 0.0}, ValueError, "v_scale"), ({"dt": float("inf")}, ValueError, "dt"),
    ({"dt": -1.0}, ValueError, "dt"), ({"v0": float("nan")}, ValueError, "v0"),
    ({"v0": "-65"}, TypeError, "v0"), ({"surrogate": 3}, TypeError, "surrogate"),
])
def test_izhikevich_options_are_validated(kw, exc, name):
    """``v_scale=inf`` was accepted (every surrogate gradient 0); ``v_scale=b'1'`` crashed in a comparison."""
    with pytest.raises(exc, match=name):
        snn.Izhikevich(**kw)


@pytest.mark.parametrize("make", [lambda: snn.Izhikevich(dt=1e300), lambda: snn.IzhikevichCell(dt=1e300)],
                         ids=["Izhikevich", "IzhikevichCell"])
def test_izhikevich_divergence_is_an_error_not_nan(make):
    """A step of 1e300 ms overflows the Euler scheme: the state was NaN (spikes 0) without an error."""
    x = torch.full((3, 2, 4), 5.0)
    layer = make()
    with pytest.raises(ValueError, match=r"overflowed to NaN/inf although x is finite .*dt = 1e\+300 ms"):
        layer(x[0] if "Cell" in type(layer).__name__ else x)
    s, st = snn.Izhikevich()(x)  # the default step stays finite
    assert torch.isfinite(st.v).all() and torch.isfinite(st.u).all()


@pytest.mark.parametrize("make", [lambda: snn.RecurrentLIF(4), lambda: snn.RecurrentLIFCell(4)],
                         ids=["RecurrentLIF", "RecurrentLIFCell"])
def test_recurrent_lif_dtype_mismatch_names_x(make):
    layer = make()
    x = torch.rand(3, 2, 4, dtype=torch.float64)
    x = x[0] if "Cell" in type(layer).__name__ else x
    with pytest.raises(TypeError, match=r"x has dtype torch.float64 but the recurrent weights are torch.float32"):
        layer(x)
    s, _ = layer.double()(x)  # after .double() the same input runs
    assert s.dtype == torch.float64


@pytest.mark.parametrize("sg", [snn.SuperSpike(0.5), snn.ATan(), snn.Gaussian()], ids=repr)
@pytest.mark.parametrize("x", [np.ones(3), [0.5, -1.0], 1.0, torch.ones(2, dtype=torch.complex64)],
                         ids=["numpy", "list", "float", "complex"])
def test_surrogate_input_must_be_a_real_tensor(sg, x):
    with pytest.raises(TypeError, match=r"^x must be a"):
        sg(x)


def test_surrogate_at_infinity_is_the_exact_limit():
    """+-inf are legal for the elementwise surrogates: H(inf) = 1, H(-inf) = 0, derivative 0."""
    x = torch.tensor([-float("inf"), -0.5, 0.0, float("inf")], requires_grad=True)
    for sg in (snn.ATan(), snn.Sigmoid(), snn.FastSigmoid(), snn.Triangle(), snn.Gaussian(), snn.Erf()):
        y = sg(x)
        assert y.tolist() == [0.0, 0.0, 1.0, 1.0]
        (g,) = torch.autograd.grad(y.sum(), x)
        assert g[0] == 0 and g[3] == 0 and torch.all(g[1:3] > 0)


@pytest.mark.parametrize("cls", list(snn.SURROGATES.values()), ids=lambda c: c.name)
def test_surrogate_nan_input_is_an_error(cls):
    """A NaN potential has no spike decision: the public call refuses it (it returned 0 silently)."""
    sg = cls()
    with pytest.raises(ValueError, match=r"^x contains 1 NaN value"):
        sg(torch.tensor([0.5, float("nan"), -1.0]))
    x = torch.tensor([0.5, 0.0, -1.0])
    assert sg(x).tolist() == [1.0, 1.0, 0.0]


@pytest.mark.parametrize("cls", list(snn.SURROGATES.values()), ids=lambda c: c.name)
def test_surrogate_width_range_keeps_float32_gradients_finite_and_nonzero(cls):
    """At both ends of WIDTH_RANGE the float32 derivative is finite everywhere and > 0 at the
    threshold; one step outside is a ValueError naming the width (alpha=1e300 gave NaN)."""
    from neurosim.snn.surrogate import WIDTH_RANGE

    name = cls._param_name
    x = torch.tensor([-1e3, -1.0, -1e-7, 0.0, 1e-7, 1.0, 1e3], dtype=torch.float32, requires_grad=True)
    for w in WIDTH_RANGE:
        (g,) = torch.autograd.grad(cls(**{name: w})(x).sum(), x)
        assert torch.isfinite(g).all() and g[3] > 0, (w, g)
    for w in (WIDTH_RANGE[0] / 10, WIDTH_RANGE[1] * 10, 1e300, 1e-30):
        with pytest.raises(ValueError, match=rf"^{name} must be in \["):
            cls(**{name: w})


def test_convention_must_be_a_name():
    with pytest.raises(TypeError, match="convention must be a name"):
        snn.LIF(2.0, convention={"a": 1})
    with pytest.raises(KeyError, match="valid names"):
        snn.LIF(2.0, convention="brian")
