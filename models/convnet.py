"""Spiking VGG-style ConvNet (multi-step), and the layer builders shared with its ANN twin.

Default = the issue's training-check network for 28x28 grey images::

    conv3x3(1->32, pad 1) - BN - LIF - avgpool 2   # 32 x 14 x 14
    conv3x3(32->64, pad 1) - BN - LIF - avgpool 2  # 64 x 7 x 7
    flatten - linear(3136->256) - LIF - linear(256->10)
    output = logits averaged over the T steps

Convolutions feeding BN have no bias (BN supplies it). Stateless per-step modules
(conv, BN, pooling) run on ``[T*B, ...]`` through ``neurosim.snn.SeqToANN``, so BN
statistics are taken over time and batch together (spikingjelly's ``SeqToANNContainer``).

``fuse_pool=True`` (average pooling only) runs each LIF and the 2x2 average pooling after it
as one fused kernel (:class:`neurosim.snn.modules.LIFAvgPoolLayer`): ``features.sn<i>`` then
outputs the pooled spikes and ``features.pool<i>`` is an identity; values, gradients and the
training trajectory are the same as with separate layers (the spikes are 0 or 1, so the 2x2
means are exact). It applies to LIF neurons (``neuron["kind"]`` left at ``"lif"``).

``static_input=True``: when the input is one image repeated over time (a stride-0
``x.unsqueeze(0).expand(T, ...)``, the usual direct encoding), ``conv1`` and ``bn1`` run once on
the image instead of T times and the first LIF layer reads the same drive at every step
(spikingjelly's clock_driven Fashion-MNIST tutorial does the same with its ``static_conv``; its
2.0 ``activation_based`` example does not). Same forward values up to BatchNorm rounding (the
batch statistics are taken over B images instead of T identical copies; the running variance's
unbiased factor uses B H W instead of T B H W samples) and the same gradients up to summation
order. Other inputs take the ordinary path.

Layer names (``features.conv1``, ``features.bn1``, ``features.sn1``, ``features.pool1``, ...,
``classifier.fc1``, ``classifier.sn3``, ``classifier.fc2``) match the ANN
:class:`~neurosim.models.teachers.ConvNet` (``relu`` in place of ``sn``), and
``distill_layer = "features.pool<n>"`` is the last feature map in both.
"""
from __future__ import annotations

from collections import OrderedDict

from torch import nn

from neurosim._validation import check_choice, check_int
from neurosim.snn.batchnorm import BatchNorm2d
from neurosim.snn.conv import Conv2d
from neurosim.snn.nir import register_layers
from neurosim.snn.containers import reset_states
from .registry import check_input, make_neuron, register, seq

__all__ = ["SpikingConvNet", "build_conv_features", "build_classifier"]


def _ints(name, values):
    vals = tuple(values)
    for v in vals:
        check_int(name, v, min_value=1)
    return vals


def build_conv_features(in_channels, input_size, channels, pool, *, act, act_name, wrap):
    """``Sequential`` of conv3x3-BN-act-pool blocks; returns (module, out_channels, out_size)."""
    check_int("in_channels", in_channels, min_value=1)
    check_int("input_size", input_size, min_value=1)
    channels = _ints("channels", channels)
    if not channels:
        raise ValueError("channels must name at least one conv layer, e.g. (32, 64)")
    check_choice("pool", pool, ("avg", "max"))
    size = input_size
    layers = OrderedDict()
    c_in = in_channels
    for i, c in enumerate(channels, 1):
        layers[f"conv{i}"] = wrap(Conv2d(c_in, c, 3, 1, 1, bias=False))
        layers[f"bn{i}"] = wrap(BatchNorm2d(c))
        layers[f"{act_name}{i}"] = act()
        layers[f"pool{i}"] = wrap(nn.AvgPool2d(2) if pool == "avg" else nn.MaxPool2d(2))
        size //= 2
        if size < 1:
            raise ValueError(f"input_size {input_size} is too small for {len(channels)} 2x2 poolings; "
                             f"use input_size >= {2 ** len(channels)} or fewer channels")
        c_in = c
    return nn.Sequential(layers), c_in, size


def build_classifier(n_in, hidden, num_classes, first_act_index, *, act, act_name):
    """``Sequential``: (fc_j - act) for each hidden width, then the output fc."""
    hidden = _ints("hidden", hidden)
    check_int("num_classes", num_classes, min_value=1)
    layers = OrderedDict()
    for j, h in enumerate(hidden, 1):
        layers[f"fc{j}"] = nn.Linear(n_in, h)
        layers[f"{act_name}{first_act_index + j}"] = act()
        n_in = h
    layers[f"fc{len(hidden) + 1}"] = nn.Linear(n_in, num_classes)
    return nn.Sequential(layers)


def _fuse_lif_pool(features, n, pool):
    """Replace ``sn<i>`` + ``pool<i>`` by a fused LIF-avgpool layer + identity (LIF neurons only)."""
    from torch import nn as _nn

    from neurosim.snn.modules.lif import LIFAvgPoolLayer, LIFLayer

    if pool != "avg":
        raise ValueError("fuse_pool=True needs pool='avg'")
    for i in range(1, n + 1):
        sn = getattr(features, f"sn{i}")
        if type(sn) is not LIFLayer:
            raise ValueError(f"fuse_pool=True needs LIF neurons, got {type(sn).__name__}")
        setattr(features, f"sn{i}", LIFAvgPoolLayer(spec=sn.spec, backend=sn.backend))
        setattr(features, f"pool{i}", _nn.Identity())


@register("spiking_convnet")
class SpikingConvNet(nn.Module):
    """Spiking VGG-style ConvNet, input ``[T, B, C, H, W]``.

    Parameters
    ----------
    in_channels, input_size : image channels and side length (square).
    channels : conv widths, one conv3x3-BN-LIF-pool block each.
    hidden : widths of the hidden fully connected LIF layers.
    num_classes : outputs.
    pool : ``"avg"`` or ``"max"``.
    neuron : dict of ``neurosim.snn.LIFLayer`` options (default tau 2, v_th 1, hard reset,
        ATan, detach_reset).
    mean_output : return logits averaged over time ``[B, K]`` (default) or ``[T, B, K]``.
    fuse_pool : fuse each LIF with the average pooling after it (see the module docstring).
    static_input : run conv1 + bn1 once for a repeated (stride-0) input image (see the module docstring).
    """

    def __init__(self, in_channels: int = 1, input_size: int = 28, channels=(32, 64), hidden=(256,),
                 num_classes: int = 10, pool: str = "avg", neuron=None, mean_output: bool = True,
                 fuse_pool: bool = False, static_input: bool = False):
        super().__init__()
        self.features, c, s = build_conv_features(in_channels, input_size, channels, pool,
                                                  act=lambda: make_neuron(neuron), act_name="sn", wrap=seq)
        self.fuse_pool = bool(fuse_pool)
        if self.fuse_pool:
            _fuse_lif_pool(self.features, len(tuple(channels)), pool)
        self.static_input = bool(static_input)
        if self.static_input and not hasattr(self.features.sn1, "forward_static"):
            raise ValueError(f"static_input=True needs LIF neurons, got {type(self.features.sn1).__name__}")
        self.flatten = nn.Flatten(2)
        self.classifier = build_classifier(c * s * s, hidden, num_classes, len(channels),
                                           act=lambda: make_neuron(neuron), act_name="sn")
        self.mean_output = bool(mean_output)
        n = len(tuple(channels))
        self.feature_layers = tuple(f"features.sn{i}" for i in range(1, n + 1)) + tuple(
            f"classifier.sn{n + j}" for j in range(1, len(tuple(hidden)) + 1))
        self.distill_layer = f"features.pool{n}"

    #: ``model.reset_states()``: every neuron state back to its initial value (the one helper)
    reset_states = reset_states

    def _static_features(self, x):
        """``features`` for a stride-0 repeated image: conv1 + bn1 once, then the rest over T."""
        f = self.features
        y = f.bn1[0](f.conv1[0](x[0]))
        y = f.sn1.forward_static(y, x.shape[0])
        for name, mod in f.named_children():
            if name not in ("conv1", "bn1", "sn1"):
                y = mod(y)
        return y

    def forward(self, x):
        check_input(x, 3)
        static = self.static_input and x.shape[0] > 1 and x.stride(0) == 0
        feats = self._static_features(x) if static else self.features(x)
        out = self.classifier(self.flatten(feats))
        return out.mean(0) if self.mean_output else out


@register_layers(SpikingConvNet)
def _nir_layers(model):
    """The per-step stack NIR export writes (the time average of the logits is a readout, not a node)."""
    return [model.features, model.flatten, model.classifier]
