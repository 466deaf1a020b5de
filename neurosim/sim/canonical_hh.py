"""COBAHH: Brette et al. (2007) benchmark 3 as Brian2's ``examples/COBAHH.py`` (SIMULATION.md §2).

``cobahh(n_neurons=4000, rng=0)`` returns a ready ``Network``: 80 % excitatory / 20 %
inhibitory Traub-Miles HH neurons (``neurosim.neurons.hh.HHParams`` defaults: 200 pF, g_L 10 nS,
g_Na 20 uS, g_K 6 uS, E_L -60, E_Na 50, E_K -90, V_T -63 mV), exponential conductances
(E_e 0, E_i -80 mV, tau_e 5, tau_i 10 ms), random connectivity with probability
``p = 0.02`` per ordered pair (autapses allowed) and weights w_e = 6 nS, w_i = 67 nS, delay 0
(a spike acts from the next step, as in Brian2), spike detection at -20 mV with a 3 ms
detection refractory period, exponential Euler at dt = 0.1 ms, no external input.
Initial state (Brian2): ``V = E_L + (5 N(0,1) - 5)`` mV, ``g_e = (4 + 1.5 N(0,1)) 10`` nS,
``g_i = (20 + 12 N(0,1)) 10`` nS (not clipped: a few start negative), ``m = h = n = 0``.

Other sizes keep each neuron's expected in-degree (80 at p = 0.02, 4000 neurons): ``p`` defaults
to ``0.02 * 4000 / n_neurons`` (capped at 1), so a small network sees the same input per
neuron. Brian2 measured 37.3 / 35.2 Hz (seeds 1, 2) at dt = 0.1 ms and ~41 Hz as dt -> 0.
"""
from __future__ import annotations

import numpy as np

from neurosim._rng import as_generator
from neurosim._validation import check_int, check_memory, check_positive, check_probability
from neurosim.neurons.hh import HHParams
from neurosim.sim.catalog import NETWORKS
from neurosim.sim.network import Network

__all__ = ["cobahh"]


def cobahh(n_neurons: int = 4000, *, dt: float = 0.1, rng=None, dtype=np.float32, p: float | None = None,
           method: str = "exponential_euler") -> Network:
    """Brette et al. (2007) benchmark 3 (Brian2 ``examples/COBAHH.py``); see the module docstring.

    Parameters
    ----------
    n_neurons : int
        Number of neurons (80 % excitatory).
    dt : float
        Step in ms (0.1 as published).
    rng : None, int or numpy Generator
        Initial state first, then the connectivity (children of this generator).
    dtype : numpy float dtype
        Precision of the state: float32 (default, as ``cuba``; ~2.5x faster) or float64 (Brian2's).
        The network is chaotic: the two part after some 100 ms, with the same rate (4,000
        neurons, 1 s, seeds 1-3: 35.2 / 36.5 / 39.4 Hz in float32, 35.2 / 37.3 / 38.9 Hz in float64).
    p : float or None
        Connection probability; default ``min(1, 0.02 * 4000 / n_neurons)``.
    method : {"exponential_euler", "rk4"}
        Integration method of the neurons (``HHParams.method``; RK4 needs dt <= 0.02 ms).
    """
    n = check_int("n_neurons", n_neurons, min_value=NETWORKS["cobahh"].min_neurons)
    dt = check_positive("dt", dt, unit="ms")
    p = min(1.0, 0.02 * 4000.0 / n) if p is None else check_probability("p", p)
    check_memory("n_neurons", float(n) * n * p + n, 40,
                 f"the network of {n} neurons with connection probability p={p:g} ({float(n) * n * p:.3g} synapses)")
    gen = as_generator(rng)
    ne = int(round(0.8 * n))
    ni = n - ne
    params = HHParams(method=method)
    e_l = float(params.e_l)
    v0 = e_l + (gen.standard_normal(n) * 5.0 - 5.0)
    ge0 = (gen.standard_normal(n) * 1.5 + 4.0) * 10.0
    gi0 = (gen.standard_normal(n) * 12.0 + 20.0) * 10.0
    net = Network(dt=dt, dtype=dtype, rng=gen.spawn(1)[0])
    groups = []
    for name, sl in (("exc", slice(0, ne)), ("inh", slice(ne, n))):
        groups.append(net.add_hh(sl.stop - sl.start, params, v0=v0[sl], m0=0.0, h0=0.0, n0=0.0, ge0=ge0[sl],
                                 gi0=gi0[sl], name=name))
    exc, inh = groups
    we, wi = 6.0, 67.0
    for pre, w, target in ((exc, we, "ge"), (inh, wi, "gi")):
        for post in (exc, inh):
            net.connect(pre, post, p=p, weight=w, target=target, name=f"{pre.name}->{post.name}")
    net.add_spike_monitor(name="spikes")
    net.meta = {"name": "cobahh", "n_exc": ne, "n_inh": ni, "we_nS": we, "wi_nS": wi, "p": p, "method": method,
                "reference": "Brette et al. (2007) benchmark 3; Brian2 examples/COBAHH.py; 35-37 Hz at dt 0.1 ms"}
    return net
