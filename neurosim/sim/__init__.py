"""Network simulator: neuron groups, synapses, inputs, monitors, one fused Numba loop per run.

Quick start (the API the CLI and the plots use)::

    import neurosim as ns
    net = ns.sim.cuba(n_neurons=4000, rng=0)      # or izhikevich2003(), brunel(order=...), coba()
    net.run(1000.0, progress=True)
    m = net.monitors["spikes"]                    # SpikeMonitor
    m.times_ms, m.ids                             # float64 ms, int64 global ids
    net.n_neurons, net.n_synapses, net.timing     # build/compile/sim wall times

    # membrane traces: add a StateMonitor before the first run
    net = ns.sim.izhikevich2003(rng=1)
    tr = net.add_state_monitor("exc", ["v", "u"], neurons=[0, 1, 2], every=1, name="trace")
    net.run(200.0, progress=False)
    tr.t_ms, tr.v                                 # [S], [S, 3]

    # inputs, monitors, snapshots and sweeps (neurosim.sim.sources, rates, store, update, sweep)
    gen = net.add_spike_generator(10, times_ms=[5.0, 7.5], ids=[0, 3])
    rates = net.add_rate_monitor("exc", bin_ms=5.0)        # rates.t_ms, rates.rate_hz
    net.store(); net.run(100.0); net.restore()              # identical spikes after restore
    net.synapses[0].weight = 0.2; net.groups["exc"].i_ext = 1.5   # no rebuild, no recompile
    table = ns.sim.sweep(build, {"w": [0.1, 0.2]}, duration_ms=500.0, processes=2)

See ``neurosim.sim.network`` for building networks by hand, ``neurosim.sim.canonical`` for
the published parameters, ``neurosim.sim.nest`` for running the same network on NEST
(``net.to_nest()``, ``net.write_nest_script(DIR)``), and ``neurosim.sim.catalog`` for the table of canonical networks
(``NETWORKS``). The names below load on first use: ``import neurosim.sim.catalog`` (the
command line's list of networks) does not load the simulator.
"""
from __future__ import annotations

import importlib

#: public name -> submodule that defines it
_EXPORTS = {
    "Network": "network", "NeuronGroup": "network", "SynapseGroup": "network",
    "SpikeMonitor": "monitors", "StateMonitor": "monitors",
    "izhikevich2003": "canonical", "cuba": "canonical", "brunel": "canonical", "coba": "canonical", "cobahh": "canonical_hh",
    "NETWORKS": "catalog", "CanonicalNetwork": "catalog",
    "TsodyksMarkram": "stp",
    "song_abbott_stdp": "canonical_stdp", "STDP": "stdp", "STDPSynapseGroup": "stdp", "WeightMonitor": "stdp",
    "fixed_probability": "connect", "fixed_in_degree": "connect", "all_to_all": "connect",
    "RateMonitor": "rates", "SpikeTimes": "sources", "sweep": "sweep",
    "NestNetwork": "nest.run", "read_nest_spikes": "nest.script",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"neurosim.sim.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'neurosim.sim' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_EXPORTS))
