"""``neurosim demo``: inputs validated before any stage, stage lines and bars, relative report links.

The orchestration is tested with stand-in stages (each real stage has its own test beside its
command); the stand-ins write a figure and show a tqdm bar when asked to.
"""
from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import require_data
from neurosim.cli import main
from neurosim.commands import StageResult
from neurosim.commands import demo

STAGE_NAMES = [s for s, _ in demo.STAGES]


def _fake_stage(name, calls):
    def stage(stage_dir, *, data_dir=None, fast=False, seed=0, progress=False):
        from tqdm import tqdm

        calls.append((name, progress))
        for _ in tqdm(range(3), desc=name, disable=not progress):
            pass
        fig = Path(stage_dir) / f"{name}.png"
        fig.write_bytes(b"\x89PNG fake")
        return StageResult(name, {"x": 1}, [str(fig)], f"{name} text")

    return stage


@pytest.fixture
def fake_stages(monkeypatch):
    calls: list = []
    modules = dict((m, s) for s, m in demo.STAGES)
    monkeypatch.setattr(demo, "_load_stage", lambda module: _fake_stage(modules[module], calls))
    return calls


def _snapshot(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _earlier_output(out: Path) -> dict:
    for rel in ("simulation/izhikevich2003_raster.png", "simulation/cuba_raster_rate.png",
                "training/training.png", "report.md", "summary.json"):
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(f"earlier run: {rel}".encode())
    return _snapshot(out)


def _data_folder(tmp_path: Path, broken: str) -> Path:
    """A --data folder with real files except one broken file ``broken`` (``<dataset>/<file>``)."""
    root = tmp_path / "data"
    for name in ("mnist", "fashion_mnist"):
        src = require_data(name)
        (root / name).mkdir(parents=True)
        for f in src.iterdir():
            (root / name / f.name).symlink_to(f)
    bad = root / broken
    good = bad.resolve().read_bytes()
    bad.unlink()
    if broken.endswith("labels-idx1-ubyte.gz"):  # truncated: a valid gzip of the first half
        bad.write_bytes(gzip.compress(gzip.decompress(good)[: len(gzip.decompress(good)) // 2]))
    else:  # garbage
        bad.write_bytes(b"this is not an IDX file")
    return root


# stages run in the order simulation, training (fashion_mnist), ..., continual (mnist)
@pytest.mark.parametrize("broken", ["fashion_mnist/train-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz"])
def test_bad_data_fails_before_any_stage_and_keeps_earlier_output(broken, tmp_path, capsys):
    data = _data_folder(tmp_path, broken)
    out = tmp_path / "demo"
    before = _earlier_output(out)
    code = main(["demo", "--fast", "--data", str(data), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error:") and Path(broken).name in err and "Traceback" not in err
    assert _snapshot(out) == before  # every byte (and mtime) of the earlier run unchanged


def test_bad_options_fail_before_anything_is_written(tmp_path, fake_stages):
    out = tmp_path / "demo"
    with pytest.raises(ValueError, match="seed"):
        demo.run(out, seed=-1)
    with pytest.raises(FileNotFoundError, match="--data"):
        demo.run(out, data=tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a directory"):
        demo.run(tmp_path / "file")
    with pytest.raises(ValueError, match="is a file"):
        demo.run(tmp_path / "file" / "sub")
    assert not out.exists() and fake_stages == []


def test_data_inputs_cover_what_the_stages_load(tmp_path):
    require_data("mnist")
    require_data("fashion_mnist")
    root = require_data("mnist").parent
    checked = demo.check_data(root)
    for key in ("fashion_mnist/train", "fashion_mnist/test", "mnist/train", "mnist/test"):
        assert key in checked
    assert demo.check_data(None) == []


def test_stage_lines_without_a_terminal_and_no_bars(tmp_path, fake_stages, capsys):
    demo.run(tmp_path / "o", fast=True)
    err = capsys.readouterr().err
    n = len(STAGE_NAMES)
    for k, name in enumerate(STAGE_NAMES, 1):
        assert re.search(rf"^\[{k}/{n}\] {name}: .+ \.\.\.$", err, re.M), name
        assert re.search(rf"^\[{k}/{n}\] {name}: done in [\d.]+ s$", err, re.M), name
    assert "it/s" not in err and "\r" not in err and "%|" not in err  # stderr is not a terminal: no bars
    assert [p for _, p in fake_stages] == [False] * n


def test_report_line_names_the_folder_the_user_gets(tmp_path, fake_stages, capsys):
    """The run writes OUT.partial, renamed to OUT on success: the last line names OUT/report.md."""
    from neurosim.cli import main

    assert main(["demo", "--fast", "--out", str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err
    assert re.search(rf"^report: {re.escape(str(tmp_path / 'o' / 'report.md'))} \(\d+ s\)$", err, re.M), err
    assert ".partial" not in err and (tmp_path / "o" / "report.md").is_file()


def test_quiet_prints_nothing(tmp_path, fake_stages, capsys):
    assert main(["demo", "--fast", "--quiet", "--out", str(tmp_path / "o")]) == 0
    assert capsys.readouterr().err == ""
    assert [p for _, p in fake_stages] == [False] * len(STAGE_NAMES)
    assert (tmp_path / "o" / "report.md").is_file()


_PTY_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from test_demo import _fake_stage
from neurosim.commands import demo
calls = []
mods = dict((m, s) for s, m in demo.STAGES)
demo._load_stage = lambda module: _fake_stage(mods[module], calls)
demo.run({out!r}, fast=True, quiet={quiet})
print("progress flags", [p for _, p in calls])
"""


@pytest.mark.skipif(not sys.platform.startswith(("linux", "darwin")), reason="needs a pseudo-terminal")
@pytest.mark.parametrize("quiet", [False, True])
def test_bars_on_a_terminal_unless_quiet(tmp_path, quiet):
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 100 columns for the bars
    script = _PTY_SCRIPT.format(tests=str(Path(__file__).parent), out=str(tmp_path / "o"), quiet=quiet)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    stdout, _ = proc.communicate(timeout=120)
    os.close(master)
    err = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0, err
    n = len(STAGE_NAMES)
    if quiet:
        assert err == "" and f"progress flags {[False] * n}" in stdout
    else:
        assert f"[1/{n}] simulation:" in err and "3/3" in err  # a tqdm bar ran to the end
        assert f"progress flags {[True] * n}" in stdout


def test_report_links_are_relative_to_the_report(tmp_path, fake_stages, monkeypatch):
    monkeypatch.chdir(tmp_path)
    demo.run("neurosim-demo")  # the README's relative --out
    report = tmp_path / "neurosim-demo" / "report.md"
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report.read_text())
    assert len(links) == len(STAGE_NAMES)
    for link in links:
        assert not Path(link).is_absolute() and (report.parent / link).is_file(), link
    moved = tmp_path / "elsewhere" / "renamed"
    moved.parent.mkdir()
    (tmp_path / "neurosim-demo").rename(moved)
    for link in links:  # the folder can be moved or renamed
        assert (moved / link).is_file(), link
    assert str(tmp_path) not in (moved / "report.md").read_text()


def test_every_stage_is_described_and_built():
    """Each stage of STAGES has a progress line, its --data inputs, and a demo_stage in its command module."""
    assert ("conversion", "convert") in demo.STAGES
    for stage, module in demo.STAGES:
        assert stage in demo.DESCRIPTIONS and stage in demo.DATA_INPUTS, stage
        assert callable(demo._load_stage(module)), module


def test_conversion_stage_numbers_in_summary_and_report(tmp_path, monkeypatch):
    """The conversion stage alone through ``demo.run --fast`` (embedded digits, seed 0).

    Sanity of the numbers in summary.json, each against something the stage does not compute:
    the ANN well above chance (10 %; measured 69.5 %); the SNN at T = 32 within 5 points of the
    ANN on the same 200 test images (99.9 % scales, reset by subtraction: the rate code converges
    to the ANN's activations up to clipping and a 1/T quantisation; measured +1.0 point); the SNN at
    T = 4 far below it (V_0 = 0: the IF layers are still charging, CONVERSION.md section 7; measured
    24 %); the ANN energy = 4.6 pJ x the MACs of conv 8 - conv 16 - fc 64 - fc 10 on 28 x 28,
    counted by hand; and in the stage's own summary, the only dense MACs of the SNN are those of
    the first convolution at every step (the pooled spikes reaching conv2 and fc1 are synaptic
    operations).
    """
    import json

    monkeypatch.setattr(demo, "STAGES", (("conversion", "convert"),))
    out = tmp_path / "demo"
    demo.run(out, fast=True, quiet=True)
    summary = json.loads((out / "summary.json").read_text())
    m = summary["stages"]["conversion"]
    assert m["dataset"] == "embedded" and m["n_train"] == 600 and m["n_test"] == 200
    assert m["ann_acc"] > 0.5
    assert abs(m["snn_acc_t32"] - m["ann_acc"]) <= 0.05
    assert m["snn_acc_t4"] < m["ann_acc"] - 0.2
    assert m["snn_minus_ann_at_tmax"] == pytest.approx(m["snn_acc_t32"] - m["ann_acc"], abs=1e-4)
    macs = 8 * 28 * 28 * 9 + 16 * 14 * 14 * 8 * 9 + 16 * 7 * 7 * 64 + 64 * 10  # conv1, conv2, fc1, fc2
    assert m["energy_ann_uj"] == pytest.approx(4.6e-6 * macs, abs=1e-4)
    assert m["energy_snn_uj"] > 0 and 0 < m["mean_firing_rate"] < 1
    stage = json.loads((out / "conversion" / "summary.json").read_text())
    act = stage["activity"]
    first = "body.model.features.conv1"
    assert act["macs"][first] == pytest.approx(32 * 8 * 28 * 28 * 9) and act["total_macs"] == act["macs"][first]
    assert act["sops"]["body.model.features.conv2"] > 0 and act["sops"]["body.model.classifier.fc1"] > 0
    for rel in ("acc_vs_t.png", "model.pt", "ann/model.pt"):
        assert (out / "conversion" / rel).is_file(), rel
    assert stage["ann_file"] == "ann/model.pt" and stage["model_file"] == "model.pt"  # the folder can move
    report = (out / "report.md").read_text()
    assert "## conversion" in report and "](conversion/acc_vs_t.png)" in report
    assert f"{m['ann_acc']:.1%}" in report and "T = 32: " in report
