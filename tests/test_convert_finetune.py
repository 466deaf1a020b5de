"""Conversion + fine-tuning: ``neurosim distill --student converted:FILE``, ``neurosim train --model converted:FILE``.

A small ReLU MLP (784-32-10, one epoch on 2000 real MNIST images) is the ANN. Converted at T = 2
(IF neurons starting from V = 0 barely fire in two steps) it is far below the ANN, so training
through the IF layers' surrogate gradient has room to show: the tests require the accuracy to
rise by at least 5 points over the converted network's (measured: 0.40 -> 0.70 distilled, 400
test images; 0.31 -> 0.685 with CE, scales at the maximum, 200). The accuracy before training is checked
against a conversion done here with the library on the documented calibration images (same
code: equal up to 2 of 400 predictions that batching may round differently; observed: equal).
The feature tap is checked against the analytic IF bound ``|lambda N / T - clip(z, 0, lambda)| <=
lambda / T`` for the first layer's constant input ``z``. Resumed runs are compared bit for bit
with uninterrupted runs of the same code. Real MNIST from ``NEUROSIM_DATA`` (skips without it).
"""
from __future__ import annotations

import json

import pytest
import torch

from conftest import require_data, train_mlp_file
from neurosim.cli import main

N_TRAIN, N_CAL, T, SEED = 400, 200, 2, 1


@pytest.fixture(scope="module")
def data():
    return require_data("mnist").parent


@pytest.fixture(scope="module")
def ann_file(tmp_path_factory, data):
    """The ANN's model.pt, as neurosim train writes it."""
    return train_mlp_file(tmp_path_factory.mktemp("ann") / "model.pt", data, 2000, 1)


def _distill_args(ann_file, data, out):
    return ["distill", "--student", f"converted:{ann_file}", "--dataset", "mnist", "--data", str(data), "--kd",
            "bkd+wsld", "--limit", str(N_TRAIN), "--epochs", "2", "-T", str(T), "--batch-size", "50",
            "--convert-calibration", str(N_CAL), "--seed", str(SEED), "--out", str(out)]


@pytest.fixture(scope="module")
def distilled(tmp_path_factory, ann_file, data):
    out = tmp_path_factory.mktemp("distill") / "run"
    assert main(_distill_args(ann_file, data, out)) == 0
    return out


def _state(path):
    return torch.load(path, weights_only=True)["model_state"]


def _equal_states(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_distilled_converted_student_learns_and_its_file_loads_back(distilled, ann_file, data):
    from neurosim.commands.convert import calibration_images
    from neurosim.convert import ConvertedSNN, ann_to_snn
    from neurosim.distill import load_tensors
    from neurosim.models import load_model

    s = json.loads((distilled / "summary.json").read_text())
    conv = s["converted"]
    assert conv["converted_here"] and conv["mode"] == "99.9%" and conv["calibration"] == N_CAL
    assert conv["file"] == str(ann_file) and conv["teacher"] == "the ANN in the file"
    assert s["teacher_epochs"] == 0 and s["teacher_history"] == [] and not (distilled / "teacher").exists()
    assert s["feature_layers"] == ["feature_tap", "net.relu1"] and s["kd"] == "bkd+wsld"
    # the network before training: the library's conversion on the documented calibration images
    xtr, _ = load_tensors("mnist", "train", data, N_TRAIN)
    xte, yte = load_tensors("mnist", "test", data, N_TRAIN)
    ann = load_model(str(ann_file)).model
    snn = ann_to_snn(ann, calibration_images(xtr, N_CAL, SEED), mode="99.9%", method="_forward")
    with torch.no_grad():
        before = int((snn.run_static(xte.float() / 255, T).argmax(-1) == yte).sum()) / len(yte)
        ann_acc = int((ann(xte.float() / 255).argmax(-1) == yte).sum()) / len(yte)
    assert abs(conv["acc_before_training"] - before) <= 2 / N_TRAIN
    assert s["teacher_acc"] == pytest.approx(ann_acc, abs=1e-9)
    # training through the IF layers: the loss falls and the accuracy rises well above the conversion's
    h = s["history"]
    assert h[1]["train_loss"] < h[0]["train_loss"] and h[1]["train_bkd"] > 0
    assert s["test_acc"] >= conv["acc_before_training"] + 0.05, (conv["acc_before_training"], s["test_acc"])
    # model.pt: a converted model file holding exactly the trained weights (the checkpoint's)
    rec = load_model(str(distilled / "student" / "model.pt"))
    assert isinstance(rec.model, ConvertedSNN) and rec.name == "mlp" and rec.trained
    assert rec.meta["converted_from"] == str(ann_file) and rec.meta["timesteps"] == T and rec.meta["kd"] == "bkd+wsld"
    ckpt = torch.load(distilled / "student" / "checkpoint.pt", weights_only=True)["student"]
    assert _equal_states(rec.model.state_dict(), ckpt)
    with torch.no_grad():
        acc = int((rec.model.run_static(xte.float() / 255).argmax(-1) == yte).sum()) / len(yte)
    assert abs(acc - s["test_acc"]) <= 2 / N_TRAIN  # rec.model.timesteps == T
    assert rec.model.feature_layers == ("body.model.net.relu1",)


def test_tsrsa_reads_the_student_file(distilled, tmp_path):
    require_data("allen_natural_scenes_visp_2p")
    from neurosim.commands.tsrsa import run

    s = run(model=str(distilled / "student" / "model.pt"), neural="allen_2p_scenes", out=tmp_path, n_splits=2,
            n_permutations=10)
    assert s["trained"] and s["model"] == "mlp" and list(s["scores"]) == ["body.model.net.relu1"]


def test_interrupted_distill_resumes_to_the_uninterrupted_weights(distilled, ann_file, data, tmp_path, monkeypatch,
                                                                  capsys):
    from neurosim.distill import Trainer

    out = tmp_path / "run"
    real = Trainer._train_epoch

    def interrupted(self, x, y, epoch, rec, start=None):
        if epoch == 1:  # Ctrl-C after the first epoch's checkpoint
            raise KeyboardInterrupt
        return real(self, x, y, epoch, rec, start)

    monkeypatch.setattr(Trainer, "_train_epoch", interrupted)
    assert main(_distill_args(ann_file, data, out)) == 130
    assert "kept student checkpoint after epoch 1 of 2" in capsys.readouterr().err
    monkeypatch.setattr(Trainer, "_train_epoch", real)
    assert main(_distill_args(ann_file, data, out) + ["--resume"]) == 0
    s, ref = (json.loads((d / "summary.json").read_text()) for d in (out, distilled))
    assert s["resumed"] and not ref["resumed"]
    assert _equal_states(_state(out / "student" / "model.pt"), _state(distilled / "student" / "model.pt"))
    drop = ("wall_s",)
    assert [{k: v for k, v in e.items() if k not in drop} for e in s["history"]] == \
           [{k: v for k, v in e.items() if k not in drop} for e in ref["history"]]
    assert s["converted"]["acc_before_training"] == ref["converted"]["acc_before_training"]


def test_train_converted_model_resumes_mid_epoch_exactly(ann_file, data, tmp_path, monkeypatch):
    """``neurosim train --model converted:FILE``: CE fine-tuning; Ctrl-C in the middle of epoch 2
    (checkpoints every 2 batches), then --resume: the same weights as a run never interrupted."""
    from neurosim.commands import Interrupted
    from neurosim.commands.train import run

    kw = dict(model=f"converted:{ann_file}", dataset="mnist", data=data, limit=200, epochs=2, batch_size=50,
              timesteps=T, seed=SEED, checkpoint_every=2, test_limit=200, progress=False, convert_mode="max")
    ref = run(out=tmp_path / "a", **kw)
    assert ref["converted"]["mode"] == "max" and ref["converted"]["calibration"] == 200  # all, fewer than 512
    # measured: 0.31 -> 0.685
    assert ref["test_acc"] >= ref["converted"]["acc_before_training"] + 0.05, ref["converted"]
    real, calls = torch.optim.Adam.step, [0]

    def step(self, *a, **k):
        calls[0] += 1
        if calls[0] == 4 + 3:  # 4 batches per epoch: batch 3 of epoch 2
            raise KeyboardInterrupt
        return real(self, *a, **k)

    monkeypatch.setattr(torch.optim.Adam, "step", step)
    with pytest.raises(Interrupted, match="epoch 2, batch 2 of 4"):
        run(out=tmp_path / "b", **kw)
    monkeypatch.setattr(torch.optim.Adam, "step", real)
    res = run(out=tmp_path / "b", resume=True, **kw)
    assert res["resumed"] and res["test_acc"] == ref["test_acc"]
    assert _equal_states(_state(tmp_path / "b" / "model.pt"), _state(tmp_path / "a" / "model.pt"))


def test_already_converted_file_as_student(ann_file, data, tmp_path, capsys):
    """A model.pt of neurosim convert is trained as it is; its teacher comes from --teacher."""
    from neurosim.models import build_model, input_config, load_model, save_model

    conv = tmp_path / "conv"
    assert main(["convert", "--model", str(ann_file), "--data", str(data), "-T", "4", "--calibration", "64",
                 "--limit", "20", "--out", str(conv)]) == 0
    base = ["distill", "--student", f"converted:{conv / 'model.pt'}", "--dataset", "mnist", "--data", str(data),
            "--limit", "100", "--epochs", "1", "-T", str(T), "--batch-size", "50"]
    assert main(base + ["--kd", "kd", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --kd kd needs a teacher") and f"e.g. {ann_file}" in err and "--kd none" in err
    out = tmp_path / "kd"
    assert main(base + ["--kd", "kd", "--teacher", str(ann_file), "--out", str(out)]) == 0
    capsys.readouterr()
    s = json.loads((out / "summary.json").read_text())
    assert not s["converted"]["converted_here"] and s["converted"]["calibration"] is None
    assert s["teacher"] == str(ann_file) and s["teacher_acc"] > 0.5 and s["feature_layers"] is None
    rec = load_model(str(out / "student" / "model.pt"))
    assert rec.meta["timesteps"] == T and rec.meta["converted_from"] == str(conv / "model.pt")
    # feature KD needs a teacher with the converted ANN's layers: a ConvNet teacher is refused
    other = tmp_path / "convnet.pt"
    cfg = {**input_config("convnet"), "channels": (2, 2), "hidden": (8,)}
    save_model(other, build_model("convnet", **cfg), "convnet", cfg)
    assert main(base + ["--kd", "bkd", "--teacher", str(other), "--out", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --kd bkd compares features, but no IF layer") and "net.relu1" in err, err


def test_feature_tap_gives_the_if_layer_in_the_anns_units(ann_file):
    """The tap of the first IF layer (constant input z): lambda * spike count / T is within lambda / T of
    clip(z, 0, lambda), for every neuron (reset by subtraction, V_0 = 0)."""
    from neurosim.convert import ann_to_snn, feature_pair
    from neurosim.models import load_model

    ann = load_model(str(ann_file)).model
    x = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    snn = ann_to_snn(ann, x, mode="99.9%", method="_forward")
    s_layer, t_layer = feature_pair(snn, ann)
    assert (s_layer, t_layer) == ("feature_tap", "net.relu1")
    seen = []
    snn.get_submodule(s_layer).register_forward_hook(lambda m, i, o: seen.append(o))
    steps = 16
    with torch.no_grad():
        snn.run_static(x, steps)
        z = ann.net.fc1(x.flatten(1)).double()
    lam = snn.scales["model.net.relu1"].double()
    tap = seen[0].double()
    assert tap.shape == (steps, 16, 32)
    assert torch.all((tap == 0) | torch.isclose(tap, lam.expand_as(tap)))  # spikes times lambda
    err = (tap.mean(0) - z.clamp(0, float(lam))).abs()
    assert float(err.max()) <= float(lam) / steps * (1 + 1e-5)


def test_feature_pair_on_a_convnet_picks_the_last_conv_activation():
    from neurosim.convert import ann_to_snn, feature_pair
    from neurosim.models import build_model

    ann = build_model("convnet", seed=0, channels=(2, 3), hidden=(8,)).eval()
    x = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    snn = ann_to_snn(ann, x, mode="max", method="_forward")
    # distill_layer features.pool2: relu2's IF layer, which runs pool2 inside (so its output is pool2's)
    assert feature_pair(snn, ann) == ("feature_tap", "features.pool2")
    seen = []
    hooks = [snn.feature_tap.register_forward_hook(lambda m, i, o: seen.append(o)),
             ann.features.pool2.register_forward_hook(lambda m, i, o: seen.append(o))]
    with torch.no_grad():
        snn.run_static(x, 4)
        ann._forward(x)
    for h in hooks:
        h.remove()
    assert seen[0].shape[1:] == seen[1].shape == (8, 3, 7, 7)
    assert feature_pair(snn, ann, "classifier") == ("feature_tap", "classifier.relu3")
    assert snn.feature_tap.source == "model.classifier.relu3"  # the second call replaced the first tap
    with pytest.raises(ValueError, match="has no layer 'nope'"):
        feature_pair(snn, ann, "nope")


def _err(capsys):
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_bad_inputs_exit_2_with_an_error_line(ann_file, data, tmp_path, capsys):
    from neurosim.models import build_model, input_config, save_model

    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model" * 10)
    snn_file = tmp_path / "snn.pt"
    cfg = {**input_config("spiking_mlp"), "hidden": (8,)}
    save_model(snn_file, build_model("spiking_mlp", **cfg), "spiking_mlp", cfg)
    conv = f"converted:{ann_file}"
    common = ["--dataset", "mnist", "--data", str(data), "--limit", "50", "--epochs", "1", "-T", "1",
              "--out", str(tmp_path / "o")]
    cases = [
        (["distill", "--student", f"converted:{tmp_path / 'missing.pt'}"], "missing.pt: no such file"),
        (["distill", "--student", f"converted:{junk}"], str(junk)),
        (["distill", "--student", "converted:"], "--student converted:: no file named"),
        (["distill", "--student", f"converted:{snn_file}"], "holds a spiking model ('spiking_mlp')"),
        (["distill", "--student", conv, "--teacher", "convnet"], "--teacher convnet conflicts with --student"),
        (["distill", "--student", conv, "--teacher-epochs", "2"], "--teacher-epochs 2: with --student"),
        (["distill", "--student", conv, "--convert-mode", "banana"], "--convert-mode 'banana'"),
        (["distill", "--student", conv, "--convert-calibration", "51"], "--convert-calibration 51 exceeds the 50"),
        (["distill", "--student", conv, "--convert-calibration", "0"], "convert_calibration"),
        (["distill", "--convert-mode", "max"], "--convert-mode applies only to --student converted:FILE"),
        (["distill", "--student", "spiking_mlp", "--convert-calibration", "8"], "--convert-calibration applies"),
        (["train", "--model", f"converted:{tmp_path / 'missing.pt'}"], "--model converted:"),
        (["train", "--model", "spiking_mlp", "--convert-mode", "max"], "--convert-mode applies only to --model"),
        (["train", "--model", f"converted:{junk}"], str(junk)),
    ]
    for extra, words in cases:
        assert main(extra + common) == 2, extra
        err = _err(capsys)
        assert err.startswith("error: ") and words in err, (extra, err)
    assert not (tmp_path / "o").exists()
