r"""QCFS: the quantisation-clip-floor-shift activation of Bu et al. (ICLR 2022) for low-latency conversion.

Train (or fine-tune) the ANN with :class:`QCFS` in place of ``ReLU``::

    h(x) = lambda * clip(floor(x L / lambda + phi) / L, 0, 1)

with ``L`` quantisation levels, a trainable threshold ``lambda`` per layer and the shift
``phi`` (1/2 in the paper). ``floor`` has a straight-through gradient (identity), so
``lambda`` and the weights learn through the clip as usual.

Why it converts without loss: an integrate-and-fire neuron with threshold ``theta = lambda``,
reset by subtraction and initial membrane ``V_0 = phi * theta`` that receives a constant input
``z`` for ``T`` steps fires ``N = clip(floor(T z / theta + phi), 0, T)`` spikes, so its rate
times ``theta`` equals ``h(z)`` exactly when ``T = L`` (and the expected conversion error is
zero for any ``T``; Bu et al. 2022, Theorem 2). :func:`neurosim.convert.ann_to_snn` turns each
``QCFS`` into such a neuron, with no calibration.
"""
from __future__ import annotations

import torch
from torch import nn

from neurosim._validation import check_int, check_number, check_positive

__all__ = ["QCFS", "floor_ste", "MAX_LEVELS"]

#: most quantisation levels: a float32 activation in [0, 1] resolves at most 2**24 steps
MAX_LEVELS = 2 ** 24


class _FloorSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return torch.floor(x)

    @staticmethod
    def backward(ctx, g):
        return g


def floor_ste(x: torch.Tensor) -> torch.Tensor:
    """``floor(x)`` with the straight-through (identity) gradient."""
    return _FloorSTE.apply(x)


class QCFS(nn.Module):
    """Clip-floor-shift activation ``lambda * clip(floor(x L / lambda + shift) / L, 0, 1)``.

    Parameters
    ----------
    levels : int
        Quantisation steps ``L`` (1 to :data:`MAX_LEVELS`); the paper uses 4 (CIFAR) to 8-16 (ImageNet). The
        converted network is exact at ``T = L`` steps for a constant input.
    threshold : float
        Initial ``lambda`` (> 0), the largest output value; 8.0 as in the reference code.
    shift : float
        ``phi`` in [0, 1); 0.5 turns the floor into rounding (and is the converted neuron's
        initial membrane in units of the threshold).
    trainable : bool
        ``lambda`` is an ``nn.Parameter`` (True) or a buffer.
    """

    def __init__(self, levels: int = 8, threshold: float = 8.0, shift: float = 0.5, trainable: bool = True):
        super().__init__()
        self.levels = check_int("levels", levels, min_value=1, max_value=MAX_LEVELS)
        check_positive("threshold", threshold)
        self.shift = check_number("shift", shift)
        if not 0.0 <= self.shift < 1.0 or float(torch.tensor(self.shift)) >= 1.0:
            raise ValueError(f"shift must lie in [0, 1) (a fraction of the threshold) also in float32, got {shift}")
        t = torch.tensor(float(threshold))
        if not (bool(torch.isfinite(t)) and float(t) > 0 and float(1.0 / t) < float("inf")):
            raise ValueError(f"threshold {threshold!r} is not a positive finite {t.dtype} with a finite inverse; "
                             "use a value such as 8.0")
        if trainable:
            self.threshold = nn.Parameter(t)
        else:
            self.register_buffer("threshold", t)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if x.is_floating_point() and bool(torch.isnan(x).any()):
            raise ValueError(f"x contains {int(torch.isnan(x).sum())} NaN value(s): QCFS would output NaN; find where "
                             "the NaN comes from (e.g. a diverging loss) or replace it (torch.nan_to_num)")
        lam = self.threshold
        y = torch.clamp(x / lam, 0.0, 1.0)
        y = floor_ste(y * self.levels + self.shift) / self.levels
        return y * lam

    def extra_repr(self) -> str:
        return f"levels={self.levels}, threshold={float(self.threshold.detach()):.4g}, shift={self.shift:g}"
