"""neurosim.snn.stats against hand counts on tiny models."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from neurosim.snn.containers import SeqToANN, reset_states  # noqa: E402
from neurosim.snn.modules.lif import LIFLayer  # noqa: E402
from neurosim.snn.stats import ENERGY_MODELS, ActivityMonitor, EnergyModel, measure_activity  # noqa: E402


def test_linear_sops_firing_rate_and_energy_by_hand():
    # input spikes -> Linear(3 -> 2) ; T = 2, B = 1
    lin = nn.Linear(3, 2)
    model = nn.Sequential(lin)
    x = torch.tensor([[[1.0, 0.0, 1.0]], [[0.0, 0.0, 1.0]]])  # 3 events over 2 steps
    st = measure_activity(model, x, time_major=True)
    assert st.sops == {"0": 3 * 2}  # each event reaches 2 targets
    assert st.macs == {"0": 0.0}
    assert st.ann_macs == {"0": 3 * 2}  # one dense step: 3 x 2 MACs
    assert st.energy_snn_pj == pytest.approx(6 * 0.9)
    assert st.energy_ann_pj == pytest.approx(6 * 4.6)
    assert st.timesteps == 2 and st.samples == 1


def test_conv_fanout_counts_padding_borders():
    # 3x3 conv, padding 1, on a 3x3 image: a corner event reaches 2x2 outputs, the centre 3x3
    conv = nn.Conv2d(1, 2, 3, padding=1)
    model = nn.Sequential(SeqToANN(conv))
    x = torch.zeros(1, 2, 1, 3, 3)
    x[0, 0, 0, 0, 0] = 1.0  # sample 0: corner
    x[0, 1, 0, 1, 1] = 1.0  # sample 1: centre
    st = measure_activity(model, x, time_major=True)
    name = "0.0"
    assert st.sops[name] == pytest.approx((4 * 2 + 9 * 2) / 2)  # 2 output channels, per sample
    assert st.ann_macs[name] == pytest.approx(2 * 9 * 9)  # C_out H W * C_in k k


def test_integer_events_count_with_multiplicity_and_transposed_conv():
    # a SEW-ADD value 2 is two events; ConvTranspose2d stride 2, k 3, pad 1, out_pad 1 on 2x2
    deconv = nn.ConvTranspose2d(1, 1, 3, 2, 1, output_padding=1, bias=False)
    model = nn.Sequential(SeqToANN(deconv))
    x = torch.zeros(1, 1, 1, 2, 2)
    x[0, 0, 0, 0, 0] = 2.0
    st = measure_activity(model, x, time_major=True)
    # input (0,0) maps to outputs 2*0 - 1 + k, k = 0..2 -> rows/cols {0, 1} inside the 4x4 output
    assert st.sops["0.0"] == pytest.approx(2 * 4)
    assert st.ann_macs["0.0"] == pytest.approx(4 * 9)


def test_spiking_net_rates_sops_and_analog_first_layer():
    torch.manual_seed(0)
    fc1, fc2 = nn.Linear(4, 5), nn.Linear(5, 3)
    nn.init.normal_(fc1.weight, 0.5, 1.0)
    sn = LIFLayer(tau=2.0)
    model = nn.Sequential(fc1, sn, fc2)
    x = torch.rand(6, 3, 4) * 2  # analog input: fc1 costs dense MACs every step
    st = measure_activity(model, x)
    # recompute the spikes independently of the hooks
    with torch.no_grad():
        sn.reset_state()
        spikes = sn(fc1(x))
        sn.reset_state()
    assert spikes.sum() > 0
    assert st.firing_rates["1"] == pytest.approx(float(spikes.mean()))
    assert st.sops["2"] == pytest.approx(float(spikes.sum()) * 3 / 3)  # fan-out 3, per sample (B = 3)
    assert st.macs["0"] == pytest.approx(6 * 4 * 5)  # T steps x dense MACs
    assert st.sops["0"] == 0
    assert st.ann_macs == {"0": 20.0, "2": 15.0}
    assert st.mean_firing_rate == pytest.approx(float(spikes.mean()))
    e = ENERGY_MODELS["fp32_45nm"]
    assert st.energy_snn_pj == pytest.approx(e.e_ac_pj * st.total_sops + e.e_mac_pj * 120)
    assert "| 1 |" in st.table() and st.as_dict()["total_ann_macs"] == 35.0


def test_monitor_accumulates_batches_and_ann_model():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    with ActivityMonitor(model, energy="int8_45nm") as mon:
        model(torch.rand(4, 2))
        model(torch.rand(6, 2))
    st = mon.result()
    assert st.samples == 10 and st.firing_rates == {}
    assert st.total_ann_macs == 2 * 3 + 3 * 1
    assert st.energy_ann_pj == pytest.approx(9 * 0.23)


def test_validation():
    with pytest.raises(ValueError, match="e_ac_pj"):
        EnergyModel(e_ac_pj=-1.0)
    with pytest.raises(ValueError, match="e_mac_pj"):
        EnergyModel(e_mac_pj=float("nan"))
    with pytest.raises(KeyError, match="fp32_45nm"):
        ActivityMonitor(nn.Linear(2, 2), energy="7nm")
    with pytest.raises(TypeError, match="model"):
        ActivityMonitor("not a model")
    mon = ActivityMonitor(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="no forward pass"):
        mon.result()


def test_measure_activity_input_errors_name_x():
    """A float64 or int64 ``x`` for a float32 model crashed inside ``nn.Linear``; a wrong feature
    size too. They are errors that name ``x`` (the model's failure stays the cause)."""
    model = nn.Sequential(nn.Linear(6, 4), LIFLayer(2.0))
    with pytest.raises(TypeError, match=r"x has dtype torch.float64 but the model's parameters are torch.float32"):
        measure_activity(model, torch.ones(4, 3, 6, dtype=torch.float64))
    with pytest.raises(TypeError, match=r"x has dtype torch.int64"):
        measure_activity(model, torch.ones(4, 3, 6, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"x must be \[T, B, ...\]"):
        measure_activity(model, torch.ones(6))
    with pytest.raises(ValueError, match=r"model\(x\) failed for x of shape \(2, 1\)") as info:
        measure_activity(model, torch.ones(2, 1))
    assert isinstance(info.value.__cause__, RuntimeError)
    st = measure_activity(model.double(), torch.ones(4, 3, 6, dtype=torch.float64))  # matching dtypes run
    assert st.samples == 3 and st.timesteps == 4


# -- events through average pooling: naive counts -------------------------------------------------
def _pool_windows(n_in, k, s, p, ceil_mode=False):
    """Input index ranges [start, end) of each window of a 1-D pooling (PyTorch's output size)."""
    n_out = (n_in + 2 * p - k + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (n_out - 1) * s >= n_in + p:
        n_out -= 1
    return [(max(o * s - p, 0), min(o * s - p + k, n_in)) for o in range(n_out)]


def _adaptive_windows(n_in, n_out):
    return [((o * n_in) // n_out, -((-(o + 1) * n_in) // n_out)) for o in range(n_out)]


def _conv_targets(n_in, k, s, p):
    """For each input index of a 1-D convolution: how many output positions read it."""
    n_out = (n_in + 2 * p - k) // s + 1
    return [sum(1 for o in range(n_out) if o * s - p <= i <= o * s - p + k - 1) for i in range(n_in)]


def _naive_pooled_sops(spikes, rows, cols, fanout):
    """sum over spikes of sum over the windows (r, c) that contain them of fanout(channel, r, c), per sample.

    ``spikes`` [T, B, C, H, W]; ``rows``/``cols``: window index ranges along H/W."""
    T, B, C, H, W = spikes.shape
    total = 0.0
    for t in range(T):
        for b in range(B):
            for ch in range(C):
                for y in range(H):
                    for x in range(W):
                        v = float(spikes[t, b, ch, y, x])
                        if v == 0:
                            continue
                        for r, (r0, r1) in enumerate(rows):
                            if not r0 <= y < r1:
                                continue
                            for c, (c0, c1) in enumerate(cols):
                                if c0 <= x < c1:
                                    total += v * fanout(ch, r, c)
    return total / B


def _lif_spikes(sn, drive):
    with torch.no_grad():
        sn.reset_state()
        s = sn(drive)
        sn.reset_state()
    return s


@pytest.mark.parametrize("pool", ["avg2", "avg3s2p1", "adaptive"])
def test_sops_after_average_pooling_count_the_source_spikes(pool):
    """LIF -> average pool -> Conv (or -> Flatten -> Linear): the pooled values k/n are not events; the SOPs
    are the source spikes times the fan-out of every window that holds them (naive loop over spikes).
    The old rule counted only whole-number inputs as events and billed this layer as dense MACs."""
    torch.manual_seed(1)
    T, B, C, H = 3, 2, 2, 6
    sn = LIFLayer(tau=2.0)
    if pool == "avg2":
        p, rows = nn.AvgPool2d(2), _pool_windows(H, 2, 2, 0)
    elif pool == "avg3s2p1":  # overlapping windows, padding counted in the divisor
        p, rows = nn.AvgPool2d(3, stride=2, padding=1), _pool_windows(H, 3, 2, 1)
    else:  # 6 -> 4: windows [0,2) [1,3) [3,5) [4,6) overlap
        p, rows = nn.AdaptiveAvgPool2d(4), _adaptive_windows(H, 4)
    n = len(rows)
    if pool == "adaptive":
        syn = nn.Linear(C * n * n, 5)
        model = nn.Sequential(sn, SeqToANN(p), nn.Flatten(2), SeqToANN(syn))
        def fanout(ch, r, c): return 5  # noqa: E704
        name = "3.0"
    else:
        syn = nn.Conv2d(C, 3, 3, padding=1)
        model = nn.Sequential(sn, SeqToANN(p), SeqToANN(syn))
        tg = _conv_targets(n, 3, 1, 1)
        def fanout(ch, r, c): return 3 * tg[r] * tg[c]  # noqa: E704
        name = "2.0"
    x = torch.rand(T, B, C, H, H) * 3
    st = measure_activity(model, x)
    spikes = _lif_spikes(sn, x)
    assert 0 < float(spikes.mean()) < 1
    expected = _naive_pooled_sops(spikes, rows, rows, fanout)
    assert st.sops[name] == pytest.approx(expected, rel=1e-6)  # float32 sums of integers below 2^24: exact
    assert st.macs[name] == 0
    dense = C * n * n * 5 if pool == "adaptive" else 3 * n * n * C * 9
    assert st.ann_macs[name] == pytest.approx(dense)
    assert st.firing_rates["0"] == pytest.approx(float(spikes.mean()))


def test_pooled_events_from_an_integer_model_input_and_analog_after_batchnorm():
    """Events enter a pool as the model input (binary, no spiking layer); a BatchNorm after the pool makes
    the values analog (dense MACs), and so does an in-place change of the pooled tensor."""

    class Halve(nn.Module):
        def forward(self, x):
            return x.mul_(0.5)

    x = torch.zeros(1, 1, 1, 4, 4)
    x[0, 0, 0, 0, 0] = x[0, 0, 0, 0, 1] = x[0, 0, 0, 3, 3] = 1.0  # 3 spikes; windows (0,0) and (1,1)
    lin = nn.Linear(4, 2)
    st = measure_activity(nn.Sequential(SeqToANN(nn.AvgPool2d(2), nn.Flatten(1), lin)), x, time_major=True)
    assert st.sops["0.2"] == 3 * 2 and st.macs["0.2"] == 0
    bn = nn.BatchNorm2d(1).eval()
    st = measure_activity(nn.Sequential(SeqToANN(nn.AvgPool2d(2), bn, nn.Flatten(1), lin)), x, time_major=True)
    assert st.sops["0.3"] == 0 and st.macs["0.3"] == 4 * 2
    st = measure_activity(nn.Sequential(SeqToANN(nn.AvgPool2d(2), Halve(), nn.Flatten(1), lin)), x,
                          time_major=True)
    assert st.sops["0.3"] == 0 and st.macs["0.3"] == 4 * 2


def test_converted_convnet_bills_pooled_spikes_as_synaptic_operations():
    """ann_to_snn on the zoo ConvNet (conv-BN-ReLU-avgpool x 2, fc-ReLU, fc): conv2 and fc1 read pooled
    spikes; their SOPs equal a naive count over the recorded IF spikes (window of each spike x fan-out)."""
    from neurosim.convert import ann_to_snn
    from neurosim.models import get_model
    from neurosim.snn.modules.plif import IFLayer

    torch.manual_seed(0)
    ann = get_model("convnet", input_size=12, channels=(3, 4), hidden=(6,)).eval()
    calib = torch.rand(32, 1, 12, 12)
    snn = ann_to_snn(ann, calib, mode="max", method="_forward")
    T, B = 8, 3
    xs = calib[:B].unsqueeze(0).expand(T, B, 1, 12, 12)
    spikes = []
    hooks = [m.register_forward_hook(lambda m, a, o: spikes.append(o.detach().clone()))
             for m in snn.modules() if isinstance(m, IFLayer)]
    with torch.no_grad():
        reset_states(snn)
        snn(xs)
    for h in hooks:
        h.remove()
    st = measure_activity(snn, xs)
    s1 = spikes[0].reshape(T, B, 3, 12, 12)
    s2 = spikes[1].reshape(T, B, 4, 6, 6)
    s3 = spikes[2].reshape(T, B, 6)
    assert all(float(s.sum()) > 0 for s in (s1, s2, s3))
    tg = _conv_targets(6, 3, 1, 1)
    conv2 = _naive_pooled_sops(s1, _pool_windows(12, 2, 2, 0), _pool_windows(12, 2, 2, 0),
                               lambda ch, r, c: 4 * tg[r] * tg[c])
    fc1 = _naive_pooled_sops(s2, _pool_windows(6, 2, 2, 0), _pool_windows(6, 2, 2, 0), lambda ch, r, c: 6)
    fc2 = sum(float(v) * 10 for v in s3.flatten()) / B
    body = "body.model."
    assert st.sops[body + "features.conv2"] == pytest.approx(conv2, rel=1e-6)
    assert st.sops[body + "classifier.fc1"] == pytest.approx(fc1, rel=1e-6)
    assert st.sops[body + "classifier.fc2"] == pytest.approx(fc2, rel=1e-6)
    assert st.macs[body + "features.conv1"] == pytest.approx(T * 3 * 144 * 9)  # analog image every step
    assert st.total_macs == st.macs[body + "features.conv1"]


def test_fused_lif_pool_counts_like_lif_then_pool():
    """spiking_convnet with fuse_pool=True (LIF and 2x2 average pool in one layer) has the same rates,
    spike counts and SOPs as the unfused network with the same weights."""
    from neurosim.models import get_model

    torch.manual_seed(0)
    cfg = dict(input_size=12, channels=(4, 6), hidden=(8,))
    a = get_model("spiking_convnet", **cfg).eval()
    with torch.no_grad():  # excitatory weights: every layer spikes
        for m in (a.features.conv1[0], a.features.conv2[0], a.classifier.fc1):
            m.weight.abs_().mul_(2)
    b = get_model("spiking_convnet", fuse_pool=True, **cfg).eval()
    b.load_state_dict(a.state_dict())
    x = torch.rand(4, 3, 1, 12, 12)
    sa, sb = measure_activity(a, x), measure_activity(b, x)
    assert all(0 < r < 1 for r in sa.firing_rates.values())
    assert sa.macs["features.conv2.0"] == 0 and sa.macs["classifier.fc1"] == 0
    assert sb.sops == pytest.approx(sa.sops) and sb.macs == pytest.approx(sa.macs)
    assert sb.spikes_per_sample == pytest.approx(sa.spikes_per_sample) and sb.neurons == sa.neurons


def test_kept_scaler_of_a_converted_net_passes_the_spikes_on():
    """A grouped conv cannot take the IF layer's output scale into its weights, so the converted net keeps an
    explicit Scale module (spikes x lambda) before it; the conv still reads spikes: SOPs = spikes x fan-out
    (2 output channels per input channel, 3 x 3 with padding 1 on 5 x 5), no MACs."""
    from neurosim.convert import Scale, ann_to_snn
    from neurosim.snn.modules.plif import IFLayer

    torch.manual_seed(0)
    ann = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1, groups=2)).eval()
    calib = torch.rand(16, 1, 5, 5)
    snn = ann_to_snn(ann, calib, mode="max")
    assert any(isinstance(m, Scale) for m in snn.modules())
    T, B = 6, 2
    xs = calib[:B].unsqueeze(0).expand(T, B, 1, 5, 5)
    spikes = []
    h = next(m for m in snn.modules() if isinstance(m, IFLayer)).register_forward_hook(
        lambda m, a, o: spikes.append(o.detach().clone()))
    with torch.no_grad():
        reset_states(snn)
        snn(xs)
    h.remove()
    st = measure_activity(snn, xs)
    s = spikes[0].reshape(T, B, 4, 5, 5)
    tg = _conv_targets(5, 3, 1, 1)
    expected = _naive_pooled_sops(s, _pool_windows(5, 1, 1, 0), _pool_windows(5, 1, 1, 0),
                                  lambda ch, r, c: 2 * tg[r] * tg[c])  # 1 x 1 windows: no pooling
    assert expected > 0
    assert st.sops["body.2"] == pytest.approx(expected, rel=1e-6) and st.macs["body.2"] == 0
