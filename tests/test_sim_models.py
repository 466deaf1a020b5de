"""The simulator's model records and kernel registries (neurosim/sim/models.py, kernels/network_kinds.py).

A neuron model is a record (targets, variables, state, packing) plus a registered kernel layout;
these tests check that every record agrees with its layout, that a network's Izhikevich group
runs the one Izhikevich integrator, and that a model defined outside the package runs in the
network loop without any change to it.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import neurosim as ns
from neurosim.kernels.network_kinds import CH_EXC, CH_INH, CH_V, POPULATIONS, PROJECTIONS
from neurosim.neurons import CondLIFParams, IzhikevichParams, IzhikevichState, LIFParams, izhikevich_run
from neurosim.sim.models import COMMON_FIELDS, MODELS
from neurosim.sim.synapses import SYNAPSE_KINDS


def test_izhikevich_coefficients_are_the_2003_scheme():
    c = IzhikevichParams.preset("RS").coefficients(0.5)
    assert c == {"v2": 0.04, "v1": 5.0, "v0": 140.0, "h": 0.25, "dt": 0.5}
    for dt in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="dt"):
            IzhikevichParams().coefficients(dt)


def _groups(model):
    if model == "hh":
        net = ns.sim.Network(dt=0.05, rng=0)
        return net, net.add_hh(3, ns.neurons.HHParams(v_t=np.r_[-63.0, -60.0, -58.0]), v0=np.r_[-70.0, -65.0, -60.0])
    net = ns.sim.Network(dt=0.5, rng=0)
    add = {"lif": lambda: net.add_lif(3, LIFParams(v_th=np.r_[1.0, 1.5, 2.0])),
           "izhikevich": lambda: net.add_izhikevich(3, "FS"),
           "adex": lambda: net.add_adex(3, "tonic"),
           "spikegen": lambda: net.add_spike_generator(3, [1.0, 1.5, 1.5], [2, 0, 2]),
           "lif_cond": lambda: net.add_lif_cond(3, CondLIFParams(v_th=np.r_[-50.0, -49.0, -48.0], t_ref=1.0),
                                                ge0=0.5),
           "poisson": lambda: net.add_poisson_group(3, [10.0, 0.0, 50.0]),
           "spikegen": lambda: net.add_spike_generator(3, [1.0, 1.5, 1.5], [2, 0, 2]),
           "adex": lambda: net.add_adex(3, "tonic")}
    return net, add[model]()


@pytest.mark.parametrize("model", list(MODELS))
def test_model_record_matches_its_kernel_layout(model):
    rec = MODELS[model]
    assert rec.layout in POPULATIONS
    net, g = _groups(model)
    fields = rec.fields([g], net.dt, np.dtype(np.float32))
    assert set(rec.layout._fields) == set(COMMON_FIELDS) | set(fields)
    assert set(rec.targets.values()) <= {CH_EXC, CH_INH, CH_V}
    assert {f for f, _ in rec.state.values()} | set(rec.finite) <= set(fields)
    assert all(np.asarray(fields[f]).dtype == np.float32 for f in rec.finite)
    assert rec.direct_field is None or np.shape(fields[rec.direct_field]) == (2, g.n)
    if not rec.variables:  # a spike source: no state to sample
        net.run(2.0, progress=False)
        return
    # every recordable variable can be sampled, and a sample of step 0 is the initial state
    if rec.variables:  # (a spike generator has none)
        mon = net.add_state_monitor(g, sorted(set(rec.variables)), every=1, name="all")
    net.run(2.0, progress=False)
    if rec.variables:
        assert np.array_equal(mon["v"][0], g.v0)
    for name in rec.state:
        assert getattr(g, name).shape == (g.n,)


def test_state_of_another_model_is_an_attribute_error():
    net, g = _groups("lif")
    with pytest.raises(AttributeError, match="u is not a state variable of lif"):
        g.u  # before the first run too: the model has no such state
    assert not hasattr(g, "u")
    net.run(1.0, progress=False)
    with pytest.raises(KeyError, match="nope"):
        net._flat["nope"]


def test_synapse_kinds_are_registered():
    net, g = _groups("lif")
    net.connect(g, g, p=1.0, weight=0.1)
    for kind, build in SYNAPSE_KINDS.items():
        proj, dmax = build([s for s in net.synapses if s.kind == kind], net._offsets(), net.n_neurons,
                           np.dtype(np.float64), uint16_max_n=65535)
        assert type(proj) in PROJECTIONS and dmax == 0


@pytest.mark.parametrize("order", ["listing", "nest"])
def test_izhikevich_group_runs_the_single_model_integrator(order):
    """A float64 network group with a timed input and no synapses is ``izhikevich_run`` step for step:
    both call the same integrator with the same constants (``IzhikevichParams.coefficients``), and the
    drive enters the current as ``0 + (0 + x) + (0 + 0 * x)``, exactly ``x``: bit equality."""
    rng = np.random.default_rng(3)
    p = IzhikevichParams(a=rng.uniform(0.02, 0.1, 7), b=rng.uniform(0.2, 0.25, 7), c=-65.0, d=rng.uniform(2, 8, 7),
                         order=order)
    xs = rng.normal(8.0, 4.0, (300, 7))
    net = ns.sim.Network(dt=0.5, rng=0)
    g = net.add_izhikevich(7, p, v0=-70.0)
    net.add_timed_input(g, xs, target="i")
    mon = net.add_state_monitor(g, ["v", "u"], every=1)
    spikes = net.add_spike_monitor()
    net.run(300 * 0.5, progress=False)
    st0 = IzhikevichState.initial(p, 7, v0=-70.0)
    ref_spikes, ref = izhikevich_run(xs, st0, p, 0.5)
    assert np.array_equal(g.v, ref.v) and np.array_equal(g.u, ref.u)
    step, idx = np.nonzero(ref_spikes)
    order = np.lexsort((idx, step))
    assert np.array_equal(spikes.times_ms, (step[order] + 1) * 0.5) and np.array_equal(spikes.ids, idx[order])
    assert len(step) > 20
    _, mid = izhikevich_run(xs[:100], st0, p, 0.5)   # the sample at step 100 is the state after 100 steps
    assert np.array_equal(mon.v[100], mid.v) and np.array_equal(mon.u[100], mid.u)


def test_inputs_of_one_group_add_up():
    """The first input of a group overwrites its drive columns, later ones add (``Input.bind``)."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.5, 1.0, (200, 4)), rng.normal(0.3, 1.0, (150, 4))

    def run(inputs):
        net = ns.sim.Network(dt=0.1, rng=0)
        g = net.add_lif(4, LIFParams(tau_mem=5.0, v_th=0.5, t_ref=0.5))
        h = net.add_lif(2)   # no input: its drive columns stay 0
        for values, start in inputs:
            net.add_timed_input(g, values, target="v", start_step=start)
        m = net.add_spike_monitor()
        net.run(30.0, progress=False)
        return m.times_ms, m.ids, g.v, h.v

    both = np.zeros((200, 4))
    both[:] = a
    both[20:170] += b
    sep, one = run([(a, 0), (b, 20)]), run([(both, 0)])
    assert one[0].size > 20
    for x, y in zip(sep, one):
        assert np.array_equal(x, y)


_TOY = textwrap.dedent('''
    """A neuron model defined outside the package: a counter that adds 1 and its channel-0 input
    each step and spikes (then restarts from 0) when it reaches ``period``."""
    import json
    from typing import NamedTuple

    import numba
    import numpy as np

    from neurosim.kernels.network import NetworkBuffers, NetworkOutputs, network_integrate
    from neurosim.kernels.network_kinds import GROUP_HI, GROUP_LO, NJIT_LOOP, register_population
    from neurosim.kernels.synapse import StaticSynapses
    from neurosim.sim.synapses import static_projection

    class Counters(NamedTuple):
        start: int
        c: np.ndarray
        period: np.ndarray
        groups: np.ndarray
        rec: np.ndarray

    @numba.njit(**NJIT_LOOP)
    def step(p, buf, x, has_drive, direct, s, one, spk, cnt):
        for g in range(p.groups.shape[0]):
            for i in range(p.groups[g, GROUP_LO], p.groups[g, GROUP_HI]):
                k = i - p.start
                p.c[k] += 1.0 + buf[0, i]
                buf[0, i] = 0.0
                if p.c[k] >= p.period[k]:
                    p.c[k] = 0.0
                    spk[cnt] = i
                    cnt += 1
        return cnt

    @numba.njit(**NJIT_LOOP)
    def record(p, row, s):
        pass

    @numba.njit(**NJIT_LOOP)
    def end_call(p, steps_done):
        pass

    register_population(Counters, step=step, record=record, end_call=end_call)

    class Group:  # what static_projection reads of a synapse group
        def __init__(self, pre, post, weight, delay):
            self.pre, self.post, self.weight, self.delay_steps = pre, post, weight, delay
            self.channel, self.n_synapses = 0, pre.size
            self.pre_group = self.post_group = self
            self.name = "toy"

    N = 3
    pop = Counters(0, np.zeros(N), np.array([4.0, 50.0, 50.0]), np.array([[0, N, 0, 0, 0]]),
                   np.zeros((3, 0), dtype=np.int64))
    syn = Group(np.array([0, 0], dtype=np.int32), np.array([1, 2], dtype=np.int32), np.array([10.0, 5.0]), 2)
    proj, dmax = static_projection([syn], {"toy": 0}, N, np.dtype(np.float64), uint16_max_n=65535)
    bufs = NetworkBuffers(N, np.zeros((dmax + 1, 3, N)), 0, np.zeros((2, 0)), np.zeros(N, np.int32),
                          np.zeros(1, np.int64), np.ones(N, np.uint8), 1, 1.0)
    out = NetworkOutputs(np.zeros(4096, np.int64), np.zeros(4096, np.int32), np.zeros((10, 0)))
    done, n_out, _ = network_integrate(0, 60, (pop,), (proj,), bufs, np.zeros((1, N)), False, out)
    print(json.dumps({"done": done, "steps": out.spike_step[:n_out].tolist(), "ids": out.spike_id[:n_out].tolist()}))
''')


def _toy_reference(T=60, period=(4.0, 50.0, 50.0), syn=((0, 1, 10.0), (0, 2, 5.0)), delay=2):
    """The counters one step at a time: a spike of step m reaches its targets before step m + 1 + delay."""
    c, inbox, out = np.zeros(3), {}, []
    for m in range(T):
        for i in range(3):
            c[i] += 1.0 + inbox.get((m, i), 0.0)
        for i in range(3):
            if c[i] >= period[i]:
                c[i] = 0.0
                out.append((m, i))
                for pre, post, w in syn:
                    if pre == i:
                        inbox[(m + 1 + delay, post)] = inbox.get((m + 1 + delay, post), 0.0) + w
    return out


def test_a_model_defined_outside_the_package_runs_in_the_unchanged_loop(tmp_path):
    """Registering a population kind is all it takes: ``network_integrate`` dispatches to it and the
    static synapses deliver its spikes. Run in a subprocess without the on-disk cache, so the
    package's cache never holds a kernel typed with this test's layout."""
    import json

    script = tmp_path / "toy.py"
    script.write_text(_TOY)
    env = dict(os.environ, NEUROSIM_NUMBA_CACHE="0")
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    got = json.loads(res.stdout.strip().splitlines()[-1])
    ref = _toy_reference()
    assert got["done"] == 60
    assert sorted(zip(got["steps"], got["ids"])) == ref
    assert {i for _, i in ref} == {0, 1, 2}   # the synapses made 1 and 2 fire long before their period
