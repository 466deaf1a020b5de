"""The Song, Miller & Abbott (2000) STDP experiment as Brian2's ``examples/synapses/STDP.py``.

``song_abbott_stdp()`` returns a ready ``Network`` (SIMULATION.md §4): ``n_inputs`` Poisson
sources (group ``"inputs"``, ``rate_hz`` each) project all-to-all onto one conductance LIF neuron
(group ``"post"``) through an STDP synapse group (``net.synapses[0]``, named ``"plastic"``)::

    tau_m dV/dt = g_e (E_e - V) + E_L - V,   dg_e/dt = -g_e / tau_e   (g_e in units of the leak)
    spike when V > V_t, V <- V_r, no refractory period; Euler, dt 0.1 ms
    tau_m 10 ms, E_L -74, V_t -54, V_r -60, E_e 0 mV, tau_e 5 ms; V starts at 0 mV (Brian's
    default: the neuron fires in the first step)
    STDP: all-to-all, additive, tau_plus = tau_minus = 20 ms, w_max = 0.01, A_plus = 0.01,
    A_minus = 1.05 A_plus (fractions of w_max), initial w ~ U(0, w_max)

Monitors: ``"spikes"`` (all neurons) and ``"weights"`` (every weight, every ``weights_every_ms``).
``net.meta["duration_ms"]`` is the published 100 s. Expected after 100 s (Brian2, measured): a
bimodal weight distribution, ~23 % of the weights below 0.1 w_max and ~19 % above 0.9 w_max,
mean w / w_max ~0.47, output rate falling from ~26-36 Hz to ~19 Hz. With ``pairing="nearest"``
the same numbers run away (every weight at w_max, output > 300 Hz).

Usage::

    net = ns.sim.song_abbott_stdp(rng=1)
    net.run(net.meta["duration_ms"])
    w = net.synapses[0].weights / net.meta["w_max"]        # final w / w_max
"""
from __future__ import annotations

import numpy as np

from neurosim._rng import as_generator
from neurosim._validation import check_int, check_positive
from neurosim.neurons.lif_cond import CondLIFParams
from neurosim.sim.network import Network
from neurosim.sim.stdp import STDP

__all__ = ["song_abbott_stdp", "SONG_ABBOTT_NEURON"]

#: the postsynaptic neuron of Brian2's example (e_inh and tau_i are unused: no inhibitory input)
SONG_ABBOTT_NEURON = CondLIFParams(tau_mem=10.0, tau_e=5.0, tau_i=5.0, e_leak=-74.0, e_exc=0.0, e_inh=-80.0,
                                   v_th=-54.0, v_reset=-60.0, t_ref=0.0, integration="euler")


def song_abbott_stdp(n_inputs: int = 1000, *, n_neurons: int | None = None, rate_hz: float = 15.0,
                     w_max: float = 0.01, A_plus: float = 0.01, ltd_ratio: float = 1.05, tau_ms: float = 20.0,
                     pairing: str = "all_to_all", bounds: str = "additive", dt: float = 0.1, rng=None,
                     dtype=np.float64, weights_every_ms: float = 1000.0, v0: float = 0.0) -> Network:
    """Brian2's STDP example (see the module docstring); ``n_neurons`` (the command line's size) is
    ``n_inputs + 1``. ``ltd_ratio`` = A_minus / A_plus (1.05); ``tau_ms`` both trace time constants."""
    if n_neurons is not None:
        n_inputs = check_int("n_neurons", n_neurons, min_value=2) - 1
    n_inputs = check_int("n_inputs", n_inputs, min_value=1)
    check_positive("ltd_ratio", ltd_ratio)
    rule = STDP(w_max=w_max, tau_plus=tau_ms, tau_minus=tau_ms, A_plus=A_plus, A_minus=A_plus * ltd_ratio,
                pairing=pairing, bounds=bounds)
    gen = as_generator(rng)
    net = Network(dt=dt, dtype=dtype, rng=gen.spawn(1)[0])
    inputs = net.add_poisson_group(n_inputs, rate_hz, name="inputs")
    post = net.add_lif_cond(1, SONG_ABBOTT_NEURON, v0=v0, name="post")
    w0 = gen.random(n_inputs) * w_max
    syn = net.connect(inputs, post, pairs=(np.arange(n_inputs), np.zeros(n_inputs, dtype=np.int64)), weight=w0,
                      target="ge", plasticity=rule, name="plastic")
    net.add_spike_monitor(name="spikes")
    net.add_weight_monitor(syn, every_ms=weights_every_ms, name="weights")
    net.meta = {"name": "song_abbott_stdp", "n_inputs": n_inputs, "rate_hz": rate_hz, "w_max": w_max,
                "pairing": pairing, "bounds": bounds, "duration_ms": 100_000.0,
                "reference": "Song, Miller & Abbott (2000) Nat Neurosci 3:919; Brian2 examples/synapses/STDP.py; "
                             "bimodal weights (~23 % < 0.1 w_max, ~19 % > 0.9 w_max after 100 s)"}
    return net
