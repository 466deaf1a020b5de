"""``Conv2d`` with a Numba CPU path for few input channels (the first conv of image networks).

A drop-in subclass of :class:`torch.nn.Conv2d` (same parameters and state-dict keys). When
``in_channels * K * K <= SMALL_MAX`` (e.g. 1 or 3 channels with a 3x3 kernel), stride 1,
dilation 1, one group, zero padding equal on all sides, a square kernel, and CPU
float32/float64 input, forward and backward run ``kernels/conv_small.py``; otherwise
``torch.nn.Conv2d.forward``. oneDNN ran the 1-channel 3x3 first layer of the Fashion-MNIST
ConvNet (``[512, 1, 28, 28] -> [512, 32, 28, 28]``) at about 3 GMAC/s, and its weight gradient
took as long again (benchmarks/results_train.md); the direct kernel is bound by writing the
output. Values agree with ``torch.nn.functional.conv2d`` to float rounding
(``tests/test_snn_batchnorm.py``). ``backend="torch"`` always uses torch.
"""
from __future__ import annotations

import numba
import numpy as np
import torch
from torch import nn
from torch.autograd.function import once_differentiable

from neurosim._validation import check_choice
from neurosim.snn.buffers import FLOAT_DTYPES, cached_empty

__all__ = ["Conv2d", "SMALL_MAX", "why_not_small"]

#: largest ``in_channels * K * K`` taken by the direct kernel
SMALL_MAX = 27


def why_not_small(conv: nn.Conv2d, x: torch.Tensor) -> str:
    """Why the direct kernel cannot run ``conv`` on ``x`` ("" when it can)."""
    k = conv.kernel_size
    if x.device.type != "cpu" or x.dtype not in FLOAT_DTYPES or x.ndim != 4:
        return "needs a CPU float32/float64 [N, C, H, W] input"
    if conv.weight.dtype != x.dtype:
        return "weight and input dtypes differ"
    if k[0] != k[1] or conv.in_channels * k[0] * k[1] > SMALL_MAX:
        return f"needs a square kernel with in_channels * K * K <= {SMALL_MAX}"
    if conv.stride != (1, 1) or conv.dilation != (1, 1) or conv.groups != 1:
        return "needs stride 1, dilation 1, groups 1"
    if conv.padding_mode != "zeros" or isinstance(conv.padding, str) or conv.padding[0] != conv.padding[1]:
        return "needs equal integer zero padding"
    if x.shape[2] + 2 * conv.padding[0] < k[0] or x.shape[3] + 2 * conv.padding[0] < k[0]:
        return "input smaller than the kernel"
    return ""


def _chunks(n: int) -> int:
    return max(1, min(n, numba.get_num_threads()))


class _SmallConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, pad):
        from neurosim.kernels.conv_small import conv_small_forward

        N, _, H, W = x.shape
        O, _, K, _ = weight.shape
        out = cached_empty((N, O, H + 2 * pad - K + 1, W + 2 * pad - K + 1), x.dtype)
        b = bias.detach() if bias is not None else torch.zeros(O, dtype=x.dtype)
        x = x.contiguous()
        conv_small_forward(x.detach().numpy(), weight.detach().contiguous().numpy(), b.numpy(), pad,
                           out.numpy(), _chunks(N))
        ctx.save_for_backward(x, weight)
        ctx.pad = pad
        ctx.has_bias = bias is not None
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, gy):
        from neurosim.kernels.conv_small import conv_small_backward

        x, weight = ctx.saved_tensors
        need_dx = bool(ctx.needs_input_grad[0])
        O = weight.shape[0]
        dw = np.empty(tuple(weight.shape), dtype=np.float64)
        db = np.empty(O, dtype=np.float64)
        dx = torch.empty_like(x) if need_dx else torch.empty((1, 1, 1, 1), dtype=x.dtype)
        gy = gy.contiguous()
        conv_small_backward(x.numpy(), weight.detach().contiguous().numpy(), gy.numpy(), ctx.pad, dw, db,
                            dx.numpy(), need_dx, _chunks(x.shape[0]))
        gw = torch.from_numpy(dw).to(x.dtype) if ctx.needs_input_grad[1] else None
        gb = torch.from_numpy(db).to(x.dtype) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return (dx if need_dx else None), gw, gb, None


class Conv2d(nn.Conv2d):
    """:class:`torch.nn.Conv2d` with the direct Numba path for few input channels.

    ``backend``: ``"auto"`` (Numba where :func:`why_not_small` allows, else torch) or ``"torch"``.
    """

    def __init__(self, *args, backend: str = "auto", **kwargs):
        super().__init__(*args, **kwargs)
        self.backend = check_choice("backend", backend, ("auto", "torch"))

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s if self.backend == "auto" else f"{s}, backend='torch'"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.backend == "torch" or why_not_small(self, x):
            return super().forward(x)
        return _SmallConv.apply(x, self.weight, self.bias, int(self.padding[0]))
