"""Layer-wise bias calibration of a converted network at a given T (Li et al. 2021, "A free lunch from
ANN: towards efficient, accurate spiking neural networks calibration", ICML; light calibration).

For each IF layer in graph order: run the converted network for ``T`` steps on calibration images,
compare the per-channel mean of its output in the ANN's units (``lambda`` x rate) with the mean of
the ANN activation it replaced on the same images, and add the difference to the bias of the
Conv/Linear layer that feeds it (divided by ``lambda`` where the scales are folded into the
weights). Later layers are calibrated on the corrected earlier ones. Only calibration images are
used; the result is an ordinary converted network (its biases changed).
"""
from __future__ import annotations

import torch
from torch import nn

from neurosim.convert.finetune import add_feature_tap, ann_path, TAP_NAME
from neurosim.convert.modules import IFNeuron
from neurosim.snn import reset_states


def _channel_mean(x: torch.Tensor, lead: int) -> torch.Tensor:
    """Mean over the ``lead`` leading axes and every axis after the channel axis."""
    x = x.double()
    dims = tuple(range(lead)) + tuple(range(lead + 1, x.ndim))
    return x.mean(dims)


@torch.no_grad()
def calibrate_bias(snn, ann: nn.Module, images: torch.Tensor, timesteps: int, *, rounds: int = 1) -> dict:
    """Correct the biases of ``snn`` (in place) so that each IF layer's mean output over ``timesteps``
    steps on ``images`` [B, ...] matches the ANN's mean activation per channel; returns
    ``{IF layer: mean |error| before the correction}``."""
    gm = snn.body
    nodes = {n.target: n for n in gm.graph.nodes if n.op == "call_module"}
    ann_modules = dict(ann.named_modules())
    report = {}
    for _ in range(rounds):
        for neuron in list(snn.scales):
            ifn = gm.get_submodule(neuron)
            src = nodes[neuron].args[0]
            feeder = gm.get_submodule(src.target) if getattr(src, "op", "") == "call_module" else None
            if not isinstance(ifn, IFNeuron) or not isinstance(feeder, (nn.Conv2d, nn.Linear)):
                continue
            name = ifn.pool_source if ifn.pool and ifn.pool_source else ann_path(snn, neuron)
            seen = {}
            h = ann_modules[name].register_forward_hook(lambda m, i, o: seen.__setitem__("ann", o))
            ann.eval()
            ann(images)
            h.remove()
            add_feature_tap(snn, neuron)
            tap = getattr(snn, TAP_NAME)
            h = tap.register_forward_hook(lambda m, i, o: seen.__setitem__("snn", o))
            reset_states(snn)
            snn.forward_static(images, timesteps)
            h.remove()
            tap._handle.remove()
            delattr(snn, TAP_NAME)
            err = _channel_mean(seen["ann"], 1) - _channel_mean(seen["snn"], 2)
            report[neuron] = float(err.abs().mean())
            lam = ifn.scale.double()
            step = err / lam if ifn.input_scale is None else err
            if feeder.bias is None:
                feeder.bias = nn.Parameter(torch.zeros(feeder.out_features if isinstance(feeder, nn.Linear)
                                                       else feeder.out_channels, dtype=feeder.weight.dtype))
            feeder.bias.add_(step.to(feeder.bias.dtype).expand(feeder.bias.shape))
    reset_states(snn)
    return report
