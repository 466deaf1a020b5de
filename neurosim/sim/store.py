"""``Network.store(name)`` / ``Network.restore(name)``: snapshots of the whole simulation state.

A snapshot holds, like Brian2's ``store``:

- every array of the flat layout (neuron state and coefficients, synaptic weights, the ring
  buffer with the input in flight, the spike list of the last step, spike-generator positions),
  copied; restore copies them back *in place* (the same arrays: nothing is rebuilt or
  recompiled);
- the time (``net.step``);
- the random streams and settable values of every input (the bit-generator state of each
  input's ``Generator``, the carry-over of the noise stream, rates, means ...);
- the parameters assigned through ``group.params``, ``group.i_ext`` and ``syn.weight``;
- the monitors' contents: a restore drops what they recorded after the store.

So ``store(); run(T)`` then ``restore(); run(T)`` gives the second run bit-identical spikes to
the first (the same code on the same state). Storing before the first run builds the network
(it is then frozen, as after ``run``). Several snapshots can be kept under different names;
storing again under a name replaces it. Memory: a snapshot is about the size of the network's
arrays (connectivity included) plus the recorded data's list entries (shared, not copied: a
monitor never changes what it recorded).

Objects are snapshotted generically (so inputs and monitors of other kinds are covered): numpy
``Generator``\\s by their bit-generator state (restored into the same object), arrays copied,
lists and dicts copied shallowly, objects of ``neurosim.sim`` modules (e.g. a noise stream)
field by field; groups, synapse groups and the network are references, not state.
"""
from __future__ import annotations

import dataclasses
import copy

import numpy as np

__all__ = ["store", "restore", "Snapshot"]


@dataclasses.dataclass
class Snapshot:
    """The stored state of a network (see the module docstring)."""

    step: int
    arrays: list
    groups: dict
    weights: list
    inputs: list
    monitors: dict


@dataclasses.dataclass
class _Gen:
    gen: np.random.Generator
    state: dict


@dataclasses.dataclass
class _Obj:
    obj: object
    fields: dict


def _flat_arrays(flat) -> list:
    """Every distinct array of the flat layout (populations, projections, buffers), in a fixed order."""
    out, seen = [], set()

    def walk(x):
        if isinstance(x, np.ndarray):
            if id(x) not in seen:
                seen.add(id(x))
                out.append(x)
        elif isinstance(x, tuple):
            for y in x:
                walk(y)

    walk((flat.populations, flat.projections, flat.buffers))
    return out


def _is_reference(x) -> bool:
    from neurosim.sim.network import Network, NeuronGroup, SynapseGroup

    return isinstance(x, (Network, NeuronGroup, SynapseGroup))


def _snap(x):
    if isinstance(x, np.random.Generator):
        return _Gen(x, copy.deepcopy(x.bit_generator.state))
    if isinstance(x, np.ndarray):
        return x.copy()
    if isinstance(x, list):
        return list(x)
    if isinstance(x, dict):
        return dict(x)
    if isinstance(x, tuple) and not hasattr(x, "_fields"):
        return tuple(_snap(y) for y in x)
    if (hasattr(x, "__dict__") and type(x).__module__.startswith("neurosim.sim.") and not _is_reference(x)
            and not isinstance(x, type)):
        return _Obj(x, _snap_fields(x))
    return x  # immutable values and references


def _snap_fields(obj, skip=()) -> dict:
    return {k: _snap(v) for k, v in vars(obj).items() if k not in skip}


def _unsnap(s, current):
    """The value to put back for snapshot ``s`` (``current``: the value now, reused in place when possible)."""
    if isinstance(s, _Gen):
        s.gen.bit_generator.state = copy.deepcopy(s.state)
        return s.gen
    if isinstance(s, _Obj):
        _unsnap_fields(s.obj, s.fields)
        return s.obj
    if isinstance(s, np.ndarray):
        if (isinstance(current, np.ndarray) and current.shape == s.shape and current.dtype == s.dtype
                and current.flags.writeable):
            np.copyto(current, s)
            return current
        return s.copy()
    if isinstance(s, (list, dict)):
        return type(s)(s)
    if isinstance(s, tuple) and not hasattr(s, "_fields"):
        cur = current if isinstance(current, tuple) and len(current) == len(s) else (None,) * len(s)
        return tuple(_unsnap(a, b) for a, b in zip(s, cur))
    return s


def _unsnap_fields(obj, fields: dict) -> None:
    d = vars(obj)
    for k, s in fields.items():
        d[k] = _unsnap(s, d.get(k))


def store(net, name: str = "default") -> None:
    """Snapshot ``net``'s whole state under ``name`` (builds the network if it has not run yet)."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty string, got {name!r}")
    if net.n_neurons == 0:
        raise ValueError("the network has no neurons; add a group first")
    if net._flat is None:
        net._build()
    snaps = net.__dict__.setdefault("_snapshots", {})
    snaps[name] = Snapshot(
        step=net.step,
        arrays=[a.copy() for a in _flat_arrays(net._flat)],
        groups={g.name: (g._params, g._i_ext) for g in net.groups.values()},
        weights=[sg._weight for sg in net.synapses],
        inputs=[_snap_fields(inp, skip=("group",)) for inp in net.inputs],
        monitors={k: _snap_fields(m, skip=("_cache",)) for k, m in net.monitors.items()},
    )


def restore(net, name: str = "default") -> None:
    """Return ``net`` to the snapshot ``name`` (``KeyError`` naming the stored ones when there is none)."""
    snaps = net.__dict__.get("_snapshots", {})
    if name not in snaps:
        raise KeyError(f"no state stored under {name!r}; stored: {', '.join(map(repr, snaps)) or 'none'} "
                       "(call net.store(name) first)")
    snap = snaps[name]
    for dst, src in zip(_flat_arrays(net._flat), snap.arrays, strict=True):
        np.copyto(dst, src)
    net.step = snap.step
    for g in net.groups.values():
        g._params, g._i_ext = snap.groups[g.name]
    for sg, w in zip(net.synapses, snap.weights, strict=True):
        sg._weight = w
    for inp, fields in zip(net.inputs, snap.inputs, strict=True):
        _unsnap_fields(inp, fields)
    for k, fields in snap.monitors.items():
        _unsnap_fields(net.monitors[k], fields)
        if hasattr(net.monitors[k], "_cache"):
            net.monitors[k]._cache = None  # concatenated views are rebuilt on demand
