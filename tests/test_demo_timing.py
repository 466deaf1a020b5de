"""Simulation timings in ``neurosim simulate`` and the demo report: compilation apart from the loop.

No wall-time assertions: the tests check *what* each timer covers -- the kernel's first call,
then a separate warm-up run holding the first use of the input-drawing kernels, then the
timed loop -- and that splitting the run leaves the spikes of one run unchanged.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from neurosim.commands.simulate import WARMUP_STEPS, build_network, run, simulate_network


def test_summary_separates_compile_warmup_and_loop(tmp_path):
    s = run("izhikevich2003", neurons=200, duration_ms=50.0, seed=3, out=tmp_path, progress=False)
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["sim_wall_s"] == s["sim_wall_s"]
    assert saved["warmup_steps"] == WARMUP_STEPS == 10 and saved["sim_steps"] == 50 - 10  # dt = 1 ms
    assert saved["compile_wall_s"] >= 0 and saved["warmup_wall_s"] > 0 and saved["sim_wall_s"] > 0
    assert saved["neuron_updates_per_s"] == pytest.approx(200 * 40 / saved["sim_wall_s"])
    # the spikes are those of one uninterrupted run of the same network (same code both sides)
    net = build_network("izhikevich2003", 200, None, 3)
    net.run(50.0, progress=False)
    spikes = np.load(tmp_path / "spikes.npz")
    np.testing.assert_array_equal(spikes["times_ms"], net.monitors["spikes"].times_ms)
    np.testing.assert_array_equal(spikes["ids"], net.monitors["spikes"].ids)


@pytest.mark.parametrize("network, n", [("izhikevich2003", 100), ("brunel", 100)])  # noise / Poisson input
def test_first_use_of_the_input_kernels_is_in_the_warmup_run(network, n, monkeypatch):
    import neurosim.sim._flat as flat
    from neurosim.sim.network import Network

    runs, first_draw = [], []
    real_run, real_draw = Network.run, flat._draw_drive

    def counting_run(self, duration_ms, **kw):
        runs.append(int(round(duration_ms / self.dt)))
        return real_run(self, duration_ms, **kw)

    def recording_draw(*args, **kw):
        if not first_draw:
            first_draw.append(len(runs))
        return real_draw(*args, **kw)

    monkeypatch.setattr(Network, "run", counting_run)
    monkeypatch.setattr(flat, "_draw_drive", recording_draw)
    net = build_network(network, n, None, 0)
    res = simulate_network(net, 20.0, warmup_steps=WARMUP_STEPS)
    steps = int(round(20.0 / net.dt))
    assert runs == [WARMUP_STEPS, steps - WARMUP_STEPS]  # the warm-up, then the timed loop
    assert first_draw == [1]  # the random input was first drawn (its kernels compiled) in the warm-up
    assert res["warmup_steps"] == WARMUP_STEPS and res["sim_steps"] == steps - WARMUP_STEPS


def test_one_step_runs_have_no_warmup():
    res = simulate_network(build_network("izhikevich2003", 50, None, 0), 1.0, warmup_steps=WARMUP_STEPS)
    assert res["warmup_steps"] == 0 and res["sim_steps"] == 1 and res["warmup_wall_s"] == 0.0


def test_demo_stage_reports_compile_and_loop_apart(tmp_path):
    from neurosim.commands.simulate import demo_stage

    res = demo_stage(tmp_path, fast=True, seed=0)
    m = res.metrics
    for net in ("izhikevich2003", "cuba"):
        for key in ("compile_wall_s", "warmup_wall_s", "sim_wall_s", "sim_steps"):
            assert f"{net}_{key}" in m, key
    assert m["izhikevich2003_sim_steps"] == 300 - 10 and m["cuba_sim_steps"] == 3000 - 10
    assert "kernel compilation or cache loading" in res.text and "first 10 steps" in res.text
