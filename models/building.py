"""Build registry models for a data set, with seeded initial weights.

:func:`input_config` holds the constructor options that fit each zoo model to 28 x 28 grey
images and 10 classes (MNIST, Fashion-MNIST, the embedded digits); :func:`build_model` builds a
registry model from a seed without touching the caller's global torch RNG.
"""
from __future__ import annotations

from .registry import get_model, list_models

__all__ = ["input_config", "build_model"]


def input_config(name: str) -> dict:
    """Constructor options that fit the registry model ``name`` to 28 x 28 grey images, 10 classes.

    MLPs get ``in_shape=(1, 28, 28)``; ConvNets ``in_channels=1, input_size=28``; the ResNet
    family ``in_channels=1`` and the ``"small"`` stem (3 x 3, stride 1, no max-pooling).
    """
    if name in ("spiking_mlp", "mlp"):
        return {"in_shape": (1, 28, 28), "num_classes": 10}
    if name in ("spiking_convnet", "convnet"):
        return {"in_channels": 1, "input_size": 28, "num_classes": 10}
    return {"in_channels": 1, "num_classes": 10, "stem": "small"}


def build_model(name: str, *, seed: int = 0, **cfg):
    """``get_model(name, **cfg)`` with initial weights drawn after ``torch.manual_seed(seed)``.

    The global torch RNG is forked: the caller's RNG state is the same afterwards. Same seed and
    options, same weights.

    Raises
    ------
    KeyError
        ``name`` is not a registered model (the message lists the valid names).
    TypeError, ValueError
        ``cfg`` does not build the model.
    """
    import torch

    if not isinstance(name, str) or name not in list_models():
        raise KeyError(f"unknown model {name!r}; valid names: {', '.join(list_models())}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return get_model(name, **cfg)
