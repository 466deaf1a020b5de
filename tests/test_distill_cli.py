"""``neurosim distill``: summary, checkpoints, resume, every recipe, user errors (exit code 2)."""
from __future__ import annotations

import json

import pytest

from neurosim.cli import main
from neurosim.commands.distill import run

TINY = {"channels": (4, 8), "hidden": (16,)}


def test_cli_embedded_then_resume(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["distill", "--dataset", "embedded", "--kd", "bkd+wsld", "--limit", "20", "--batch-size", "10",
            "-T", "1", "--teacher-epochs", "1", "--seed", "1", "--out", str(out)]
    assert main(args + ["--epochs", "1"]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert {"test_acc", "teacher_acc", "epochs", "wall_s"} <= set(s)
    assert s["epochs"] == 1 and 0.0 <= s["test_acc"] <= 1.0 and 0.0 <= s["teacher_acc"] <= 1.0
    assert s["n_train"] == 20 and s["feature_layers"] == ["features.pool2", "features.pool2"]
    for sub in ("teacher", "student"):
        assert (out / sub / "checkpoint.pt").is_file() and (out / sub / "metrics.jsonl").is_file()
    assert main(args + ["--epochs", "2", "--resume"]) == 0
    s2 = json.loads((out / "summary.json").read_text())
    assert [h["epoch"] for h in s2["history"]] == [1, 2]
    assert s2["history"][0] == s["history"][0]  # epoch 1 was not re-run
    assert s2["teacher_acc"] == s["teacher_acc"]  # the finished teacher was re-used


@pytest.mark.parametrize("kd", ["none", "kd", "wsld", "feature", "bkd", "bkd+wsld"])
def test_every_recipe_runs(tmp_path, kd):
    s = run(dataset="embedded", kd=kd, epochs=1, teacher_epochs=1, batch_size=10, timesteps=1, limit=20,
            out=tmp_path, model_cfg=TINY, progress=False)
    assert s["kd"] == kd
    keys = set(s["history"][0])
    assert ("train_bkd" in keys) == (kd in ("bkd", "bkd+wsld"))
    assert ("train_wsld" in keys) == (kd in ("wsld", "bkd+wsld"))
    assert ("train_feature" in keys) == (kd == "feature")
    assert ("train_kd" in keys) == (kd == "kd")


def test_user_errors(tmp_path, monkeypatch, capsys):
    assert main(["distill", "--kd", "mgd", "--out", str(tmp_path)]) == 2
    assert "kd must be one of" in capsys.readouterr().err
    assert main(["distill", "--data", str(tmp_path / "nope"), "--out", str(tmp_path)]) == 2
    assert "not a directory" in capsys.readouterr().err
    monkeypatch.setenv("NEUROSIM_DATA", str(tmp_path / "empty"))
    assert main(["distill", "--dataset", "fashion_mnist", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "empty" / "fashion_mnist") in err and "NEUROSIM_DATA" in err
    assert main(["distill", "--dataset", "embedded", "--teacher", "vgg99", "--limit", "20",
                 "--out", str(tmp_path)]) == 2
    assert "unknown model 'vgg99'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="teacher_epochs|teacher-epochs"):
        run(dataset="embedded", kd="kd", teacher_epochs=0, out=tmp_path)
    with pytest.raises(ValueError, match="dataset"):
        run(dataset="cifar10", out=tmp_path)


def test_bkd_and_temperature_flags_reach_the_objective(tmp_path, capsys):
    out = tmp_path / "a0"
    args = ["distill", "--dataset", "embedded", "--kd", "bkd+wsld", "--limit", "20", "--batch-size", "10",
            "-T", "1", "--teacher-epochs", "1", "--epochs", "1", "--bkd-lambda", "0.5", "--kd-temperature", "3",
            "--out", str(out)]
    assert main(args + ["--bkd-alpha", "0"]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert (s["bkd_alpha"], s["bkd_lambda"], s["kd_temperature"]) == (0.0, 0.5, 3.0)
    assert s["history"][0]["train_bkd"] == 0.0          # alpha = 0 switches the term off
    s1 = run(dataset="embedded", kd="bkd", epochs=1, teacher_epochs=1, batch_size=10, timesteps=1, limit=20,
             out=tmp_path / "a1", model_cfg=TINY, progress=False, bkd_alpha=1e-2)
    assert s1["history"][0]["train_bkd"] > 0.0
    assert main(args[:-2] + ["--bkd-lambda", "1.5", "--out", str(tmp_path / "bad")]) == 2
    assert "bkd_lambda" in capsys.readouterr().err
    with pytest.raises(ValueError, match="bkd_alpha"):
        run(dataset="embedded", kd="bkd", bkd_alpha=-1.0, out=tmp_path / "bad2")
    with pytest.raises(ValueError, match="kd_temperature"):
        run(dataset="embedded", kd="kd", kd_temperature=0.0, out=tmp_path / "bad3")
