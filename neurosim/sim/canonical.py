"""Canonical networks with their published parameters.

Each builder returns a ready ``Network`` with a ``SpikeMonitor`` named ``"spikes"`` over all
neurons (``net.monitors["spikes"]``), groups ``"exc"`` and ``"inh"`` (excitatory ids first) and
``net.meta`` describing the published set-up. Usage::

    net = ns.sim.cuba(n_neurons=4000, rng=0)
    net.run(1000.0, progress=True)
    m = net.monitors["spikes"]; m.times_ms, m.ids, net.n_neurons, net.n_synapses, net.timing

``izhikevich2003``  Izhikevich (2003) ``spnet``: 80 % RS..CH excitatory, 20 % FS..LTS inhibitory
                    Izhikevich neurons, all-to-all (incl. self) weights 0.5 U(0,1) / -U(0,1),
                    thalamic noise 5 N(0,1) (exc) / 2 N(0,1) (inh) per 1-ms step; ~7.5 Hz;
                    float32 state by default (``dtype=np.float64`` for the listing's arithmetic).
                    Weights scale with 1000 / n_neurons so the regime survives resizing.
``cuba``            Vogels & Abbott (2005) / Brette et al. (2007) benchmark 2, as Brian2's
                    ``examples/CUBA.py``: 80/20 LIF, taum 20 ms, taue 5 ms, taui 10 ms,
                    Vt -50, Vr -60, El -49 mV, refractory 5 ms, p = 0.02, we 1.62 mV, wi -9 mV,
                    v0 ~ U(Vr, Vt), dt 0.1 ms; ~5.5 Hz at 4000 neurons. Weights are multiplied by
                    4000 / n_neurons (40,000 neurons: 32M synapses, weights x0.1, ~2.3 Hz).
``brunel``          Brunel (2000) sparse balanced network as NEST ``brunel_delta_nest.py``:
                    NE = 4 order, NI = order, fixed in-degree CE = 0.1 NE, CI = 0.1 NI,
                    delta synapses J = 0.1 mV (x 1000 / CE below order 2500), -g J, delay 1.5 ms, tau_m 20 ms, theta 20 mV,
                    V_reset 0, t_ref 2 ms, external Poisson at eta * nu_th per synapse (rate
                    1000 eta nu_th CE Hz, weight J); g = 5, eta = 2 gives the AI state.
``coba``            Brette et al. (2007) benchmark 1 (Vogels & Abbott 2005), Brian's ``COBA.py``
                    (SIMULATION.md set-up A): conductance LIF (``CondLIFParams`` defaults: tau_m
                    20 ms, E_L -60, V_th -50, V_reset -60, E_e 0, E_i -80 mV, tau_e 5, tau_i 10 ms,
                    t_ref 5 ms, Euler), p = 0.02, w_e 0.6, w_i 6.7 (units of g_L), delay = next
                    step, no input; unclipped Gaussian start V = E_L + 5 N - 5 mV, g_e = 4 + 1.5 N,
                    g_i = 20 + 12 N; self-sustained ~18-20 Hz at 4000 neurons (Brian2: 18.2, 19.8,
                    19.0 Hz for seeds 1-3). Weights are multiplied by 4000 / n_neurons.
"""
from __future__ import annotations

import numpy as np

from neurosim._rng import as_generator
from neurosim._validation import check_int, check_memory, check_number, check_positive, check_probability
from neurosim.neurons.lif_cond import CondLIFParams
from neurosim.neurons.params import IzhikevichParams, LIFParams
from neurosim.sim.catalog import NETWORKS
from neurosim.sim.connect import all_to_all
from neurosim.sim.network import Network

__all__ = ["izhikevich2003", "cuba", "brunel", "coba", "NETWORKS"]


def izhikevich2003(n_neurons: int = 1000, *, dt: float = 1.0, rng=None, dtype=np.float32) -> Network:
    """The 1000-neuron network of Izhikevich (2003) (``spnet``), 1-ms steps by default.

    State and weights are float32 by default (the update is evaluated in float64 and rounded
    once per step): half the memory traffic of the all-to-all scatter. The network is chaotic,
    so float32 and float64 spike trains part after a few hundred ms, with the same statistics
    (rate, ISI CV, population rhythm; ``tests/test_sim_network.py``). ``dtype=np.float64``
    reproduces the published listing spike for spike given the same noise.
    """
    n = check_int("n_neurons", n_neurons, min_value=NETWORKS["izhikevich2003"].min_neurons)
    gen = as_generator(rng)
    ne = int(round(0.8 * n))
    ni = n - ne
    if ni < 1:
        raise ValueError(f"n_neurons={n} leaves no inhibitory neuron; use n_neurons >= 5")
    check_memory("n_neurons", float(n) * n, 48, f"the all-to-all network of {n} neurons ({float(n) * n:.3g} synapses)")
    re = gen.random(ne)
    ri = gen.random(ni)
    scale = 1000.0 / n
    w_exc = 0.5 * gen.random((ne, n)) * scale   # [pre, post]
    w_inh = -gen.random((ni, n)) * scale
    net = Network(dt=dt, dtype=dtype, rng=gen.spawn(1)[0])
    exc = net.add_izhikevich(ne, IzhikevichParams(a=0.02, b=0.2, c=-65.0 + 15.0 * re ** 2, d=8.0 - 6.0 * re ** 2),
                             v0=-65.0, name="exc")
    inh = net.add_izhikevich(ni, IzhikevichParams(a=0.02 + 0.08 * ri, b=0.25 - 0.05 * ri, c=-65.0, d=2.0),
                             v0=-65.0, name="inh")
    for pre, w in ((exc, w_exc), (inh, w_inh)):
        for post, cols in ((exc, slice(0, ne)), (inh, slice(ne, n))):
            sub = w[:, cols]
            net.connect(pre, post, pairs=all_to_all(sub.shape[0], sub.shape[1]), weight=sub.ravel(), target="i",
                        name=f"{pre.name}->{post.name}")
    # thalamic input 5 N(0,1) / 2 N(0,1) mV per 1-ms step (a current density: scale with 1/sqrt(dt))
    net.add_noise(exc, 5.0 / np.sqrt(dt), target="i")
    net.add_noise(inh, 2.0 / np.sqrt(dt), target="i")
    net.add_spike_monitor(name="spikes")
    net.meta = {"name": "izhikevich2003", "n_exc": ne, "n_inh": ni, "weight_scale": scale,
                "reference": "Izhikevich (2003) IEEE TNN 14:1569, spnet listing; ~7.5 Hz"}
    return net


def cuba(n_neurons: int = 4000, *, dt: float = 0.1, rng=None, dtype=np.float32, p: float = 0.02) -> Network:
    """Vogels-Abbott CUBA benchmark (Brian2 ``examples/CUBA.py``), weights scaled by 4000/n_neurons."""
    n = check_int("n_neurons", n_neurons, min_value=NETWORKS["cuba"].min_neurons)
    p = check_probability("p", p)
    check_memory("n_neurons", float(n) * n * p + n, 40,
                 f"the network of {n} neurons with connection probability p={p:g} ({float(n) * n * p:.3g} synapses)")
    gen = as_generator(rng)
    ne = int(round(0.8 * n))
    ni = n - ne
    scale = 4000.0 / n
    we = 60.0 * 0.27 / 10.0 * scale     # 1.62 mV at 4000 neurons
    wi = -20.0 * 4.5 / 10.0 * scale     # -9 mV
    vt, vr, el = -50.0, -60.0, -49.0
    params = LIFParams(tau_mem=20.0, tau_syn=5.0, tau_syn_inh=10.0, v_rest=el, v_th=vt, v_reset=vr, t_ref=5.0,
                       r=1.0, reset="zero")
    net = Network(dt=dt, dtype=dtype, rng=gen.spawn(1)[0])
    v0 = vr + gen.random(n) * (vt - vr)
    exc = net.add_lif(ne, params, v0=v0[:ne], name="exc")
    inh = net.add_lif(ni, params, v0=v0[ne:], name="inh")
    for pre, w, target in ((exc, we, "ge"), (inh, wi, "gi")):
        for post in (exc, inh):
            net.connect(pre, post, p=p, weight=w, target=target, name=f"{pre.name}->{post.name}")
    net.add_spike_monitor(name="spikes")
    net.meta = {"name": "cuba", "n_exc": ne, "n_inh": ni, "we_mV": we, "wi_mV": wi, "p": p, "weight_scale": scale,
                "reference": "Brette et al. (2007) benchmark 2; Brian2 examples/CUBA.py; ~5.5 Hz at 4000"}
    return net


def brunel(order: int | None = None, *, n_neurons: int | None = None, dt: float = 0.1, g: float = 5.0,
           eta: float = 2.0, J: float | None = None, delay_ms: float = 1.5, epsilon: float = 0.1, rng=None,
           dtype=np.float32) -> Network:
    """Brunel (2000) network (NEST ``brunel_delta_nest.py``); ``order`` 2500 = 12,500 neurons.

    ``n_neurons`` (if given, a multiple of 5) sets ``order = n_neurons / 5``. ``J`` defaults to the published
    0.1 mV times ``1000 / CE``: at order 2500 (CE = 1000) that is 0.1 mV; smaller networks keep
    the total recurrent coupling ``J CE = 100 mV`` (and so the balanced, asynchronous-irregular
    state) instead of becoming mean-driven and regular.
    """
    if order is not None and n_neurons is not None:
        raise ValueError("give order or n_neurons, not both")
    if n_neurons is not None:
        entry = NETWORKS["brunel"]
        order = entry.check_neurons(check_int("n_neurons", n_neurons, min_value=entry.min_neurons)) // 5
    order = 2500 if order is None else check_int("order", order, min_value=1)
    g = check_number("g", g)
    eta = check_positive("eta", eta)
    epsilon = check_probability("epsilon", epsilon, open_low=True)
    gen = as_generator(rng)
    ne, ni = 4 * order, order
    ce, ci = max(1, int(epsilon * ne)), max(1, int(epsilon * ni))
    # 30 B per synapse: the measured peak is 24 B (the network's int32 pre/post 8 B + static_projection's
    # sort keys, targets, weights and order 16 B; benchmarks/bench_scale.py), 26 B with uint16 targets
    check_memory("order" if n_neurons is None else "n_neurons", 5.0 * order * (ce + ci) + 5.0 * order, 30,
                 f"the network of order {order} ({5 * order} neurons, {5.0 * order * (ce + ci):.3g} synapses)")
    J = 0.1 * 1000.0 / ce if J is None else check_positive("J", J, unit="mV")
    tau_m, theta = 20.0, 20.0
    params = LIFParams(tau_mem=tau_m, tau_syn=1.0, v_rest=0.0, v_th=theta, v_reset=0.0, t_ref=2.0, r=1.0)
    net = Network(dt=dt, dtype=dtype, rng=gen.spawn(1)[0])
    exc = net.add_lif(ne, params, v0=0.0, name="exc")
    inh = net.add_lif(ni, params, v0=0.0, name="inh")
    for pre, k, w in ((exc, ce, J), (inh, ci, -g * J)):
        for post in (exc, inh):
            net.connect(pre, post, in_degree=k, weight=w, delay_ms=delay_ms, target="v",
                        name=f"{pre.name}->{post.name}")
    nu_th = theta / (J * ce * tau_m)          # 1/ms
    rate_hz = 1000.0 * eta * nu_th * ce
    for grp in (exc, inh):
        net.add_poisson_input(grp, rate_hz, J, target="v")
    net.add_spike_monitor(name="spikes")
    net.meta = {"name": "brunel", "order": order, "n_exc": ne, "n_inh": ni, "CE": ce, "CI": ci, "g": g,
                "eta": eta, "J": J, "poisson_rate_hz": rate_hz,
                "reference": "Brunel (2000) J Comput Neurosci 8:183; NEST brunel_delta_nest.py"}
    return net


def coba(n_neurons: int = 4000, *, dt: float = 0.1, rng=None, dtype=np.float32, p: float = 0.02,
         integration: str = "euler") -> Network:
    """Vogels-Abbott COBA benchmark (Brette et al. 2007 benchmark 1, Brian's ``COBA.py``), weights scaled
    by 4000/n_neurons.

    The state (float32 by default, ``dtype=np.float64`` as Brian) starts from the published
    unclipped Gaussians (a few initial conductances are negative, as in Brian); no input drives
    the network. ``integration="exponential"`` selects exponential Euler (``CondLIFParams``).
    """
    n = check_int("n_neurons", n_neurons, min_value=NETWORKS["coba"].min_neurons)
    p = check_probability("p", p)
    check_memory("n_neurons", float(n) * n * p + n, 40,
                 f"the network of {n} neurons with connection probability p={p:g} ({float(n) * n * p:.3g} synapses)")
    params = CondLIFParams(integration=integration)  # the published values are the defaults
    gen = as_generator(rng)
    ne = int(round(0.8 * n))
    ni = n - ne
    scale = 4000.0 / n
    we, wi = 0.6 * scale, 6.7 * scale            # 6 nS and 67 nS over g_L = 10 nS
    z = gen.standard_normal((3, n))
    v0 = params.e_leak + 5.0 * z[0] - 5.0
    ge0, gi0 = 4.0 + 1.5 * z[1], 20.0 + 12.0 * z[2]
    net = Network(dt=dt, dtype=dtype, rng=gen.spawn(1)[0])
    exc = net.add_lif_cond(ne, params, v0=v0[:ne], ge0=ge0[:ne], gi0=gi0[:ne], name="exc")
    inh = net.add_lif_cond(ni, params, v0=v0[ne:], ge0=ge0[ne:], gi0=gi0[ne:], name="inh")
    for pre, w, target in ((exc, we, "ge"), (inh, wi, "gi")):
        for post in (exc, inh):
            net.connect(pre, post, p=p, weight=w, target=target, name=f"{pre.name}->{post.name}")
    net.add_spike_monitor(name="spikes")
    net.meta = {"name": "coba", "n_exc": ne, "n_inh": ni, "we_gL": we, "wi_gL": wi, "p": p, "weight_scale": scale,
                "integration": integration,
                "reference": "Brette et al. (2007) benchmark 1; Brian COBA.py; Brian2 18.2/19.8/19.0 Hz (seeds 1-3)"}
    return net
