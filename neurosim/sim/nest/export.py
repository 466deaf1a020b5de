"""``network_spec(net)``: a ``Network`` as plain Python / numpy values in NEST's units.

The spec is what ``neurosim.sim.nest.build`` turns into NEST nodes and connections (in this
process, ``Network.to_nest``, or in a standalone script, ``Network.write_nest_script``)::

    {"format": "neurosim-nest-1", "resolution": ms, "dt": ms, "n_neurons": int,
     "populations": [{"name", "model", "n", "start", "params": {...}, "state": {...}}],
     "projections": [{"name", "pre", "post", "source", "target", "weight", "delay",
                      "synapse_model", "synapse_params", "receptor_type"}],
     "stimuli": [{"name", "model", "target", "n_devices", "device_params", "source", "target_idx",
                  "weight", "delay", "receptor_type", ("spike_times", "spike_ids", "spike_weights")}],
     "spike_recorders": [{"name", "populations", "generated"}],
     "multimeters": [{"name", "population", "neurons", "variables", "record_from", "scale",
                      "interval", "initial"}]}

Parameters are scalars or arrays [n] (one per neuron); ``source`` / ``target`` are population-local
indices of the EXACT synapse list neurosim compiled (not a re-drawn connectivity), ``delay`` in ms
(whole steps of ``resolution``). Initial states are set explicitly (NEST's defaults differ).

One mapper per neuron model (:data:`NEURON_MAPPERS`, ``NeuronGroup.model`` -> function) and per
synapse kind (:data:`SYNAPSE_MAPPERS`): a new mapping is one function and its tests. What has no
NEST equivalent raises a ``ValueError`` naming the group and option; what is converted with a
change of behaviour warns (``UserWarning``) with the change. Conventions (SIMULATION.md section 6):

* LIF with current targets -> ``iaf_psc_exp`` with ``C_m = tau_m`` (pF), i.e. g_L = 1 nS, so a
  current ``i`` of neurosim (``r i`` in the units of ``v``) is ``r i`` pA; ``I_e = r i_ext``.
  NEST routes a spike by the sign of its weight (>= 0 excitatory), neurosim by the target: when
  ``tau_syn != tau_syn_inh`` a negative weight on ``i_syn`` (or a positive one on ``gi``) is refused.
  A spike acts on the current from the step ``delay`` after its stamp in both, so neurosim delay
  ``D`` steps is NEST delay ``D`` steps; ``D = 0`` becomes one step (warning).
* LIF with voltage jumps (``target="v"``) -> ``iaf_psc_delta`` (``refractory_input=False``: jumps
  arriving while refractory are dropped, as in neurosim). neurosim adds a jump at the start of step
  ``m + 1 + D`` and decays it over the step; NEST adds it after the step's decay: NEST delay ``D + 1``
  steps and weight ``w exp(-dt / tau_m)`` give the same update.
* Izhikevich -> ``izhikevich`` with ``consistent_integration=False`` (the 2003 half steps); spike
  weights act as a current over the step in which they arrive: NEST delay ``D + 1`` steps. NEST
  computes ``(0.04 v) v``: groups with ``IzhikevichParams(order="nest")`` give its spikes exactly,
  the default order (``0.04 (v v)``, the listing's) is warned.
* Conductance LIF -> ``iaf_cond_exp`` (conductances in units of g_L = :data:`G_L` nS; inhibitory weights
  negative), AdEx -> ``aeif_cond_exp`` / ``aeif_psc_exp``, HH -> ``hh_cond_exp_traub`` (initial conductances,
  which NEST cannot set, arrive as one spike at 2 dt): NEST integrates them with adaptive RKF45 and fires on
  ``>=`` (warned); refractory steps are mapped exactly. STDP -> ``stdp_synapse`` (all-to-all) or
  ``stdp_nn_symm_synapse`` (nearest), ``Wmax = w_max``, ``lambda = A_plus``, ``alpha = A_minus / A_plus``,
  ``mu = 0`` (additive), ``tau_minus`` on the postsynaptic neurons; STP -> ``tsodyks2_synapse`` /
  ``tsodyks_synapse``. Plastic synapses from spike generators go through parrot neurons.
* Spike generators -> one ``spike_generator`` per neuron (same grid times); Poisson source groups
  -> ``poisson_generator`` -> ``parrot_neuron``; Poisson inputs -> ``poisson_generator``; noise ->
  ``noise_generator`` (``dt`` = resolution, scaled so each step adds the same distribution);
  timed inputs -> ``spike_generator`` per target neuron with ``spike_weights``.
"""
from __future__ import annotations

import warnings

import numpy as np

from neurosim.kernels.network_kinds import CH_EXC, CH_INH, CH_V
from neurosim.sim.inputs import NoiseInput, PoissonInput, TimedInput
from neurosim.sim.monitors import SpikeMonitor, StateMonitor

__all__ = ["network_spec", "NEURON_MAPPERS", "SYNAPSE_MAPPERS", "FORMAT"]

FORMAT = "neurosim-nest-1"
#: NEST's time grid: times and the resolution are whole multiples of 1 / tics_per_ms (default 1000)
_TIC_MS = 1e-3


def _arr(value, n) -> np.ndarray:
    return np.array(np.broadcast_to(np.asarray(value, dtype=np.float64), (n,)))


def _warn(msg):
    warnings.warn(msg, UserWarning, stacklevel=4)


def _channels_used(net, g) -> set:
    used = {s.channel for s in net.synapses if s.post_group is g}
    return used | {i.channel for i in net.inputs if i.group is g and i.kind != "poisson_group"}


# ------------------------------------------------------------------------------ neuron mappers
# A mapper returns a dict: model, params, state, channels {channel: (receptor, weight scale [n], sign)}
# (sign: +1 / -1 the weight sign NEST requires on that channel, 0 any), noise {channel: (receptor,
# scale [n])}, delay_offset (NEST delay steps = neurosim delay steps + offset), variables {neurosim
# name: (NEST name, scale [n])} (neurosim value = NEST value * scale) and initial {name: [n]}.
def _map_lif(g, net, used):
    p, n, dt = g.params, g.n, net.dt
    if p.reset != "zero":
        raise ValueError(f"group {g.name!r}: LIFParams(reset={p.reset!r}) has no NEST equivalent (iaf_* models set "
                         "V to V_reset after a spike); use reset='zero'")
    tau, r = _arr(p.tau_mem, n), _arr(p.r, n)
    params = dict(tau_m=tau, C_m=tau.copy(), E_L=_arr(p.v_rest, n), V_th=_arr(p.v_th, n),
                  V_reset=_arr(p.v_reset, n), t_ref=_arr(p.n_ref(dt), n) * dt, I_e=r * _arr(g.i_ext, n))
    state = {"V_m": _arr(g.v0, n)}
    one = np.ones(n)
    if CH_V in used:
        if used & {CH_EXC, CH_INH}:
            raise ValueError(f"group {g.name!r} receives both currents (targets i_syn/gi) and voltage jumps (target "
                             "'v'): NEST has iaf_psc_exp for currents and iaf_psc_delta for jumps, not one model with "
                             "both; split the group or use one kind of target")
        a_m = np.exp(-dt / tau)
        return dict(model="iaf_psc_delta", params=dict(params, refractory_input=False), state=state,
                    channels={CH_V: (0, a_m, 0)}, noise={CH_V: (0, a_m / (1.0 - a_m))}, delay_offset=1,
                    variables={"v": ("V_m", one)}, initial={"v": state["V_m"]})
    tau_e, tau_i = _arr(p.tau_syn, n), _arr(p.tau_inh, n)
    differ = not np.array_equal(tau_e, tau_i)
    a_e = np.exp(-dt / tau_e)
    zero = np.zeros(n)
    return dict(model="iaf_psc_exp", params=dict(params, tau_syn_ex=tau_e, tau_syn_in=tau_i), state=state,
                channels={CH_EXC: (0, r, 1 if differ else 0), CH_INH: (0, r, -1 if differ else 0)},
                noise={CH_EXC: (1, r / (1.0 - a_e))} if differ else {CH_EXC: (1, r / (1.0 - a_e)),
                                                                    CH_INH: (1, r / (1.0 - a_e))},
                delay_offset=0,
                variables={"v": ("V_m", one), "i_syn": ("I_syn_ex", 1.0 / r), "ge": ("I_syn_ex", 1.0 / r),
                           "gi": ("I_syn_in", 1.0 / r), "i_inh": ("I_syn_in", 1.0 / r)},
                initial={"v": state["V_m"], "i_syn": zero, "ge": zero, "gi": zero, "i_inh": zero})


def _map_izhikevich(g, net, used):
    p, n, dt = g.params, g.n, net.dt
    if CH_V in used:
        _warn(f"group {g.name!r}: Izhikevich target 'v' (a jump of v) is exported as a current weight/dt over one step "
              "(NEST izhikevich with consistent_integration=False has no jump): the jump is spread over the step's "
              "two half steps")
    if p.order != "nest":
        _warn(f"group {g.name!r}: NEST's izhikevich evaluates (0.04 v) v, this group 0.04 (v v) (IzhikevichParams"
              "(order='listing')): the last-bit difference grows at dt = 1 ms and moves spikes after ~60-100 ms "
              "(rates agree); order='nest' gives NEST's spikes exactly")
    one = np.ones(n)
    params = dict(a=_arr(p.a, n), b=_arr(p.b, n), c=_arr(p.c, n), d=_arr(p.d, n), V_th=_arr(p.v_peak, n),
                  I_e=_arr(g.i_ext, n), consistent_integration=False)
    state = {"V_m": _arr(g.v0, n), "U_m": _arr(g.u0, n)}
    return dict(model="izhikevich", params=params, state=state,
                channels={CH_EXC: (0, one, 0), CH_INH: (0, one, 0), CH_V: (0, one / dt, 0)},
                noise={CH_EXC: (0, one), CH_INH: (0, one), CH_V: (0, one / dt)}, delay_offset=1,
                variables={"v": ("V_m", one), "u": ("U_m", one)}, initial={"v": state["V_m"], "u": state["U_m"]})


#: leak conductance (nS) of exported conductance LIF neurons: neurosim's conductances are in units of g_L
G_L = 10.0


def _map_lif_cond(g, net, used):
    p, n, dt = g.params, g.n, net.dt
    if CH_V in used:
        raise ValueError(f"group {g.name!r}: target 'v' (a voltage jump) of a conductance LIF group has no NEST "
                         "equivalent (iaf_cond_exp takes conductance inputs only); use targets 'ge' / 'gi'")
    _warn(f"group {g.name!r}: iaf_cond_exp fires on V >= V_th (neurosim's conductance LIF on v > v_th) and "
          f"integrates with adaptive RKF45 (neurosim: {p.integration!r} at dt={dt:g} ms): the spike trains differ, "
          "rates agree where the fixed step is accurate")
    tau, r = _arr(p.tau_mem, n), _arr(p.r, n)
    held = np.maximum(_arr(p.n_ref(dt), n) - 1, 0)  # steps v is held after a spike (NEST: RefractoryCounts)
    params = dict(g_L=G_L, C_m=tau * G_L, E_L=_arr(p.e_leak, n), V_th=_arr(p.v_th, n), V_reset=_arr(p.v_reset, n),
                  t_ref=held * dt, E_ex=_arr(p.e_exc, n), E_in=_arr(p.e_inh, n), tau_syn_ex=_arr(p.tau_e, n),
                  tau_syn_in=_arr(p.tau_i, n), I_e=G_L * r * _arr(g.i_ext, n))
    state = {"V_m": _arr(g.v0, n), "g_ex": _arr(g.g0[0], n) * G_L, "g_in": _arr(g.g0[1], n) * G_L}
    gl = np.full(n, G_L)
    return dict(model="iaf_cond_exp", params=params, state=state,
                channels={CH_EXC: (0, gl, 1), CH_INH: (0, -gl, -1)}, noise={}, delay_offset=0,
                variables={"v": ("V_m", np.ones(n)), "ge": ("g_ex", 1.0 / gl), "gi": ("g_in", 1.0 / gl)},
                initial={"v": state["V_m"], "ge": _arr(g.g0[0], n), "gi": _arr(g.g0[1], n)})


def _map_adex(g, net, used):
    p, n, dt = g.params, g.n, net.dt
    cond = p.synapse == "conductance"
    model = f"aeif_{'cond' if cond else 'psc'}_exp"
    if CH_V in used:
        raise ValueError(f"group {g.name!r}: target 'v' (a voltage jump) of an AdEx group has no NEST equivalent "
                         f"({model} takes synaptic input only); use targets 'ge' / 'gi'")
    _warn(f"group {g.name!r}: {model} fires on V >= V_peak (neurosim's AdEx on V > v_peak) and integrates with "
          f"adaptive RKF45 (neurosim: Euler at dt={dt:g} ms): the spike trains differ, rates agree where the fixed "
          "step is accurate")
    f = {k: _arr(getattr(p, k), n) for k in ("c_m", "g_l", "e_l", "v_t", "delta_t", "a", "b", "tau_w", "v_r", "v_peak")}
    tau_e, tau_i = _arr(p.tau_syn, n), _arr(p.tau_inh, n)
    params = dict(C_m=f["c_m"], g_L=f["g_l"], E_L=f["e_l"], V_th=f["v_t"], Delta_T=f["delta_t"], a=f["a"], b=f["b"],
                  tau_w=f["tau_w"], V_reset=f["v_r"], V_peak=f["v_peak"], t_ref=_arr(p.n_ref(dt), n) * dt,
                  tau_syn_ex=tau_e, tau_syn_in=tau_i, I_e=_arr(g.i_ext, n))
    state = {"V_m": _arr(g.v0, n), "w": _arr(g.w0, n)}
    one, zero = np.ones(n), np.zeros(n)
    initial = {"v": state["V_m"], "w": state["w"], "ge": zero, "i_syn": zero, "gi": zero, "i_inh": zero}
    if cond:
        return dict(model="aeif_cond_exp", params=dict(params, E_ex=_arr(p.e_exc, n), E_in=_arr(p.e_inh, n)),
                    state=state, channels={CH_EXC: (0, one, 1), CH_INH: (0, -one, -1)}, noise={}, delay_offset=0,
                    variables={"v": ("V_m", one), "w": ("w", one), "ge": ("g_ex", one), "i_syn": ("g_ex", one),
                               "gi": ("g_in", one), "i_inh": ("g_in", one)}, initial=initial)
    differ = not np.array_equal(tau_e, tau_i)
    return dict(model="aeif_psc_exp", params=params, state=state,
                channels={CH_EXC: (0, one, 1 if differ else 0), CH_INH: (0, one, -1 if differ else 0)}, noise={},
                delay_offset=0, variables={"v": ("V_m", one), "w": ("w", one), "ge": ("I_syn_ex", one),
                                           "i_syn": ("I_syn_ex", one), "gi": ("I_syn_in", one),
                                           "i_inh": ("I_syn_in", one)}, initial=initial)


def _kick(g, net, g0, tau, sign, receptor=0):
    """A stimulus that sets initial conductances NEST cannot set: one spike_generator spike at t = dt, delay dt, so
    the conductance equals ``g0`` decayed from t = 0 from 2 dt on (``g0 exp(-2 dt / tau)`` added then)."""
    dt = net.dt
    return dict(name=f"{g.name}:initial_g{'e' if sign > 0 else 'i'}", model="spike_generator", target=g.name,
                n_devices=1, device_params={}, source=np.zeros(g.n, np.int64), target_idx=np.arange(g.n),
                weight=sign * g0 * np.exp(-2 * dt / tau), delay=dt, receptor_type=receptor,
                spike_times=np.array([dt]), spike_ids=np.zeros(1, np.int64), spike_weights=np.ones(1))


def _map_hh(g, net, used):
    p, n, dt = g.params, g.n, net.dt
    _warn(f"group {g.name!r}: hh_cond_exp_traub detects a spike at the peak of V (V >= V_T + 30 mV, then t_ref "
          f"without detection), neurosim at the crossing of v_th = {p.v_th} mV, and integrates with adaptive RKF45 "
          f"(neurosim: {p.method!r} at dt={dt:g} ms): spike times differ by a fraction of the upstroke, rates agree "
          "where the fixed step is accurate")
    f = {k: _arr(getattr(p, k), n) for k in ("g_na", "g_k", "g_l", "c_m", "e_na", "e_k", "e_l", "v_t", "e_exc",
                                             "e_inh", "tau_exc", "tau_inh", "t_ref")}
    params = dict(g_Na=f["g_na"], g_K=f["g_k"], g_L=f["g_l"], C_m=f["c_m"], E_Na=f["e_na"], E_K=f["e_k"],
                  E_L=f["e_l"], V_T=f["v_t"], E_ex=f["e_exc"], E_in=f["e_inh"], tau_syn_ex=f["tau_exc"],
                  tau_syn_in=f["tau_inh"], t_ref=f["t_ref"], I_e=_arr(g.i_ext, n))
    init = g.init
    state = {"V_m": init["v"], "Act_m": init["m"], "Inact_h": init["h"], "Act_n": init["n"]}
    kicks = []
    for key, tau, sign in (("ge", f["tau_exc"], 1.0), ("gi", f["tau_inh"], -1.0)):
        g0 = _arr(init[key], n)
        if np.any(g0 < 0):
            _warn(f"group {g.name!r}: negative initial conductances {key}0 (min {g0.min():g} nS) have no NEST "
                  "equivalent (a negative weight is inhibitory): clipped to 0")
            g0 = np.maximum(g0, 0.0)
        if np.any(g0 > 0):
            _warn(f"group {g.name!r}: NEST cannot set hh_cond_exp_traub's conductances; {key}0 arrives as one "
                  f"spike at {2 * dt:g} ms (the conductance is 0 before, {key}0 decayed from t = 0 after)")
            kicks.append(_kick(g, net, g0, tau, sign))
    one = np.ones(n)
    return dict(model="hh_cond_exp_traub", params=params, state=state,
                channels={CH_EXC: (0, one, 1), CH_INH: (0, -one, -1)}, noise={CH_V: (0, one)}, delay_offset=0,
                variables={"v": ("V_m", one), "m": ("Act_m", one), "h": ("Inact_h", one), "n": ("Act_n", one),
                           "n_gate": ("Act_n", one), "ge": ("g_ex", one), "gi": ("g_in", one)},
                initial={"v": init["v"], "m": init["m"], "h": init["h"], "n": init["n"], "n_gate": init["n"],
                         "ge": init["ge"], "gi": init["gi"]}, stimuli=kicks)


def _map_spikegen(g, net, used):
    steps = g.params.steps(net.dt)
    return dict(model="spike_generator", params={"spike_times": (steps + 1) * net.dt,
                                                 "spike_ids": g.params.ids.astype(np.int64)},
                state={}, channels={}, noise={}, delay_offset=0, variables={}, initial={})


def _map_poisson_group(g, net, used):
    rate = _arr(g.params.rate_hz, g.n)
    p_max = float(rate.max()) * net.dt / 1000.0
    if p_max > 0.01:
        _warn(f"group {g.name!r}: NEST poisson_generator -> parrot_neuron sends Poisson spike counts per step (a "
              f"parrot repeats k spikes as one of multiplicity k); neurosim's Poisson group at most one spike per "
              f"step (rate dt up to {p_max:.3g} here): same mean rate, a few multiple spikes")
    return dict(model="parrot_poisson", params={"rate": rate}, state={}, channels={}, noise={}, delay_offset=0,
                variables={}, initial={})


#: ``NeuronGroup.model`` -> mapper ``(group, net, channels used) -> dict`` (see above)
NEURON_MAPPERS = {"lif": _map_lif, "izhikevich": _map_izhikevich, "lif_cond": _map_lif_cond, "adex": _map_adex,
                  "hh": _map_hh, "spikegen": _map_spikegen, "poisson": _map_poisson_group}


# ----------------------------------------------------------------------------- synapse mappers
def _check_sign(what, gname, target, w, sign):
    bad = (w < 0) if sign > 0 else (w > 0) if sign < 0 else np.zeros(np.shape(w), dtype=bool)
    if np.any(bad):
        raise ValueError(f"{what}: {'negative' if sign > 0 else 'positive'} weights on target {target!r} of group "
                         f"{gname!r}; NEST iaf_psc_exp routes a spike by its weight's sign (excitatory tau_syn_ex "
                         "for w >= 0, inhibitory tau_syn_in for w < 0) and this group's tau_syn != tau_syn_inh: use "
                         "target 'gi' for negative weights and 'i_syn' for positive ones")


def _nest_delay_steps(what, steps, offset):
    d = np.asarray(steps, dtype=np.int64) + offset
    if np.any(d < 1):
        _warn(f"{what}: delay 0 has no NEST equivalent (NEST's minimum delay is one step); exported as one "
              "resolution step: these spikes act one step later than in neurosim")
        d = np.maximum(d, 1)
    return d


def _map_static(sg, net, maps):
    post = maps[sg.post_group.name]
    what = f"synapse group {sg.name!r}"
    if sg.channel not in post["channels"]:
        raise ValueError(f"{what}: target {sg.target!r} of a {sg.post_group.model} group has no NEST mapping")
    receptor, scale, sign = post["channels"][sg.channel]
    n = sg.n_synapses
    w = np.broadcast_to(np.asarray(sg.weight, dtype=np.float64), (n,)) * scale[sg.post]
    _check_sign(what, sg.post_group.name, sg.target, w, sign)
    d = _nest_delay_steps(what, np.broadcast_to(sg.delay_steps, (n,)), post["delay_offset"])
    return dict(name=sg.name, pre=sg.pre_group.name, post=sg.post_group.name, source=sg.pre.astype(np.int64),
                target=sg.post.astype(np.int64), weight=w, delay=d * net.dt, synapse_model="static_synapse",
                synapse_params={}, receptor_type=int(receptor), weight_scale=np.array(scale[sg.post]))


def _uniform_scale(sg, maps, what):
    receptor, scale, sign = maps[sg.post_group.name]["channels"][sg.channel]
    s = scale[sg.post]
    if s.size and not np.all(s == s[0]):
        raise ValueError(f"{what}: the target's weight unit differs between neurons (per-neuron r or tau_m); NEST "
                         "plastic synapses need one w_max per group: give the target group uniform parameters")
    return float(s[0]) if s.size else 1.0


def _relay(sg, net, maps, what):
    """NEST devices cannot feed plastic synapses: a spike-generator group is relayed through parrot neurons."""
    pre = maps[sg.pre_group.name]
    if pre["model"] == "spike_generator":
        t = pre["params"]["spike_times"]
        if t.size and t.min() < 2 * net.dt - 1e-9:
            raise ValueError(f"{what}: spike generator {sg.pre_group.name!r} feeds a plastic synapse; NEST relays it "
                             f"through parrot neurons (one step), so its spikes must be at t >= {2 * net.dt:g} ms "
                             f"(got {t.min():g} ms)")
        pre["params"]["parrot"] = True


def _map_stdp(sg, net, maps):
    what = f"synapse group {sg.name!r}"
    proj = _map_static(sg, net, maps)
    rule = sg.plasticity
    scale = _uniform_scale(sg, maps, what)
    mult = rule.bounds == "multiplicative"
    proj["weight"] = np.broadcast_to(np.asarray(sg.weight, dtype=np.float64), (sg.n_synapses,)) * scale
    proj["synapse_model"] = "stdp_synapse" if rule.pairing == "all_to_all" else "stdp_nn_symm_synapse"
    proj["synapse_params"] = {"Wmax": rule.w_max * scale, "lambda": rule.A_plus,
                              "alpha": rule.A_minus / rule.A_plus if rule.A_plus > 0 else 0.0,
                              "mu_plus": rule.mu_plus if mult else 0.0, "mu_minus": rule.mu_minus if mult else 0.0,
                              "tau_plus": rule.tau_plus}
    if rule.A_plus == 0 and rule.A_minus > 0:
        raise ValueError(f"{what}: A_plus = 0 with A_minus > 0 has no NEST equivalent (alpha = A_minus / A_plus)")
    params = maps[sg.post_group.name]["params"]
    if params.get("tau_minus", rule.tau_minus) != rule.tau_minus:
        raise ValueError(f"{what}: NEST keeps tau_minus on the postsynaptic neuron; group {sg.post_group.name!r} "
                         f"already has tau_minus={params['tau_minus']:g} ms from another STDP group, this one "
                         f"{rule.tau_minus:g} ms: use one tau_minus per target group")
    params["tau_minus"] = rule.tau_minus
    _relay(sg, net, maps, what)
    _warn(f"{what}: NEST's {proj['synapse_model']} applies a presynaptic spike's depression before sending it "
          "(neurosim sends the weight before the update) and counts the delay as dendritic: final weights agree "
          "in distribution, not synapse by synapse")
    return proj


def _map_stp(sg, net, maps):
    what = f"synapse group {sg.name!r}"
    proj = _map_static(sg, net, maps)
    _relay(sg, net, maps, what)
    m = sg.stp
    if m.form == "tsodyks2":
        proj["synapse_model"] = "tsodyks2_synapse"
        proj["synapse_params"] = {"U": m.U, "u": m.U, "x": 1.0, "tau_rec": m.tau_rec, "tau_fac": m.tau_fac}
    else:
        post = maps[sg.post_group.name]["params"]
        tau_syn = post.get("tau_syn_ex")
        if tau_syn is None or not np.allclose(tau_syn, m.tau_psc):
            _warn(f"{what}: tsodyks_synapse's tau_psc={m.tau_psc:g} ms differs from the target's synaptic time "
                  "constant; NEST assumes they are equal (the resource recovery differs)")
        proj["synapse_model"] = "tsodyks_synapse"
        proj["synapse_params"] = {"U": m.U, "u": 0.0, "x": 1.0, "y": 0.0, "tau_rec": m.tau_rec,
                                  "tau_fac": m.tau_fac, "tau_psc": m.tau_psc}
    return proj


#: ``SynapseGroup.kind`` -> mapper ``(synapse group, net, neuron maps) -> projection dict``
SYNAPSE_MAPPERS = {"static": _map_static, "stdp": _map_stdp, "stp": _map_stp}


# ------------------------------------------------------------------------------------ inputs
def _stimulus(inp, net, gmap, k):
    g, dt = inp.group, net.dt
    what = f"input {k} ({inp.kind}) of group {g.name!r}"
    table = gmap["noise"] if inp.kind == "noise" else gmap["channels"]
    if inp.channel not in table:
        raise ValueError(f"{what}: target {inp.target!r} of a {g.model} group has no NEST mapping")
    base = dict(name=f"{g.name}:{inp.kind}{k}", target=g.name, delay=dt)
    idx = np.arange(g.n)
    if isinstance(inp, PoissonInput):
        receptor, scale, sign = table[inp.channel]
        w = inp.weight * scale
        _check_sign(what, g.name, inp.target, w, sign)
        rate = _arr(inp.rate_hz, g.n)
        one = bool(np.all(rate == rate[0]))
        return dict(base, model="poisson_generator", n_devices=1 if one else g.n,
                    device_params={"rate": rate[:1] if one else rate}, source=np.zeros(g.n, np.int64) if one else idx,
                    target_idx=idx, weight=w, receptor_type=int(receptor))
    if isinstance(inp, NoiseInput):
        receptor, scale = table[inp.channel]
        mean, std = _arr(inp.mean, g.n) * scale, _arr(inp.std, g.n) * scale
        one = bool(np.all(mean == mean[0]) and np.all(std == std[0]))
        sl = slice(0, 1) if one else slice(None)
        return dict(base, model="noise_generator", n_devices=1 if one else g.n,
                    device_params={"mean": mean[sl], "std": std[sl], "dt": np.full(mean[sl].size, dt)},
                    source=np.zeros(g.n, np.int64) if one else idx, target_idx=idx, weight=np.ones(g.n),
                    receptor_type=int(receptor))
    if isinstance(inp, TimedInput):
        return _timed(inp, gmap, base, what, table, dt)
    raise ValueError(f"{what}: inputs of kind {inp.kind!r} have no NEST mapping")


def _timed(inp, gmap, base, what, table, dt):
    receptor, scale, sign = table[inp.channel]
    t, j = np.nonzero(inp.values)
    vals = inp.values[t, j] * scale[j]
    _check_sign(what, inp.group.name, inp.target, vals, sign)
    # a value of step m acts like a spike arriving at step m + offset: a generator spike one step before (delay 1)
    gen = inp.start_step + t + gmap["delay_offset"] - 1
    if gen.size and gen.min() < 1:
        early = (2 - gmap["delay_offset"]) * dt
        _warn(f"{what}: values before t = {early:g} ms cannot reach a NEST neuron in time (a spike_generator "
              "spikes at t >= one step, and a connection delays it by at least one more step): they are "
              f"added at t = {early:g} ms instead")
        gen = np.maximum(gen, 1)
    # one generator per target neuron; values of one neuron and step summed (a generator spikes once per time)
    key = j * (int(gen.max(initial=0)) + 1) + gen
    uniq, inv = np.unique(key, return_inverse=True)
    summed = np.bincount(inv, weights=vals, minlength=uniq.size)
    step_u = uniq % (int(gen.max(initial=0)) + 1)
    j_u = uniq // (int(gen.max(initial=0)) + 1)
    targets = np.unique(j_u)
    dev = np.searchsorted(targets, j_u)
    return dict(base, model="spike_generator", n_devices=int(targets.size), device_params={},
                source=np.arange(targets.size, dtype=np.int64), target_idx=targets.astype(np.int64),
                weight=np.ones(targets.size), receptor_type=int(receptor),
                spike_times=step_u * dt, spike_ids=dev.astype(np.int64), spike_weights=summed)


# ---------------------------------------------------------------------------------- monitors
def _monitors(net, maps):
    spikes, meters = [], []
    for mon in net.monitors.values():
        if isinstance(mon, SpikeMonitor):
            pops = [g.name for g in mon.groups if maps[g.name]["model"] != "spike_generator"]
            gen = [g.name for g in mon.groups if maps[g.name]["model"] == "spike_generator"]
            spikes.append(dict(name=mon.name, populations=pops, generated=gen))
        elif isinstance(mon, StateMonitor):
            gmap = maps[mon.group.name]
            missing = [v for v in mon.variables if v not in gmap["variables"]]
            if missing:
                raise ValueError(f"state monitor {mon.name!r}: variable {missing[0]!r} of group {mon.group.name!r} "
                                 f"has no NEST recordable ({gmap['model']} records "
                                 f"{', '.join(sorted(gmap['variables'])) or 'nothing'})")
            idx = mon.neurons
            meters.append(dict(
                name=mon.name, population=mon.group.name, neurons=idx.astype(np.int64), variables=list(mon.variables),
                record_from=[gmap["variables"][v][0] for v in mon.variables],
                scale=np.stack([gmap["variables"][v][1][idx] for v in mon.variables]),
                interval=mon.every * net.dt,
                initial=np.stack([gmap["initial"][v][idx] for v in mon.variables])))
        else:
            _warn(f"monitor {mon.name!r} ({type(mon).__name__}) is not recorded by the NEST export; record spikes "
                  "with a SpikeMonitor and compute from them")
    return spikes, meters


def _check_resolution(net, resolution):
    res = net.dt if resolution is None else float(resolution)
    if not np.isfinite(res) or res <= 0:
        raise ValueError(f"resolution must be a positive time step in ms, got {resolution!r}")
    if abs(res / _TIC_MS - round(res / _TIC_MS)) > 1e-6:
        raise ValueError(f"resolution={res:g} ms is not a whole number of NEST tics (0.001 ms); use e.g. "
                         f"{max(_TIC_MS, round(res / _TIC_MS) * _TIC_MS):g}")
    if res != net.dt:
        ratio = net.dt / res
        if abs(ratio - round(ratio)) > 1e-9:
            raise ValueError(f"resolution={res:g} ms does not divide the network's dt={net.dt:g} ms: the exported "
                             "delays and refractory periods (whole steps of dt) would not be whole NEST steps; use "
                             f"resolution=dt / k (e.g. {net.dt:g})")
        _warn(f"resolution={res:g} ms differs from the network's dt={net.dt:g} ms: NEST integrates with its own "
              "step, so spike trains differ (delays keep their length in ms)")
    return res


def network_spec(net, *, resolution=None) -> dict:
    """The spec of ``net`` (see the module docstring); ``resolution`` (ms) defaults to ``net.dt``."""
    res = _check_resolution(net, resolution)
    if net.n_neurons == 0:
        raise ValueError("the network has no neurons; add a group first")
    if net.step:
        raise ValueError(f"the network has already run {net.t_ms:g} ms; export it before its first run (the spec "
                         "holds the initial state)")
    offsets = net._offsets()
    maps, pops = {}, []
    for g in sorted(net.groups.values(), key=lambda g: offsets[g.name]):
        if g.model not in NEURON_MAPPERS:
            raise ValueError(f"group {g.name!r}: the {g.model!r} model has no NEST mapping yet (mapped: "
                             f"{', '.join(NEURON_MAPPERS)})")
        m = NEURON_MAPPERS[g.model](g, net, _channels_used(net, g))
        maps[g.name] = m
        pops.append(dict(name=g.name, model=m["model"], n=g.n, start=offsets[g.name], params=m["params"],
                         state=m["state"]))
    projections = []
    for sg in net.synapses:
        if sg.kind not in SYNAPSE_MAPPERS:
            raise ValueError(f"synapse group {sg.name!r}: synapses of kind {sg.kind!r} have no NEST mapping yet "
                             f"(mapped: {', '.join(SYNAPSE_MAPPERS)})")
        projections.append(SYNAPSE_MAPPERS[sg.kind](sg, net, maps))
    stimuli = [s for m in maps.values() for s in m.get("stimuli", ())]
    stimuli += [_stimulus(inp, net, maps[inp.group.name], k) for k, inp in enumerate(net.inputs)
                if inp.kind != "poisson_group"]
    spikes, meters = _monitors(net, maps)
    return dict(format=FORMAT, resolution=res, dt=net.dt, n_neurons=net.n_neurons, populations=pops,
                projections=projections, stimuli=stimuli, spike_recorders=spikes, multimeters=meters)
