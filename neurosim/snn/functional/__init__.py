"""Pure functional neuron steps (explicit NamedTuple state, no hidden state)."""
from neurosim.snn.functional.alif import ALIFSpec, ALIFState, alif_step
from neurosim.snn.functional.cuba import CubaLIFSpec, CubaLIFState, cuba_lif_step
from neurosim.snn.functional.izhikevich import IzhikevichSpec, IzhikevichState, izhikevich_step
from neurosim.snn.functional.lif import (
    LIFSpec, LIFState, lif_charge, lif_fire, lif_reset, lif_run, lif_step,
)

__all__ = [
    "LIFSpec", "LIFState", "lif_charge", "lif_fire", "lif_reset", "lif_run", "lif_step",
    "ALIFSpec", "ALIFState", "alif_step", "CubaLIFSpec", "CubaLIFState", "cuba_lif_step",
    "IzhikevichSpec", "IzhikevichState", "izhikevich_step",
]
