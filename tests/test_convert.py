"""ANN-to-SNN conversion (neurosim.convert): analytic IF counts, spikingjelly parity, naive reference,
ReLU forms, residual models, QCFS, readout and stats (bad input: test_convert_errors.py). Tiny random models."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import naive_convert as naive
import neurosim.convert as nc
from neurosim.convert import calibrate as cal
from neurosim.snn import reset_states
from neurosim.snn.stats import measure_activity


def _seq(x, T):
    return x.unsqueeze(0).expand(T, *x.shape)


def _bn_(bn, g):
    with torch.no_grad():
        bn.running_mean.uniform_(-0.3, 0.3, generator=g)
        bn.running_var.uniform_(0.5, 2.0, generator=g)
        bn.weight.uniform_(0.5, 1.5, generator=g)
        bn.bias.uniform_(-0.1, 0.2, generator=g)
    return bn


def cnn(maxpool=False, seed=0):
    """Conv-BN-ReLU-pool x2, Linear-ReLU, Linear on 1x12x12 (spikingjelly's sample CNN, shrunk)."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    pool = nn.MaxPool2d(2) if maxpool else nn.AvgPool2d(2)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), _bn_(nn.BatchNorm2d(4), g), nn.ReLU(), pool,
                        nn.Conv2d(4, 6, 3, padding=1), _bn_(nn.BatchNorm2d(6), g), nn.ReLU(), nn.AvgPool2d(2),
                        nn.Flatten(), nn.Linear(54, 16), nn.ReLU(), nn.Linear(16, 3))
    return net.eval()


def data(n=96, seed=1, shape=(1, 12, 12)):
    return torch.rand(n, *shape, generator=torch.Generator().manual_seed(seed))


def spike_trains(model, neuron_type, fn):
    """Outputs of every ``neuron_type`` module during ``fn()``, in call order."""
    out = []
    hooks = [m.register_forward_hook(lambda m, a, o: out.append(o.detach().clone()))
             for m in model.modules() if type(m) is neuron_type]
    try:
        with torch.no_grad():
            fn()
    finally:
        for h in hooks:
            h.remove()
    return out


# -- IF dynamics: analytic ----------------------------------------------------------------------
@pytest.mark.parametrize("v_init", [0.0, 0.5])
def test_if_neuron_fires_floor_of_charge(v_init):
    """Constant z in [0, 1] (dyadic, so sums are exact) for T steps: N = floor(T z + V_0), capped at T;
    negative z never fires (CONVERSION.md §1 and acceptance test (a))."""
    T = 64
    z = torch.arange(-8, 65, dtype=torch.float32) / 64  # -0.125 .. 1
    neuron = nc.IFNeuron(torch.tensor(1.0), v_init=v_init)
    s = neuron(_seq(z[None], T).reshape(T, -1), T)
    expected = np.clip(np.floor(T * z.numpy().astype(np.float64) + v_init), 0, T)
    np.testing.assert_array_equal(s.sum(0).numpy(), expected)


def test_single_layer_rate_error_within_bound():
    """Linear-ReLU-Linear, mode max: each hidden rate is floor(T z / lam) lam / T, so the output error
    is at most sum_j |W2_ij| lam / T, and it shrinks with T (the bound is tight to a factor ~2)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 4)).double().eval()
    x = torch.rand(64, 8, dtype=torch.float64) * 2 - 0.5
    snn = nc.ann_to_snn(net, x, mode="max")
    lam = float(snn.scales["1"])
    with torch.no_grad():
        ref = net(x)
        row = net[2].weight.abs().sum(1)
        errs = []
        for T in (4, 32, 256):
            y = snn.run_static(x, T)
            bound = row * lam / T
            assert bool(((y - ref).abs() <= bound + 1e-9).all()), T
            errs.append(float((y - ref).abs().max()))
    assert errs[2] < errs[1] < errs[0]
    assert errs[0] > 0.1 * float(bound.max()) * 64  # the bound is not vacuous at T = 4


def test_hard_reset_breaks_the_bound():
    """Reset to zero throws the surplus away: rates are biased low, beyond the subtract-reset bound."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 4)).double().eval()
    x = torch.rand(64, 8, dtype=torch.float64)
    snn = nc.ann_to_snn(net, x, mode="max", reset="zero")
    lam = float(snn.scales["1"])
    with torch.no_grad():
        y = snn.run_static(x, 256)
        err = (y - net(x)).abs()
    assert bool((err > net[2].weight.abs().sum(1) * lam / 256).any())


# -- naive reference ----------------------------------------------------------------------------
@pytest.mark.parametrize("fold", [True, False])
@pytest.mark.parametrize("per_channel", [False, True])
def test_matches_naive_if_loop(fold, per_channel):
    """Float64 ConvNet (no BN): scales = dataset max (per layer or channel), spike counts of every layer and
    outputs equal the plain NumPy IF loop on the normalised network (float64 rounding differences never
    reach a threshold here; outputs to 1e-9). Folding per-channel scales crosses avgpool and flatten."""
    torch.manual_seed(3)
    net = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Conv2d(3, 4, 3, padding=1),
                        nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(36, 10), nn.ReLU(),
                        nn.Linear(10, 3)).double().eval()
    x = data(40).double()
    layers = naive.layers_from_sequential(net)
    lams = naive.scales(layers, x.numpy(), per_channel=per_channel)
    snn = nc.ann_to_snn(net, x, mode="max", fold_scales=fold, per_channel=per_channel)
    for got, want in zip(snn.scales.values(), lams):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    if fold:
        assert snn.info["scales_folded"] == {"input": 3, "output": 3, "scalers": 0}
    T = 24
    ref, counts = naive.if_simulate(layers, lams, x[:8].numpy(), T)
    trains = spike_trains(snn, type(snn.body.get_submodule("1").neuron), lambda: snn.run_static(x[:8], T))
    for got, want in zip(trains, counts):
        np.testing.assert_array_equal(got.sum(0).numpy(), want)
    # without hooks the pools run inside the IF kernel and the static input is read once per step
    assert snn.info["pools_fused"] == 2 and snn._static
    with torch.no_grad():
        np.testing.assert_allclose(snn.run_static(x[:8], T).numpy(), ref, atol=1e-9)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fused_pool_and_static_input_equal_the_plain_path(dtype):
    """The fast path (2x2 average pools inside the IF kernel, the layers before the first IF layer
    run once on a static input) against the plain path (forced by a hook on every IF layer: the
    expanded sequence, torch pooling): per-step outputs and the gradients of a loss on them w.r.t.
    every weight and the input. Same kernels and torch ops on the same values except the first
    conv's batch (B vs T*B rows) and the order of the input gradient's sum over steps: outputs
    rtol 1e-5 (float32) / 1e-12 (float64); gradients 1e-4 / 1e-10 relative to their largest entry."""
    net = cnn().to(dtype)
    x = data(40).to(dtype)
    snn = nc.ann_to_snn(net, x, mode="99.9%")
    assert snn.info["pools_fused"] == 2
    xs = x[:6].clone().requires_grad_(True)
    T = 12

    def run(plain):
        reset_states(snn)
        snn.zero_grad()
        xs.grad = None
        hooks = [m.neuron.register_forward_hook(lambda *a: None)
                 for m in snn.modules() if isinstance(m, nc.IFNeuron)] if plain else []
        try:
            out = snn.forward_steps(_seq(xs, T)) if plain else snn.forward_static(xs, T)
            (out * torch.linspace(-1, 1, out.shape[-1], dtype=dtype)).sum().backward()
        finally:
            for h in hooks:
                h.remove()
        return out.detach(), [p.grad.clone() for p in snn.parameters()], xs.grad.clone()

    fast, plain = run(False), run(True)
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(fast[0], plain[0], rtol=tol, atol=tol)
    assert fast[0].abs().sum() > 0
    gtol = 1e-4 if dtype == torch.float32 else 1e-10
    for a, b in zip(fast[1] + [fast[2]], plain[1] + [plain[2]]):
        assert float(b.abs().max()) > 0
        torch.testing.assert_close(a, b, rtol=0, atol=gtol * float(b.abs().max()))


# -- spikingjelly parity ------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["max", "99.9%", 0.5])
@pytest.mark.parametrize("channel_wise", [False, True])
def test_spikingjelly_parity(mode, channel_wise):
    """estimator='ema', explicit scalers, max pooling of spikes = spikingjelly 2.0 RateCodingRecipe:
    scales equal (1e-6; they are the same float32 ops), every IF layer's spikes equal at every step,
    per-step outputs equal to float32 rounding (the same torch ops in the same order)."""
    from spikingjelly.activation_based import ann2snn, functional, neuron

    net = cnn(maxpool=True)
    x = data(96)
    loader = [(x[i:i + 32], torch.zeros(32)) for i in range(0, 96, 32)]
    sj = ann2snn.Converter(recipe=ann2snn.RateCodingRecipe(loader, mode=mode, channel_wise=channel_wise)).convert(
        copy.deepcopy(net))
    ours = nc.ann_to_snn(net, loader, mode=mode, estimator="ema", per_channel=channel_wise, fold_scales=False,
                         maxpool="spikes")
    sj_scales = [m.scale for n, m in sj.named_modules() if n.endswith("scaler1")]
    assert len(sj_scales) == len(ours.scales) == 3
    for a, b in zip(sj_scales, ours.scales.values()):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-6)
    functional.set_step_mode(sj, "m")
    functional.reset_net(sj)
    xs = _seq(x[:16], 40).contiguous()
    sj_spikes = spike_trains(sj, neuron.IFNode, lambda: sj(xs))
    our_spikes = spike_trains(ours, type(ours.body.get_submodule("2").neuron), lambda: ours.forward_steps(xs))
    assert len(sj_spikes) == len(our_spikes) == 3
    for a, b in zip(sj_spikes, our_spikes):
        assert a.sum() > 0
        assert torch.equal(a, b)
    reset_states(ours)
    functional.reset_net(sj)
    with torch.no_grad():
        torch.testing.assert_close(ours.forward_steps(xs), sj(xs), rtol=1e-6, atol=1e-6)


def test_spikingjelly_parity_folded_outputs():
    """Folding the scales into the weights (default) changes only float rounding: per-step outputs agree
    with spikingjelly's to 1e-4 (an occasional spike may move by one step at a rounding boundary)."""
    from spikingjelly.activation_based import ann2snn, functional

    net = cnn()
    x = data(64)
    loader = [x[i:i + 32] for i in range(0, 64, 32)]
    sj = ann2snn.Converter(recipe=ann2snn.RateCodingRecipe(loader, mode="99.9%")).convert(copy.deepcopy(net))
    ours = nc.ann_to_snn(net, loader, mode="99.9%", estimator="ema")
    assert ours.info["scales_folded"]["output"] == 3 and ours.info["scales_folded"]["input"] == 3
    functional.set_step_mode(sj, "m")
    xs = _seq(x[:16], 32).contiguous()
    with torch.no_grad():
        torch.testing.assert_close(ours(xs), sj(xs).mean(0), rtol=0, atol=1e-4)


# -- exact statistics ---------------------------------------------------------------------------
@pytest.mark.parametrize("limit,bins", [(1 << 22, 4096), (40, 8)])
@pytest.mark.parametrize("per_channel", [False, True])
def test_exact_percentile_equals_numpy(monkeypatch, limit, bins, per_channel):
    """estimator='exact', '99%': numpy.percentile of the non-zero activations over the whole set, per
    layer or per channel, whether the values are kept in memory or streamed through histogram passes
    (limit 40 values, 8 bins: several refinement passes). Float64 model; rtol 1e-12 (numpy's lerp
    rounds differently for weights >= 0.5)."""
    monkeypatch.setattr(cal, "COLLECT_LIMIT", limit)
    monkeypatch.setattr(cal, "BINS", bins)
    torch.manual_seed(5)
    net = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                        nn.Linear(108, 12), nn.ReLU(), nn.Linear(12, 2)).double().eval()
    x = data(50).double()
    snn = nc.ann_to_snn(net, [x[:20], x[20:35], x[35:]], mode="99%", per_channel=per_channel)
    _, acts = naive.ann_forward(naive.layers_from_sequential(net), x.numpy())
    for got, a in zip(snn.scales.values(), acts):
        if per_channel:
            a = np.moveaxis(a, 1, 0).reshape(a.shape[1], -1)
            want = np.array([np.percentile(r[r != 0], 99) if (r != 0).any() else np.nan for r in a])
            want[np.isnan(want)] = np.nanmax(want)  # a dead channel takes the layer's largest scale
        else:
            want = np.percentile(a[a != 0], 99)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)


def test_exact_max_is_dataset_max_and_ema_is_below():
    """'max' (exact) is the largest activation over all batches; spikingjelly's EMA of batch maxima is
    smaller when the largest value sits in an early batch (CONVERSION.md §4.5)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 1)).eval()
    x = torch.rand(40, 4)
    x[0] *= 10  # the largest input in the first batch
    batches = list(x.split(8))
    exact = nc.ann_to_snn(net, batches, mode="max").scales["1"]
    ema = nc.ann_to_snn(net, batches, mode="max", estimator="ema").scales["1"]
    with torch.no_grad():
        assert float(exact) == pytest.approx(float(net[1](net[0](x)).max()), rel=1e-6)
    assert float(ema) < 0.9 * float(exact)


# -- activation forms, residuals, max pooling -----------------------------------------------------
class Forms(nn.Module):
    def __init__(self, form):
        super().__init__()
        self.form = form
        self.fc1, self.fc2, self.fc3 = nn.Linear(6, 12), nn.Linear(12, 12), nn.Linear(12, 3)
        self.act = nn.ReLU()

    def forward(self, x):
        f = self.form
        act = {"module": self.act, "F.relu": F.relu, "torch.relu": torch.relu, "method": lambda t: t.relu(),
               "clamp": lambda t: torch.clamp(t, min=0), "clamp_method": lambda t: t.clamp(min=0),
               "clamp_min": lambda t: torch.clamp_min(t, 0), "relu_": lambda t: F.relu(t, inplace=True),
               "clip": lambda t: t.clip(0, 50.0)}[f]
        return self.fc3(act(self.fc2(act(self.fc1(x)))))


@pytest.mark.parametrize("form", ["F.relu", "torch.relu", "method", "clamp", "clamp_method", "clamp_min", "relu_",
                                  "clip"])
def test_every_relu_form_converts_like_the_module(form):
    """Functional, method, in-place and clamp(min=0) ReLUs give the same scales and the same SNN as nn.ReLU
    (same code on both sides: bit-equal)."""
    x = torch.rand(32, 6)
    ref_net = Forms("module").eval()
    net = Forms(form).eval()
    net.load_state_dict(ref_net.state_dict())
    ref = nc.ann_to_snn(ref_net, x, mode="max")
    snn = nc.ann_to_snn(net, x, mode="max")
    assert snn.info["neurons"] == 2
    assert [float(v) for v in snn.scales.values()] == [float(v) for v in ref.scales.values()]
    with torch.no_grad():
        assert torch.equal(snn.run_static(x, 16), ref.run_static(x, 16))


def test_relu6_is_a_clipped_activation():
    """ReLU6 converts; its scale never exceeds the clip value."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU6(), nn.Linear(8, 2)).eval()
    with torch.no_grad():
        net[0].weight.mul_(30)
    snn = nc.ann_to_snn(net, torch.rand(64, 4), mode="max")
    assert float(snn.scales["1"]) == 6.0


class Res(nn.Module):
    """A plain ResNet block (ReLU after the add) then a SEW-style block (add after the ReLU)."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        torch.manual_seed(0)
        self.conv0, self.bn0 = nn.Conv2d(1, 4, 3, padding=1), _bn_(nn.BatchNorm2d(4), g)
        self.conv1, self.bn1 = nn.Conv2d(4, 4, 3, padding=1, bias=False), _bn_(nn.BatchNorm2d(4), g)
        self.conv2, self.bn2 = nn.Conv2d(4, 4, 3, padding=1, bias=False), _bn_(nn.BatchNorm2d(4), g)
        self.conv3 = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(16, 3)

    def forward(self, x):
        x = F.relu(self.bn0(self.conv0(x)))
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        x = F.relu(y + x)
        x = x + F.relu(self.conv3(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 2), 1))


def test_residual_model_converges():
    """Both residual forms convert (scalers kept for the identity paths); the error falls with T."""
    net = Res().eval()
    x = data(64, shape=(1, 8, 8))
    snn = nc.ann_to_snn(net, x, mode="max")
    assert snn.info["neurons"] == 4 and len(snn.info["bn_folded"]) == 3
    assert snn.info["scales_folded"]["scalers"] >= 2
    with torch.no_grad():
        ref = net(x[:16])
        err = [float((snn.run_static(x[:16], T) - ref).abs().mean()) for T in (16, 512)]
    assert err[1] < err[0] / 8
    assert err[1] < 0.02 * float(ref.abs().mean())


def test_maxpool_pre_converges_and_spike_pooling_does_not():
    """Conv-ReLU-MaxPool-Linear (CONVERSION.md §5): maxpool='pre' pools the analog inputs (exact for the
    first layer: the error falls as 1/T); pooling the spikes overshoots and does not improve with T."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(36, 3)).eval()
    x = data(64, shape=(1, 8, 8))
    with torch.no_grad():
        ref = net(x)
        pre = nc.ann_to_snn(net, x, mode="max", maxpool="pre")
        spk = nc.ann_to_snn(net, x, mode="max", maxpool="spikes")
        assert pre.info["maxpool_swapped"] == 1
        e_pre = [float((pre.run_static(x, T) - ref).abs().max()) for T in (50, 400)]
        e_spk = [float((spk.run_static(x, T) - ref).abs().max()) for T in (50, 400)]
    bound = float(net[4].weight.detach().abs().sum(1).max() * pre.scales["1"]) / 400
    assert e_pre[1] <= bound + 1e-5
    assert e_spk[1] > 0.5 * e_spk[0] and e_spk[1] > 10 * e_pre[1]


def test_zoo_teacher_converts_with_method():
    """neurosim.models ConvNet (neurosim Conv2d/BatchNorm2d leaves; its forward has a shape branch, so
    method='_forward'); BN folded into the convs, the SNN approaches the ANN."""
    from neurosim.models import get_model

    torch.manual_seed(0)
    net = get_model("convnet", channels=(4,), hidden=(8,), input_size=8, num_classes=3)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            _bn_(m, torch.Generator().manual_seed(0))
    net.eval()
    x = data(32, shape=(1, 8, 8))
    with pytest.raises(ValueError, match="method="):
        nc.ann_to_snn(net, x)
    snn = nc.ann_to_snn(net, x, mode="max", method="_forward")
    assert len(snn.info["bn_folded"]) == 1
    with torch.no_grad():
        ref = net(x)
        assert float((snn.run_static(x, 256) - ref).abs().max()) < 0.05 * float(ref.abs().max())


# -- QCFS ---------------------------------------------------------------------------------------
def test_qcfs_formula_and_gradients():
    """h(x) = lam clip(floor(x L / lam + 1/2) / L, 0, 1); floor has a straight-through gradient."""
    q = nc.QCFS(levels=4, threshold=2.0)
    x = torch.linspace(-1, 3, 33, requires_grad=True)
    y = q(x)
    want = 2.0 * np.clip(np.floor(x.detach().numpy() * 4 / 2.0 + 0.5) / 4, 0, 1)
    np.testing.assert_allclose(y.detach().numpy(), want, rtol=0, atol=1e-6)
    y.sum().backward()
    inside = ((x >= 0) & (x <= 2)).detach()  # clamp passes the gradient at its bounds
    assert bool((x.grad[inside] == 1).all()) and bool((x.grad[~inside] == 0).all())
    assert q.threshold.grad is not None and float(q.threshold.grad) != 0


@pytest.mark.parametrize("levels", [2, 4, 8])
def test_qcfs_layer_exact_at_T_equals_L(levels):
    """One QCFS layer converts without calibration; at T = L the SNN output equals the ANN's exactly
    (constant input, V_0 = theta/2: N = clip(floor(L z / lam + 1/2), 0, L)); dyadic values, lam = 2."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 16), nc.QCFS(levels=levels, threshold=2.0), nn.Linear(16, 2)).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.round(p * 64) / 64)
    x = torch.randint(0, 64, (32, 4)).float() / 64
    snn = nc.ann_to_snn(net, None, mode="max")
    assert snn.info["qcfs"] == 1 and float(snn.scales["1"]) == 2.0
    with torch.no_grad():
        torch.testing.assert_close(snn.run_static(x, levels), net(x), rtol=0, atol=1e-6)
        assert float((snn.run_static(x, levels + 1) - net(x)).abs().max()) > 1e-3  # T != L is not exact


# -- readout, state, stats ----------------------------------------------------------------------
def test_readout_streaming_and_reset():
    """forward_steps gives [T, B, out]; 'mean' is its mean, 'sum' its sum; two calls without reset continue
    the first (streaming); reset_states restarts from rest."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 10), nn.ReLU(), nn.Linear(10, 2)).eval()
    x = torch.rand(16, 5)
    snn = nc.ann_to_snn(net, x, mode="max", timesteps=12)
    s = nc.ann_to_snn(net, x, mode="max", readout="sum")
    xs = _seq(x[:4], 12)
    with torch.no_grad():
        steps = snn.forward_steps(xs)
        assert steps.shape == (12, 4, 2)
        reset_states(snn)
        torch.testing.assert_close(snn(xs), steps.mean(0))
        torch.testing.assert_close(s(xs), steps.sum(0))
        reset_states(snn)
        half = torch.cat([snn.forward_steps(xs[:5]), snn.forward_steps(xs[5:])])
        assert torch.equal(half, steps)
        again = snn.forward_steps(xs)  # no reset: continues from step 12
        assert not torch.equal(again, steps)
        reset_states(snn)
        assert torch.equal(snn.forward_steps(xs), steps)
        torch.testing.assert_close(snn.run_static(x[:4]), steps.mean(0))


def test_stats_count_spikes_as_synaptic_operations():
    """neurosim.snn.stats on a converted model: firing rates of the IF layers, and the SOPs of the output
    Linear equal its input spikes times its fan-out (scales folded into the weights, so it sees spikes)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 10), nn.ReLU(), nn.Linear(10, 3)).eval()
    x = torch.rand(16, 5)
    snn = nc.ann_to_snn(net, x, mode="max")
    xs = _seq(x, 20)
    spikes = spike_trains(snn, type(snn.body.get_submodule("1").neuron), lambda: snn(xs))[0]
    st = measure_activity(snn, xs)
    assert st.timesteps == 20 and st.samples == 16
    assert st.firing_rates["body.1.neuron"] == pytest.approx(float(spikes.mean()))
    assert st.sops["body.2"] == pytest.approx(float(spikes.sum()) * 3 / 16)
    assert st.macs["body.0"] > 0  # analog input layer
