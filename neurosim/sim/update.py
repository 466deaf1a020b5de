"""Parameters that change between runs without rebuilding the network or recompiling its kernel.

Assign, after (or before) a run, and the next ``run`` uses the new value::

    syn.weight = 0.5                  # SynapseGroup: scalar or one value per synapse
    group.i_ext = 1.2                 # NeuronGroup: constant current, scalar or per neuron
    group.params = dataclasses.replace(group.params, tau_mem=15.0)   # neuron parameters
    poisson.rate_hz = 800.0           # the object add_poisson_input returned
    noise.mean, noise.std = 0.2, 1.5  # the object add_noise returned

Each assignment is validated like the argument it replaces (same errors), then written *in
place* into the arrays of the network's flat layout: the projection's weights (and the row
flags that depend on them), or the model's coefficient arrays re-packed by its ``NeuronModel``
record (``fields``) with the group table (heterogeneity flag, mode). No array changes type or
shape, so ``network_integrate`` is not compiled again (a test checks that its signature count
stays the same). The state (``v``, currents, refractory counters, spikes in flight) is kept: a
change takes effect from the next step. A change that would alter the layout's structure (a
scalar constant of the layout, or an array's size, e.g. the spike times of a generator) is a
``ValueError``: build a new ``Network``.

Synapse kinds register how their weights are written in :data:`WEIGHT_SETTERS` (kind ->
``setter(net, synapse_group)``); ``"static"`` is here.
"""
from __future__ import annotations

import numpy as np

from neurosim._validation import as_float_array, check_number
from neurosim.kernels.network_kinds import N_CHANNELS
from neurosim.kernels.synapse import ROW_CONTIGUOUS, csr_order, csr_uniform_rows
from neurosim.neurons.adex import check_adex_dt
from neurosim.neurons.izhikevich import check_izhikevich_dt
from neurosim.neurons.lif import check_lif_dt
from neurosim.neurons.lif_cond import check_lif_cond_dt
from neurosim.sim.models import model_of

__all__ = ["set_group_params", "set_i_ext", "set_weight", "poisson_lam", "per_neuron", "WEIGHT_SETTERS",
           "GROUP_PARAMS", "GROUP_I_EXT", "SYNAPSE_WEIGHT"]

#: model -> its time-step check ``(params, dt)`` (warnings for coarse dt), as in ``add_<model>``
DT_CHECKS = {"lif": check_lif_dt, "izhikevich": lambda params, dt: check_izhikevich_dt(dt), "adex": check_adex_dt,
             "lif_cond": check_lif_cond_dt}
#: largest expected number of Poisson input spikes per neuron and step
MAX_POISSON_LAM = 1e15


def per_neuron(name, value, n, dtype=np.float64) -> np.ndarray:
    """Scalar or array of length ``n`` -> float array [n] (validated; booleans are a ``TypeError``)."""
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, np.ndarray) and value.dtype == bool):
        raise TypeError(f"{name} must be a number (or an array of numbers), got a boolean")
    scalar = np.ndim(value) == 0
    arr = as_float_array(name, value, dtype=dtype)
    if scalar:
        return np.full(n, arr.reshape(-1)[0], dtype=dtype)
    if arr.shape != (n,):
        raise ValueError(f"{name} must be a scalar or have shape ({n},), got {arr.shape}")
    return arr


def poisson_lam(rate_hz, n: int, dt: float) -> np.ndarray:
    """Expected Poisson input spikes per step ``rate_hz dt / 1000`` [n], validated (rates >= 0, drawable)."""
    rate = per_neuron("rate_hz", rate_hz, n)
    if np.any(rate < 0):
        raise ValueError("rate_hz must be >= 0")
    lam = rate * dt / 1000.0
    if np.any(lam > MAX_POISSON_LAM):
        raise ValueError(f"rate_hz up to {np.max(rate):g} Hz gives {np.max(lam):.3g} input spikes per step "
                         f"(dt={dt} ms), beyond a Poisson draw ({MAX_POISSON_LAM:g}); use add_noise or "
                         "i_ext for a mean drive this large")
    return lam


# ------------------------------------------------------------------------------ neuron groups
def set_group_params(group, params) -> None:
    """``group.params = params``: validated like ``add_<model>``; re-packed in place when the network is built."""
    model = model_of(group)
    if not isinstance(params, model.params_type):
        raise TypeError(f"params must be {model.params_type.__name__} for a {group.model} group, got "
                        f"{type(params).__name__}")
    if params.size() not in (None, group.n):
        raise ValueError(f"params arrays have length {params.size()} but the group has n={group.n}")
    if group.model in DT_CHECKS:
        DT_CHECKS[group.model](params, group._net.dt)
    _repack(group, "_params", params)


def set_i_ext(group, value) -> None:
    """``group.i_ext = value`` (scalar or [n]); re-packed in place when the network is built."""
    arr = per_neuron("i_ext", value, group.n)
    arr.flags.writeable = False
    _repack(group, "_i_ext", arr)


def _groups_of(net, model):
    return [g for g in net.groups.values() if g.model == model]


def _repack(group, attr, value) -> None:
    """Set ``group.<attr>`` and, in a built network, copy the fields of the group's model that the
    change alters into the population layout (state fields excepted), then its group table."""
    from neurosim.sim._flat import _group_table

    net = group._net
    flat = net._flat
    if flat is None:
        setattr(group, attr, value)
        return
    model = model_of(group)
    groups = _groups_of(net, group.model)
    old_value = getattr(group, attr)
    old = model.fields(groups, net.dt, net.dtype)
    setattr(group, attr, value)
    try:
        new = model.fields(groups, net.dt, net.dtype)
        pop = flat.population(group.model)
        state = set(model.finite) | {f for f, _ in model.state.values()}
        changes = []
        for name, val in new.items():
            if name not in state:
                _collect(changes, f"{group.model}.{name}", getattr(pop, name), old[name], val)
        table = _group_table(model, groups, net._offsets(), {inp.group.name: inp.channel for inp in net.inputs})
        changes.append((pop.groups, table))
    except Exception:
        setattr(group, attr, old_value)
        raise
    for dst, src in changes:  # all checks passed: write
        np.copyto(dst, src)


def _collect(changes, name, current, old, new) -> None:
    """Append ``(destination array, new values)`` for every array of a field that differs between the
    packings with the old and the new value; ``ValueError`` for a structural change."""
    if isinstance(current, np.ndarray):
        old, new = np.asarray(old), np.asarray(new)
        if new.shape != current.shape:
            raise ValueError(f"this change resizes {name} from {current.shape} to {new.shape}; the network's layout "
                             "is fixed after the first run: build a new Network")
        if not np.array_equal(old, new):
            changes.append((current, new.astype(current.dtype, copy=False)))
    elif isinstance(current, tuple):
        for k, (c, o, n) in enumerate(zip(current, old, new)):
            _collect(changes, f"{name}[{k}]", c, o, n)
    elif not (old == new or (old != old and new != new)):
        raise ValueError(f"this change alters the constant {name} of the compiled layout; build a new Network")


# ------------------------------------------------------------------------------ synapses
def set_weight(sg, value) -> None:
    """``syn.weight = value`` (scalar or one per synapse); written into the built projection in place."""
    net = sg.pre_group._net
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, np.ndarray) and value.dtype == bool):
        raise TypeError("weight must be a number (or an array of numbers), got a boolean")
    if np.ndim(value) == 0:
        w = net.dtype.type(check_number("weight", value.item() if isinstance(value, np.ndarray) else value))
    else:
        w = as_float_array("weight", value, dtype=net.dtype)
        if w.shape != (sg.n_synapses,):
            raise ValueError(f"weight must be a scalar or have shape ({sg.n_synapses},) (one per synapse), got "
                             f"{w.shape}")
    if sg.target in model_of(sg.post_group).conductance_targets(sg.post_group.params) and np.any(w < 0):
        raise ValueError(f"weight must be >= 0 for the conductance target {sg.target!r}; use target 'gi' for "
                         "inhibition")
    if net._flat is not None:
        if sg.kind not in WEIGHT_SETTERS:
            raise ValueError(f"the weights of {sg.kind!r} synapses cannot be set after the first run; set them before")
        old = sg._weight
        sg._weight = w
        try:
            WEIGHT_SETTERS[sg.kind](net, sg)
        except Exception:
            sg._weight = old
            raise
    sg._weight = w


def _kind_positions(net, sg) -> np.ndarray:
    """Positions of ``sg``'s synapses in the CSR of its kind's projection (the ordering every builder of
    ``synapses.SYNAPSE_KINDS`` uses: keys ``N_CHANNELS pre + channel``, stable over groups in creation order)."""
    offsets = net._offsets()
    static = [s for s in net.synapses if s.kind == sg.kind]
    n_syn = sum(s.n_synapses for s in static)
    keys = np.empty(n_syn, dtype=np.int32)
    q, q0 = 0, 0
    for s in static:
        if s is sg:
            q0 = q
        keys[q:q + s.n_synapses] = (s.pre.astype(np.int64) + offsets[s.pre_group.name]) * N_CHANNELS + s.channel
        q += s.n_synapses
    indptr = np.empty(N_CHANNELS * net.n_neurons + 1, dtype=np.int64)
    order = np.empty(n_syn, dtype=np.int32)
    csr_order(keys, indptr, order)
    pos = np.empty(n_syn, dtype=np.int64)
    pos[order] = np.arange(n_syn)
    return pos[q0:q0 + sg.n_synapses]


def _set_static_weights(net, sg) -> None:
    from neurosim.sim.synapses import SYNAPSE_KINDS

    proj = net._flat.projections[list(SYNAPSE_KINDS).index("static")]
    proj.weights[_kind_positions(net, sg)] = sg._weight
    np.bitwise_and(proj.contig, ROW_CONTIGUOUS, out=proj.contig)  # the uniform-row flags follow the weights
    csr_uniform_rows(proj.indptr, proj.weights, proj.contig)
    proj.wrow[:] = 0
    uni = np.flatnonzero(proj.contig & ~np.uint8(ROW_CONTIGUOUS))
    proj.wrow[uni] = proj.weights[proj.indptr[uni]]


def _set_csr_weights(kind):
    """Setter for a projection kind whose ``weights`` are the only copy of the weights (no derived tables)."""
    def setter(net, sg) -> None:
        from neurosim.sim.synapses import SYNAPSE_KINDS

        net._flat.projections[list(SYNAPSE_KINDS).index(kind)].weights[_kind_positions(net, sg)] = sg._weight
    return setter


#: ``SynapseGroup.kind`` -> ``setter(net, sg)`` writing ``sg._weight`` into the built projection
WEIGHT_SETTERS = {"static": _set_static_weights, "stp": _set_csr_weights("stp"),
                  "stdp": lambda net, sg: setattr(sg, "weights", sg._weight)}  # the current (plastic) weights

# the settable attributes of NeuronGroup and SynapseGroup (neurosim.sim.network)
GROUP_PARAMS = property(lambda g: g._params, set_group_params,
                        doc="The parameter record; assign one to change the group's parameters (in place).")
GROUP_I_EXT = property(lambda g: g._i_ext, set_i_ext,
                       doc="Constant input current per neuron (read-only array); assign a scalar or [n] to change it.")
SYNAPSE_WEIGHT = property(lambda s: s._weight, set_weight,
                          doc="Weight: a scalar (uniform) or one per synapse; assign to change it (in place).")
