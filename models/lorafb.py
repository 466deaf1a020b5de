r"""LoRaFB-SNet: SEW-ResNet with long-range feedback around every stage (Huang et al., NeurIPS 2024).

Spec: ALGORITHMS.md §1.1–1.2. Backbone = SEW-ResNet (connect ``ADD``), LIF neurons with
tau 2, v_th 1, hard reset to 0, ATan(2) surrogate, ``detach_reset``. Each stage
:math:`F^l` is wrapped in a :class:`ConvRecurrentContainer` that, at every time step t,

.. math::

    R_t^l &= \mathrm{SN}(\mathrm{BN}(\mathrm{DW}(O_{t-1}^l)))      \quad\text{(stride > 1; else } R_t^l = O_{t-1}^l)\\
    A_t^l &= \mathrm{SN}(\mathrm{BN}(\mathrm{PW}([O_t^{l-1}, R_t^l])))  \\
    O_t^l &= F^l(A_t^l)

``DW`` = depthwise ``ConvTranspose2d(C_out, C_out, 3, stride, padding 1, output_padding 1,
groups C_out, no bias)`` (upsamples the stage output back to the stage input size; for an
odd input size the output size is matched by the transposed convolution's
``output_size``), ``PW`` = ``Conv2d(C_in + C_out -> C_in, 1x1, no bias)``; BN and SN follow
each. The state ``y = O_{t-1}`` starts as zeros of the stage output's shape and is cleared
by ``neurosim.snn.reset_states``. The container steps through time itself (its inner
modules see one step at a time, so BN statistics inside a stage are per step, as in the
official single-step container); the stem and head run multi-step.

Layer names follow the official feature-extraction list (``model_layers/lorafb_snet18.json``):
``sn1``, ``maxpool``, ``recurrent_layer{1..4}.sub_module.{0,1}`` (the residual blocks),
``avgpool``; ``fc`` is the head. A forward hook on a module inside a container fires once per
time step with a ``[1, B, ...]`` output (``neurosim.rsa.features.extract_features`` assembles
these time-major).
"""
from __future__ import annotations

import torch
from torch import nn

from neurosim.snn.batchnorm import BatchNorm2d
from neurosim.snn.containers import Stateful
from .registry import make_neuron, register
from .sew_resnet import SEWResNet

__all__ = ["ConvRecurrentContainer", "LoRaFBSNet"]


class ConvRecurrentContainer(Stateful, nn.Module):
    """Long-range feedback around one stage ``sub_module`` (see the module docstring).

    Parameters
    ----------
    sub_module : the feed-forward stage, a multi-step module mapping ``[T, B, C_in, H, W]``
        to ``[T, B, C_out, H/stride, W/stride]``.
    in_channels, out_channels, stride : the stage's channels and spatial stride.
    neuron : dict of ``neurosim.snn.LIFLayer`` options for the feedback/fusion neurons.

    ``self.state`` holds ``O_{t-1}`` ``[B, C_out, H_out, W_out]`` between calls (None at rest).
    """

    def __init__(self, sub_module: nn.Module, in_channels: int, out_channels: int, stride: int, neuron=None):
        super().__init__()
        if stride == 1 and in_channels != out_channels:
            raise ValueError(f"a stride-1 stage feeds its output back unchanged, so in_channels ({in_channels}) "
                             f"must equal out_channels ({out_channels})")
        self.sub_module = sub_module
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        if stride > 1:
            self.dwconv = nn.ConvTranspose2d(out_channels, out_channels, 3, stride, 1, output_padding=1,
                                             groups=out_channels, bias=False)
            self.dwbn = BatchNorm2d(out_channels)
            self.dwsn = make_neuron(neuron)
        else:
            self.dwconv = self.dwbn = self.dwsn = None
        self.pwconv = nn.Conv2d(in_channels + out_channels, in_channels, 1, bias=False)
        self.pwbn = BatchNorm2d(in_channels)
        self.pwsn = make_neuron(neuron)

    def reset_state(self) -> None:
        self.state = None

    def detach_state(self) -> None:
        if self.state is not None:
            self.state = self.state.detach()

    def _out_size(self, h: int, w: int) -> tuple[int, int]:
        # conv3x3 pad 1 (and conv1x1 pad 0) with stride s: ceil(h / s)
        s = self.stride
        return (h + s - 1) // s, (w + s - 1) // s

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        if x.dim() != 5:
            raise ValueError(f"x must be [T, B, C, H, W], got shape {tuple(x.shape)}")
        t_steps, b, _, h, w = x.shape
        y = self.state
        if y is None:
            ho, wo = self._out_size(h, w)
            y = x.new_zeros(b, self.out_channels, ho, wo)
        elif y.shape[0] != b:
            raise ValueError(f"feedback state has batch {y.shape[0]} but x has batch {b}; "
                             "call neurosim.snn.reset_states(model) before a new batch")
        outs = []
        for t in range(t_steps):
            if self.stride > 1:
                r = self.dwsn(self.dwbn(self.dwconv(y, output_size=(h, w))).unsqueeze(0))[0]
            else:
                r = y
            a = self.pwsn(self.pwbn(self.pwconv(torch.cat((x[t], r), dim=1))).unsqueeze(0))
            o = self.sub_module(a)
            y = o[0]
            outs.append(o)
        self.state = y
        return torch.cat(outs, 0)


class LoRaFBSNet(SEWResNet):
    """LoRaFB-SNet (SEW-ResNet-ADD backbone with one feedback container per stage).

    Parameters
    ----------
    layers : blocks per stage (``(2, 2, 2, 2)`` = LoRaFB-SNet18).
    base_width : channels of stage 1 (64 in the paper).
    num_classes : 101 (UCF101) / 1000 (ImageNet) in the paper.
    in_channels, stem : input channels; ``"imagenet"`` (7x7/2 + max-pool) or ``"small"`` stem.
    connect : SEW connect function (``"ADD"`` in the paper).
    neuron : dict of ``neurosim.snn.LIFLayer`` options.
    mean_output : ``[B, K]`` time-averaged logits (default, the training loss uses them) or
        ``[T, B, K]``.

    Stem, head, forward pass and ``reset_states`` are the SEW-ResNet's; only each stage is
    wrapped in a :class:`ConvRecurrentContainer` (named ``recurrent_layer{l}``).
    """

    stage_prefix = "recurrent_layer"

    def __init__(self, layers=(2, 2, 2, 2), base_width: int = 64, num_classes: int = 101, in_channels: int = 3,
                 stem: str = "imagenet", connect: str = "ADD", neuron=None, mean_output: bool = True):
        super().__init__(layers=layers, base_width=base_width, num_classes=num_classes, in_channels=in_channels,
                         stem=stem, connect=connect, neuron=neuron, mean_output=mean_output)

    def _wrap_stage(self, stage, in_planes: int, planes: int, stride: int, neuron):
        return ConvRecurrentContainer(stage, in_planes, planes, stride, neuron), ".sub_module"


@register("lorafb_snet18")
def lorafb_snet18(**cfg) -> LoRaFBSNet:
    """LoRaFB-SNet18 (2, 2, 2, 2)."""
    return LoRaFBSNet(layers=(2, 2, 2, 2), **cfg)


@register("lorafb_snet34")
def lorafb_snet34(**cfg) -> LoRaFBSNet:
    """LoRaFB-SNet34 (3, 4, 6, 3)."""
    return LoRaFBSNet(layers=(3, 4, 6, 3), **cfg)
