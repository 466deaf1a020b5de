"""ANN teachers: MLP, ConvNet and ResNet with ReLU, for knowledge distillation and baselines.

Each teacher mirrors the topology and the layer names of its spiking counterpart
(:mod:`neurosim.models.mlp`, :mod:`~neurosim.models.convnet`,
:mod:`~neurosim.models.sew_resnet`) with ``ReLU`` in place of the LIF layers, so that a
feature of the student can be matched with the teacher's feature of the same name
(``model.distill_layer``, ``model.feature_layers``).

Input is ``[B, *sample_shape]``; a sequence ``[T, B, *sample_shape]`` is accepted too
(time merged into the batch, logits averaged over ``T``). Teachers have no state;
``reset_states()`` is a no-op kept so that every model in the zoo has the same interface.

ResNet (He et al. 2016) with ``layers=(2, 2, 2, 2)`` and ``base_width=64`` has exactly the
11,689,512 parameters of the standard ResNet-18 (1000 classes), ``(3, 4, 6, 3)`` the
21,797,672 of ResNet-34.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from neurosim._validation import check_int
from neurosim.snn.batchnorm import BatchNorm2d
from .convnet import build_classifier, build_conv_features
from .registry import check_input, register

__all__ = ["MLP", "ConvNet", "ResNet", "BasicBlock", "init_weights"]


def init_weights(model: nn.Module) -> nn.Module:
    """Kaiming-normal (fan_out, relu) for convolutions, BN weight 1 / bias 0 (ResNet recipe)."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return model


class _Teacher(nn.Module):
    sample_ndim = 3

    def reset_states(self) -> None:
        """No state to reset (ANN)."""

    def forward(self, x):  # noqa: D401
        seq = check_input(x, self.sample_ndim, allow_static=True)
        if seq:
            t, b = x.shape[:2]
            out = self._forward(x.reshape(t * b, *x.shape[2:]))
            return out.reshape(t, b, -1).mean(0)
        return self._forward(x)


def _check_widths(name, values) -> tuple[int, ...]:
    vals = tuple(values)
    for v in vals:
        check_int(name, v, min_value=1)
    return vals


@register("mlp")
class MLP(_Teacher):
    """ReLU MLP: flatten -> (Linear -> ReLU) x len(hidden) -> Linear.

    Layer names: ``fc1, relu1, fc2, relu2, ..., fc{n+1}`` inside ``net``.
    """

    def __init__(self, in_shape=(1, 28, 28), hidden=(256, 256), num_classes: int = 10):
        super().__init__()
        self.in_shape = _check_widths("in_shape", in_shape)
        hidden = _check_widths("hidden", hidden)
        check_int("num_classes", num_classes, min_value=1)
        self.sample_ndim = len(self.in_shape)
        n_in = 1
        for s in self.in_shape:
            n_in *= s
        layers = OrderedDict()
        for i, h in enumerate(hidden, 1):
            layers[f"fc{i}"] = nn.Linear(n_in, h)
            layers[f"relu{i}"] = nn.ReLU()
            n_in = h
        layers[f"fc{len(hidden) + 1}"] = nn.Linear(n_in, num_classes)
        self.net = nn.Sequential(layers)
        self.feature_layers = tuple(f"net.relu{i}" for i in range(1, len(hidden) + 1))
        self.distill_layer = self.feature_layers[-1] if hidden else None

    def _forward(self, x):
        return self.net(x.flatten(1))


@register("convnet")
class ConvNet(_Teacher):
    """VGG-style ReLU ConvNet, the ANN twin of :class:`~neurosim.models.convnet.SpikingConvNet`.

    ``features``: for each width c: ``conv{i}`` (3x3, pad 1, no bias) -> ``bn{i}`` -> ``relu{i}``
    -> ``pool{i}`` (2x2 average); ``classifier``: ``fc{j}`` -> ``relu{k}`` ... -> last ``fc``.
    The default is the issue's network: 32, 64 channels, hidden 256, 10 classes, 28x28 input.
    """

    def __init__(self, in_channels: int = 1, input_size: int = 28, channels=(32, 64), hidden=(256,),
                 num_classes: int = 10, pool: str = "avg"):
        super().__init__()
        self.features, c, s = build_conv_features(in_channels, input_size, channels, pool, act=lambda: nn.ReLU(),
                                                  act_name="relu", wrap=lambda m: m)
        self.flatten = nn.Flatten(1)
        self.classifier = build_classifier(c * s * s, hidden, num_classes, len(channels), act=lambda: nn.ReLU(),
                                           act_name="relu")
        n = len(channels)
        self.feature_layers = tuple(f"features.relu{i}" for i in range(1, n + 1)) + tuple(
            f"classifier.relu{n + j}" for j in range(1, len(tuple(hidden)) + 1))
        self.distill_layer = f"features.pool{n}"
        init_weights(self)

    def _forward(self, x):
        return self.classifier(self.flatten(self.features(x)))


class BasicBlock(nn.Module):
    """ResNet basic block: ReLU(BN(conv3x3(ReLU(BN(conv3x3(x, stride))))) + shortcut(x))."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = BatchNorm2d(planes)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = BatchNorm2d(planes)
        self.relu2 = nn.ReLU()
        self.downsample = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False),
                                            BatchNorm2d(planes))

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu2(out + identity)


class ResNet(_Teacher):
    """ResNet with basic blocks (He et al. 2016), torchvision layout and names.

    Parameters
    ----------
    layers : blocks per stage, e.g. ``(2, 2, 2, 2)`` (ResNet-18), ``(3, 4, 6, 3)`` (ResNet-34).
    base_width : channels of the first stage; stage ``l`` has ``base_width * 2**(l-1)``.
    stem : ``"imagenet"`` (7x7 stride-2 conv + 3x3 stride-2 max-pool) or ``"small"``
        (3x3 stride-1 conv, no pooling; for 28x28 / 32x32 inputs).
    """

    def __init__(self, layers=(2, 2, 2, 2), base_width: int = 64, num_classes: int = 1000,
                 in_channels: int = 3, stem: str = "imagenet"):
        super().__init__()
        from neurosim._validation import check_choice

        layers = _check_widths("layers", layers)
        check_int("base_width", base_width, min_value=1)
        check_int("num_classes", num_classes, min_value=1)
        check_int("in_channels", in_channels, min_value=1)
        check_choice("stem", stem, ("imagenet", "small"))
        w = base_width
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_channels, w, 7, 2, 3, bias=False)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
        else:
            self.conv1 = nn.Conv2d(in_channels, w, 3, 1, 1, bias=False)
            self.maxpool = nn.Identity()
        self.bn1 = BatchNorm2d(w)
        self.relu1 = nn.ReLU()
        in_planes = w
        names = ["relu1", "maxpool"]
        for i, n in enumerate(layers):
            planes = w * 2 ** i
            stride = 1 if i == 0 else 2
            blocks = [BasicBlock(in_planes, planes, stride)] + [BasicBlock(planes, planes) for _ in range(n - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            names += [f"layer{i + 1}.{j}" for j in range(n)]
            in_planes = planes
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_planes, num_classes)
        self.n_stages = len(layers)
        self.feature_layers = tuple(names + ["avgpool"])
        self.distill_layer = f"layer{len(layers)}"
        init_weights(self)

    def _forward(self, x):
        x = self.maxpool(self.relu1(self.bn1(self.conv1(x))))
        for i in range(1, self.n_stages + 1):
            x = getattr(self, f"layer{i}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


@register("resnet18")
def resnet18(**cfg) -> ResNet:
    """ResNet-18 (2, 2, 2, 2)."""
    return ResNet(layers=(2, 2, 2, 2), **cfg)


@register("resnet34")
def resnet34(**cfg) -> ResNet:
    """ResNet-34 (3, 4, 6, 3)."""
    return ResNet(layers=(3, 4, 6, 3), **cfg)


@register("resnet_small")
def resnet_small(**cfg) -> ResNet:
    """A small ResNet for 28x28 inputs: 4 stages of one block, width 16, 3x3 stem, 1 channel in, 10 classes."""
    kw = dict(layers=(1, 1, 1, 1), base_width=16, num_classes=10, in_channels=1, stem="small")
    kw.update(cfg)
    return ResNet(**kw)
