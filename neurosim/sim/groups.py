"""The groups of a ``Network``: ``NeuronGroup`` (a population of one model) and ``SynapseGroup``.

Thin records: the network creates them (``Network.add_<model>``, ``Network.connect``) and owns the
state; a group reads its current state from the network's flat layout after the first run
(``group.v``, ``group.w`` ... and any other state variable of its model by name, e.g. HH ``m``,
``h``, ``n_gate``) and writes parameter changes through ``neurosim.sim.update`` (``group.params``,
``group.i_ext``, ``syn.weight``: in place, no recompile).
"""
from __future__ import annotations


from neurosim.sim import update as _update
from neurosim.sim.models import model_of

__all__ = ["NeuronGroup", "SynapseGroup"]


class NeuronGroup:
    """A population of one model inside a ``Network`` (create with ``add_lif``/``add_izhikevich``/``add_hh``)."""

    def __init__(self, net, name, model, n, params, v0, u0, i_ext):
        self._net = net
        self.name = name
        self.model = model
        self.n = n
        self._params = params
        self.v0 = v0
        self.u0 = u0
        self._i_ext = i_ext
        self._i_ext.flags.writeable = False

    params = _update.GROUP_PARAMS  # settable between runs (in place, no recompile): neurosim.sim.update
    i_ext = _update.GROUP_I_EXT

    def __len__(self):
        return self.n

    @property
    def start(self) -> int:
        """First global id."""
        return self._net._offsets()[self.name]

    @property
    def stop(self) -> int:
        return self.start + self.n

    def _state(self, name):
        model_of(self).state_field(name)  # AttributeError when the model has no such state
        flat = self._net._flat
        if flat is None:
            raise RuntimeError("the network has not been run yet; state exists after the first run()")
        return flat.state(self, name)

    def __getattr__(self, name):
        """The model's state variables, current values (copies) after the first run: ``v`` (every model),
        Izhikevich ``u``, AdEx ``w``, LIF ``i_syn``, conductance models ``ge``/``gi``, HH ``m, h, n_gate``."""
        if name.startswith("_") or "model" not in self.__dict__:
            raise AttributeError(name)
        return self._state(name)

    def __repr__(self):
        return f"NeuronGroup({self.name!r}, model={self.model!r}, n={self.n})"


class SynapseGroup:
    """Synapses from ``pre`` to ``post`` (local int32 indices); ``weight`` and ``delay_steps`` are
    a scalar (uniform) or one value per synapse; ``channel`` is the target's input channel;
    ``kind`` the synapse kind (``neurosim.sim.synapses.SYNAPSE_KINDS``; ``"static"``: fixed weights)."""

    kind = "static"
    weight = _update.SYNAPSE_WEIGHT  # settable between runs (in place, no recompile)

    def __init__(self, name, pre_group, post_group, pre, post, weight, delay_steps, channel, target):
        self.name = name
        self.pre_group = pre_group
        self.post_group = post_group
        self.pre = pre
        self.post = post
        self._weight = weight
        self.delay_steps = delay_steps
        self.channel = channel
        self.target = target

    @property
    def n_synapses(self) -> int:
        return int(self.pre.size)

    def __repr__(self):
        return (f"SynapseGroup({self.name!r}, {self.pre_group.name}->{self.post_group.name}, "
                f"n={self.n_synapses}, target={self.target!r})")
