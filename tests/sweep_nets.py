"""Module-level network builders for the sweep tests (worker processes import them by name)."""
from __future__ import annotations

import numpy as np

import neurosim as ns


def small_lif(w=0.2, rate_hz=800.0, tau_mem=10.0, seed=0, dtype="float64"):
    """Two LIF groups with recurrent synapses and Poisson input: a few hundred spikes in 50 ms."""
    net = ns.sim.Network(dt=0.1, dtype=np.dtype(dtype), rng=seed)
    exc = net.add_lif(40, ns.neurons.LIFParams(tau_mem=tau_mem, v_th=1.0, t_ref=2.0), name="exc")
    inh = net.add_lif(10, ns.neurons.LIFParams(tau_mem=tau_mem, v_th=1.0, t_ref=1.0), name="inh")
    net.connect(exc, inh, p=0.3, weight=w, delay_ms=0.5, target="v")
    net.connect(inh, exc, p=0.3, weight=-w, delay_ms=0.5, target="v")
    net.add_poisson_input(exc, rate_hz, 0.15)
    net.add_poisson_input(inh, rate_hz / 2, 0.15)
    return net


def spike_count(net) -> dict:
    """A custom measure: the spike count per group (from a rate monitor) and a vector."""
    mon = net.monitors["_sweep_rates"] if "_sweep_rates" in net.monitors else None
    counts = np.array([g.n for g in net.groups.values()], dtype=float)
    return {"n_groups": len(net.groups), "sizes": counts, "t_ms": net.t_ms, "has_mon": mon is not None}


def slow(seconds=60.0):
    """Says which worker process builds it, then sleeps (a long point, for the Ctrl-C test)."""
    import os
    import sys
    import time

    # one write(2) of the whole line: two workers' print() calls (text, then newline) interleaved
    os.write(sys.stderr.fileno(), f"@@WORKER {os.getpid()}\n".encode())
    time.sleep(seconds)
    return small_lif()


def compiled_signatures(net) -> dict:
    """The number of compiled variants of the network kernel in this (worker) process, and the pid."""
    import os

    from neurosim.kernels.network import network_integrate

    return {"n_sig": len(network_integrate.signatures), "pid": os.getpid()}
