"""`neurosim simulate`, `neurosim bench` and the simulation demo stage (CLI level)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from neurosim.cli import main


@pytest.mark.parametrize("args, field", [
    (["--duration-ms", "0"], "duration_ms"),
    (["--duration-ms", "-5"], "duration_ms"),
    (["--dt-ms", "0"], "dt_ms"),
    (["--dt-ms", "-0.1"], "dt_ms"),
    (["--neurons", "0"], "neurons"),
    (["--seed", "-1"], "seed"),
    (["--duration-ms", "nan"], "duration_ms"),
])
def test_simulate_bad_input_exit_2(args, field, tmp_path, capsys):
    code = main(["simulate", "cuba", "--out", str(tmp_path / "o"), "--no-progress", *args])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error:") and field in err
    assert "Traceback" not in err


def test_simulate_run_validation_names_field(tmp_path):
    from neurosim.commands.simulate import run

    with pytest.raises(ValueError, match="network"):
        run("hodgkin", out=tmp_path)
    with pytest.raises(TypeError, match="neurons"):
        run("cuba", neurons=2.5, out=tmp_path)
    with pytest.raises(ValueError, match="multiple of 5"):
        run("brunel", neurons=12, duration_ms=1.0, out=tmp_path)


def test_network_choices_are_the_library_table_and_load_no_simulator():
    """The ``simulate`` argument's choices are ``neurosim.sim.NETWORKS``; building the CLI imports neither numba
    nor the simulator."""
    from neurosim.cli import cli_parameters
    from neurosim.sim import NETWORKS

    from neurosim.commands.simulate import run

    (network,) = [meta for p, meta, _ in cli_parameters(run) if p.name == "network"]
    assert list(network.choices) == list(NETWORKS)
    code = ("import sys, neurosim.cli; bad = [m for m in ('numba', 'neurosim.sim.network') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_unknown_network_exit_2(tmp_path, capsys):
    code = main(["simulate", "hodgkin", "--out", str(tmp_path / "o")])
    assert code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_console_script_error_no_traceback(tmp_path):
    exe = shutil.which("neurosim")
    cmd = [exe] if exe else [sys.executable, "-m", "neurosim.cli"]
    proc = subprocess.run([*cmd, "simulate", "cuba", "--duration-ms", "-1", "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error:") and "duration_ms" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bench_other_targets_point_to_scripts(tmp_path, capsys):
    assert main(["bench", "lif", "--out", str(tmp_path)]) == 2
    assert "bench_lif_layer.py" in capsys.readouterr().err
    assert main(["bench", "rsa", "--out", str(tmp_path)]) == 2
    assert "bench_rsa.py" in capsys.readouterr().err
    assert main(["bench", "gpu", "--out", str(tmp_path)]) == 2
    assert "sim" in capsys.readouterr().err


def test_copy_bandwidth_positive():
    from neurosim.commands.bench import copy_bandwidth

    assert copy_bandwidth(1 << 22, repeats=2) > 1e8  # > 0.1 GB/s on any machine


def test_simulate_writes_summary_spikes_raster(tmp_path):
    out = tmp_path / "cuba"
    assert main(["simulate", "cuba", "--neurons", "1000", "--duration-ms", "100", "--seed", "3",
                 "--out", str(out), "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    for key in ("n_neurons", "n_synapses", "n_spikes", "rate_hz", "sim_wall_s", "build_wall_s", "compile_wall_s",
                "network", "duration_ms", "dt_ms", "seed"):
        assert key in summary, key
    assert summary["network"] == "cuba" and summary["n_neurons"] == 1000 and summary["dt_ms"] == 0.1
    spikes = np.load(out / "spikes.npz")
    t, i = spikes["times_ms"], spikes["ids"]
    assert t.shape == i.shape and t.size == summary["n_spikes"] > 0
    assert summary["rate_hz"] == pytest.approx(t.size / 1000 / 0.1)
    assert 0 <= i.min() and i.max() < 1000 and 0 <= t.min() and t.max() <= 100.0
    # ~2% connectivity of 1000 neurons: 1000 * 1000 * 0.02 = 20,000 synapses expected (binomial, sd ~141)
    assert abs(summary["n_synapses"] - 20_000) < 1_000
    png = (out / "raster.png").read_bytes()
    assert png[:4] == b"\x89PNG" and len(png) > 5_000
    # rates per group: the spike counts of each group's id range (excitatory ids first, 80 %)
    counts = np.bincount(i, minlength=1000)
    assert summary["rates_hz"] == pytest.approx({"exc": counts[:800].sum() / 800 / 0.1,
                                                 "inh": counts[800:].sum() / 200 / 0.1})
    assert not (out / "weights.npz").exists()


def test_simulate_stdp_writes_weights(tmp_path):
    """The STDP network: weights.npz holds the plastic group's final weights (within [0, w_max], moved away
    from the initial ones), the monitor's snapshots end at those weights, and the summary's fractions are
    those of the final weights; the default duration is the published 100 s (not run here)."""
    from neurosim.sim.catalog import NETWORKS

    out = tmp_path / "stdp"
    assert main(["simulate", "stdp", "--neurons", "101", "--duration-ms", "2000", "--seed", "1",
                 "--out", str(out), "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    z = np.load(out / "weights.npz")
    w, w0, w_max = z["w_final"], z["w_initial"], float(z["w_max"])
    assert w.shape == w0.shape == (100,) and w_max == 0.01
    assert w.min() >= 0.0 and w.max() <= w_max and not np.array_equal(w, w0)
    assert z["weights_t_ms"][0] == 0.0 and z["weights_w"].shape == (z["weights_t_ms"].size, 100)
    np.testing.assert_array_equal(z["weights_w"][0], w0)
    numbers = summary["weights"]["plastic"]
    assert numbers["frac_below_0.1"] == pytest.approx(np.mean(w / w_max < 0.1))
    assert numbers["frac_above_0.9"] == pytest.approx(np.mean(w / w_max > 0.9))
    assert numbers["mean_w_over_wmax"] == pytest.approx(np.mean(w / w_max))
    assert set(summary["rates_hz"]) == {"inputs", "post"} and 10.0 < summary["rates_hz"]["inputs"] < 20.0
    assert (out / "weights.png").read_bytes()[:4] == b"\x89PNG"
    assert NETWORKS["stdp"](rng=0).meta["duration_ms"] == 100_000.0


def test_simulate_same_seed_same_spikes(tmp_path):
    from neurosim.commands.simulate import run

    a = run("izhikevich2003", neurons=200, duration_ms=100.0, seed=5, out=tmp_path / "a", progress=False)
    b = run("izhikevich2003", neurons=200, duration_ms=100.0, seed=5, out=tmp_path / "b", progress=False)
    c = run("izhikevich2003", neurons=200, duration_ms=100.0, seed=6, out=tmp_path / "c", progress=False)
    sa, sb, sc = (np.load(tmp_path / k / "spikes.npz") for k in "abc")
    assert a["n_spikes"] == b["n_spikes"]
    np.testing.assert_array_equal(sa["times_ms"], sb["times_ms"])
    np.testing.assert_array_equal(sa["ids"], sb["ids"])
    assert not (sc["ids"].shape == sa["ids"].shape and np.array_equal(sc["ids"], sa["ids"]))


def test_simulate_coarse_dt_warns_with_stable_dt(tmp_path, capsys):
    out = tmp_path / "w"
    assert main(["simulate", "izhikevich2003", "--neurons", "100", "--duration-ms", "20", "--dt-ms", "2",
                 "--out", str(out), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "warning:" in err and "dt <= 1" in err
    summary = json.loads((out / "summary.json").read_text())
    assert any("dt <= 1" in w for w in summary["warnings"])


def test_demo_stage_fast(tmp_path):
    from neurosim.commands import StageResult
    from neurosim.commands.simulate import demo_stage

    res = demo_stage(tmp_path, data_dir=None, fast=True, seed=0)
    assert isinstance(res, StageResult) and res.name == "simulation"
    assert len(res.figures) == 2
    for fig in res.figures:
        assert (tmp_path / fig).exists() or __import__("pathlib").Path(fig).exists()
    assert res.metrics["izhikevich2003_n_neurons"] == 1000
    # rates recomputed from the reported counts
    m = res.metrics
    assert m["cuba_rate_hz"] == pytest.approx(m["cuba_n_spikes"] / m["cuba_n_neurons"] / 0.3, rel=1e-3)
    assert "Izhikevich" in res.text


def test_bench_sim_summary(tmp_path):
    from neurosim.commands.bench import run

    s = run("sim", tmp_path, repeats=1, duration_ms=50.0, sizes={"izhikevich2003": 200, "cuba": 500},
            bandwidth_mb=16)
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["networks"].keys() == {"izhikevich2003", "cuba"}
    assert saved["networks"]["cuba"]["n_neurons"] == 500
    for name, steps in (("izhikevich2003", 50), ("cuba", 500)):
        r = s["networks"][name]
        # neuron updates per second follow from N, the step count and the loop time
        assert r["neuron_updates_per_s"] == pytest.approx(r["n_neurons"] * steps / r["sim_wall_s_best"])
        assert r["rate_hz"] > 0
        assert r["fraction_of_bound"] == pytest.approx(r["neuron_updates_per_s"] * 28 / (s["copy_bandwidth_gb_s"] * 1e9))
    with pytest.raises(ValueError, match="repeats"):
        run("sim", tmp_path, repeats=0)
