"""``neurosim reservoir`` command and demo stage."""
from __future__ import annotations

import json

import pytest

from neurosim.cli import main


def test_cli_ei_memory_capacity_writes_summary(tmp_path):
    code = main(["reservoir", "--kind", "ei-adaptive", "--task", "memory_capacity", "--size", "60", "--seed", "1",
                 "--out", str(tmp_path)])
    assert code == 0
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["kind"] == "ei-adaptive" and s["size"] == 60
    for name in ("baseline", "adapted"):
        mc = s["scores"][name]["memory_capacity"]
        assert 0 < mc <= 60  # MC is bounded by the number of units (Jaeger 2001)
        assert abs(mc - sum(s["scores"][name]["mc_k"])) < 1e-2


def test_cli_rejects_bad_input(tmp_path, capsys):
    assert main(["reservoir", "--kind", "esn", "--out", str(tmp_path)]) == 2
    assert "--kind must be one of" in capsys.readouterr().err
    assert main(["reservoir", "--kind", "lsm", "--task", "narma10", "--out", str(tmp_path)]) == 2
    assert "--task for --kind lsm" in capsys.readouterr().err
    assert main(["reservoir", "--size", "0", "--out", str(tmp_path)]) == 2
    assert "--size" in capsys.readouterr().err


def test_run_validation_messages(tmp_path):
    from neurosim.commands.reservoir import run

    with pytest.raises(ValueError, match="size"):
        run(kind="ei-adaptive", size=0, out=tmp_path)
    with pytest.raises(FileNotFoundError, match="data"):
        run(kind="lsm", task="classification", data=tmp_path / "nope", out=tmp_path)


def test_demo_stage_fast(tmp_path):
    from neurosim.commands.reservoir import demo_stage

    res = demo_stage(tmp_path, data_dir=None, fast=True, seed=0)
    assert res.name == "reservoir"
    assert res.metrics["ei_mc_adapted"] > 0 and 0.1 < res.metrics["lsm_acc_software"] <= 1.0  # chance is 0.1
    assert (tmp_path / "memory_capacity.png").is_file()
