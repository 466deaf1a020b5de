"""BatchNorm recalibration: recompute running statistics from data, weights untouched.

An untrained spiking network whose BatchNorm layers still hold their initial running statistics
(mean 0, variance 1) is usually silent in eval mode, and a briefly trained one evaluates with
running averages (momentum 0.1 over few batches) far from its final weights' statistics ("precise
BN", Wu & Johnson 2021). :func:`recalibrate_batchnorm` replaces the running statistics of every
BatchNorm layer that tracks them with the plain average over the given batches:

    running_mean = mean_k mu_k,    running_var = mean_k sigma^2_k (unbiased, per batch),

which is what ``momentum=None`` (cumulative averaging) computes in train mode. Used by
:meth:`neurosim.distill.Trainer.recalibrate_bn` after every epoch and by ``neurosim tsrsa`` for
untrained models.
"""
from __future__ import annotations

from typing import Callable, Iterable, Optional, Union

import torch
from torch import nn

from neurosim.snn.containers import reset_states

__all__ = ["recalibrate_batchnorm", "tracking_batchnorms"]


def tracking_batchnorms(model: nn.Module) -> list:
    """The BatchNorm layers of ``model`` (any dimension) that keep running statistics."""
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, batches: Union[torch.Tensor, Iterable[torch.Tensor]], *,
                          reset: Optional[Callable[[nn.Module], None]] = None) -> int:
    """Recompute the running statistics of ``model``'s BatchNorm layers from ``batches``.

    Parameters
    ----------
    model : nn.Module
        Any model; its weights are not changed (no gradients are computed).
    batches : tensor or iterable of tensors
        Model inputs, each exactly as ``model(batch)`` takes it (a spiking model: ``[T, B, ...]``;
        a movie shown as one sequence: ``[frames, 1, C, H, W]``). A single tensor is one batch;
        a generator is consumed lazily (only when the model has BatchNorm layers). Each batch is
        moved to the model's device.
    reset : callable(model), optional
        Resets the neuron states before the first batch and after every batch; default
        :func:`neurosim.snn.reset_states`.

    Returns
    -------
    int
        The number of BatchNorm layers recalibrated (0: none tracks running statistics; then
        nothing is run).

    Each layer's running statistics are reset and averaged cumulatively (``momentum=None``) in
    train mode over all batches; afterwards every layer's ``momentum`` and the model's
    train/eval mode are what they were before.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    reset = reset_states if reset is None else reset
    bns = tracking_batchnorms(model)
    if not bns:
        return 0
    if isinstance(batches, torch.Tensor):
        batches = (batches,)
    from neurosim.snn.device import module_device

    device = module_device(model)
    saved = [m.momentum for m in bns]
    was_training = model.training
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches
    model.train()
    try:
        reset(model)
        for xb in batches:
            if not isinstance(xb, torch.Tensor):
                raise TypeError(f"batches must hold torch.Tensor inputs, got {type(xb).__name__}")
            model(xb.to(device))
            reset(model)
    finally:
        for m, momentum in zip(bns, saved):
            m.momentum = momentum
        model.train(was_training)
    return len(bns)
