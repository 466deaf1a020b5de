"""neurosim.snn.stats against hand counts on tiny models."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from neurosim.snn.containers import SeqToANN  # noqa: E402
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
