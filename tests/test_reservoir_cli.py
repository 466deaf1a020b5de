"""``neurosim reservoir`` command and demo stage."""
from __future__ import annotations

import json
import re

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


# the task each kind runs when --task is not given (issue 15 item 13); written out here, not
# read from the command's table, so a changed default is a visible test change
EXPECTED_DEFAULT_TASK = {"ei-adaptive": "memory_capacity", "lsm": "classification", "izhikevich": "timing"}


@pytest.mark.parametrize("kind", sorted(EXPECTED_DEFAULT_TASK))
def test_every_kind_runs_with_default_options(kind, tmp_path):
    assert main(["reservoir", "--kind", kind, "--size", "20", "--out", str(tmp_path)]) == 0
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["kind"] == kind and s["task"] == EXPECTED_DEFAULT_TASK[kind] and s["size"] == 20
    assert s["scores"]


def test_help_lists_the_tasks_of_every_kind(capsys, monkeypatch):
    from neurosim.commands.reservoir import TASKS

    monkeypatch.setenv("COLUMNS", "300")  # one help line per option: no wrapping inside a task list
    assert main(["reservoir", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for kind, tasks in TASKS.items():
        assert f"{kind}: {', '.join(tasks)}" in text, kind


def test_too_large_size_is_refused_before_any_work(tmp_path, capsys):
    out = tmp_path / "o"
    # 10^6 units: terabytes of dense weights (before: MemoryError with a traceback, exit 1)
    assert main(["reservoir", "--size", "1000000", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --size=1000000: --kind ei-adaptive --task memory_capacity needs about")
    assert re.search(r"available \(.+\); the largest --size that fits is \d+", err) and "Traceback" not in err
    assert not out.exists()


def test_largest_size_the_command_suggests_fits(tmp_path, monkeypatch):
    from neurosim.commands.reservoir import run, task_memory_bytes
    from neurosim.reservoir import memory

    budget = 1 << 30
    monkeypatch.setattr(memory, "available_memory", lambda: (budget, "test"))
    for kind, task in (("ei-adaptive", "narma10"), ("lsm", "classification"), ("izhikevich", "timing")):
        with pytest.raises(ValueError, match="--size=20000") as info:
            run(kind=kind, task=task, size=20000, out=tmp_path)
        best = int(re.search(r"largest --size that fits is (\d+)", str(info.value)).group(1))
        assert task_memory_bytes(kind, task, best) <= budget < task_memory_bytes(kind, task, best + 1), kind
    # the rate-coded digits alone (2000 x 30 steps x 784 pixels) need more than 300 MiB
    monkeypatch.setattr(memory, "available_memory", lambda: (300 << 20, "test"))
    with pytest.raises(ValueError, match="no --size fits"):
        run(kind="lsm", task="classification", size=20, out=tmp_path)
