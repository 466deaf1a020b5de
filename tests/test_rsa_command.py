"""``neurosim tsrsa`` command, its demo stage and the RSA plots."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import data_root, require_data

pytest.importorskip("torch")


def test_demo_stage_synthetic(tmp_path):
    from neurosim.commands.tsrsa import demo_stage

    res = demo_stage(tmp_path, data_dir=None, fast=True, seed=0)
    assert res.name == "tsrsa"
    m = res.metrics
    assert -1 <= m["score"] <= 1 and 0 < m["ceiling_mean"] <= 1 and m["n_conditions"] == 59
    for f in res.figures:
        assert (tmp_path / f).exists() or __import__("pathlib").Path(f).exists()
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["score"] == pytest.approx(m["score"])
    # the layer x area matrix agrees with the reported model score
    assert saved["score"] == pytest.approx(max(v["synthetic_V1"] for v in saved["scores"].values()))


def test_run_dg_real_data(tmp_path):
    require_data("allen_neuropixels_dg_spyketools", "spike_times.npy")
    from neurosim.commands.tsrsa import run

    out = run(model="spiking_convnet", neural="allen_dg", data=data_root(), out=tmp_path, n_splits=3,
              model_cfg={"channels": (4, 8), "hidden": (16,)})
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["score"] == pytest.approx(out["score"])
    assert s["n_conditions"] == 40 and s["trained"] is False
    assert set(s["ceiling"]) == {"neuropixels_dg"} and 0 < s["trial_ceiling"]["neuropixels_dg"]["mean"] <= 1
    assert (tmp_path / "tsrsa_heatmap.png").exists()
    assert s["baselines"]["neuropixels_dg"]["time_since_onset"] > 0.5  # onset-dominated RDM
    st = s["best_layer_stats"]["neuropixels_dg"]
    assert st["layer"] == s["best_layers"]["neuropixels_dg"] and st["score"] == pytest.approx(s["score"])
    assert 0 < st["p_value"] <= 1 and st["ci95"][0] <= st["ci95"][1]


def test_trained_model_file_round_trip(tmp_path):
    """``neurosim train`` writes model.pt; ``load_model`` rebuilds exactly the trained weights."""
    import torch

    from neurosim.commands.train import run as train
    from neurosim.commands.tsrsa import load_model

    cfg = {"channels": (4, 8), "hidden": (16,)}
    s = train(dataset="embedded", model="spiking_convnet", epochs=1, limit=128, test_limit=64, batch_size=64,
              timesteps=2, out=tmp_path / "run", model_cfg=cfg, progress=False)
    ckpt = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)  # the Trainer's own state
    trained = ckpt["student"]
    name, net, is_trained = load_model(s["model_file"])
    assert name == "spiking_convnet" and is_trained and net._tsrsa_input_size == 28
    sd = net.state_dict()
    assert set(sd) == set(trained)
    for k, v in trained.items():
        assert torch.equal(sd[k], v), k


def test_cli_errors(tmp_path):
    from neurosim.cli import main

    assert main(["tsrsa", "--model", "spiking_convnet", "--neural", "bogus", "--out", str(tmp_path)]) == 2
    assert main(["tsrsa", "--model", "no_such_model", "--neural", "allen_dg", "--out", str(tmp_path)]) == 2


def test_plots(tmp_path):
    from neurosim.plot.rsa import plot_rdm, plot_score_heatmap, plot_tsrsa_curves
    from neurosim.rsa import calc_rdm, tsrsa_scores

    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 5))
    plot_rdm(calc_rdm(X), rank=True, path=tmp_path / "rdm.png")
    res = tsrsa_scores({"a": X, "b": X + rng.normal(size=X.shape)}, {"V1": X[:, :3] + 0.1})
    plot_score_heatmap(res, path=tmp_path / "hm.png")
    plot_tsrsa_curves([1, 2, 3], {"m": [0.1, 0.2, 0.3]}, ceiling=(0.5, 0.02), path=tmp_path / "c.png")
    assert all((tmp_path / f).stat().st_size > 0 for f in ("rdm.png", "hm.png", "c.png"))
    with pytest.raises(ValueError, match="curve"):
        plot_tsrsa_curves([1, 2], {"m": [1, 2, 3]})
    with pytest.raises(ValueError, match="square"):
        plot_rdm(np.ones((2, 3)))


def test_run_on_nwb_session(tmp_path):
    pytest.importorskip("pynwb")
    from test_allen import _spikes_for, _write_session

    from neurosim.commands.tsrsa import run

    rng = np.random.default_rng(0)
    units = [_spikes_for(rng.integers(1, 9, size=(3, 6))) for _ in range(6)]
    nwb = _write_session(tmp_path / "session.nwb", units, [1, 1, 1, 1, 2, 2], {1: "VISp", 2: "CA1"})
    with pytest.raises(FileNotFoundError, match="natural_movie_one.npy"):
        run(model="spiking_convnet", neural=str(nwb), out=tmp_path / "o")
    np.save(tmp_path / "natural_movie_one.npy", rng.integers(0, 255, size=(6, 20, 30)).astype(np.uint8))
    s = run(model="convnet", neural=str(nwb), out=tmp_path / "o", n_splits=2)
    assert s["areas"] == ["VISp"] and s["n_conditions"] == 5  # CA1 has < 4 units; first frame dropped
    assert set(s["scores"]) == set(s["layers"])
    assert -1 <= s["baselines"]["VISp"]["pixels"] <= 1


def test_mlp_model_files_get_stimuli_of_their_shape(tmp_path, monkeypatch, capsys):
    """An MLP model.pt (no conv layer) was shown 3 x 64 x 64 frames and failed with a RuntimeError
    traceback; now its in_shape (C, S, S) sets the stimuli, and a model that cannot take images
    gives one ``error:`` line naming the file and the shape (exit 2)."""
    require_data("allen_neuropixels_dg_spyketools", "spike_times.npy")
    import torch

    import neurosim.commands.tsrsa as T
    from neurosim.cli import main
    from neurosim.io import save_model
    from neurosim.models import get_model

    def model_file(in_shape):
        cfg = {"in_shape": in_shape, "hidden": (8,), "num_classes": 2}
        torch.manual_seed(0)
        path = tmp_path / f"mlp{len(in_shape)}.pt"
        save_model(path, get_model("mlp", **cfg), "mlp", cfg)
        return path

    good = model_file((1, 6, 6))
    s = T.run(model=str(good), neural="allen_dg", data=data_root(), out=tmp_path / "ok", n_splits=3,
              n_permutations=5)
    assert s["trained"] is True and s["n_conditions"] == 40
    flat = model_file((36,))
    assert main(["tsrsa", "--model", str(flat), "--neural", "allen_dg", "--data", str(data_root()),
                 "--out", str(tmp_path / "flat")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --model {flat}: the model takes samples of shape (36,)") and err.count("\n") == 1
    # any other shape the model's forward refuses: the RuntimeError becomes the same kind of line
    monkeypatch.setattr(T, "_stimulus_size", lambda rec: 8)
    assert main(["tsrsa", "--model", str(good), "--neural", "allen_dg", "--data", str(data_root()),
                 "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --model {good}: the model does not take the stimuli") and "(1, 8, 8)" in err
    assert "Traceback" not in err and err.count("\n") == 1
