"""Network simulator: neuron groups, synapses, inputs, monitors, one fused Numba loop per run.

Quick start (the API the CLI and the plots use)::

    import neurosim as ns
    net = ns.sim.cuba(n_neurons=4000, rng=0)      # or izhikevich2003(), brunel(order=...)
    net.run(1000.0, progress=True)
    m = net.monitors["spikes"]                    # SpikeMonitor
    m.times_ms, m.ids                             # float64 ms, int64 global ids
    net.n_neurons, net.n_synapses, net.timing     # build/compile/sim wall times

    # membrane traces: add a StateMonitor before the first run
    net = ns.sim.izhikevich2003(rng=1)
    tr = net.add_state_monitor("exc", ["v", "u"], neurons=[0, 1, 2], every=1, name="trace")
    net.run(200.0, progress=False)
    tr.t_ms, tr.v                                 # [S], [S, 3]

See ``neurosim.sim.network`` for building networks by hand and ``neurosim.sim.canonical`` for
the published parameters.
"""
from neurosim.sim.canonical import NETWORKS, brunel, cuba, izhikevich2003
from neurosim.sim.connect import all_to_all, fixed_in_degree, fixed_probability
from neurosim.sim.monitors import SpikeMonitor, StateMonitor
from neurosim.sim.network import Network, NeuronGroup, SynapseGroup

__all__ = [
    "Network", "NeuronGroup", "SynapseGroup", "SpikeMonitor", "StateMonitor", "izhikevich2003", "cuba",
    "brunel", "NETWORKS", "fixed_probability", "fixed_in_degree", "all_to_all",
]
