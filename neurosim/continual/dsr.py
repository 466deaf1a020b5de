"""DSR: differentiation on spike representation (Meng et al., CVPR 2022), HLOP's default training.

ALGORITHMS.md §2.3. A DSR LIF layer runs ``T`` steps of

    u[t] = beta u[t-1] + (1 - beta) I[t],   beta = exp(-dt / tau)
    s[t] = H(u[t] - alpha v_th),   u[t] <- u[t] - v_th s[t],   output o[t] = v_th s[t] / dt

and the network reads out the *weighted firing rate* ``wfr(o) = sum_t w_t o[t] / sum_t w_t`` with
``w_t = exp(-(T dt - t dt) / tau)`` (``t = 1..T``). The backward does not go through time: it
differentiates the rate map. With ``r = wfr(I)`` the input rate and ``g = T wfr(grad_o)`` the
gradient w.r.t. the output rate, every step receives

    grad_I[t] = (g / tau) 1[0 < r < v_th tau / dt] / T,     grad_v_th = dt * sum g 1[r > v_th tau / dt]

(the output rate saturates at ``v_th / dt`` above ``r = v_th tau / dt``). ``v_th`` is trainable,
clipped to ``>= v_th_min`` before every forward (5e-4), initial 0.3; ``tau`` 1, ``dt`` 0.05,
``alpha`` 0.3, ``T`` 20 (the spec's defaults).

Inputs and outputs are ``[T, B, ...]`` (time first, as everywhere in neurosim). The HLOP update
for a DSR network uses the weighted firing rate of the presynaptic spikes (``wfr``), the weight
gradient of a projection layer the per-step inputs, projected as usual.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from neurosim._validation import check_int, check_positive

__all__ = ["DSRLIF", "weighted_rate", "rate_weights"]


def rate_weights(T: int, tau: float, dt: float, *, dtype=torch.float32, device=None) -> torch.Tensor:
    """``w_t = exp(-(T dt - t dt) / tau)`` for ``t = 1..T`` (the last step weighs 1)."""
    T = check_int("T", T, min_value=1)
    return torch.tensor([math.exp(-(T * dt - t * dt) / tau) for t in range(1, T + 1)], dtype=dtype, device=device)


def weighted_rate(x: torch.Tensor, tau: float = 1.0, dt: float = 0.05) -> torch.Tensor:
    """Weighted firing rate of a ``[T, B, ...]`` sequence: ``sum_t w_t x[t] / sum_t w_t``."""
    if x.ndim < 2:
        raise ValueError(f"x must be [T, B, ...] (time first), got shape {tuple(x.shape)}")
    w = rate_weights(x.shape[0], tau, dt, dtype=x.dtype, device=x.device)
    return torch.tensordot(w / w.sum(), x, dims=([0], [0]))


class _DSRFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, v_th, tau, dt, alpha):
        T = x.shape[0]
        beta = math.exp(-dt / tau)
        th = float(v_th)
        u = torch.zeros_like(x[0])
        out = torch.empty_like(x)
        for t in range(T):
            u = beta * u + (1.0 - beta) * x[t]
            s = (u >= alpha * th).to(x.dtype)
            u = u - th * s
            out[t] = s * (th / dt)
        if any(ctx.needs_input_grad[:2]):  # the input rate is all the backward needs
            ctx.save_for_backward(weighted_rate(x.detach(), tau, dt))
        ctx.T, ctx.th, ctx.tau, ctx.dt = T, th, tau, dt
        return out

    @staticmethod
    def backward(ctx, grad_out):
        (r,) = ctx.saved_tensors
        T, th, tau, dt = ctx.T, ctx.th, ctx.tau, ctx.dt
        g = weighted_rate(grad_out, tau, dt) * T
        top = th * tau / dt
        gi = torch.where((r > 0) & (r < top), g / tau, torch.zeros_like(g)) / T
        gx = gi.unsqueeze(0).expand(T, *gi.shape).contiguous()
        gth = (g * (r > top).to(g.dtype)).sum() * dt
        return gx, gth.reshape(()).to(grad_out.dtype), None, None, None


class DSRLIF(nn.Module):
    """DSR LIF layer (see the module docstring): ``forward(x [T, B, ...]) -> emitted values [T, B, ...]``.

    Parameters: ``v_th`` (initial threshold, trainable unless ``train_v_th=False``), ``tau``,
    ``dt``, ``alpha`` (fire at ``alpha v_th``), ``v_th_min`` (lower clip).
    """

    def __init__(self, v_th: float = 0.3, tau: float = 1.0, dt: float = 0.05, alpha: float = 0.3, *,
                 v_th_min: float = 5e-4, train_v_th: bool = True):
        super().__init__()
        self.tau = check_positive("tau", tau)
        self.dt = check_positive("dt", dt)
        self.alpha = check_positive("alpha", alpha)
        self.v_th_min = check_positive("v_th_min", v_th_min)
        v = torch.tensor(float(check_positive("v_th", v_th)))
        if train_v_th:
            self.v_th = nn.Parameter(v)
        else:
            self.register_buffer("v_th", v)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim < 2:
            raise ValueError(f"DSRLIF input must be [T, B, ...], got shape {tuple(x.shape)}")
        with torch.no_grad():
            self.v_th.clamp_(min=self.v_th_min)
        return _DSRFn.apply(x, self.v_th, self.tau, self.dt, self.alpha)
