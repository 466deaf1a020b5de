"""Point-neuron models: parameter dataclasses, state tuples and NumPy-level step/run functions.

``LIFParams`` / ``IzhikevichParams`` / ``CondLIFParams`` (conductance synapses) hold continuous-time parameters (ms, mV); ``LIFState`` /
``IzhikevichState`` are NamedTuples of per-neuron arrays. ``lif_step``/``lif_run`` and
``izhikevich_step``/``izhikevich_run`` validate their inputs and call the Numba kernels in
``neurosim.kernels``.
"""
from neurosim.neurons.adex import ADEX_PRESETS, NAUD_CURRENTS, AdExParams, AdExState, adex_run
from neurosim.neurons.hh import HHParams, HHState, hh_run
from neurosim.neurons.izhikevich import izhikevich_run, izhikevich_step
from neurosim.neurons.lif import lif_run, lif_step
from neurosim.neurons.lif_cond import CondLIFParams
from neurosim.neurons.params import (
    CH, FS, IB, IZHIKEVICH_MAX_DT, IZHIKEVICH_PRESETS, LTS, RS, RZ, TC, IzhikevichParams,
    IzhikevichState, LIFParams, LIFState, lif_max_dt,
)

__all__ = [
    "AdExParams", "AdExState", "ADEX_PRESETS", "NAUD_CURRENTS", "adex_run",
    "LIFParams", "LIFState", "CondLIFParams", "HHParams", "HHState", "hh_run", "IzhikevichParams", "IzhikevichState", "IZHIKEVICH_PRESETS",
    "IZHIKEVICH_MAX_DT", "lif_max_dt", "lif_step", "lif_run", "izhikevich_step", "izhikevich_run", "RS", "IB", "CH", "FS", "LTS", "TC", "RZ",
]
