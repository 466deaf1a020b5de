"""Accuracy of a converted network against the number of time steps, from one simulation."""
from __future__ import annotations

import torch

from neurosim._validation import check_int, check_positive
from neurosim.snn.containers import reset_states

__all__ = ["accuracy_vs_timesteps", "sim_batch_size", "STEP_BUDGET"]

#: most images x steps simulated at once (the merged [T*B, ...] activations of a 32-channel 28 x 28
#: conv layer take 100 kB per image-step: 4096 -> about 0.4 GB)
STEP_BUDGET = 4096


def sim_batch_size(batch_size: int, steps: int) -> int:
    """Images per simulated batch: ``batch_size``, fewer when ``batch_size * steps`` exceeds :data:`STEP_BUDGET`."""
    return max(1, min(batch_size, STEP_BUDGET // steps))


def accuracy_vs_timesteps(snn, x: torch.Tensor, y: torch.Tensor, timesteps, *, batch_size: int = 250,
                          scale: float = 1.0) -> dict:
    """``{T: accuracy}`` of ``snn`` (a :class:`~neurosim.convert.ConvertedSNN`) on images ``x``
    ``[N, ...]`` (divided by ``scale``, e.g. 255 for 8-bit images) with labels ``y`` ``[N]``.

    One simulation of ``max(timesteps)`` steps per batch: the prediction at ``T`` is the argmax of
    the running sum of the outputs over the first ``T`` steps (= of their mean). States are reset
    before each batch and at the end.
    """
    ts = [check_int("timesteps", t, min_value=1) for t in timesteps]
    if not ts:
        raise ValueError("timesteps is empty; give at least one step count")
    scale = check_positive("scale", scale)
    steps = max(ts)
    batch_size = sim_batch_size(check_int("batch_size", batch_size, min_value=1), steps)
    hits = torch.zeros(steps, dtype=torch.int64)
    with torch.no_grad():
        for s in range(0, len(x), batch_size):
            xb = x[s:s + batch_size].float().div_(scale)
            reset_states(snn)
            out = snn.forward_static(xb, steps)
            hits += (out.cumsum(0).argmax(-1) == y[s:s + batch_size]).sum(1)
    reset_states(snn)
    return {t: int(hits[t - 1]) / len(x) for t in ts}
