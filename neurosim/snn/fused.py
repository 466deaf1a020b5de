"""Fused multi-step LIF forward/backward on Numba kernels (placeholder: always falls back)."""
from __future__ import annotations

__all__ = ["supports", "why_not", "lif_fused"]


def why_not(x, spec) -> str:
    return "the fused kernel is not built yet"


def supports(x, spec) -> bool:
    return False


def lif_fused(x, v0, spec):  # pragma: no cover - placeholder
    raise NotImplementedError
