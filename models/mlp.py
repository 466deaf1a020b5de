"""Spiking MLP (multi-step): flatten -> (Linear -> LIF) x n -> Linear, logits averaged over time.

Input ``[T, B, *in_shape]``; the sample is flattened, every hidden layer is a fully
connected ``Linear`` followed by a multi-step LIF layer (``neurosim.snn.LIFLayer``), and the
readout is a ``Linear`` whose outputs (membrane-free logits) are averaged over the ``T`` steps.
Layer names ``net.fc1, net.sn1, ..., net.fc<n+1>`` match the ANN
:class:`~neurosim.models.teachers.MLP` (``relu`` in place of ``sn``).
"""
from __future__ import annotations

from collections import OrderedDict

from torch import nn

from neurosim._validation import check_int
from neurosim.snn.nir import register_layers
from neurosim.snn.containers import reset_states
from .registry import check_input, make_neuron, register

__all__ = ["SpikingMLP"]


@register("spiking_mlp")
class SpikingMLP(nn.Module):
    """Spiking multilayer perceptron.

    Parameters
    ----------
    in_shape : shape of one sample (e.g. ``(1, 28, 28)`` or ``(784,)``).
    hidden : hidden widths.
    num_classes : outputs.
    neuron : dict of ``neurosim.snn.LIFLayer`` options.
    mean_output : return ``[B, K]`` time-averaged logits (default) or ``[T, B, K]``.
    """

    def __init__(self, in_shape=(1, 28, 28), hidden=(256, 256), num_classes: int = 10, neuron=None,
                 mean_output: bool = True):
        super().__init__()
        self.in_shape = tuple(in_shape)
        for s in self.in_shape:
            check_int("in_shape", s, min_value=1)
        hidden = tuple(hidden)
        for h in hidden:
            check_int("hidden", h, min_value=1)
        check_int("num_classes", num_classes, min_value=1)
        n_in = 1
        for s in self.in_shape:
            n_in *= s
        layers = OrderedDict()
        for i, h in enumerate(hidden, 1):
            layers[f"fc{i}"] = nn.Linear(n_in, h)
            layers[f"sn{i}"] = make_neuron(neuron)
            n_in = h
        layers[f"fc{len(hidden) + 1}"] = nn.Linear(n_in, num_classes)
        self.net = nn.Sequential(layers)
        self.mean_output = bool(mean_output)
        self.feature_layers = tuple(f"net.sn{i}" for i in range(1, len(hidden) + 1))
        self.distill_layer = self.feature_layers[-1] if hidden else None

    #: ``model.reset_states()``: every neuron state back to its initial value (the one helper)
    reset_states = reset_states

    def forward(self, x):
        check_input(x, len(self.in_shape))
        out = self.net(x.flatten(2))
        return out.mean(0) if self.mean_output else out


@register_layers(SpikingMLP)
def _nir_layers(model):
    """The per-step stack NIR export writes (the time average of the logits is a readout, not a node)."""
    return [nn.Flatten(2), model.net]
