"""SNN modules: cells (one step), sequence layers ``[T, B, ...]`` and stateful layers."""
from neurosim.snn.modules.alif import AdaptiveLIF, AdaptiveLIFCell, AdaptiveLIFLayer
from neurosim.snn.modules.base import StatefulLayer, run_steps
from neurosim.snn.modules.cuba import CubaLIF, CubaLIFCell, CubaLIFLayer
from neurosim.snn.modules.izhikevich import Izhikevich, IzhikevichCell, IzhikevichLayer
from neurosim.snn.modules.lif import LIF, LIFAvgPool, LIFAvgPoolLayer, LIFCell, LIFLayer
from neurosim.snn.modules.plif import IF, IFCell, IFLayer, ParametricLIF, ParametricLIFCell, ParametricLIFLayer
from neurosim.snn.modules.rlif import RecurrentLIF, RecurrentLIFCell, RecurrentLIFLayer, RecurrentLIFState

__all__ = [
    "LIF", "LIFCell", "LIFLayer", "LIFAvgPool", "LIFAvgPoolLayer", "ParametricLIF", "ParametricLIFCell", "ParametricLIFLayer",
    "IF", "IFCell", "IFLayer", "AdaptiveLIF", "AdaptiveLIFCell", "AdaptiveLIFLayer",
    "CubaLIF", "CubaLIFCell", "CubaLIFLayer", "RecurrentLIF", "RecurrentLIFCell",
    "RecurrentLIFLayer", "RecurrentLIFState", "Izhikevich", "IzhikevichCell", "IzhikevichLayer",
    "StatefulLayer", "run_steps",
]
