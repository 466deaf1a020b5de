"""ANN-to-SNN conversion (neurosim.convert): bad input gets a clear error naming the argument (and the
cases the fuzz census found). Tiny random models; no training."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import neurosim.convert as nc
from test_convert import cnn, data


# -- bad input ----------------------------------------------------------------------------------
class Gelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.act = nn.Linear(4, 4), nn.GELU()

    def forward(self, x):
        return self.act(self.fc(x))


class Sig(nn.Module):
    def forward(self, x):
        return torch.sigmoid(x) + 1


class Branchy(nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            return F.relu(x)
        return x


class BatchCat(nn.Module):
    def forward(self, x):
        return torch.cat([F.relu(x), x])


def _mlp():
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)).eval()


@pytest.mark.parametrize("model,match", [
    (Gelu(), r"node 'act' \(module 'act', GELU\).*fix: replace it by nn.ReLU"),
    (Sig(), r"node 'sigmoid'.*not ReLU-like.*fix"),
    (BatchCat(), r"node 'cat'.*dim 0.*fix"),
    (Branchy(), r"could not trace.*method="),
    (nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.MaxPool1d(2)), r"node '_2' \(module '2', MaxPool1d\).*maxpool='error'.*fix"),
])
def test_unsupported_ops_name_the_node(model, match):
    with pytest.raises(ValueError, match=match):
        nc.ann_to_snn(model.eval(), torch.rand(8, 4), maxpool="error")


def test_clamp_with_other_bounds_is_refused():
    class M(nn.Module):
        def forward(self, x):
            return torch.clamp(x, min=-1)
    with pytest.raises(ValueError, match=r"node 'clamp'.*clamp\(min=-1"):
        nc.ann_to_snn(M().eval(), torch.rand(4, 4))


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"mode": "0%"}, ValueError, r"mode percentile must lie in \(0, 100\]"),
    ({"mode": "100.5%"}, ValueError, r"mode percentile must lie in \(0, 100\]"),
    ({"mode": "-3%"}, ValueError, r"mode percentile"),
    ({"mode": "median"}, ValueError, "mode must be"),
    ({"mode": 1.5}, ValueError, r"mode as a number.*\(0, 1\]"),
    ({"mode": None}, TypeError, "mode must be"),
    ({"timesteps": 0}, ValueError, "timesteps must be >= 1"),
    ({"reset": "none"}, ValueError, "reset must be one of"),
    ({"per_channel": "yes"}, TypeError, "per_channel"),
    ({"estimator": "histogram"}, ValueError, "estimator must be one of"),
    ({"momentum": 2.0}, ValueError, "momentum"),
    ({"v_init": 1.0}, ValueError, "v_init"),
    ({"maxpool": "gate"}, ValueError, "maxpool must be one of"),
    ({"readout": "spikes"}, ValueError, "readout must be one of"),
])
def test_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        nc.ann_to_snn(_mlp(), torch.rand(8, 4), **kwargs)


@pytest.mark.parametrize("calibration,match", [
    (None, "calibration is required"),
    ([], "calibration is empty"),
    (torch.zeros(0, 4), "calibration is empty"),
    ([torch.zeros(0, 4)], "calibration is empty"),
    ([torch.rand(4, 5)], r"failed on calibration batch 0 \(input shape \(4, 5\)\)"),
])
def test_bad_calibration(calibration, match):
    with pytest.raises(ValueError, match=match):
        nc.ann_to_snn(_mlp(), calibration)


def test_dead_layer_and_train_mode_and_zero_steps():
    net = _mlp()
    with torch.no_grad():
        net[0].weight.zero_()
        net[0].bias.fill_(-1.0)  # an "untrained" layer that never activates
    with pytest.raises(ValueError, match=r"activation '1' was 0 for every calibration sample"):
        nc.ann_to_snn(net, torch.rand(8, 4))
    with pytest.raises(ValueError, match=r"training mode.*call model.eval\(\)"):
        nc.ann_to_snn(_mlp().train(), torch.rand(8, 4))
    mixed = _mlp()
    mixed[1].train()
    with pytest.raises(ValueError, match=r"training mode \(1\)"):
        nc.ann_to_snn(mixed, torch.rand(8, 4))
    snn = nc.ann_to_snn(_mlp(), torch.rand(8, 4))
    with pytest.raises(ValueError, match="T = 0"):
        snn(torch.rand(0, 2, 4))
    with pytest.raises(ValueError, match="timesteps must be >= 1"):
        snn.run_static(torch.rand(2, 4), 0)
    with pytest.raises(ValueError, match="timesteps is not set"):
        snn.run_static(torch.rand(2, 4))
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        nc.ann_to_snn(lambda x: x, torch.rand(8, 4))


def test_one_shot_iterator_and_dict_batches():
    """A generator is read once into a list (several exact passes still work); dict batches use 'input'."""
    net = _mlp()
    x = torch.rand(24, 4)
    want = nc.ann_to_snn(net, x, mode="99%").scales["1"]
    gen = (x[i:i + 8] for i in range(0, 24, 8))
    assert float(nc.ann_to_snn(net, gen, mode="99%").scales["1"]) == float(want)
    dicts = [{"input": x[i:i + 8], "label": 0} for i in range(0, 24, 8)]
    assert float(nc.ann_to_snn(net, dicts, mode="99%").scales["1"]) == float(want)
    assert math.isfinite(float(want))


def test_accuracy_vs_timesteps_matches_separate_runs():
    """One simulation of max(T) steps gives, at each T, the accuracy of a separate T-step run."""
    from torch import nn

    torch.manual_seed(0)
    ann = nn.Sequential(nn.Flatten(), nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 3)).eval()
    x = torch.randint(0, 256, (40, 1, 4, 4), dtype=torch.uint8)
    snn = nc.ann_to_snn(ann, x[:20].float() / 255.0, mode="max")
    y = ann(x.float() / 255.0).argmax(-1)
    got = nc.accuracy_vs_timesteps(snn, x, y, [1, 3, 8], batch_size=7, scale=255.0)
    for T in (1, 3, 8):
        pred = snn.run_static(x.float() / 255.0, timesteps=T).argmax(-1)
        assert got[T] == int((pred == y).sum()) / len(y), T
    with pytest.raises(ValueError, match="timesteps"):
        nc.accuracy_vs_timesteps(snn, x, y, [])


# -- bad input found by the fuzz census (tests/fuzz_entries_convert.py) ----------------------------
def _cnn_snn():
    return nc.ann_to_snn(cnn(), data(16), mode="max")


def test_calibration_nan_and_tiny_fraction_are_named():
    """A NaN/inf calibration image used to read as a dead layer; a fraction whose scale underflows
    float32 used to give a scale of 0 (an infinite input scale)."""
    x = data(16)
    x[3, 0, 2, 2] = float("nan")
    with pytest.raises(ValueError, match=r"calibration batch 0 contains 1 NaN/inf value"):
        nc.ann_to_snn(cnn(), x)
    with pytest.raises(ValueError, match=r"mode=1e-300 gives activation '2' the scale .* 0 in torch.float32"):
        nc.ann_to_snn(cnn(), data(16), mode=1e-300)
    # "ema" per channel clamps each scale at 1e-6 (spikingjelly): a dead layer used to pass as scale 1e-6
    dead = cnn()
    with torch.no_grad():
        dead[1].bias.fill_(-10.0)
    with pytest.raises(ValueError, match=r"activation '2' was 0 for every calibration sample"):
        nc.ann_to_snn(dead, data(16), estimator="ema", per_channel=True)
    # a per-batch percentile of mostly zeros is 0: that is the mode's doing, not a dead layer
    with pytest.raises(ValueError, match=r"mode='1%' with estimator='ema' gives activation '2' the scale 0 on this "
                                         r"calibration data"):
        nc.ann_to_snn(cnn(), data(16), mode="1%", estimator="ema")


def test_inputs_that_do_not_fit_the_network_are_named():
    """Torch errors from inside the body (wrong sample shape, dtype) and impossible step counts
    used to surface as RuntimeError / MemoryError."""
    snn = _cnn_snn()
    with pytest.raises(ValueError, match=r"x of shape \(2, 3, 1, 10, 10\) does not fit the converted network"):
        snn(torch.rand(2, 3, 1, 10, 10))
    with pytest.raises(ValueError, match=r"x of shape \(3, 1, 12\) does not fit"):
        snn.run_static(torch.rand(3, 1, 12), 2)
    with pytest.raises(TypeError, match=r"x has dtype torch.float64 but the converted network's weights are "
                                        r"torch.float32"):
        snn.run_static(torch.rand(2, 1, 12, 12, dtype=torch.float64), 2)
    with pytest.raises(TypeError, match="x must be a floating-point tensor"):
        snn.forward_static(torch.ones(2, 1, 12, 12, dtype=torch.int64), 2)
    with pytest.raises(ValueError, match=r"timesteps: 1000000000000 steps of 2 samples needs"):
        snn.run_static(torch.rand(2, 1, 12, 12), 10 ** 12)


def test_accuracy_vs_timesteps_bad_input_and_no_mutation():
    snn = _cnn_snn()
    x, y = data(6) * 255, torch.tensor([0, 1, 2, 0, 1, 2])
    keep = x.clone()
    acc = nc.accuracy_vs_timesteps(snn, x, y.tolist(), [2, 4], scale=255.0)
    assert torch.equal(x, keep), "the caller's float images were divided in place"
    pred = snn.run_static(keep / 255.0, 4).argmax(-1)
    assert acc[4] == int((pred == y).sum()) / 6
    cases = [((nn.Linear(4, 3), x, y, [2]), TypeError, "snn must be a ConvertedSNN"),
             ((snn, x, y, 4), TypeError, "timesteps must be a list"),
             ((snn, x.numpy(), y, [2]), TypeError, "x must be a torch.Tensor"),
             ((snn, x[:0], y[:0], [2]), ValueError, "x must hold at least one image"),
             ((snn, x, y[:5], [2]), ValueError, r"y must hold one label per image of x, shape \(6,\)"),
             ((snn, x, y[:, None], [2]), ValueError, "y must hold one label per image"),
             ((snn, x, y - 1, [2]), ValueError, "y holds a negative label"),
             ((snn, x, y + 1, [2]), ValueError, "y holds label 3 but the network has 3 outputs"),
             ((snn, x, y + 0.5, [2]), ValueError, "y must hold integer class labels"),
             ((snn, x, None, [2]), TypeError, "y must be a tensor")]
    for args, exc, match in cases:
        with pytest.raises(exc, match=match):
            nc.accuracy_vs_timesteps(*args)
    with pytest.raises(ValueError, match=r"scale=1e-300 is so small"):
        nc.accuracy_vs_timesteps(snn, x, y, [2], scale=1e-300)


def test_qcfs_bad_input():
    """Thresholds that are 0 or inf in float32, levels past float32's resolution (an OverflowError
    in the forward before), NaN inputs (NaN outputs before) and non-tensors (a RuntimeError)."""
    for thr in (1e-300, 1e300, 1e-45):
        with pytest.raises(ValueError, match="threshold"):
            nc.QCFS(4, thr)
    with pytest.raises(ValueError, match="levels must be <= 16777216"):
        nc.QCFS(10 ** 30)
    with pytest.raises(ValueError, match="shift must lie in .* also in float32"):  # rounds to 1: outputs past lambda
        nc.QCFS(4, 2.0, shift=1 - 2 ** -40)
    q = nc.QCFS(4, 2.0)
    with pytest.raises(ValueError, match="x contains 1 NaN"):
        q(torch.tensor([0.5, float("nan")]))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        q(np.ones(3))
    assert q(torch.tensor([float("inf"), -float("inf")])).tolist() == [2.0, 0.0]


def test_export_nir_input_shape_is_checked():
    """input_shape used to be cast with int(): 1.5 silently became 1, 'abc' or None raised unnamed errors."""
    from neurosim.snn.nir import export_nir

    snn = _cnn_snn()
    for shape, exc in [("abc", TypeError), (5, TypeError), (None, TypeError), ((1.5, 12, 12), ValueError),
                       ((float("nan"), 12, 12), ValueError), ((1, 0, 12), ValueError)]:
        with pytest.raises(exc, match="input_shape"):
            export_nir(snn, shape)
    assert list(export_nir(snn, np.array([1, 12, 12])).nodes["output"].output_type["output"]) == [3]


def test_feature_pair_and_rebuild_bad_input():
    ann = cnn()
    snn = nc.ann_to_snn(ann, data(16))
    with pytest.raises(TypeError, match="layer must be a module path"):
        nc.feature_pair(snn, ann, 3)
    other = nn.Sequential(nn.Flatten(), nn.Linear(144, 5), nn.ReLU(), nn.Linear(5, 2))
    with pytest.raises(ValueError, match=r"teacher's module '3' is Linear, not the average pool"):
        nc.feature_pair(snn, other, "3")
    rec = nc.recipe(snn, (1, 12, 12))
    with pytest.raises(ValueError, match=r"model does not run on one sample of the recipe input_shape \[1, 7, 7\]"):
        nc.rebuild(cnn(), {**rec, "input_shape": [1, 7, 7]})


def test_v_init_that_rounds_to_the_threshold_in_float32_is_refused():
    with pytest.raises(ValueError, match="v_init.*float32"):
        nc.ann_to_snn(cnn(), data(16), mode="max", v_init=1 - 1e-9)
