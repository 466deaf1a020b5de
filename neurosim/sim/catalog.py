"""The canonical networks by name: the one table that ``neurosim.sim``, ``neurosim simulate`` and the
command line's choices read.

Light on purpose (no numba, no simulator import), so the command line can list the names
without loading the simulator. Each entry builds its network lazily from
``neurosim.sim.canonical``::

    import neurosim as ns
    entry = ns.sim.NETWORKS["brunel"]
    net = entry(n_neurons=2500, rng=0)     # = ns.sim.brunel(n_neurons=2500, rng=0)
    entry.default_neurons                  # 12500, the published size
"""
from __future__ import annotations

import dataclasses
import importlib

__all__ = ["CanonicalNetwork", "NETWORKS"]


@dataclasses.dataclass(frozen=True)
class CanonicalNetwork:
    """One canonical network: its builder (``neurosim.sim.<module>.<name>``) and its sizes.

    ``default_neurons``: the published size; ``min_neurons``: the smallest ``n_neurons`` the
    builder accepts; ``neurons_multiple``: ``n_neurons`` must be a multiple of it, for the reason
    ``size_rule`` (Brunel: NE = 4 order, NI = order, so 5).
    """

    name: str
    description: str
    default_neurons: int
    min_neurons: int
    neurons_multiple: int = 1
    size_rule: str = ""
    module: str = "canonical"
    builder: str = ""

    def check_neurons(self, n: int, arg: str = "n_neurons") -> int:
        """``ValueError`` naming ``arg`` unless the integer ``n`` is a multiple of ``neurons_multiple``."""
        if n % self.neurons_multiple:
            raise ValueError(f"{arg} for {self.name} must be a multiple of {self.neurons_multiple} "
                             f"({self.size_rule}), got {n}")
        return n

    def __call__(self, **kwargs):
        """Build the network: ``neurosim.sim.<module>.<builder>(**kwargs)`` (``module``: ``canonical`` and
        ``builder``: the name, unless given)."""
        return getattr(importlib.import_module(f"neurosim.sim.{self.module}"), self.builder or self.name)(**kwargs)


#: name -> canonical network (ALGORITHMS.md §7)
NETWORKS: dict[str, CanonicalNetwork] = {e.name: e for e in (
    CanonicalNetwork("izhikevich2003", "Izhikevich (2003), 80 % excitatory, 1 ms step", 1000, 2),
    CanonicalNetwork("cuba", "Vogels-Abbott / Brette et al. (2007) benchmark 2", 4000, 5),
    CanonicalNetwork("stdp", "Song, Miller & Abbott (2000) STDP: Poisson inputs onto one neuron "
                     "(Brian2 examples/synapses/STDP.py)", 1001, 2, module="canonical_stdp", builder="song_abbott_stdp"),
    CanonicalNetwork("coba", "Vogels-Abbott / Brette et al. (2007) benchmark 1, conductance synapses", 4000, 5),
    CanonicalNetwork("brunel", "Brunel (2000) sparse balanced network, asynchronous-irregular state", 12500, 5,
                     neurons_multiple=5, size_rule="NE = 4 order, NI = order"),
    CanonicalNetwork("cobahh", "Brette et al. (2007) benchmark 3: Hodgkin-Huxley, conductance synapses", 4000, 5,
                     module="canonical_hh"),
)}
