"""The same ``sim.Network`` on NEST (scale-out: threads here, MPI on a cluster).

``net.to_nest(threads=2)`` builds the network in NEST (``NestNetwork``: ``run(duration_ms)`` fills
neurosim's ``SpikeMonitor`` / ``StateMonitor``), ``net.run(duration, backend="nest")`` is the
one-line route, ``net.write_nest_script(DIR)`` writes ``network/`` (the arrays) + ``run_nest.py`` for
``mpirun -np K python run_nest.py`` and :func:`read_nest_spikes` merges the per-rank spike files.

Modules: ``export`` (``network_spec``: the network in NEST's units, one mapper per model),
``build`` (NEST from a spec; imports no neurosim, copied into the script), ``run``
(``NestNetwork``), ``script`` (the standalone script and its reader). NEST itself is imported
only when a network is built (``pip install nest-simulator``).
"""
from __future__ import annotations

import importlib

_EXPORTS = {"network_spec": "export", "NestNetwork": "run", "write_nest_script": "script",
            "read_nest_spikes": "script"}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"neurosim.sim.nest.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'neurosim.sim.nest' has no attribute {name!r}")
