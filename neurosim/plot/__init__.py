"""Figures: spike rasters, membrane traces, population rates (``spikes``), and RDM / TSRSA /
accuracy-matrix plots from the sibling modules.

Every function returns the ``Axes`` (or ``Figure``) it drew and never calls ``plt.show``.
Importing this package is cheap: matplotlib loads on the first plot, torch never.
Names not defined in :mod:`neurosim.plot.spikes` are looked up lazily in the other plot
modules (``neurosim.plot.rsa``, ``neurosim.plot.accuracy``) when they exist.
"""
from __future__ import annotations

import importlib

from neurosim.plot.spikes import (
    plot_population_rate, population_rate, raster, raster_and_rate, traces,
)

__all__ = ["raster", "traces", "population_rate", "plot_population_rate", "raster_and_rate"]

_LAZY_MODULES = ("rsa", "accuracy")


def __getattr__(name: str):
    if name in _LAZY_MODULES:
        module = importlib.import_module(f"neurosim.plot.{name}")
        globals()[name] = module
        return module
    for mod_name in _LAZY_MODULES:
        try:
            module = importlib.import_module(f"neurosim.plot.{mod_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"neurosim.plot.{mod_name}":
                continue
            raise
        if name in getattr(module, "__all__", ()):
            value = getattr(module, name)
            globals()[name] = value
            return value
    raise AttributeError(f"module 'neurosim.plot' has no attribute {name!r}")
