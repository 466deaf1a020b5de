"""Accuracy of a converted network against the number of time steps, from one simulation."""
from __future__ import annotations

from collections.abc import Iterable

import torch

from neurosim._validation import check_int, check_positive
from neurosim.convert.modules import ConvertedSNN
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
    before each batch and at the end; ``x`` is not modified.

    Raises ``TypeError``/``ValueError`` naming the argument: ``snn`` not a ConvertedSNN, empty
    or non-integer ``timesteps``, no images, ``y`` not one integer label in ``[0, classes)`` per
    image, NaN/inf in ``x / scale``, or more steps than fit in memory.
    """
    if not isinstance(snn, ConvertedSNN):
        raise TypeError(f"snn must be a ConvertedSNN (from neurosim.convert.ann_to_snn), got {type(snn).__name__}")
    if isinstance(timesteps, (str, bytes)) or not isinstance(timesteps, Iterable):
        raise TypeError(f"timesteps must be a list of step counts such as [1, 2, 4, 8], got {timesteps!r}")
    ts = [check_int("timesteps", t, min_value=1) for t in timesteps]
    if not ts:
        raise ValueError("timesteps is empty; give at least one step count")
    scale = check_positive("scale", scale)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor of images [N, ...], got {type(x).__name__}")
    if x.ndim < 1 or len(x) == 0:
        raise ValueError(f"x must hold at least one image [N, ...], got shape {tuple(x.shape)}")
    y = _labels(y, len(x))
    steps = max(ts)
    batch_size = sim_batch_size(check_int("batch_size", batch_size, min_value=1), steps)
    hits = torch.zeros(steps, dtype=torch.int64)
    with torch.no_grad():
        for s in range(0, len(x), batch_size):
            xb = x[s:s + batch_size].float() / scale  # never in place: x[...].float() may be the caller's tensor
            if not bool(torch.isfinite(xb).all()):
                raise ValueError(f"x / scale holds NaN/inf values (images {s} to {s + len(xb) - 1}): x holds NaN/inf, "
                                 f"or scale={scale:g} is so small that x / scale overflows float32")
            reset_states(snn)
            out = snn.forward_static(xb, steps)
            if s == 0 and int(y.max()) >= out.shape[-1]:
                raise ValueError(f"y holds label {int(y.max())} but the network has {out.shape[-1]} outputs (classes "
                                 f"0 to {out.shape[-1] - 1})")
            hits += (out.cumsum(0).argmax(-1) == y[s:s + batch_size]).sum(1)
    reset_states(snn)
    return {t: int(hits[t - 1]) / len(x) for t in ts}


def _labels(y, n: int) -> torch.Tensor:
    """``y`` as a 1-D tensor of ``n`` class labels >= 0 (whole-number floats allowed); errors name ``y``."""
    if isinstance(y, (str, bytes)) or y is None:
        raise TypeError(f"y must be a tensor of class labels [N], got {type(y).__name__}")
    try:
        y = torch.as_tensor(y)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TypeError(f"y must be a tensor of class labels [N], got {type(y).__name__} ({exc})") from None
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"y must hold one label per image of x, shape ({n},), got shape {tuple(y.shape)}")
    whole = not y.is_floating_point() or bool((torch.isfinite(y) & (y == y.round())).all())
    if y.dtype == torch.bool or y.is_complex() or not whole:
        raise ValueError(f"y must hold integer class labels, got dtype {y.dtype}"
                         + (" with non-integer values" if y.is_floating_point() else ""))
    if int(y.min()) < 0:
        raise ValueError(f"y holds a negative label ({int(y.min())}); class labels are 0, 1, ...")
    return y
