"""``benchmarks/bench_lif_gpu.py`` runs end to end without a GPU (``--tiny --device cpu``).

The GPU benchmark has not been run on a GPU in CI; this checks that the one script the device
machine runs gets through every case and implementation, and that the implementations it times
compute the same spikes as its plain torch loop (an independent reference: neurosim's fused
kernel and spikingjelly's own implementation against a Python loop of the equations).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "bench_lif_gpu.py"


def _run(*args, timeout=300):
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=ROOT)


def test_tiny_cpu_run_covers_every_case_and_implementation(tmp_path):
    res = _run("--tiny", "--device", "cpu", "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr[-3000:]
    data = json.loads((tmp_path / "bench_lif_gpu.json").read_text())
    md = (tmp_path / "bench_lif_gpu.md").read_text()
    rows = data["rows"]
    cases = {r["case"] for r in rows}
    assert len(cases) == 5 and sum(c.startswith("on ") for c in cases) == 3  # 2 LIF cases + open-neuromorphic
    impls = {r["impl"] for r in rows}
    assert {"neurosim", "spikingjelly", "snntorch", "torch loop", "torch.compile"} <= impls
    assert len(rows) == len(cases) * len(impls)
    for case in cases:
        assert f"## {case}" in md
    for r in rows:
        if r["impl"] in ("neurosim", "torch loop", "torch.compile"):
            assert "error" not in r, r
            assert r["ms"] > 0 and r["spikes_differ"] == 0, r
        elif r["impl"].startswith("spikingjelly") and "error" not in r:
            assert r["spikes_differ"] == 0, r  # spikingjelly's convention = the loop's
    assert "x neurosim time" in md and "tiny sizes" in md


def test_gpu_mode_without_a_gpu_says_so():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    res = _run("--cases", "lif T32 B64 N2048", timeout=120)
    assert res.returncode != 0
    assert "no CUDA device" in res.stderr and "--tiny --device cpu" in res.stderr
