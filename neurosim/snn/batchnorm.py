"""``BatchNorm2d`` whose CPU training-mode forward and backward are Numba kernels.

A drop-in subclass of :class:`torch.nn.BatchNorm2d` (same parameters, buffers, state-dict keys,
running-statistics update, momentum ``None`` = cumulative average). In training mode on CPU
float32/float64 contiguous ``[N, C, H, W]`` input it runs ``kernels/batchnorm.py``: one pass
over the data in memory order for the statistics and one for the normalisation, and in the
backward one pass for the sums (which are ``dβ`` and ``dγ``) and one for ``dx``, rows split
over the worker threads (twice as fast as the earlier channel-at-a-time kernels on the
training ConvNet's ``[512, 32, 28, 28]``: forward 8-10 vs 17-19 ms, backward 12-15 vs 20-26
ms); outputs come from the buffer cache of :mod:`neurosim.snn.buffers` (fresh 50 MB tensors cost
more in page faults than the kernels take). Every other case (eval mode, other devices and
dtypes, channels-last input, a single value per channel) is ``torch.nn.BatchNorm2d.forward``; on
devices other than the CPU (CUDA, ``meta``) the layer is exactly ``torch.nn.BatchNorm2d`` (the
NaN/inf check of the CPU path, a host synchronisation, is left out there), and under
``torch.autocast`` it takes low-precision input with float32 parameters as torch does. Values
agree with torch to float rounding (``tests/test_snn_batchnorm.py``).

Why: in the spiking ConvNets trained here every conv is followed by BatchNorm on ``[T*B, ...]``
(spikingjelly's ``SeqToANNContainer`` convention), and torch's CPU BatchNorm on those large
NCHW tensors ran at a fraction of the memory bandwidth (benchmarks/results_train.md).
``backend="torch"`` always uses torch's implementation.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.autograd.function import once_differentiable

from neurosim._validation import check_choice, check_int, check_positive, check_probability
from neurosim.snn.buffers import FLOAT_DTYPES, cached_empty

__all__ = ["BatchNorm2d", "batch_norm_train", "why_not_fused"]


def why_not_fused(x: torch.Tensor) -> str:
    """Why the Numba training-mode kernel cannot run on ``x`` ("" when it can)."""
    if x.device.type != "cpu":
        return f"device {x.device} is not the CPU"
    if x.dtype not in FLOAT_DTYPES:
        return f"dtype {x.dtype} is not float32/float64"
    if x.ndim != 4:
        return "x is not [N, C, H, W]"
    if not x.is_contiguous():
        return "x is not contiguous (channels-last input uses torch)"
    if x.shape[0] * x.shape[2] * x.shape[3] < 2:
        return "one value per channel"
    return ""


def _run(kernel, N, *args):
    """Run ``kernel(*args, work, n0, n1)`` over the ``N`` rows on the worker threads."""
    from neurosim.kernels.blocks import run_blocks

    run_blocks(kernel, N, 1, *args)


def _sums(a, ka, b, kb, N, C, S):
    """Per-channel float64 ``(Σ (a − ka), Σ (a − ka)(b − kb))`` (kernels/batchnorm.py)."""
    out = np.empty((N, 2, C), dtype=np.float64)
    _run(_kernels().bn_sums, N, a, ka, b, kb, C, S, out)
    s = out.sum(axis=0)
    return s[0], s[1]


def _kernels():
    from neurosim.kernels import batchnorm

    return batchnorm


class _BatchNormTrain(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        N, C = x.shape[:2]
        S = x.shape[2] * x.shape[3]
        M = N * S
        y = cached_empty(x.shape, x.dtype)
        xa = x.detach().numpy().reshape(-1)
        dt = xa.dtype
        k = np.ascontiguousarray(xa.reshape(N, C, S)[0, :, 0])  # shift: each channel's first value
        s1, s2 = _sums(xa, k, xa, k, N, C, S)
        m1 = s1 / M
        mean = k + m1
        with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf in x: BatchNorm2d.forward reports it
            var = np.maximum(s2 / M - m1 * m1, 0.0)
        r = 1.0 / np.sqrt(var + float(eps))
        a = weight.detach().numpy() * r
        b = bias.detach().numpy() - mean * a
        _run(_kernels().bn_affine, N, xa, a.astype(dt), b.astype(dt), C, S, y.numpy().reshape(-1))
        stats = np.stack([mean, var])
        ctx.save_for_backward(x, weight)
        ctx.stats = stats
        ctx.eps = float(eps)
        mean_t, var_t = torch.from_numpy(stats[0].copy()), torch.from_numpy(stats[1].copy())
        ctx.mark_non_differentiable(mean_t, var_t)
        return y, mean_t, var_t

    @staticmethod
    @once_differentiable
    def backward(ctx, gy, _gmean, _gvar):
        x, weight = ctx.saved_tensors
        N, C = x.shape[:2]
        S = x.shape[2] * x.shape[3]
        M = N * S
        gy = gy.contiguous()
        dx = cached_empty(x.shape, x.dtype)
        mean, var = ctx.stats
        r = 1.0 / np.sqrt(var + ctx.eps)
        ga, xa = gy.numpy().reshape(-1), x.numpy().reshape(-1)
        dt = xa.dtype
        sdy, sdx = _sums(ga, np.zeros(C, dtype=dt), xa, mean.astype(dt), N, C, S)
        dgamma = sdx * r
        a = weight.detach().numpy() * r
        p = -a * r * dgamma / M
        q = -a * sdy / M - p * mean
        _run(_kernels().bn_affine2, N, ga, xa, a.astype(dt), p.astype(dt), q.astype(dt), C, S,
             dx.numpy().reshape(-1))
        g = torch.from_numpy(np.stack([dgamma, sdy])).to(x.dtype)
        return (dx if ctx.needs_input_grad[0] else None, g[0] if ctx.needs_input_grad[1] else None,
                g[1] if ctx.needs_input_grad[2] else None, None)


def batch_norm_train(x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None,
                     eps: float = 1e-5):
    """Training-mode batch norm of ``x`` ``[N, C, H, W]`` with batch statistics (Numba).

    Returns ``(y, mean, var)``; ``var`` is the biased variance used to normalise (the running
    estimate takes the unbiased one, ``var * M / (M - 1)``). ``weight``/``bias`` ``None``
    mean 1 and 0. Raises ``ValueError`` when :func:`why_not_fused` gives a reason.
    """
    reason = why_not_fused(x)
    if reason:
        raise ValueError(f"batch_norm_train cannot run: {reason}")
    C = x.shape[1]
    if weight is None:
        weight = torch.ones(C, dtype=x.dtype)
    if bias is None:
        bias = torch.zeros(C, dtype=x.dtype)
    for name, p in (("weight", weight), ("bias", bias)):
        if p.shape != (C,) or p.dtype != x.dtype or p.device != x.device:
            raise ValueError(f"{name} must be a [{C}] {x.dtype} CPU tensor, got {tuple(p.shape)} {p.dtype} "
                             f"on {p.device}")
    return _BatchNormTrain.apply(x, weight.contiguous(), bias.contiguous(), eps)


class BatchNorm2d(nn.BatchNorm2d):
    """:class:`torch.nn.BatchNorm2d` with the Numba CPU training path (see the module docstring).

    ``backend``: ``"auto"`` (Numba where it applies, else torch) or ``"torch"``.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None, backend: str = "auto"):
        num_features = check_int("num_features", num_features, min_value=1)
        eps = check_positive("eps", eps)
        if momentum is not None:  # None: cumulative average
            momentum = check_probability("momentum", momentum)
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)
        self.backend = check_choice("backend", backend, ("auto", "torch"))

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s if self.backend == "auto" else f"{s}, backend='torch'"

    def _check_input(self, x, batch_stats: bool) -> None:
        """``x``: a real floating tensor ``[N, C, H, W]`` with ``num_features`` channels, in the dtype
        of the layer's parameters, and (for batch statistics) more than one value per channel."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor [N, C, H, W], got {type(x).__name__}")
        if not x.is_floating_point():
            raise TypeError(f"x must be a floating-point tensor, got dtype {x.dtype}; convert it with x.float()")
        if x.ndim != 4:
            raise ValueError(f"x must have shape [N, C, H, W] (4 dimensions), got shape {tuple(x.shape)}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"x has {x.shape[1]} channels (shape {tuple(x.shape)}) but the layer has "
                             f"num_features={self.num_features}")
        ref = self.weight if self.weight is not None else self.running_mean
        if ref is not None and x.dtype != ref.dtype and not torch.is_autocast_enabled(x.device.type):
            raise TypeError(f"x has dtype {x.dtype} but the layer's parameters are {ref.dtype}; pass "
                            f"x.to({ref.dtype}) or convert the layer with .to({x.dtype})")
        if batch_stats and x.numel() and x.shape[0] * x.shape[2] * x.shape[3] < 2:
            raise ValueError(f"x has one value per channel (shape {tuple(x.shape)}): batch statistics need more; "
                             "use a larger batch or call .eval() to use the running statistics")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch_stats = self.training or self.running_mean is None
        self._check_input(x, batch_stats)
        if x.device.type != "cpu":  # CUDA, meta, ...: torch's own BatchNorm2d, as documented (no host sync)
            return super().forward(x)
        if self.backend != "torch" and batch_stats and not why_not_fused(x):
            y, mean, var = batch_norm_train(x, self.weight, self.bias, self.eps)
            if bool(torch.isfinite(mean).all()) and bool(torch.isfinite(var).all()):
                if self.training and self.track_running_stats:
                    with torch.no_grad():
                        self.num_batches_tracked.add_(1)
                        f = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                        m = x.shape[0] * x.shape[2] * x.shape[3]
                        self.running_mean.mul_(1.0 - f).add_(mean.to(self.running_mean.dtype), alpha=f)
                        self.running_var.mul_(1.0 - f).add_(var.to(self.running_var.dtype) * (m / (m - 1)), alpha=f)
                return y
            # NaN/inf in x, or finite values whose deviations overflow float32 in the kernel (|x| above
            # 1.7e38): torch's implementation copes with the latter unless the running variance overflows
            # too; the check below names the cause
        if not batch_stats:  # running statistics: an elementwise affine map (NaN in x stays where it is)
            return super().forward(x)
        track = self.training and self.track_running_stats and self.running_mean is not None
        bufs = (self.running_mean, self.running_var, self.num_batches_tracked) if track else ()
        saved = [b.clone() for b in bufs]
        y = super().forward(x)
        # batch statistics of a NaN/inf x are NaN: seen in the updated running statistics (C values)
        # when they are tracked, else in the output
        ok = all(bool(torch.isfinite(b).all()) for b in bufs[:2]) if bufs else bool(torch.isfinite(y).all())
        if not ok:
            with torch.no_grad():  # leave the running statistics as they were before the failed call
                for buf, old in zip(bufs, saved):
                    buf.copy_(old)
            raise _nonfinite(x)
        return y


def _nonfinite(x: torch.Tensor) -> ValueError:
    """The error for a normalisation that produced NaN/inf: names NaN/inf in ``x``, else an overflow."""
    xd = x.detach()
    bad = int((~torch.isfinite(xd)).sum())
    if bad:
        return ValueError(f"x contains {bad} NaN/inf value(s) of {xd.numel()}; the batch statistics and the output "
                          "would be NaN. Replace or remove them before the layer (e.g. torch.nan_to_num(x))")
    return ValueError(f"the batch statistics or the output overflowed to NaN/inf although x is finite "
                      f"(largest |x| = {float(xd.abs().max()):g} in {xd.dtype}): scale x down or compute in float64, "
                      "and check the layer's weight, bias and running statistics for NaN/inf")
