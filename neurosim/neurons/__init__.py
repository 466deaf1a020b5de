"""Point-neuron models: parameter dataclasses, state tuples and NumPy-level step/run functions.

``LIFParams`` / ``IzhikevichParams`` hold continuous-time parameters (ms, mV); ``LIFState`` /
``IzhikevichState`` are NamedTuples of per-neuron arrays. ``lif_step``/``lif_run`` and
``izhikevich_step``/``izhikevich_run`` validate their inputs and call the Numba kernels in
``neurosim.kernels``.
"""
from neurosim.neurons.hh import HHParams, HHState, hh_run
from neurosim.neurons.izhikevich import izhikevich_run, izhikevich_step
from neurosim.neurons.lif import lif_run, lif_step
from neurosim.neurons.params import (
    CH, FS, IB, IZHIKEVICH_MAX_DT, IZHIKEVICH_PRESETS, LTS, RS, RZ, TC, IzhikevichParams,
    IzhikevichState, LIFParams, LIFState, lif_max_dt,
)

__all__ = [
    "LIFParams", "LIFState", "HHParams", "HHState", "hh_run", "IzhikevichParams", "IzhikevichState", "IZHIKEVICH_PRESETS",
    "IZHIKEVICH_MAX_DT", "lif_max_dt", "lif_step", "lif_run", "izhikevich_step", "izhikevich_run", "RS", "IB", "CH", "FS", "LTS", "TC", "RZ",
]
