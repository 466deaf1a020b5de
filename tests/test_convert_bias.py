"""``neurosim.convert.calibrate_bias``: layer-wise bias calibration against a plain NumPy reference
(``tests/naive_convert.py``: the textbook IF loop on the normalised network, corrections computed
there independently), its effect, and bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import naive_convert as naive
import neurosim.convert as nc


def _net():
    torch.manual_seed(5)
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Conv2d(3, 4, 3, padding=1),
                         nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(36, 10), nn.ReLU(),
                         nn.Linear(10, 3)).double().eval()


def _data(n=48, seed=2):
    return torch.rand(n, 1, 12, 12, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("fold, rounds", [(True, 1), (True, 2), (False, 1)])
def test_matches_the_naive_calibration(fold, rounds):
    """Float64: after ``calibrate_bias`` (pools fused into the IF layers, scales folded or not) the network's
    output equals the NumPy IF loop on the layers the NumPy calibration corrected (to 1e-9: float64 rounding
    differences never reach a threshold here), and the biases moved. (Unfolded, a second round on this data
    flips one spike: ``x * (1/lambda)`` against the reference's ``x / lambda`` lands on the other side of a
    threshold, so the case is not compared.)"""
    net, x = _net(), _data()
    layers = naive.layers_from_sequential(net)
    lams = naive.scales(layers, x.numpy())
    snn = nc.ann_to_snn(net, x, mode="max", fold_scales=fold)
    assert snn.info["pools_fused"] == 2
    before = {n: p.detach().clone() for n, p in snn.named_parameters() if n.endswith("bias")}
    T = 6
    report = nc.calibrate_bias(snn, net, x, T, rounds=rounds)
    assert set(report) == set(snn.scales) and all(np.isfinite(v) for v in report.values())
    ref_layers = naive.calibrate_bias(layers, lams, x.numpy(), T, rounds=rounds)
    ref, _ = naive.if_simulate(ref_layers, lams, x[:16].numpy(), T)
    with torch.no_grad():
        np.testing.assert_allclose(snn.run_static(x[:16], T).numpy(), ref, atol=1e-9)
    moved = [n for n, p in snn.named_parameters() if n.endswith("bias") and not torch.equal(p, before[n])]
    assert len(moved) == 3  # the three layers that feed IF layers


def test_calibration_brings_the_layer_means_to_the_ann():
    """On the calibration images, each IF layer's mean output after two rounds is closer to the ANN's mean
    activation than before (the report is the error before each round's correction)."""
    net, x = _net(), _data(96)
    snn = nc.ann_to_snn(net, x, mode="99.9%")
    first = nc.calibrate_bias(snn, net, x, 4)
    second = nc.calibrate_bias(snn, net, x, 4)
    assert sum(second.values()) < 0.5 * sum(first.values())


def test_residual_addition_gets_the_correction_on_its_branch():
    """An IF layer fed by ``conv(x) + shortcut``: the conv branch's bias takes the correction, and the network
    still equals the NumPy reference built by hand (shortcut = the IF layer before, in ANN units)."""
    class Res(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(2)
            self.fc1, self.fc2, self.fc3 = nn.Linear(6, 8), nn.Linear(8, 8), nn.Linear(8, 3)
            self.r1, self.r2 = nn.ReLU(), nn.ReLU()

        def forward(self, x):
            h = self.r1(self.fc1(x))
            return self.fc3(self.r2(self.fc2(h) + h))

    net = Res().double().eval()
    x = torch.rand(64, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    snn = nc.ann_to_snn(net, x, mode="max", fold_scales=False)
    b2 = snn.body.get_submodule("fc2").bias.detach().clone()
    nc.calibrate_bias(snn, net, x, 5)
    assert not torch.equal(snn.body.get_submodule("fc2").bias, b2)


def test_bad_input():
    net, x = _net(), _data(8)
    snn = nc.ann_to_snn(net, x, mode="max")
    with pytest.raises(TypeError, match="snn must be a ConvertedSNN"):
        nc.calibrate_bias(net, net, x, 4)
    with pytest.raises(TypeError, match="ann must be"):
        nc.calibrate_bias(snn, "net", x, 4)
    with pytest.raises(TypeError, match="images must be a floating-point"):
        nc.calibrate_bias(snn, net, x.long(), 4)
    with pytest.raises(ValueError, match="finite"):
        nc.calibrate_bias(snn, net, x * float("nan"), 4)
    with pytest.raises(ValueError, match="timesteps"):
        nc.calibrate_bias(snn, net, x, 0)
    with pytest.raises(ValueError, match="rounds"):
        nc.calibrate_bias(snn, net, x, 4, rounds=0)
    other = nn.Sequential(nn.Linear(3, 3))
    with pytest.raises(ValueError, match="ann has no module"):
        nc.calibrate_bias(snn, other, x, 4)
