"""Pure functional neuron steps (explicit NamedTuple state, no hidden state)."""
from neurosim.snn.functional.lif import (
    LIFSpec, LIFState, lif_charge, lif_fire, lif_reset, lif_run, lif_step,
)

__all__ = ["LIFSpec", "LIFState", "lif_charge", "lif_fire", "lif_reset", "lif_run", "lif_step"]
