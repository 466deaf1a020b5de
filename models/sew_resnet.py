r"""Spike-Element-Wise ResNet (Fang et al., NeurIPS 2021), multi-step, depths 18 and 34.

SEW basic block (ALGORITHMS.md §1.2)::

    out      = SN(BN(conv3x3(SN(BN(conv3x3(x, stride))))))
    identity = SN(BN(conv1x1(x, stride)))   if the shape changes, else x
    y        = g(out, identity)

with the element-wise connect function ``g`` of the paper (A = residual-branch spikes
``out``, S = identity spikes):

=========  ======================  ================================
``ADD``    :math:`A + S`            integer-valued (0, 1, 2, ...)
``AND``    :math:`A \wedge S = A S`  binary
``IAND``   :math:`\lnot A \wedge S = (1 - A) S`  binary
=========  ======================  ================================

Network: stem ``conv1`` (7x7, stride 2, 64) - ``bn1`` - ``sn1`` - ``maxpool`` (3, stride 2),
stages ``layer1..4`` (widths 64, 128, 256, 512 times ``base_width/64``, strides 1, 2, 2, 2),
``avgpool`` (global) - ``fc``; output = logits averaged over time. ``stem="small"`` uses a
3x3 stride-1 stem without max-pooling (``maxpool`` is then an identity) for 28x28/32x32
inputs. Initialisation: Kaiming normal (fan_out, relu) for convolutions, BN weight 1 / bias 0.
The learnable parameters are exactly those of the ANN ResNet of the same depth and width
(ResNet-18: 11,689,512 with 1000 classes).
"""
from __future__ import annotations

import torch
from torch import nn

from neurosim._validation import check_choice, check_int
from neurosim.snn.batchnorm import BatchNorm2d
from neurosim.snn.containers import reset_states
from .registry import check_input, make_neuron, register, seq
from .teachers import init_weights

__all__ = ["CONNECT_FUNCTIONS", "sew_connect", "SEWBasicBlock", "SEWResNet", "make_sew_stage"]


def _add(a, s):
    return a + s


def _and(a, s):
    return a * s


def _iand(a, s):
    return (1.0 - a) * s


#: connect functions g(A, S): A = residual-branch output, S = identity (shortcut) spikes
CONNECT_FUNCTIONS = {"ADD": _add, "AND": _and, "IAND": _iand}


def sew_connect(name: str):
    """The connect function called ``name`` (``KeyError`` lists the valid names)."""
    if name not in CONNECT_FUNCTIONS:
        raise KeyError(f"unknown SEW connect function {name!r}; valid names: {', '.join(CONNECT_FUNCTIONS)}")
    return CONNECT_FUNCTIONS[name]


class SEWBasicBlock(nn.Module):
    """SEW basic block on ``[T, B, C, H, W]`` (see the module docstring)."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1, connect: str = "ADD", neuron=None):
        super().__init__()
        self.connect = connect
        self._g = sew_connect(connect)
        self.conv1 = seq(nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False))
        self.bn1 = seq(BatchNorm2d(planes))
        self.sn1 = make_neuron(neuron)
        self.conv2 = seq(nn.Conv2d(planes, planes, 3, 1, 1, bias=False))
        self.bn2 = seq(BatchNorm2d(planes))
        self.sn2 = make_neuron(neuron)
        self.downsample = None
        self.downsample_sn = None
        if stride != 1 or in_planes != planes:
            self.downsample = seq(nn.Conv2d(in_planes, planes, 1, stride, bias=False), BatchNorm2d(planes))
            self.downsample_sn = make_neuron(neuron)

    def forward(self, x):
        out = self.sn2(self.bn2(self.conv2(self.sn1(self.bn1(self.conv1(x))))))
        identity = x if self.downsample is None else self.downsample_sn(self.downsample(x))
        return self._g(out, identity)


def make_sew_stage(in_planes: int, planes: int, blocks: int, stride: int, connect: str, neuron) -> nn.Sequential:
    """One ResNet stage: ``blocks`` SEW basic blocks, the first with ``stride``."""
    mods = [SEWBasicBlock(in_planes, planes, stride, connect, neuron)]
    mods += [SEWBasicBlock(planes, planes, 1, connect, neuron) for _ in range(blocks - 1)]
    return nn.Sequential(*mods)


def _check_arch(layers, base_width, num_classes, in_channels, stem, connect):
    layers = tuple(layers)
    if not layers:
        raise ValueError("layers must list the blocks per stage, e.g. (2, 2, 2, 2)")
    for n in layers:
        check_int("layers", n, min_value=1)
    check_int("base_width", base_width, min_value=1)
    check_int("num_classes", num_classes, min_value=1)
    check_int("in_channels", in_channels, min_value=1)
    check_choice("stem", stem, ("imagenet", "small"))
    sew_connect(connect)
    return layers


def make_stem(in_channels: int, width: int, stem: str, neuron):
    """(conv1, bn1, sn1, maxpool) of a spiking ResNet, all multi-step."""
    if stem == "imagenet":
        conv = seq(nn.Conv2d(in_channels, width, 7, 2, 3, bias=False))
        pool = seq(nn.MaxPool2d(3, 2, 1))
    else:
        conv = seq(nn.Conv2d(in_channels, width, 3, 1, 1, bias=False))
        pool = nn.Identity()
    return conv, seq(BatchNorm2d(width)), make_neuron(neuron), pool


class SEWResNet(nn.Module):
    """SEW-ResNet with basic blocks, input ``[T, B, C, H, W]``.

    Parameters
    ----------
    layers : blocks per stage (``(2, 2, 2, 2)`` = 18, ``(3, 4, 6, 3)`` = 34).
    base_width : channels of stage 1 (64 in the paper).
    num_classes, in_channels : head and input sizes.
    stem : ``"imagenet"`` or ``"small"``.
    connect : ``"ADD"``, ``"AND"`` or ``"IAND"``.
    neuron : dict of ``neurosim.snn.LIFLayer`` options.
    mean_output : ``[B, K]`` time-averaged logits (default) or ``[T, B, K]``.
    """

    def __init__(self, layers=(2, 2, 2, 2), base_width: int = 64, num_classes: int = 1000, in_channels: int = 3,
                 stem: str = "imagenet", connect: str = "ADD", neuron=None, mean_output: bool = True):
        super().__init__()
        layers = _check_arch(layers, base_width, num_classes, in_channels, stem, connect)
        w = base_width
        self.conv1, self.bn1, self.sn1, self.maxpool = make_stem(in_channels, w, stem, neuron)
        in_planes = w
        names = ["sn1", "maxpool"]
        for i, n in enumerate(layers):
            planes = w * 2 ** i
            stride = 1 if i == 0 else 2
            stage = make_sew_stage(in_planes, planes, n, stride, connect, neuron)
            stage, blocks = self._wrap_stage(stage, in_planes, planes, stride, neuron)
            setattr(self, f"{self.stage_prefix}{i + 1}", stage)
            names += [f"{self.stage_prefix}{i + 1}{blocks}.{j}" for j in range(n)]
            in_planes = planes
        self.avgpool = seq(nn.AdaptiveAvgPool2d(1))
        self.fc = nn.Linear(in_planes, num_classes)
        self.n_stages = len(layers)
        self.mean_output = bool(mean_output)
        self.feature_layers = tuple(names + ["avgpool"])
        self.distill_layer = f"{self.stage_prefix}{len(layers)}"
        init_weights(self)

    #: attribute name of stage ``l`` is ``f"{stage_prefix}{l}"``
    stage_prefix = "layer"

    def _wrap_stage(self, stage, in_planes: int, planes: int, stride: int, neuron):
        """Hook for subclasses: wrap a stage; returns (module, path of its blocks inside it)."""
        return stage, ""

    #: ``model.reset_states()``: every neuron state back to its initial value (the one helper)
    reset_states = reset_states

    def forward(self, x):
        check_input(x, 3)
        x = self.maxpool(self.sn1(self.bn1(self.conv1(x))))
        for i in range(1, self.n_stages + 1):
            x = getattr(self, f"{self.stage_prefix}{i}")(x)
        out = self.fc(torch.flatten(self.avgpool(x), 2))
        return out.mean(0) if self.mean_output else out


@register("sew_resnet18")
def sew_resnet18(**cfg) -> SEWResNet:
    """SEW-ResNet-18 (2, 2, 2, 2)."""
    return SEWResNet(layers=(2, 2, 2, 2), **cfg)


@register("sew_resnet34")
def sew_resnet34(**cfg) -> SEWResNet:
    """SEW-ResNet-34 (3, 4, 6, 3)."""
    return SEWResNet(layers=(3, 4, 6, 3), **cfg)


@register("sew_resnet_small")
def sew_resnet_small(**cfg) -> SEWResNet:
    """Spiking twin of ``resnet_small``: 4 stages of one block, width 16, 3x3 stem, 1 channel, 10 classes."""
    kw = dict(layers=(1, 1, 1, 1), base_width=16, num_classes=10, in_channels=1, stem="small")
    kw.update(cfg)
    return SEWResNet(**kw)
