"""``neurosim.sim.sweep``: a grid run in worker processes equals each point run serially here;
grids, tables and bad input; Ctrl-C stops a sweep within seconds and leaves no worker behind."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import neurosim as ns
import sweep_nets

TESTS = Path(__file__).resolve().parent
LATENCY_BOUND_S = 10.0  # generous for a loaded 2-core machine (typically well under 1 s)


def _serial_rates(point, duration_ms):
    """The reference: build, run with a SpikeMonitor, rate = spikes / (n duration) per group."""
    net = sweep_nets.small_lif(**point)
    mon = net.add_spike_monitor(name="spikes")
    net.run(duration_ms, progress=False)
    return {f"rate_{g.name}": np.sum((mon.ids >= g.start) & (mon.ids < g.stop)) / (g.n * duration_ms / 1000.0)
            for g in net.groups.values()}


def test_sweep_in_workers_equals_serial_runs():
    grid = {"w": [0.1, 0.3], "rate_hz": [600.0, 900.0], "dtype": ["float32"]}
    table = ns.sim.sweep(sweep_nets.small_lif, grid, duration_ms=40.0, processes=2)
    assert list(table) == ["w", "rate_hz", "dtype", "rate_exc", "rate_inh"]
    np.testing.assert_array_equal(table["w"], [0.1, 0.1, 0.3, 0.3])
    np.testing.assert_array_equal(table["rate_hz"], [600.0, 900.0, 600.0, 900.0])
    assert table["dtype"].dtype == object and list(table["dtype"]) == ["float32"] * 4
    for k in range(4):
        point = {"w": table["w"][k], "rate_hz": table["rate_hz"][k], "dtype": "float32"}
        ref = _serial_rates(point, 40.0)
        for name, value in ref.items():
            np.testing.assert_allclose(table[name][k], value, rtol=1e-12)
    assert len(set(table["rate_exc"])) > 1          # the points differ
    here = ns.sim.sweep(sweep_nets.small_lif, grid, duration_ms=40.0, processes=1)
    for name in table:
        np.testing.assert_array_equal(here[name], table[name])


def test_one_compile_per_worker_process():
    """Six points of one network type in two workers: each worker holds one compiled kernel variant
    after all its points (compiled or loaded once, then reused)."""
    if os.environ.get("NUMBA_DISABLE_JIT") == "1":
        pytest.skip("no compiled kernels under NUMBA_DISABLE_JIT")
    t = ns.sim.sweep(sweep_nets.small_lif, {"w": [0.1, 0.2, 0.3], "seed": [0, 1]}, duration_ms=5.0, processes=2,
                     measure=sweep_nets.compiled_signatures)
    assert set(t["n_sig"]) == {1}
    assert len(set(t["pid"])) <= 2 and os.getpid() not in set(t["pid"])


def test_sweep_list_of_points_and_custom_measure():
    points = [{"seed": 1, "w": 0.2}, {"seed": 2, "w": 0.2}, {"seed": 1, "w": 0.2}]
    t = ns.sim.sweep(sweep_nets.small_lif, points, duration_ms=5.0, processes=1, measure=sweep_nets.spike_count)
    assert t["sizes"].shape == (3, 2) and np.all(t["sizes"] == [40, 10])
    np.testing.assert_array_equal(t["t_ms"], [5.0, 5.0, 5.0])
    assert not t["has_mon"].any()                     # a custom measure: no monitor added
    np.testing.assert_array_equal(t["seed"], [1, 2, 1])
    r = ns.sim.sweep(sweep_nets.small_lif, points, duration_ms=30.0, processes=1)
    rates = [(r["rate_exc"][k], r["rate_inh"][k]) for k in range(3)]
    assert rates[0] == rates[2] != rates[1]   # the seed decides, not the order


def test_sweep_bad_input():
    with pytest.raises(ValueError, match=r"unknown parameter name\(s\) 'wieght', 'tau': build accepts w, rate_hz"):
        ns.sim.sweep(sweep_nets.small_lif, {"wieght": [1.0], "tau": [2.0]}, duration_ms=1.0)
    with pytest.raises(TypeError, match="build must be picklable"):
        ns.sim.sweep(lambda w=1.0: sweep_nets.small_lif(w=w), {"w": [0.1, 0.2]}, duration_ms=1.0, processes=2)
    with pytest.raises(ValueError, match="empty"):
        ns.sim.sweep(sweep_nets.small_lif, {"w": []}, duration_ms=1.0)
    with pytest.raises(ValueError, match="same names"):
        ns.sim.sweep(sweep_nets.small_lif, [{"w": 0.1}, {"seed": 1}], duration_ms=1.0)
    with pytest.raises(TypeError, match="grid must be"):
        ns.sim.sweep(sweep_nets.small_lif, "w", duration_ms=1.0)
    with pytest.raises(TypeError, match=r"grid\['w'\] must be a list"):
        ns.sim.sweep(sweep_nets.small_lif, {"w": 0.1}, duration_ms=1.0)
    with pytest.raises(ValueError, match="duration_ms must be > 0"):
        ns.sim.sweep(sweep_nets.small_lif, {"w": [0.1]}, duration_ms=0.0)
    with pytest.raises(ValueError, match="processes must be >= 1"):
        ns.sim.sweep(sweep_nets.small_lif, {"w": [0.1]}, duration_ms=1.0, processes=0)
    with pytest.raises(TypeError, match="build must return a neurosim.sim.Network"):
        ns.sim.sweep(dict, {"w": [0.1]}, duration_ms=1.0, processes=1)
    with pytest.raises(ValueError, match=r"dtype must be") as err:   # an error in a point names the point
        ns.sim.sweep(sweep_nets.small_lif, {"dtype": ["float16"]}, duration_ms=1.0, processes=1)
    if sys.version_info >= (3, 11):
        assert "in sweep point {'dtype': 'float16'}" in err.value.__notes__


_CTRL_C = f"""
import signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)  # even if the test runner ignores SIGINT
sys.path.insert(0, {str(TESTS)!r})
import neurosim as ns, sweep_nets
ns.sim.sweep(sweep_nets.slow, {{"seconds": [120.0] * 4}}, duration_ms=1.0, processes=2)
"""


def test_ctrl_c_stops_a_sweep_and_its_workers():
    proc = subprocess.Popen([sys.executable, "-c", _CTRL_C], stderr=subprocess.PIPE, text=True)
    workers = []
    try:
        deadline = time.time() + 240
        while len(workers) < 2 and time.time() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            workers += [int(pid) for pid in re.findall(r"@@WORKER (\d+)", line)]
        assert len(workers) == 2, "the workers did not start"
        t0 = time.time()
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=60)[1]
        latency = time.time() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    print(f"sweep Ctrl-C latency {latency:.2f} s")
    assert latency < LATENCY_BOUND_S
    assert proc.returncode != 0 and "KeyboardInterrupt" in rest
    for pid in workers:   # terminated and reaped: no process left
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
