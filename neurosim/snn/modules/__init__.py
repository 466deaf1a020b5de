"""SNN modules: cells (one step), sequence layers ``[T, B, ...]`` and stateful layers."""
from neurosim.snn.modules.lif import LIF, LIFCell, LIFLayer

__all__ = ["LIF", "LIFCell", "LIFLayer"]
