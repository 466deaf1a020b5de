"""Output folders of the command line: a failing run never touches an earlier result, a
successful one replaces it whole, ``--resume`` with nothing to resume says so, and every file
follows the umask.

Each command gets an earlier output folder (a summary.json, a figure, a file in a sub-folder)
and a run that fails after it has written something (an injected error in its last steps),
or its cheapest failing invocation where the command writes only at the end; the SHA-256 of
every file before and after must agree.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat

import pytest

from conftest import require_data
from neurosim.cli import main

pytest.importorskip("torch")


def tree_hashes(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def make_earlier(out):
    (out / "sub").mkdir(parents=True)
    (out / "summary.json").write_text('{"earlier": true}\n')
    (out / "figure.png").write_bytes(bytes(range(256)))
    (out / "sub" / "data.bin").write_bytes(b"\x00\x01" * 100)
    return tree_hashes(out)


def fail_with(monkeypatch, target):
    """Make ``module.attr`` raise, so the run fails at that point."""
    module, _, attr = target.rpartition(".")

    def boom(*a, **k):
        raise RuntimeError("injected failure")

    monkeypatch.setattr(f"{module}.{attr}", boom)


TINY_TRAIN = ["train", "--dataset", "embedded", "--model", "spiking_mlp", "--limit", "64", "--batch-size", "32",
              "-T", "1", "--epochs", "1"]
TINY_DISTILL = ["distill", "--dataset", "embedded", "--limit", "20", "--batch-size", "10", "-T", "1",
                "--teacher-epochs", "1", "--epochs", "1"]


def _continual_args():
    return ["continual", "--method", "finetune", "--tasks", "1", "--limit", "64",
            "--data", str(require_data("mnist").parent)]


def _corrupt_data(tmp_path):
    d = tmp_path / "corrupt" / "fashion_mnist"
    d.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (d / name).write_bytes(b"not an IDX file")
    return d.parent


# (command line, function that fails, partial folder kept for --resume)
CASES = {
    "simulate": (lambda tp: ["simulate", "izhikevich2003", "--neurons", "50", "--duration-ms", "20", "--no-progress"],
                 "neurosim.commands.simulate._save_raster", False),  # after spikes.npz was written
    "train": (lambda tp: TINY_TRAIN, "neurosim.commands.train._activity", True),  # after training
    "distill": (lambda tp: TINY_DISTILL, "neurosim.io.checkpoint.save_model", True),  # after both runs
    "continual": (lambda tp: _continual_args(), "neurosim.commands.continual._plot", True),  # after log.txt
    "reservoir": (lambda tp: ["reservoir", "--size", "0"], None, False),  # writes only at the end: bad option
    "tsrsa": (lambda tp: ["tsrsa", "--model", "spiking_convnet", "--neural", "bogus"], None, False),
    "demo": (lambda tp: ["demo", "--fast", "--data", str(_corrupt_data(tp))], None, False),  # corrupt data
}


@pytest.mark.parametrize("command", list(CASES))
def test_failing_run_leaves_earlier_output_unchanged(tmp_path, monkeypatch, command):
    make_args, target, resumable = CASES[command]
    out = tmp_path / "out"
    before = make_earlier(out)
    args = make_args(tmp_path) + ["--out", str(out)]
    if target is not None:
        fail_with(monkeypatch, target)
        with pytest.raises(RuntimeError, match="injected failure"):
            main(args)
    else:
        assert main(args) == 2
    assert tree_hashes(out) == before
    partial = tmp_path / "out.partial"
    assert partial.exists() == resumable  # kept only when it holds checkpoints for --resume
    if resumable:
        assert list(partial.rglob("checkpoint.pt"))


def test_successful_run_replaces_the_folder_whole(tmp_path):
    out = tmp_path / "out"
    make_earlier(out)
    (out / "stale.txt").write_text("from an earlier run")
    assert main(["reservoir", "--kind", "ei-adaptive", "--task", "memory_capacity", "--size", "30",
                 "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["summary.json"]
    assert json.loads((out / "summary.json").read_text())["kind"] == "ei-adaptive"
    assert not (tmp_path / "out.partial").exists() and not (tmp_path / "out.previous").exists()


def test_foreign_or_enclosing_folders_are_refused(tmp_path, capsys, monkeypatch):
    mine = tmp_path / "photos"
    mine.mkdir()
    (mine / "holiday.jpg").write_bytes(b"\xff\xd8")
    args = ["reservoir", "--size", "30", "--out"]
    assert main(args + [str(mine)]) == 2
    assert "holds no summary.json or checkpoint" in capsys.readouterr().err
    assert [p.name for p in mine.iterdir()] == ["holiday.jpg"]
    monkeypatch.chdir(mine)
    assert main(args + [str(tmp_path)]) == 2
    assert "contains the current folder" in capsys.readouterr().err


@pytest.mark.parametrize("exists", [False, True])
def test_resume_without_checkpoint_says_so(tmp_path, capsys, exists):
    out = tmp_path / "run"
    if exists:
        out.mkdir()
    assert main(TINY_TRAIN + ["--out", str(out), "--resume"]) == 0
    assert f"no checkpoint in {out}: starting from scratch" in capsys.readouterr().err
    s = json.loads((out / "summary.json").read_text())
    assert s["resumed"] is False and s["history"][0]["epoch"] == 1


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_outputs_follow_the_umask(tmp_path, umask):
    from neurosim._atomic import atomic_open

    old = os.umask(umask)
    try:
        with atomic_open(tmp_path / "a.bin") as fh:
            fh.write(b"x")
        assert main(["simulate", "izhikevich2003", "--neurons", "20", "--duration-ms", "10", "--no-progress",
                     "--out", str(tmp_path / "sim")]) == 0
        if umask == 0o022:
            assert main(TINY_TRAIN + ["--out", str(tmp_path / "train")]) == 0
    finally:
        os.umask(old)
    want = 0o666 & ~umask
    files = [tmp_path / "a.bin", tmp_path / "sim" / "summary.json", tmp_path / "sim" / "raster.png"]
    if umask == 0o022:
        files += [tmp_path / "train" / n for n in ("summary.json", "model.pt", "checkpoint.pt")]
    modes = {str(f.relative_to(tmp_path)): oct(stat.S_IMODE(f.stat().st_mode)) for f in files}
    assert modes == {name: oct(want) for name in modes}
    assert stat.S_IMODE((tmp_path / "sim").stat().st_mode) == 0o777 & ~umask
