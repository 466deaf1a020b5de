"""Every validation rule of the simulator, the dt warnings, and a run with NUMBA_DISABLE_JIT=1."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import sparse

import neurosim as ns
from neurosim.neurons import LIFParams
from neurosim.sim import Network


def _net():
    net = Network(dt=0.1, rng=0)
    net.add_lif(4, LIFParams(), name="a")
    net.add_izhikevich(3, "RS", name="b")
    return net


@pytest.mark.parametrize("dt", [0.0, -0.1, float("nan"), float("inf")])
def test_network_dt(dt):
    with pytest.raises(ValueError, match="dt"):
        Network(dt=dt)


def test_network_dtype():
    with pytest.raises(ValueError, match="dtype"):
        Network(dt=0.1, dtype=np.int32)


@pytest.mark.parametrize("duration", [0.0, -5.0, float("nan"), 0.01])
def test_run_duration(duration):
    net = _net()
    with pytest.raises(ValueError, match="duration_ms"):
        net.run(duration, progress=False)


def test_empty_network():
    with pytest.raises(ValueError, match="no neurons"):
        Network(dt=0.1).run(1.0, progress=False)


@pytest.mark.parametrize("kw, match", [
    (dict(), "exactly one"), (dict(p=0.5, in_degree=2), "exactly one"), (dict(p=1.2), "p"),
    (dict(p=0.5, target="u"), "target"), (dict(in_degree=-1), "in_degree"),
    (dict(pairs=([0, 1], [0])), "same length"), (dict(pairs=([0, 9], [0, 1])), "pre_idx"),
    (dict(pairs=([0, 1], [0, -1])), "post_idx"), (dict(pairs=([0.5], [1])), "integer"),
    (dict(pairs=([0, 1], [0, 1]), weight=[1.0, 2.0, 3.0]), "weight"),
    (dict(pairs=([0, 1], [0, 1]), weight=[1.0, np.nan]), "weight"),
    (dict(pairs=([0, 1], [0, 1]), delay_ms=-1.0), "delay_ms"),
    (dict(pairs=([0, 1], [0, 1]), delay_ms=[1.0]), "delay_ms"),
    (dict(matrix=np.ones((3, 4))), "matrix"), (dict(matrix=np.full((4, 4), np.nan)), "matrix"),
    (dict(matrix=np.ones((4, 4)), weight=1.0), "weight"),
])
def test_connect_rules(kw, match):
    net = _net()
    with pytest.raises(ValueError, match=match):
        net.connect("a", "a", **kw)


def test_connect_matrix_and_sparse_agree():
    rng = np.random.default_rng(0)
    W = rng.random((4, 3)) * (rng.random((4, 3)) < 0.5)
    net = _net()
    s1 = net.connect("a", "b", matrix=W, target="i")
    s2 = net.connect("a", "b", matrix=sparse.csr_matrix(W), target="i")
    np.testing.assert_array_equal(s1.pre, s2.pre)
    np.testing.assert_array_equal(s1.weight, s2.weight)
    assert s1.n_synapses == np.count_nonzero(W)
    with pytest.raises(ValueError, match="target"):
        net.connect("a", "b", matrix=W, target="gx")


def test_groups_inputs_monitors_validation():
    net = _net()
    with pytest.raises(ValueError, match="already used"):
        net.add_lif(2, name="a")
    with pytest.raises(ValueError, match="v0"):
        net.add_lif(3, v0=[0.0, 1.0])
    with pytest.raises(ValueError, match="i_ext"):
        net.add_lif(3, i_ext=[np.nan, 0.0, 0.0])
    with pytest.raises(ValueError, match="n"):
        net.add_lif(0)
    with pytest.raises(ValueError, match="params"):
        net.add_lif(3, LIFParams(tau_mem=[1.0, 2.0]))
    with pytest.raises(KeyError, match="RS"):
        net.add_izhikevich(2, "XYZ")
    with pytest.raises(KeyError, match="unknown group"):
        net.connect("zz", "a", p=0.1)
    with pytest.raises(ValueError, match="rate_hz"):
        net.add_poisson_input("a", -1.0, 0.1)
    with pytest.raises(ValueError, match="rate_hz"):
        net.add_poisson_input("a", [1.0, 2.0], 0.1)
    with pytest.raises(ValueError, match="std"):
        net.add_noise("b", -1.0, target="i")
    with pytest.raises(ValueError, match="values"):
        net.add_timed_input("a", np.zeros((5, 3)))
    with pytest.raises(ValueError, match="values"):
        net.add_timed_input("a", np.full((5, 4), np.nan))
    net.add_noise("a", 1.0, target="ge")
    with pytest.raises(ValueError, match="one target"):
        net.add_poisson_input("a", 10.0, 0.1, target="v")
    with pytest.raises(ValueError, match="variables"):
        net.add_state_monitor("b", ["i_syn"])
    with pytest.raises(ValueError, match="neurons"):
        net.add_state_monitor("b", ["v"], neurons=[3])
    with pytest.raises(ValueError, match="every"):
        net.add_state_monitor("b", ["v"], every=0)
    net.add_spike_monitor()
    net.run(1.0, progress=False)
    with pytest.raises(RuntimeError, match="frozen"):
        net.add_lif(2)


def test_dt_warnings_name_a_stable_dt():
    with pytest.warns(UserWarning, match="dt <= 1 ms"):
        Network(dt=2.0).add_izhikevich(2, "RS")
    with pytest.warns(UserWarning, match=r"dt <= 2\.5 ms"):
        Network(dt=4.0).add_lif(2, LIFParams(tau_syn=5.0, t_ref=0.0))


def test_canonical_builders_validate():
    with pytest.raises(ValueError, match="n_neurons"):
        ns.sim.cuba(n_neurons=0)
    with pytest.raises(TypeError, match="n_neurons"):
        ns.sim.izhikevich2003(n_neurons=10.5)
    with pytest.raises(ValueError, match="dt"):
        ns.sim.cuba(n_neurons=100, dt=-0.1)
    with pytest.raises(ValueError, match="order"):
        ns.sim.brunel(order=10, n_neurons=50)
    assert set(ns.sim.NETWORKS) == {"izhikevich2003", "cuba", "brunel", "coba", "cobahh", "stdp"}


def test_brunel_n_neurons_must_be_a_multiple_of_5():
    """``n_neurons`` sets NE = 4 order, NI = order: 12 used to build 10 neurons without a word."""
    with pytest.raises(ValueError, match=r"n_neurons for brunel must be a multiple of 5 .*got 12"):
        ns.sim.brunel(n_neurons=12)
    assert ns.sim.brunel(n_neurons=15, rng=0).n_neurons == 15


def test_network_table_entries_build_their_network():
    for name, entry in ns.sim.NETWORKS.items():
        n = 5 * entry.min_neurons
        builder = entry.builder or name  # the command line's name may differ from the builder's (stdp)
        a, b = entry(n_neurons=n, rng=1), getattr(ns.sim, builder)(n_neurons=n, rng=1)
        assert a.n_neurons == b.n_neurons == n and a.n_synapses == b.n_synapses and a.meta["name"] == builder
        with pytest.raises((ValueError, TypeError), match="n_neurons"):
            entry(n_neurons=entry.min_neurons - 1)


_SCRIPT = r"""
import json, numpy as np, neurosim as ns
from neurosim.neurons import LIFParams, LIFState, lif_run, IzhikevichParams, IzhikevichState, izhikevich_run
p = LIFParams(tau_mem=5.0, t_ref=1.0, reset="subtract")
s, st = lif_run(np.full((60, 3), [0.8, 1.5, 3.0]), LIFState.initial(p, 3), p, 0.5)
q = IzhikevichParams.preset("CH")
z, zs = izhikevich_run(np.full((80, 2), 10.0), IzhikevichState.initial(q, 2), q, 0.5)
net = ns.sim.brunel(order=5, rng=0)
net.run(30.0, progress=False)
m = net.monitors["spikes"]
izn = ns.sim.izhikevich2003(n_neurons=60, rng=1)   # float32 state, Box-Muller noise from raw bits
izn.run(40.0, progress=False)
mi = izn.monitors["spikes"]
print(json.dumps({"lif": s.sum(0).tolist(), "v": st.v.tolist(), "izh": z.sum(0).tolist(), "u": zs.u.tolist(),
                  "t": m.times_ms.tolist(), "i": m.ids.tolist(), "ti": mi.times_ms.tolist(), "ii": mi.ids.tolist()}))
"""


def test_kernels_run_without_jit():
    """The kernels are plain Python under NUMBA_DISABLE_JIT=1 and give the compiled results."""
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    out = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    nojit = json.loads(out.stdout.strip().splitlines()[-1])
    scope: dict = {}
    from contextlib import redirect_stdout
    from io import StringIO

    buf = StringIO()
    with redirect_stdout(buf):
        exec(_SCRIPT, scope)  # the same script, compiled kernels, in this process
    jit = json.loads(buf.getvalue().strip().splitlines()[-1])
    assert nojit == jit
    assert sum(jit["lif"]) > 0 and len(jit["t"]) > 0 and len(jit["ti"]) > 0
