"""neurosim: spiking and neuromorphic simulation.

``import neurosim as ns`` is cheap and never imports torch: subpackages load on first
attribute access (``ns.sim``, ``ns.snn`` ...). The torch-based layers (``snn``, ``continual``,
``distill``, ``convert``, ``models``) import torch only when they are used.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_SUBMODULES = (
    "config", "kernels", "neurons", "sim", "snn", "continual", "reservoir", "distill",
    "rsa", "data", "io", "plot", "models", "commands", "convert",
)

__all__ = list(_SUBMODULES) + ["__version__"]


def __getattr__(name: str):
    if name in _SUBMODULES:
        module = importlib.import_module(f"neurosim.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'neurosim' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES))
