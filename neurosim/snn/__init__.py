"""Surrogate-gradient spiking neural networks (torch).

Multi-step tensors are time first, ``[T, B, ...]``. Cells (``LIFCell``) take one step
``[B, ...]``; sequence modules (``LIF``) return ``(spikes, state)``; stateful layers
(``LIFLayer``) return spikes only and keep their state until :func:`reset_states`.
"""
from neurosim.snn import encoding
from neurosim.snn.batchnorm import BatchNorm2d
from neurosim.snn.calibration import recalibrate_batchnorm
from neurosim.snn.containers import (
    MultiStep, SeqToANN, Stateful, TimeDistributed, detach_states, reset_states,
)
from neurosim.snn.conv import Conv2d
from neurosim.snn.conventions import CONVENTIONS, get_convention, resolve_lif_spec
from neurosim.snn.encoding import delta, direct, latency, poisson
from neurosim.snn.fused_config import FusedOptions, fused_options, get_fused_options, set_fused_options
from neurosim.snn.functional import (
    ALIFState, CubaLIFState, IzhikevichState, LIFSpec, LIFState, lif_run, lif_step,
)
from neurosim.snn.modules import (
    IF, LIF, AdaptiveLIF, AdaptiveLIFCell, AdaptiveLIFLayer, CubaLIF, CubaLIFCell, CubaLIFLayer,
    IFCell, IFLayer, Izhikevich, IzhikevichCell, IzhikevichLayer, LIFAvgPool, LIFAvgPoolLayer, LIFCell, LIFLayer,
    ParametricLIF,
    ParametricLIFCell, ParametricLIFLayer, RecurrentLIF, RecurrentLIFCell, RecurrentLIFLayer,
    RecurrentLIFState, StatefulLayer,
)
from neurosim.snn.surrogate import (
    SURROGATES, ATan, Erf, FastSigmoid, Gaussian, Sigmoid, SuperSpike, Surrogate, Triangle,
    get_surrogate,
)

__all__ = [
    "encoding", "BatchNorm2d", "recalibrate_batchnorm",
    "Conv2d", "MultiStep", "SeqToANN", "Stateful", "TimeDistributed", "detach_states",
    "reset_states", "CONVENTIONS", "get_convention", "resolve_lif_spec", "delta", "direct",
    "latency", "poisson", "LIFSpec", "LIFState", "lif_run", "lif_step", "LIF", "LIFCell",
    "LIFLayer", "LIFAvgPool", "LIFAvgPoolLayer", "ALIFState", "CubaLIFState", "IzhikevichState", "IF", "AdaptiveLIF",
    "AdaptiveLIFCell", "AdaptiveLIFLayer", "CubaLIF", "CubaLIFCell", "CubaLIFLayer", "IFCell",
    "IFLayer", "Izhikevich", "IzhikevichCell", "IzhikevichLayer", "ParametricLIF",
    "ParametricLIFCell", "ParametricLIFLayer", "RecurrentLIF", "RecurrentLIFCell",
    "RecurrentLIFLayer", "RecurrentLIFState", "StatefulLayer", "SURROGATES", "ATan", "Erf", "FastSigmoid", "Gaussian", "Sigmoid", "SuperSpike",
    "Surrogate", "Triangle", "get_surrogate",
    "FusedOptions", "fused_options", "get_fused_options", "set_fused_options",
]
