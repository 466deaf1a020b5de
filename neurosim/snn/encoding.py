"""Spike encoders: turn static inputs ``[B, ...]`` (or sequences) into ``[T, B, ...]``.

* :func:`direct` (repeat): the analog input is presented at every step (the first layer's
  neurons do the encoding; common in surrogate-gradient training).
* :func:`poisson`: Bernoulli spikes with probability ``p = x * max_rate`` per step, drawn from
  an explicit ``torch.Generator`` (same seed -> same spikes).
* :func:`latency`: one spike per element, earlier for larger values:
  ``t = round((1 - x) (T - 1))`` (``"linear"``) or the RC charging time
  ``t = tau ln(x / (x - threshold))`` (``"log"``, snntorch's ``latency``), no spike for
  ``x < threshold``; ``x`` must lie in [0, 1].
* :func:`delta`: spikes where a sequence changes by at least ``threshold`` between steps
  (``+1`` on increase; ``-1`` on decrease with ``off_spikes=True``); the first step is
  compared with zero.
"""
from __future__ import annotations

import torch
from torch import nn

from neurosim._validation import check_choice, check_int, check_memory, check_positive

__all__ = ["direct", "repeat", "poisson", "latency", "delta",
           "DirectEncoder", "PoissonEncoder", "LatencyEncoder", "DeltaEncoder"]


def _check_tensor(x, name="x", min_ndim=1):
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}; use {name}.float()")
    if x.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimension(s), got shape {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"{name} contains {bad} NaN/inf value(s) of {x.numel()}; replace or remove them before "
                         f"encoding (e.g. torch.nan_to_num({name}))")
    return x


def _check_unit_range(x, name="x"):
    if x.numel() and (float(x.min()) < 0.0 or float(x.max()) > 1.0):
        raise ValueError(f"{name} must lie in [0, 1] (rescale it, e.g. x / x.max()), "
                         f"got range [{float(x.min()):g}, {float(x.max()):g}]")


def _check_steps(T, x: torch.Tensor, per_item: int) -> int:
    """``T`` >= 1 whose ``[T, *x.shape]`` output (``per_item`` bytes per element in all) fits in memory."""
    T = check_int("T", T, min_value=1)
    check_memory("T", T * x.numel(), per_item, f"the [T, {', '.join(map(str, x.shape))}] spike array")
    return T


def direct(x: torch.Tensor, T: int) -> torch.Tensor:
    """Repeat ``x`` ``[B, ...]`` over ``T`` steps -> ``[T, B, ...]`` (a broadcast view; no copy)."""
    _check_tensor(x)
    T = check_int("T", T, min_value=1)
    return x.unsqueeze(0).expand(T, *x.shape)


repeat = direct


def poisson(x: torch.Tensor, T: int, *, generator: torch.Generator | None = None,
            max_rate: float = 1.0) -> torch.Tensor:
    """Bernoulli rate code: ``spikes[t] = (u_t < x * max_rate)``, ``u_t ~ U[0, 1)`` from ``generator``.

    ``x`` in [0, 1]; ``max_rate`` in (0, 1] is the spike probability per step at ``x = 1``.
    """
    _check_tensor(x)
    T = _check_steps(T, x, 2 * x.element_size() + 1)  # uniform draws, comparison, spikes
    max_rate = check_positive("max_rate", max_rate)
    if max_rate > 1.0:
        raise ValueError(f"max_rate must be <= 1 (a probability per step), got {max_rate}")
    _check_unit_range(x)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    u = torch.rand((T, *x.shape), generator=generator, dtype=x.dtype, device=x.device)
    return (u < x * max_rate).to(x.dtype)


def latency(x: torch.Tensor, T: int, *, method: str = "linear", tau: float = 1.0,
            threshold: float = 0.01) -> torch.Tensor:
    """Time-to-first-spike code: one spike per element of ``x`` in [0, 1] (none below ``threshold``)."""
    _check_tensor(x)
    T = _check_steps(T, x, x.element_size() + 2)  # comparison, mask, spikes
    method = check_choice("method", method, ("linear", "log"))
    tau = check_positive("tau", tau)  # used by "log" only, but a wrong value is an error either way
    threshold = check_positive("threshold", threshold)
    if threshold >= 1.0:
        raise ValueError(f"threshold must be < 1, got {threshold}")
    _check_unit_range(x)
    if method == "linear":
        t = torch.round((1.0 - x) * (T - 1))
    else:
        safe = torch.clamp(x, min=threshold * (1 + 1e-6))
        t = torch.clamp(torch.round(tau * torch.log(safe / (safe - threshold))), max=T - 1)
    fires = x >= threshold
    steps = torch.arange(T, device=x.device, dtype=t.dtype).reshape(T, *([1] * x.ndim))
    return ((steps == t.unsqueeze(0)) & fires.unsqueeze(0)).to(x.dtype)


def delta(x: torch.Tensor, *, threshold: float = 0.1, off_spikes: bool = False) -> torch.Tensor:
    """Change code for a sequence ``[T, B, ...]``: ``+1`` where ``x[t] - x[t-1] >= threshold``."""
    _check_tensor(x, min_ndim=2)
    if x.shape[0] == 0:
        raise ValueError(f"x has T = 0 time steps (shape {tuple(x.shape)}); T must be >= 1")
    threshold = check_positive("threshold", threshold)
    prev = torch.cat([torch.zeros_like(x[:1]), x[:-1]])
    d = x - prev
    on = (d >= threshold).to(x.dtype)
    if off_spikes:
        return on - (d <= -threshold).to(x.dtype)
    return on


class DirectEncoder(nn.Module):
    """Module form of :func:`direct`."""

    def __init__(self, T: int):
        super().__init__()
        self.T = check_int("T", T, min_value=1)

    def forward(self, x):  # noqa: D102
        return direct(x, self.T)


class PoissonEncoder(nn.Module):
    """Module form of :func:`poisson` (pass a seeded ``torch.Generator`` for reproducible spikes)."""

    def __init__(self, T: int, *, generator: torch.Generator | None = None, max_rate: float = 1.0):
        super().__init__()
        self.T = check_int("T", T, min_value=1)
        self.generator = generator
        self.max_rate = max_rate

    def forward(self, x):  # noqa: D102
        return poisson(x, self.T, generator=self.generator, max_rate=self.max_rate)


class LatencyEncoder(nn.Module):
    """Module form of :func:`latency`."""

    def __init__(self, T: int, **kwargs):
        super().__init__()
        self.T = check_int("T", T, min_value=1)
        self.kwargs = kwargs

    def forward(self, x):  # noqa: D102
        return latency(x, self.T, **self.kwargs)


class DeltaEncoder(nn.Module):
    """Module form of :func:`delta`."""

    def __init__(self, threshold: float = 0.1, off_spikes: bool = False):
        super().__init__()
        self.threshold = threshold
        self.off_spikes = off_spikes

    def forward(self, x):  # noqa: D102
        return delta(x, threshold=self.threshold, off_spikes=self.off_spikes)

