r"""Layer-wise bias calibration of a converted network at a given ``T`` (light calibration).

At a small ``T`` an IF layer's mean output is biased against the ANN activation it replaced (the
"unevenness" of the spike trains arriving from the layer before, a deficit or an excess that does
not average out in a few steps). Li et al. (2021, "A free lunch from ANN: towards efficient,
accurate spiking neural networks calibration", ICML) correct it layer by layer with calibration
data only::

    e_l[c] = mean over images, positions of  a_l(x)[c]  -  mean over images, positions, steps of  lambda_l S_l,t(x)[c]
    b_feed[c] += e_l[c] / lambda_l          (the bias of the Conv/Linear that feeds layer l; threshold units)

in graph order, each layer measured on the network with the earlier layers already corrected
(``a_l``: the ANN activation, or the ANN's 2x2 pool when the conversion runs that pool inside the
IF layer; ``S_l``: the IF layer's spikes over ``timesteps`` steps of the static input). An
IF layer fed by a residual addition gets the correction on the Conv/Linear branch of the sum
(a per-channel offset of the sum is the same wherever it is added). ``rounds`` repeats the pass
(the second round corrects what the first left, as later layers' inputs changed).

Measured (``experiments/convert/README.md``): a QCFS (L = 8) Fashion-MNIST ConvNet converts to
90.1 % at T = 8 (QCFS ANN 92.1 %); calibrated at T = 8 on 1,000 training images, 2 rounds: 91.8 %.

The network changes in place (its biases; a layer without bias gets one); the result is an
ordinary :class:`~neurosim.convert.ConvertedSNN` (model files, NIR export, events unchanged).
"""
from __future__ import annotations

import operator

import torch
from torch import nn

from neurosim._validation import check_int
from neurosim.convert.finetune import TAP_NAME, add_feature_tap, ann_path
from neurosim.convert.modules import ConvertedSNN, IFNeuron
from neurosim.snn.containers import reset_states

__all__ = ["calibrate_bias"]


def _feeder(gm, node):
    """The Conv/Linear module whose output feeds the IF node (through additions), or None."""
    src = node.args[0]
    seen = 0
    while isinstance(src, torch.fx.Node) and seen < 64:
        seen += 1
        if src.op == "call_module":
            mod = gm.get_submodule(src.target)
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                return mod
            return None
        if src.op == "call_function" and src.target in (operator.add, torch.add):
            mods = [a for a in src.args if isinstance(a, torch.fx.Node)]
            direct = [a for a in mods if a.op == "call_module"
                      and isinstance(gm.get_submodule(a.target), (nn.Conv2d, nn.Linear))]
            src = direct[0] if direct else (mods[0] if mods else None)
            continue
        return None
    return None


def _channel_mean(x: torch.Tensor, lead: int) -> torch.Tensor:
    """Mean over the ``lead`` leading axes and every axis after the channel axis (float64)."""
    x = x.detach().double()
    return x.mean(tuple(range(lead)) + tuple(range(lead + 1, x.ndim)))


@torch.no_grad()
def calibrate_bias(snn: ConvertedSNN, ann: nn.Module, images: torch.Tensor, timesteps: int, *,
                   rounds: int = 1) -> dict:
    """Correct the biases of the converted ``snn`` (in place) so that each IF layer's mean output over
    ``timesteps`` steps on ``images`` matches the mean of the ANN activation it replaced, per channel.

    Parameters
    ----------
    snn : ConvertedSNN
        The network :func:`~neurosim.convert.ann_to_snn` made from ``ann``.
    ann : torch.nn.Module
        The source ANN (the same module names; eval mode is set).
    images : torch.Tensor
        Calibration inputs ``[B, ...]`` as the ANN takes them (training images, not test images).
    timesteps : int
        The ``T`` the network will run at (the correction is for that ``T``).
    rounds : int
        Passes over the layers (1-8).

    Returns
    -------
    dict
        ``{IF layer: mean |e| per channel before the last round's correction}`` (ANN units).
    """
    if not isinstance(snn, ConvertedSNN):
        raise TypeError(f"snn must be a ConvertedSNN (from neurosim.convert.ann_to_snn), got {type(snn).__name__}")
    if not isinstance(ann, nn.Module):
        raise TypeError(f"ann must be the source torch.nn.Module, got {type(ann).__name__}")
    if not isinstance(images, torch.Tensor) or not images.is_floating_point() or images.ndim < 2:
        raise TypeError("images must be a floating-point torch.Tensor [B, ...] of calibration inputs, got "
                        f"{type(images).__name__}" + (f" of dtype {images.dtype}, shape {tuple(images.shape)}"
                                                       if isinstance(images, torch.Tensor) else ""))
    if images.shape[0] == 0 or not bool(torch.isfinite(images).all()):
        raise ValueError("images must hold at least one image and only finite values")
    T = check_int("timesteps", timesteps, min_value=1)
    rounds = check_int("rounds", rounds, min_value=1, max_value=8)
    gm = snn.body
    nodes = {n.target: n for n in gm.graph.nodes if n.op == "call_module"}
    ann_modules = dict(ann.named_modules())
    ann.eval()
    old_tap = getattr(snn, TAP_NAME, None)
    layers = []  # (IF layer path, the IF module, its feeding Conv/Linear, the ANN module it stands for)
    for neuron in snn.scales:
        ifn = gm.get_submodule(neuron)
        feeder = _feeder(gm, nodes[neuron]) if isinstance(ifn, IFNeuron) else None
        if feeder is None:
            continue
        name = ann_path(snn, ifn.pool_source if ifn.pool and ifn.pool_source else neuron)
        if name not in ann_modules:
            raise ValueError(f"ann has no module {name!r} (the activation that IF layer {neuron!r} replaced); "
                             "pass the ANN the network was converted from")
        layers.append((neuron, ifn, feeder, name))
    target = {}  # ANN module -> its mean activation per channel (the ANN does not change: one pass)
    hooks = [ann_modules[name].register_forward_hook(
        lambda m, i, o, name=name: target.__setitem__(name, _channel_mean(o, 1))) for *_, name in layers]
    try:
        ann(images)
    finally:
        for h in hooks:
            h.remove()
    report = {}
    for _ in range(rounds):
        for neuron, ifn, feeder, name in layers:
            seen = {}
            add_feature_tap(snn, neuron)
            tap = getattr(snn, TAP_NAME)
            h = tap.register_forward_hook(lambda m, i, o: seen.__setitem__("snn", o))
            try:
                reset_states(snn)
                snn.forward_static(images.to(feeder.weight.dtype), T)
            finally:
                h.remove()
                tap._handle.remove()
                delattr(snn, TAP_NAME)
            a, s = target[name], _channel_mean(seen["snn"], 2)
            if a.shape != s.shape:
                raise ValueError(f"IF layer {neuron!r} and ANN module {name!r} disagree in channels ({tuple(s.shape)} "
                                 f"vs {tuple(a.shape)})")
            err = a - s
            report[neuron] = float(err.abs().mean())
            step = err / ifn.scale.double() if ifn.input_scale is None else err
            if feeder.bias is None:
                n_out = feeder.out_features if isinstance(feeder, nn.Linear) else feeder.out_channels
                feeder.bias = nn.Parameter(torch.zeros(n_out, dtype=feeder.weight.dtype))
            feeder.bias.add_(step.to(feeder.bias.dtype).expand(feeder.bias.shape))
    if old_tap is not None:
        add_feature_tap(snn, old_tap.source)
    reset_states(snn)
    return report
