"""``Network``: neuron groups, synapses, inputs and monitors advanced by one fused Numba loop.

Usage
-----
>>> import numpy as np, neurosim as ns
>>> net = ns.sim.Network(dt=0.1, dtype=np.float32, rng=0)
>>> exc = net.add_lif(800, ns.neurons.LIFParams(tau_mem=20.0, v_th=1.0, t_ref=2.0), name="exc")
>>> net.connect(exc, exc, p=0.05, weight=0.02, delay_ms=1.0, target="v")
>>> net.add_poisson_input(exc, rate_hz=2000.0, weight=0.05, target="v")
>>> spikes = net.add_spike_monitor(name="spikes")
>>> trace = net.add_state_monitor(exc, ["v"], neurons=[0, 1], every=10, name="trace")
>>> net.run(500.0, progress=False)
>>> spikes.times_ms, spikes.ids, trace.t_ms, trace.v      # numpy arrays
>>> net.timing    # {'build_wall_s': ..., 'compile_wall_s': ..., 'sim_wall_s': ...}

Neuron numbering: global ids run over the groups of each model in ``neurosim.sim.models.MODELS``
order (LIF, Izhikevich, conductance LIF, AdEx, Hodgkin-Huxley, Poisson sources, spike generators), each model's
groups in creation order (``group.start``, ``group.stop``). Synapse targets (``target=``): LIF ``"i_syn"`` (= ``"ge"``, the current with ``tau_syn``), ``"gi"`` (the current with
``tau_syn_inh``), ``"v"`` (an instantaneous jump of ``v``, dropped while refractory);
Izhikevich ``"i"`` (= ``"i_syn"``/``"ge"``/``"gi"``: current added for one step, as in the 2003
network) and ``"v"``; conductance LIF (``add_lif_cond``) ``"ge"``, ``"gi"`` (conductance
increments in units of g_L, weights >= 0) and ``"v"``; AdEx ``"ge"`` (= ``"i_syn"``) and ``"gi"`` (currents in pA or, with
``AdExParams(synapse="conductance")``, conductances in nS, decaying with ``tau_syn`` /
``tau_syn_inh``) and ``"v"`` (a jump); HH (``add_hh``) ``"ge"``, ``"gi"`` (conductance increments, nS,
reversal potentials ``e_exc``/``e_inh``) and ``"i"`` (a current in pA held for one step). ``connect(..., stp=TsodyksMarkram(...))`` gives the
synapses short-term plasticity (``neurosim.sim.stp``). A spike emitted in step ``m`` reaches its
targets ``delay`` later: it is added before the integration of step ``m + 1 + round(delay_ms / dt)``.

Inputs: ``add_poisson_input`` (an independent Poisson train per target neuron: each step the
count ``k ~ Poisson(rate dt)`` times ``weight`` is added to the target), ``add_noise``
(Gaussian ``mean + std N(0, 1)`` per neuron and step) and ``add_timed_input`` (a given array
[T, n]). Their random numbers are drawn here, per chunk of steps, from a child of the network's
``rng`` spawned when the input is added; kernels draw none. The same seed and the same
construction order give identical spikes. ``add_poisson_group`` adds spike *sources* (ids after
all neuron groups; ``neurosim.sim.poisson_group``) that connect like any group.

Plasticity: ``connect(..., plasticity=STDP(...))`` makes a pair-based STDP group
(``neurosim.sim.stdp``; ``syn.weights`` reads the current weights); ``add_weight_monitor``
records its weights every ``every_ms``.

Also: ``add_spike_generator`` (neurons that spike at given times, ``neurosim.sim.sources``),
``add_rate_monitor`` (binned population rates, ``neurosim.sim.rates``), ``store`` / ``restore``
(snapshots, ``neurosim.sim.store``), and values that can be assigned between runs without a
rebuild or recompile: ``syn.weight``, ``group.i_ext``, ``group.params``, an input's ``rate_hz`` /
``mean`` / ``std`` (``neurosim.sim.update``). Parameter grids: ``neurosim.sim.sweep``.

``run(duration_ms)`` executes ``neurosim.kernels.network.network_integrate`` over chunks of
steps (the progress bar advances per chunk); state lives in flat arrays between runs, so
consecutive runs continue the simulation. The network is frozen after the first run.
``net.timing``: ``build_wall_s`` (connectivity and flattening), ``compile_wall_s`` (first call
of the kernel: JIT or cache load), ``sim_wall_s`` (the simulation loop of the last run,
including drawing its random inputs).
"""
from __future__ import annotations

import time

import numpy as np

from neurosim._rng import as_generator
from neurosim._validation import as_float_array, check_dtype, check_int, check_memory, check_number, check_positive
from neurosim.neurons.adex import AdExParams, adex_group_args
from neurosim.neurons.hh import HHParams, check_hh_dt, hh_initial_state
from neurosim.neurons.izhikevich import check_izhikevich_dt
from neurosim.neurons.lif import check_lif_dt
from neurosim.neurons.params import IzhikevichParams, LIFParams
from neurosim.sim import connect as _connect
from neurosim.sim.inputs import NoiseInput, PoissonInput, TimedInput
from neurosim.sim.groups import NeuronGroup, SynapseGroup
from neurosim.sim.models import MODELS, model_of
from neurosim.sim.monitors import SpikeMonitor, StateMonitor
from neurosim.sim import rates as _rates, store as _store, update as _update
from neurosim.sim.sources import SpikeTimes
from neurosim.sim.stp import check_stp

__all__ = ["Network", "NeuronGroup", "SynapseGroup"]


def _per_neuron(name, value, n, dtype=np.float64):
    """Scalar or array of length n -> float array [n] (validated)."""
    _no_bool(name, value)
    scalar = np.ndim(value) == 0
    arr = as_float_array(name, value, dtype=dtype)
    if scalar:
        return np.full(n, arr[0], dtype=dtype)
    if arr.shape != (n,):
        raise ValueError(f"{name} must be a scalar or have shape ({n},), got {arr.shape}")
    return arr


def _no_bool(name, value):
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, np.ndarray) and value.dtype == bool):
        raise TypeError(f"{name} must be a number (or an array of numbers), got a boolean")


#: bytes of state, coefficients and buffers per neuron (an upper estimate, float64)
_BYTES_PER_NEURON = 160
#: most delay steps a synapse may have (the ring buffer holds max delay + 1 steps)
_MAX_DELAY_STEPS = 2 ** 31 - 2


class Network:
    """A spiking network with a fixed time step ``dt`` (ms).

    Parameters
    ----------
    dt : float
        Time step in ms (> 0).
    dtype : numpy float dtype
        Precision of the state (``np.float32`` is faster; ``np.float64`` default).
    rng : None, int or numpy Generator
        Source of every random draw (connectivity, Poisson, noise) unless overridden per call.
    """

    def __init__(self, dt: float = 0.1, *, dtype=np.float64, rng=None):
        self.dt = check_positive("dt", dt, unit="ms")
        self.dtype = check_dtype("dtype", dtype)
        self._rng = as_generator(rng)
        self.groups: dict[str, NeuronGroup] = {}
        self.synapses: list[SynapseGroup] = []
        self.inputs: list[PoissonInput | NoiseInput | TimedInput] = []
        self.monitors: dict[str, SpikeMonitor | StateMonitor] = {}
        self.timing = {"build_wall_s": 0.0, "compile_wall_s": 0.0, "sim_wall_s": 0.0}
        self.step = 0
        self._flat = None
        self._compiled = False  # the kernel was called once (compiled or loaded) for this network
        self.meta: dict = {}
        self.nest = None  # the NestNetwork of run(..., backend="nest")

    # ------------------------------------------------------------------ structure
    @property
    def t_ms(self) -> float:
        """Simulated time so far (ms)."""
        return self.step * self.dt

    @property
    def n_neurons(self) -> int:
        return sum(g.n for g in self.groups.values())

    @property
    def n_synapses(self) -> int:
        return sum(s.n_synapses for s in self.synapses)

    def _check_open(self):
        if self._flat is not None:
            raise RuntimeError("the network is frozen after the first run(); build a new Network to change it")

    def _name(self, name, prefix, taken):
        if name is None:
            k = len(taken)
            while f"{prefix}{k}" in taken:
                k += 1
            return f"{prefix}{k}"
        if not isinstance(name, str) or not name:
            raise TypeError(f"name must be a non-empty string, got {name!r}")
        if name in taken:
            raise ValueError(f"name {name!r} is already used; choose another name")
        return name

    def _offsets(self) -> dict:
        """Group name -> first global id (the groups of each model of ``MODELS`` in turn, in creation order)."""
        off, out = 0, {}
        for model in MODELS:
            for g in self.groups.values():
                if g.model == model:
                    out[g.name] = off
                    off += g.n
        return out

    def _group(self, group, arg="group") -> NeuronGroup:
        if isinstance(group, str):
            if group not in self.groups:
                raise KeyError(f"unknown group {group!r}; groups: {', '.join(self.groups)}")
            group = self.groups[group]
        if not isinstance(group, NeuronGroup) or group._net is not self:
            raise TypeError(f"{arg} must be a NeuronGroup of this network (or its name)")
        return group

    def add_lif(self, n: int, params: LIFParams | None = None, *, v0=None, i_ext=0.0, name=None) -> NeuronGroup:
        """Add ``n`` LIF neurons; ``v0`` (scalar/array, default ``v_rest``) and a constant current ``i_ext``."""
        self._check_open()
        n = check_int("n", n, min_value=1)
        check_memory("n", self.n_neurons + n, _BYTES_PER_NEURON, "the network's neuron state")
        params = self._check_params(MODELS["lif"], LIFParams() if params is None else params, n)
        check_lif_dt(params, self.dt)
        v0 = _per_neuron("v0", params.v_rest if v0 is None else v0, n)
        return self._add_group(name, "lif", "lif", n, params, v0, None, _per_neuron("i_ext", i_ext, n))

    def add_lif_cond(self, n: int, params=None, *, v0=None, ge0=0.0, gi0=0.0, i_ext=0.0, name=None) -> NeuronGroup:
        """Add ``n`` LIF neurons with conductance synapses (``CondLIFParams``; targets ``"ge"``, ``"gi"``, ``"v"``);
        ``v0`` (default ``e_leak``), initial conductances ``ge0``, ``gi0`` (units of g_L), ``i_ext`` (mV / r)."""
        from neurosim.neurons.lif_cond import CondLIFParams, check_lif_cond_dt

        self._check_open()
        n = check_int("n", n, min_value=1)
        check_memory("n", self.n_neurons + n, _BYTES_PER_NEURON, "the network's neuron state")
        params = self._check_params(MODELS["lif_cond"], CondLIFParams() if params is None else params, n)
        check_lif_cond_dt(params, self.dt)
        v0 = _per_neuron("v0", params.e_leak if v0 is None else v0, n)
        g0 = np.stack([_per_neuron("ge0", ge0, n), _per_neuron("gi0", gi0, n)])
        g = self._add_group(name, "lifc", "lif_cond", n, params, v0, None, _per_neuron("i_ext", i_ext, n))
        g.g0 = g0  # initial conductances [2, n], read by neurosim.sim.models.LIF_COND
        return g

    def add_izhikevich(self, n: int, params: IzhikevichParams | str | None = None, *, v0=-65.0, u0=None,
                       i_ext=0.0, name=None) -> NeuronGroup:
        """Add ``n`` Izhikevich neurons (``params`` or a preset name); ``u0`` defaults to ``b v0``."""
        self._check_open()
        n = check_int("n", n, min_value=1)
        check_memory("n", self.n_neurons + n, _BYTES_PER_NEURON, "the network's neuron state")
        if params is None:
            params = IzhikevichParams()
        elif isinstance(params, str):
            params = IzhikevichParams.preset(params)
        params = self._check_params(MODELS["izhikevich"], params, n, " or a preset name")
        check_izhikevich_dt(self.dt)
        v0 = _per_neuron("v0", v0, n)
        u0 = np.asarray(params.b) * v0 if u0 is None else _per_neuron("u0", u0, n)
        return self._add_group(name, "izh", "izhikevich", n, params, v0, np.asarray(u0, dtype=np.float64),
                               _per_neuron("i_ext", i_ext, n))

    def add_adex(self, n: int, params: AdExParams | str | None = None, *, v0=None, w0=0.0, i_ext=0.0,
                 name=None) -> NeuronGroup:
        """Add ``n`` AdEx neurons (``params`` or a preset name, ``neurosim.neurons.adex``); ``v0`` (default
        ``e_l``, mV), ``w0`` (pA) and a constant current ``i_ext`` (pA): scalars or one value per neuron."""
        self._check_open()
        n, params, v0, w0, i_ext = adex_group_args(n, params, self.dt, v0, w0, i_ext)
        check_memory("n", self.n_neurons + n, _BYTES_PER_NEURON, "the network's neuron state")
        g = self._add_group(name, "adex", "adex", n, params, v0, None, i_ext)
        g.w0 = w0
        return g

    def add_hh(self, n: int, params: HHParams | None = None, *, v0=None, m0=None, h0=None, n0=None, ge0=0.0, gi0=0.0,
               i_ext=0.0, name=None) -> NeuronGroup:
        """Add ``n`` Hodgkin-Huxley (Traub-Miles) neurons; initial state as ``neurosim.neurons.hh.hh_initial_state``
        (gates default to their steady state at ``v0``), ``i_ext`` a constant current (pA)."""
        self._check_open()
        n = check_int("n", n, min_value=1)
        check_memory("n", self.n_neurons + n, _BYTES_PER_NEURON, "the network's neuron state")
        params = self._check_params(MODELS["hh"], HHParams() if params is None else params, n)
        check_hh_dt(params, self.dt)
        init = hh_initial_state(params, n, v0=v0, m0=m0, h0=h0, n0=n0, ge0=ge0, gi0=gi0)
        g = self._add_group(name, "hh", "hh", n, params, init["v"], None, _per_neuron("i_ext", i_ext, n))
        g.init = init
        return g

    @staticmethod
    def _check_params(model, params, n, alternatives=""):
        if not isinstance(params, model.params_type):
            raise TypeError(f"params must be {model.params_type.__name__}{alternatives}, got {type(params).__name__}")
        if params.size() not in (None, n):
            raise ValueError(f"params arrays have length {params.size()} but n={n}")
        return params

    def _add_group(self, name, prefix, model, n, params, v0, u0, i_ext) -> NeuronGroup:
        """A new group of ``model`` named ``name`` (default: ``prefix`` and a number)."""
        name = self._name(name, prefix, self.groups)
        g = NeuronGroup(self, name, model, n, params, v0, u0, i_ext)
        self.groups[name] = g
        return g

    def _channel(self, group, target):
        targets = model_of(group).targets
        if target not in targets:
            raise ValueError(f"target must be one of {', '.join(map(repr, targets))} for a {group.model} group; "
                             f"got {target!r}")
        return targets[target]

    def connect(self, pre, post, *, p=None, in_degree=None, pairs=None, matrix=None, weight=None,
                delay_ms=0.0, target="i_syn", allow_self=True, rng=None, name=None, stp=None,
                plasticity=None) -> SynapseGroup:
        """Add synapses from group ``pre`` to group ``post``; give exactly one of the rules.

        Parameters
        ----------
        p : float
            Connection probability per ordered pair.
        in_degree : int
            Fixed number of presynaptic partners per postsynaptic neuron (with replacement).
        pairs : (pre_idx, post_idx)
            Explicit local indices (arrays of equal length).
        matrix : array [n_pre, n_post] or scipy sparse matrix
            Weights; every nonzero (stored) entry is a synapse. ``weight`` must then be None.
        weight : float, array [n_syn] or callable ``(rng, n) -> array``
            Synaptic weight in the units of the target variable (default 1.0).
        delay_ms : float, array [n_syn] or callable
            Transmission delay (>= 0), rounded to whole steps.
        target : str
            Target variable (see the module docstring).
        allow_self : bool
            Allow ``pre == post`` when ``pre`` and ``post`` are the same group.
        stp : TsodyksMarkram or None
            Short-term plasticity of these synapses (``neurosim.sim.stp``); None: static weights.
        plasticity : neurosim.sim.STDP or None
            A plastic group (``STDPSynapseGroup``, weights in ``[0, w_max]``; ``neurosim.sim.stdp``).
        """
        self._check_open()
        stp = check_stp(stp)
        t0 = time.perf_counter()
        pre_g, post_g = self._group(pre, "pre"), self._group(post, "post")
        channel = self._channel(post_g, target)
        rules = [k for k, v in (("p", p), ("in_degree", in_degree), ("pairs", pairs), ("matrix", matrix))
                 if v is not None]
        if len(rules) != 1:
            raise ValueError(f"give exactly one of p, in_degree, pairs, matrix (got {rules or 'none'})")
        rng = self._rng.spawn(1)[0] if rng is None else as_generator(rng)
        same = pre_g is post_g
        self_ok = allow_self or not same
        wts = None
        if p is not None:
            i, j = _connect.fixed_probability(pre_g.n, post_g.n, p, rng, allow_self=self_ok)
        elif in_degree is not None:
            i, j = _connect.fixed_in_degree(pre_g.n, post_g.n, in_degree, rng, allow_self=self_ok)
        elif pairs is not None:
            if len(pairs) != 2:
                raise ValueError("pairs must be a tuple (pre_idx, post_idx)")
            i, j = (np.asarray(a) for a in pairs)
            for arg, a, n in (("pairs[0] (pre_idx)", i, pre_g.n), ("pairs[1] (post_idx)", j, post_g.n)):
                if a.ndim != 1 or (a.size and a.dtype.kind not in "iu"):
                    raise ValueError(f"{arg} must be a 1-D integer array, got dtype {a.dtype}, shape {a.shape}")
                if a.size and (a.min() < 0 or a.max() >= n):
                    raise ValueError(f"{arg} has indices outside [0, {n})")
            if i.shape != j.shape:
                raise ValueError(f"pairs arrays must have the same length, got {i.size} and {j.size}")
            i, j = i.astype(np.int32), j.astype(np.int32)
            if not self_ok:
                keep = i != j
                i, j = i[keep], j[keep]
        else:
            if weight is not None:
                raise ValueError("weight must be None when matrix is given (the matrix holds the weights)")
            i, j, wts = _from_matrix(matrix, pre_g.n, post_g.n)
            if not self_ok:
                keep = i != j
                i, j, wts = i[keep], j[keep], wts[keep]
        n_syn = i.size
        if wts is None:
            wts = self._syn_values("weight", 1.0 if weight is None else weight, n_syn, rng)
        delays = self._syn_values("delay_ms", delay_ms, n_syn, rng)
        if np.any(np.asarray(delays) < 0):
            raise ValueError("delay_ms must be >= 0")
        if np.size(delays) and np.max(delays) / self.dt > _MAX_DELAY_STEPS:
            raise ValueError(f"delay_ms up to {np.max(delays):g} ms is more than {_MAX_DELAY_STEPS} steps of "
                             f"dt={self.dt} ms; use a shorter delay")
        steps = np.rint(np.asarray(delays) / self.dt).astype(np.int64)
        steps = int(steps) if steps.ndim == 0 else steps
        if target in model_of(post_g).conductance_targets(post_g.params) and np.any(np.asarray(wts) < 0):
            raise ValueError(f"weight must be >= 0 for the conductance target {target!r} (got {np.min(wts):g}); "
                             "use target 'gi' for inhibition")
        wts = self.dtype.type(wts) if np.ndim(wts) == 0 else np.asarray(wts, dtype=self.dtype)
        name = self._name(name, "syn", {s.name for s in self.synapses})
        sg = SynapseGroup(name, pre_g, post_g, i.astype(np.int32, copy=False), j.astype(np.int32, copy=False),
                          wts, steps, channel, target)
        if stp is not None and plasticity is not None:
            raise ValueError("a synapse group takes stp or plasticity, not both (STP with STDP on one group is not "
                             "supported); connect two groups")
        if stp is not None:
            sg.kind, sg.stp, sg.dt = "stp", stp, self.dt
        if plasticity is not None:
            from neurosim.sim.stdp import make_plastic
            sg = make_plastic(sg, plasticity, self.dt)
        self.synapses.append(sg)
        self.timing["build_wall_s"] += time.perf_counter() - t0
        return sg

    def _syn_values(self, arg, value, n, rng):
        if callable(value):
            value = value(rng, n)
        _no_bool(arg, value)
        scalar = np.ndim(value) == 0
        arr = as_float_array(arg, value)
        if scalar:
            return float(arr[0])  # kept scalar: no per-synapse array for a uniform value
        if arr.shape != (n,):
            raise ValueError(f"{arg} must be a scalar or have shape ({n},) (one per synapse), got {arr.shape}")
        return arr

    def _add_input(self, cls, group, target, **kw):
        self._check_open()
        g = self._group(group)
        channel = self._channel(g, target)
        for other in self.inputs:
            if other.group is g and other.channel != channel:
                raise ValueError(f"group {g.name!r} already receives an input on another target; all inputs of "
                                 "one group must share one target")
        inp = cls(g, target, channel, **kw)
        self.inputs.append(inp)
        return inp

    def add_poisson_input(self, group, rate_hz, weight, *, target="v", rng=None):
        """Independent Poisson spike train per neuron of ``group`` (``rate_hz``: scalar or per neuron)."""
        g = self._group(group)
        lam = _update.poisson_lam(rate_hz, g.n, self.dt)
        if np.ndim(weight) != 0:
            raise ValueError("weight must be a scalar")
        w = check_number("weight", weight)
        if target in model_of(g).conductance_targets(g.params) and w < 0:
            raise ValueError(f"weight must be >= 0 for the conductance target {target!r}, got {w:g}")
        gen = self._rng.spawn(1)[0] if rng is None else as_generator(rng)
        return self._add_input(PoissonInput, g, target, rng=gen, lam=lam, weight=float(w))

    def add_noise(self, group, std, *, mean=0.0, target="i_syn", rng=None):
        """Gaussian input ``mean + std N(0,1)`` drawn per neuron and step (e.g. thalamic noise).

        The numbers come from the raw bits of ``rng`` (default: a child of the network's
        generator) through ``neurosim.sim.noise.NormalStream``; ``draw_normal(rng, (T, n), mean,
        std, dtype)`` with an identically seeded generator reproduces them.
        """
        g = self._group(group)
        std = _per_neuron("std", std, g.n)
        if np.any(std < 0):
            raise ValueError("std must be >= 0")
        gen = self._rng.spawn(1)[0] if rng is None else as_generator(rng)
        return self._add_input(NoiseInput, g, target, rng=gen, std=std, mean=_per_neuron("mean", mean, g.n))

    def add_timed_input(self, group, values, *, target="i_syn", start_step=0):
        """A given input array ``values`` [T, n] added at steps ``start_step ... start_step + T - 1``."""
        g = self._group(group)
        vals = as_float_array("values", values, ndim=2)
        if vals.shape[1] != g.n:
            raise ValueError(f"values must have shape (T, {g.n}), got {vals.shape}")
        start_step = check_int("start_step", start_step, min_value=0)
        return self._add_input(TimedInput, g, target, values=vals, start_step=start_step)

    def add_poisson_group(self, n: int, rate_hz, *, name=None, rng=None) -> NeuronGroup:
        """Add ``n`` Poisson spike sources (spike probability ``rate_hz dt`` per step; see ``sim.poisson_group``)."""
        from neurosim.sim.poisson_group import add_poisson_group
        return add_poisson_group(self, n, rate_hz, name=name, rng=rng)

    def add_weight_monitor(self, syn, *, every_ms: float, synapses=None, name=None):
        """Record the weights of the STDP group ``syn`` (``synapses``: indices, default all) every ``every_ms``."""
        from neurosim.sim.stdp import WeightMonitor
        self._check_open()
        mon = WeightMonitor.create(self._name(name, "weights", self.monitors), syn, every_ms, synapses, self.dt)
        self.monitors[mon.name] = mon
        return mon

    def add_spike_monitor(self, groups=None, *, name="spikes") -> SpikeMonitor:
        """Record the spikes of ``groups`` (a group, name or list; default all groups)."""
        self._check_open()
        if groups is None:
            groups = list(self.groups.values())
        elif isinstance(groups, (str, NeuronGroup)):
            groups = [groups]
        gs = [self._group(g, "groups") for g in groups]
        name = self._name(name, "monitor", self.monitors)
        mon = SpikeMonitor(name, gs)
        self.monitors[name] = mon
        return mon

    def add_state_monitor(self, group, variables=("v",), *, neurons=None, every=1, name=None) -> StateMonitor:
        """Record ``variables`` of ``neurons`` (local indices; default all) every ``every`` steps."""
        self._check_open()
        g = self._group(group)
        if isinstance(variables, str):
            variables = [variables]
        valid = model_of(g).variables
        if not isinstance(variables, (list, tuple)) or not variables:
            raise TypeError(f"variables must be a variable name or a non-empty list of names ({', '.join(valid)}), "
                            f"got {variables!r}")
        for v in variables:
            if not isinstance(v, str) or v not in valid:
                raise ValueError(f"variables: {v!r} is not a {g.model} variable; valid: {', '.join(valid)}")
        idx = np.arange(g.n) if neurons is None else np.atleast_1d(np.asarray(neurons))
        if idx.dtype.kind not in "iu" or idx.ndim != 1 or (idx.size and (idx.min() < 0 or idx.max() >= g.n)):
            raise ValueError(f"neurons must be local integer indices in [0, {g.n})")
        every = check_int("every", every, min_value=1)
        name = self._name(name, "state", self.monitors)
        mon = StateMonitor(name, g, variables, idx, every)
        self.monitors[name] = mon
        return mon

    def add_spike_generator(self, n: int, times_ms, ids, *, name=None) -> NeuronGroup:
        """``n`` neurons without dynamics; neuron ``ids[k]`` spikes at ``times_ms[k]`` (rounded to the step
        grid, earliest ``dt``; a neuron spikes at most once per step): ``neurosim.sim.sources``."""
        self._check_open()
        params = SpikeTimes(n, times_ms, ids)
        params.steps(self.dt)  # rounding and duplicate checks now, not at the first run
        return self._add_group(name, "gen", "spikegen", params.n, params, None, None, np.zeros(params.n))

    def add_rate_monitor(self, group=None, *, bin_ms=None, name=None) -> _rates.RateMonitor:
        """Binned population rate (Hz) of ``group`` (a group or name: ``rate_hz`` [B]; a list or None = all
        groups: [B, G]); ``bin_ms`` a multiple of ``dt`` (default ``dt``): ``neurosim.sim.rates``."""
        self._check_open()
        return _rates.add_rate_monitor(self, group, bin_ms, name)

    def store(self, name: str = "default") -> None:
        """Snapshot the whole state under ``name``; ``restore(name)`` returns to it (``neurosim.sim.store``)."""
        _store.store(self, name)

    def restore(self, name: str = "default") -> None:
        _store.restore(self, name)

    # ------------------------------------------------------------------ build and run
    def _build(self):
        from neurosim.sim._flat import build_flat

        t0 = time.perf_counter()
        self._flat = build_flat(self)
        self.timing["build_wall_s"] += time.perf_counter() - t0

    def run(self, duration_ms: float, *, progress: bool = True, backend: str = "neurosim",
            threads: int = 1) -> "Network":
        """Advance the network by ``duration_ms`` (rounded to whole steps); returns ``self``.

        ``backend="nest"``: simulate the same network in NEST (``threads`` NEST threads) instead, once, from
        the initial state, filling this network's monitors (``neurosim.sim.nest``; ``self.nest`` keeps it).
        """
        from neurosim.sim._flat import run_flat

        if backend not in ("neurosim", "nest"):
            raise ValueError(f"backend must be 'neurosim' or 'nest', got {backend!r}")
        duration_ms = check_positive("duration_ms", duration_ms, unit="ms")
        if backend == "nest":
            if self._flat is not None or self.nest is not None:
                raise RuntimeError("backend='nest' runs a network once from its initial state; this one has already "
                                   "run: build a new Network, or keep the object of net.to_nest() and call its run()")
            self.nest = self.to_nest(threads=threads, monitors=self.monitors).run(duration_ms)
            self.timing.update(self.nest.timing)
            return self
        if self.nest is not None:
            raise RuntimeError("this network's monitors hold a NEST run (backend='nest'); build a new Network")
        n_steps = int(round(duration_ms / self.dt))
        if n_steps < 1:
            raise ValueError(f"duration_ms={duration_ms} is shorter than one step (dt={self.dt} ms)")
        if self.n_neurons == 0:
            raise ValueError("the network has no neurons; add a group first")
        if self._flat is None:
            self._build()
        run_flat(self, n_steps, progress)
        return self

    def to_nest(self, *, threads: int = 1, resolution: float | None = None, seed: int = 1, monitors=None):
        """The same network built in NEST (``neurosim.sim.nest.NestNetwork``; its ``run(duration_ms)`` fills
        monitors of neurosim's types): ``threads`` NEST threads, ``resolution`` (ms, default ``dt``), ``seed``
        NEST's ``rng_seed`` (Poisson and noise generators); ``monitors``: the dict the run fills (default: fresh
        monitors of the same types, so this network's own keep neurosim's results)."""
        from neurosim.sim.nest.run import NestNetwork

        return NestNetwork(self, threads=threads, resolution=resolution, seed=seed, monitors=monitors)

    def write_nest_script(self, directory, *, duration_ms: float | None = None, resolution: float | None = None) -> str:
        """Write ``directory/network/`` (the arrays) and ``run_nest.py`` (for ``mpirun -np K python run_nest.py``); returns
        the script's path. ``neurosim.sim.nest.read_nest_spikes(directory)`` reads its spikes back."""
        from neurosim.sim.nest.script import write_nest_script

        return write_nest_script(self, directory, duration_ms=duration_ms, resolution=resolution)

    def __repr__(self):
        return (f"Network(dt={self.dt}, neurons={self.n_neurons}, synapses={self.n_synapses}, "
                f"groups={list(self.groups)}, monitors={list(self.monitors)})")


def _from_matrix(matrix, n_pre, n_post):
    if hasattr(matrix, "tocoo"):
        coo = matrix.tocoo()
        if coo.shape != (n_pre, n_post):
            raise ValueError(f"matrix must have shape ({n_pre}, {n_post}) = (n_pre, n_post), got {coo.shape}")
        i, j, w = coo.row.astype(np.int64), coo.col.astype(np.int64), np.asarray(coo.data, dtype=np.float64)
        order = np.lexsort((j, i))
        i, j, w = i[order], j[order], w[order]
    else:
        m = as_float_array("matrix", matrix, ndim=2)
        if m.shape != (n_pre, n_post):
            raise ValueError(f"matrix must have shape ({n_pre}, {n_post}) = (n_pre, n_post), got {m.shape}")
        i, j = np.nonzero(m)
        w = m[i, j]
    if w.size and not np.all(np.isfinite(w)):
        raise ValueError("matrix contains NaN/inf weights")
    return i.astype(np.int64), j.astype(np.int64), w

