r"""Fine-tuning a converted network with an ANN teacher: the feature a feature-KD recipe compares.

Conversion followed by surrogate-gradient fine-tuning is the usual hybrid recipe: the converted
:class:`~neurosim.convert.ConvertedSNN` is a spiking network like any other (its IF layers have
a surrogate derivative, :class:`neurosim.snn.IFLayer`), so :class:`neurosim.distill.Trainer`
trains it at a small ``T`` with any KD objective, its source ANN being the natural teacher.

Feature recipes (feature KD, blurred KD) compare a student feature with a teacher feature of the
same shape. For a converted student the pair is one IF layer and the ANN activation it replaced
(:func:`feature_pair`): the teacher's ``ReLU`` output ``a`` and the IF layer's spikes in the
ANN's units, ``lambda * S_t`` ``[T, B, ...]`` (its time average estimates ``min(a, lambda)``).
Folding moved ``lambda`` into the next layer's weights, so the spikes themselves are binary; a
:class:`FeatureTap` (:func:`add_feature_tap`) gives the scaled sequence to forward hooks::

    s_layer, t_layer = feature_pair(snn, ann)          # "feature_tap", "features.relu2"
    objective = make_objective("bkd", ..., feature_layers=(s_layer, t_layer))

The tap holds no weights: a model file of the student is the converted network's own (load it
with :func:`neurosim.models.load_model` and call :func:`feature_pair` again to tap it).
"""
from __future__ import annotations

from torch import nn

from neurosim.convert.modules import ConvertedSNN, IFNeuron, _view_channels
from neurosim.convert.qcfs import QCFS

__all__ = ["FeatureTap", "add_feature_tap", "feature_pair", "ann_path", "TAP_NAME"]

#: attribute (module path) of the tap in the converted network
TAP_NAME = "feature_tap"
#: teacher modules an IF layer can stand for (the activation modules ann_to_snn converts)
_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.Hardtanh, QCFS)


class FeatureTap(nn.Module):
    """Identity on one IF layer's output in the ANN's units, ``[T, B, ...]`` (``lambda * S_t``).

    :func:`add_feature_tap` calls it from a forward hook of the IF layer; forward hooks on the
    tap (``neurosim.distill.Trainer`` feature capture) read that sequence. ``source``: the IF
    layer's path in ``snn.body``.
    """

    def __init__(self, source: str):
        super().__init__()
        self.source = source

    def forward(self, x):  # noqa: D102
        return x

    def _hook(self, module: IFNeuron, inputs, output):
        T = int(inputs[1])
        if module.output_scale is None:  # folded into the next weights: binary spikes, scale them here
            output = output * _view_channels(module.scale, output)
        self(output.reshape(T, output.shape[0] // T, *output.shape[1:]))

    def extra_repr(self) -> str:
        return f"source={self.source!r}"


def ann_path(snn: ConvertedSNN, neuron: str) -> str:
    """The ANN module path of the activation that the IF layer ``neuron`` (a key of ``snn.scales``)
    replaced: the path without the ``model.`` prefix that tracing a method other than ``forward`` adds."""
    prefix = "" if snn.info.get("method", "forward") == "forward" else "model."
    return neuron[len(prefix):] if neuron.startswith(prefix) else neuron


def add_feature_tap(snn: ConvertedSNN, neuron: str) -> str:
    """Attach a :class:`FeatureTap` fed by the IF layer ``neuron`` (a key of ``snn.scales``); returns
    its module path (``"feature_tap"``). A second call replaces the first tap."""
    if not isinstance(snn, ConvertedSNN):
        raise TypeError(f"snn must be a ConvertedSNN, got {type(snn).__name__}")
    if neuron not in snn.scales:
        raise ValueError(f"{neuron!r} is not an IF layer of the converted network; its IF layers: "
                         f"{', '.join(snn.scales) or '(none)'}")
    module = snn.body.get_submodule(neuron)
    if not isinstance(module, IFNeuron):
        raise ValueError(f"{neuron!r} is a QCFS or other non-IF layer; feature taps read IF layers")
    old = getattr(snn, TAP_NAME, None)
    if isinstance(old, FeatureTap):
        old._handle.remove()
    tap = FeatureTap(neuron)
    tap._handle = module.register_forward_hook(tap._hook)
    setattr(snn, TAP_NAME, tap)
    return TAP_NAME


def feature_pair(snn: ConvertedSNN, teacher: nn.Module, layer: str | None = None) -> tuple[str, str]:
    """``(student layer, teacher layer)`` for a feature-KD recipe on the converted ``snn``; taps ``snn``.

    The IF layer is the one whose ANN activation comes last, in ``teacher``'s module order, at or
    before the end of ``layer`` (default ``teacher.distill_layer``, the zoo models' last feature
    map: ``features.pool2`` selects ``features.relu2``). The teacher layer is that activation's
    path in ``teacher`` (the path of the 2x2 average pool after it when the conversion ran that pool
    inside the IF layer, as for the zoo ConvNet: ``features.pool2``) (which must have the converted ANN's module names: the ANN itself, or a
    model of the same architecture); the student layer is a :class:`FeatureTap` of the IF layer
    (:func:`add_feature_tap`). The two outputs have the same shape, up to the student's leading
    time axis, unless a max pool was moved before the activation (then the caller's shape check
    refuses the pair).

    Raises
    ------
    ValueError
        ``teacher`` has no such layer (or no ``distill_layer``), or no IF layer of ``snn``
        corresponds to one of its modules at or before it.
    """
    if not isinstance(snn, ConvertedSNN):
        raise TypeError(f"snn must be a ConvertedSNN, got {type(snn).__name__}")
    if not isinstance(teacher, nn.Module):
        raise TypeError(f"teacher must be a torch.nn.Module, got {type(teacher).__name__}")
    what = type(teacher).__name__
    if layer is None:
        layer = getattr(teacher, "distill_layer", None)
        if not isinstance(layer, str) or not layer:
            raise ValueError(f"the teacher ({what}) names no distill_layer (its feature map for feature KD)")
    if not isinstance(layer, str):
        raise TypeError(f"layer must be a module path of the teacher (a str such as 'features.pool2'), got "
                        f"{type(layer).__name__}")
    order = {name: i for i, (name, _) in enumerate(teacher.named_modules()) if name}
    inside = [i for name, i in order.items() if name == layer or name.startswith(layer + ".")]
    if not inside:
        raise ValueError(f"the teacher ({what}) has no layer {layer!r}")
    end = max(inside)
    mods = dict(teacher.named_modules())
    best = None
    for neuron in snn.scales:
        if not isinstance(snn.body.get_submodule(neuron), IFNeuron):
            continue
        path = ann_path(snn, neuron)
        i = order.get(path)
        if i is not None and i <= end and isinstance(mods[path], _ACTIVATIONS) and (best is None or i > best[0]):
            best = (i, neuron)
    if best is None:
        known = ", ".join(ann_path(snn, n) for n in snn.scales) or "(none)"
        raise ValueError(f"no IF layer of the converted network replaces a module of the teacher ({what}) at or "
                         f"before its layer {layer!r} (the IF layers replace: {known}); the teacher must have "
                         "the converted ANN's architecture")
    module = snn.body.get_submodule(best[1])
    if module.pool:  # a 2x2 average pool runs inside the IF layer: its output matches the ANN's pool
        if module.pool_source is None:
            raise ValueError(f"the IF layer {best[1]!r} outputs its spikes average-pooled (a functional "
                             "F.avg_pool2d fused at conversion), which matches no module of the teacher; use an "
                             "nn.AvgPool2d module in the ANN, or pick another layer")
        pool = ann_path(snn, module.pool_source)
        if not isinstance(mods.get(pool), nn.AvgPool2d):
            raise ValueError(f"the teacher's module {pool!r} is {type(mods.get(pool)).__name__}, not the average pool "
                             f"that the IF layer {best[1]!r} runs; the teacher must have the converted ANN's "
                             "architecture")
        return add_feature_tap(snn, best[1]), pool
    return add_feature_tap(snn, best[1]), ann_path(snn, best[1])
