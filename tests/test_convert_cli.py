"""``neurosim convert``: a trained ANN model file -> summary.json, acc_vs_t.png, a loadable SNN model.pt.

The accuracies are checked against ``tests/naive_convert.py`` (NumPy float64 loops sharing no code
with ``neurosim.convert``): the ANN forward, the layer scales (99.9th percentile of the non-zero
activations over the calibration images) and the IF simulation with reset by subtraction.
neurosim runs in float32, so a membrane that lands within float32 rounding of the threshold may
spike in one and not the other; the bound allows 2 of the 200 test images to change their
prediction (observed: 0). Real MNIST from ``NEUROSIM_DATA`` (skips without it).
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import require_data, train_mlp_file
from naive_convert import ann_forward, if_simulate, layers_from_sequential, scales
from neurosim.cli import main

N_TEST, N_CAL, SEED = 200, 256, 3


@pytest.fixture(scope="module")
def data():
    return require_data("mnist").parent


@pytest.fixture(scope="module")
def ann_file(tmp_path_factory, data):
    """A small ReLU MLP (784-32-10) trained for 2 epochs on 3000 MNIST images, saved as neurosim train does."""
    return train_mlp_file(tmp_path_factory.mktemp("ann") / "model.pt", data, 3000, 2)


def _calibration_images(data, n, seed):
    """The command's documented choice: ``n`` training images drawn without replacement by
    ``numpy.random.default_rng(seed)``, in index order, pixels / 255."""
    from neurosim.data.mnist import load_dataset

    x, _ = load_dataset("mnist", "train", root=data)
    pick = np.sort(np.random.default_rng(seed).choice(len(x), size=n, replace=False))
    return x[pick].astype(np.float64)[:, None] / 255.0


@pytest.fixture(scope="module")
def converted(tmp_path_factory, ann_file, data):
    out = tmp_path_factory.mktemp("run") / "conv"
    code = main(["convert", "--model", str(ann_file), "--dataset", "mnist", "--data", str(data), "--timesteps",
                 "16,4,64", "--mode", "99.9%", "--calibration", str(N_CAL), "--limit", str(N_TEST), "--seed",
                 str(SEED), "--out", str(out)])
    assert code == 0
    return out


def test_summary_matches_the_naive_reference(converted, ann_file, data):
    from neurosim.data.mnist import load_dataset
    from neurosim.models import load_model

    s = json.loads((converted / "summary.json").read_text())
    assert {"ann_acc", "snn_acc", "mode", "timesteps", "wall_s", "calibration", "seed", "model"} <= set(s)
    assert s["timesteps"] == [4, 16, 64] and set(s["snn_acc"]) == {"4", "16", "64"}
    assert s["mode"] == "99.9%" and s["calibration"] == N_CAL and s["seed"] == SEED and s["n_test"] == N_TEST
    assert s["model"] == "mlp" and s["wall_s"] > 0
    ann = load_model(str(ann_file)).model
    layers = [("flatten",)] + layers_from_sequential(ann.net)
    xte, yte = load_dataset("mnist", "test", root=data, limit=N_TEST)
    xte = xte.astype(np.float64)[:, None] / 255.0
    ref_logits, _ = ann_forward(layers, xte)
    assert s["ann_acc"] == pytest.approx(float(np.mean(ref_logits.argmax(1) == yte)), abs=1 / N_TEST)
    lams = scales(layers, _calibration_images(data, N_CAL, SEED), mode=("percentile", 99.9))
    assert s["scales"]["model.net.relu1"] == pytest.approx(lams[0], rel=1e-5)  # float64 scale stored as float32
    for T in (4, 16, 64):
        out, _ = if_simulate(layers, lams, xte, T)
        ref = float(np.mean(out.argmax(1) == yte))
        assert abs(s["snn_acc"][str(T)] - ref) <= 2 / N_TEST, (T, s["snn_acc"][str(T)], ref)
    assert s["snn_acc"]["64"] > 0.7  # the trained MLP converts (ANN 0.85 on these images, SNN 0.84 at T = 64)


def test_figure_and_model_file_load_back(converted, ann_file, data):
    from neurosim.convert import ConvertedSNN, IFNeuron, ann_to_snn
    from neurosim.models import load_model

    assert (converted / "acc_vs_t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (converted.parent / "conv.partial").exists()
    rec = load_model(str(converted / "model.pt"))
    assert isinstance(rec.model, ConvertedSNN) and rec.trained and rec.name == "mlp"
    assert rec.meta["dataset"] == "mnist" and rec.meta["timesteps"] == 64
    # the same conversion done here with the library (same calibration images): bit-identical outputs
    ann = load_model(str(ann_file)).model
    calib = torch.from_numpy(_calibration_images(data, N_CAL, SEED)).float()
    direct = ann_to_snn(ann, calib, mode="99.9%", method="_forward", batch_size=250)
    x = calib[:32]
    assert torch.equal(rec.model.run_static(x, 8), direct.run_static(x, 8))
    assert set(rec.model.scales) == set(direct.scales) == {"model.net.relu1"}
    assert rec.model.feature_layers == ("body.model.net.relu1",)  # what neurosim tsrsa hooks by default
    assert isinstance(rec.model.get_submodule(rec.model.feature_layers[0]), IFNeuron)
    assert torch.equal(rec.model.scales["model.net.relu1"], direct.scales["model.net.relu1"])
    s = json.loads((converted / "summary.json").read_text())
    assert s["model_file"] == str(converted / "model.pt")


@pytest.mark.parametrize("per_channel", [False, True])
def test_recipe_rebuilds_a_convnet_with_batchnorm(tmp_path, per_channel):
    """BN folding, scales folded into conv weights through pools/flatten (per channel too): the
    rebuilt structure takes the saved state exactly and computes the same outputs."""
    from neurosim.convert import ann_to_snn, recipe
    from neurosim.models import build_model, load_model, save_model

    cfg = {"in_channels": 1, "input_size": 12, "channels": (3, 4), "hidden": (8,), "num_classes": 5}
    ann = build_model("convnet", seed=2, **cfg)
    with torch.no_grad():  # non-trivial BN statistics
        for m in ann.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    ann.eval()
    x = torch.rand(64, 1, 12, 12, generator=torch.Generator().manual_seed(0))
    snn = ann_to_snn(ann, x, mode="max", per_channel=per_channel, method="_forward", timesteps=6)
    save_model(tmp_path / "model.pt", snn, "convnet", cfg, conversion=recipe(snn, (1, 12, 12)))
    back = load_model(str(tmp_path / "model.pt")).model
    assert back.info == snn.info and back.timesteps == 6
    assert all(torch.equal(back.scales[k], snn.scales[k]) for k in snn.scales)
    assert torch.equal(back.run_static(x[:16]), snn.run_static(x[:16]))


def _err(capsys):
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_bad_options_exit_2_with_an_error_line(tmp_path, capsys, ann_file, data):
    base = ["convert", "--model", str(ann_file), "--data", str(data), "--limit", "20", "--calibration", "20",
            "--out", str(tmp_path / "o")]
    cases = [
        (["--dataset", "cifar10"], "dataset"),
        (["--timesteps", "8,16,x"], "--timesteps '8,16,x': 'x' is not an integer"),
        (["--timesteps", "0"], "--timesteps '0': every T must be at least 1"),
        (["--timesteps", "8,-4"], "every T must be at least 1, got -4"),
        (["--timesteps", ""], "--timesteps"),
        (["--mode", "100.5%"], "--mode '100.5%'"),
        (["--mode", "0%"], "(0, 100]"),
        (["--mode", "banana"], "--mode 'banana'"),
        (["--mode", "1.5"], "(0, 1]"),
        (["--calibration", "0"], "calibration"),
        (["--calibration", "70000"], "--calibration 70000 exceeds the 60000 training images"),
        (["--limit", "0"], "limit"),
        (["--seed", "-1"], "seed"),
        (["--data", str(tmp_path / "nope")], "not a directory"),
        (["--model", str(tmp_path / "missing.pt")], "missing.pt"),
    ]
    for extra, words in cases:
        assert main(base + extra) == 2, extra
        err = _err(capsys)
        assert err.startswith("error: ") and words in err, (extra, err)
    assert not (tmp_path / "o").exists()
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model" * 10)
    assert main(base + ["--model", str(junk)]) == 2
    assert str(junk) in _err(capsys)


def test_spiking_or_unconvertible_models_are_refused(tmp_path, capsys, data, monkeypatch):
    from torch import nn

    from neurosim.commands import convert as cmd
    from neurosim.models import build_model, input_config, save_model

    snn_file = tmp_path / "snn.pt"
    cfg = {**input_config("spiking_mlp"), "hidden": (8,)}
    save_model(snn_file, build_model("spiking_mlp", **cfg), "spiking_mlp", cfg)
    assert main(["convert", "--model", str(snn_file), "--data", str(data), "--out", str(tmp_path / "o")]) == 2
    assert "holds a spiking model ('spiking_mlp')" in _err(capsys)
    # an ANN with an activation the converter cannot turn into IF neurons: the error names the node
    ann_file = tmp_path / "ann.pt"
    cfg = {**input_config("mlp"), "hidden": (8,)}
    save_model(ann_file, build_model("mlp", **cfg), "mlp", cfg)
    real = cmd._load_ann

    def gelu_ann(path):
        rec = real(path)
        rec.model.net.relu1 = nn.GELU()
        return rec

    monkeypatch.setattr(cmd, "_load_ann", gelu_ann)
    assert main(["convert", "--model", str(ann_file), "--data", str(data), "--calibration", "16", "--limit", "16",
                 "--out", str(tmp_path / "o")]) == 2
    err = _err(capsys)
    assert err.startswith(f"error: --model {ann_file}:") and "relu1" in err, err
    assert not (tmp_path / "o").exists()
