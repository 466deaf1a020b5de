"""Random-number normalisation: randomness enters only through explicit ``rng`` arguments."""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["as_generator", "spawn", "torch_generator"]


def as_generator(rng=None, name: str = "rng") -> np.random.Generator:
    """Return a ``numpy.random.Generator`` from ``None``, an int seed, a SeedSequence or a Generator.

    ``None`` gives a fresh, OS-seeded generator (non-reproducible by design); pass an int for
    reproducible results. A ``Generator`` is returned as is (shared, not copied).
    """
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, np.random.SeedSequence):
        return np.random.default_rng(rng)
    if isinstance(rng, (bool, np.bool_)):
        raise TypeError(f"{name} must be None, an int seed or a numpy.random.Generator, got bool")
    if isinstance(rng, numbers.Integral):
        if int(rng) < 0:
            raise ValueError(f"{name} seed must be >= 0, got {rng}")
        return np.random.default_rng(int(rng))
    if isinstance(rng, np.random.RandomState):
        raise TypeError(
            f"{name}: legacy numpy.random.RandomState is not supported; pass np.random.default_rng(seed)"
        )
    raise TypeError(
        f"{name} must be None, an int seed or a numpy.random.Generator, got {type(rng).__name__}"
    )


def spawn(rng, k: int, name: str = "rng") -> list[np.random.Generator]:
    """Split ``rng`` into ``k`` independent child generators (``Generator.spawn``)."""
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    return list(as_generator(rng, name).spawn(k))


def torch_generator(rng=None, device="cpu"):
    """Return a ``torch.Generator`` from ``None``, an int seed, a numpy Generator or a torch Generator.

    A numpy Generator is consumed once to draw a 63-bit seed, so one numpy stream can seed torch.
    """
    import torch  # lazy: torch is never imported by the numpy layers

    if isinstance(rng, torch.Generator):
        return rng
    gen = torch.Generator(device=device)
    if rng is None:
        gen.seed()
        return gen
    if isinstance(rng, np.random.Generator):
        gen.manual_seed(int(rng.integers(0, 2**63 - 1)))
        return gen
    if isinstance(rng, numbers.Integral) and not isinstance(rng, (bool, np.bool_)):
        if int(rng) < 0:
            raise ValueError(f"rng seed must be >= 0, got {rng}")
        gen.manual_seed(int(rng))
        return gen
    raise TypeError(
        f"rng must be None, an int seed, a numpy Generator or a torch.Generator, got {type(rng).__name__}"
    )
