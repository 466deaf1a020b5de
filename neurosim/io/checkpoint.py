"""Atomic checkpoints of torch state.

:func:`save_checkpoint` writes to a temporary file in the destination folder, flushes and
fsyncs it, then ``os.replace``-s it over the target, so a crash or interrupt never leaves a
half-written checkpoint: the file is either the old one or the new one. torch is imported
lazily (``neurosim.io`` is a numpy-level package).

State dicts may hold tensors, numbers, strings, lists/tuples/dicts of those (including the
numpy ``bit_generator.state`` dicts, which are plain ints and strings), so loading works with
``torch.load(weights_only=True)``, the safe default.
"""
from __future__ import annotations

from pathlib import Path

from neurosim._atomic import atomic_open

__all__ = ["save_checkpoint", "load_checkpoint", "save_model", "MODEL_FORMAT"]

#: ``format`` field of the self-describing model files written by :func:`save_model`
MODEL_FORMAT = "neurosim.model/1"


def save_checkpoint(path, state) -> Path:
    """Write ``state`` (anything ``torch.save`` accepts) atomically to ``path``; returns the path.

    The parent folder is created if needed.
    """
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb", fsync=True) as fh:
        torch.save(state, fh)
    return path


def load_checkpoint(path, *, map_location="cpu", weights_only: bool = True):
    """Load a checkpoint written by :func:`save_checkpoint`.

    Parameters
    ----------
    path : path
    map_location : str or torch.device
        Where to place tensors (default CPU).
    weights_only : bool
        Use torch's restricted unpickler (default; refuses arbitrary objects). Pass ``False``
        only for files you trust.

    Raises
    ------
    FileNotFoundError
        if ``path`` does not exist.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found")
    return torch.load(path, map_location=map_location, weights_only=weights_only)


def save_model(path, model, name: str, cfg=None, **meta) -> Path:
    """Write a self-describing model file: registry name, constructor options and weights.

    ``neurosim tsrsa --model PATH`` (and :func:`neurosim.commands.tsrsa.load_model`) rebuild
    the model from it with ``neurosim.models.get_model(name, **cfg)``. ``meta`` holds plain
    extras (``dataset``, ``test_acc``, ``input_size``, ``timesteps``...). Written atomically;
    loadable with ``torch.load(weights_only=True)``.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be the model's registry name (a non-empty str), got {name!r}")
    state = {"format": MODEL_FORMAT, "model_name": name, "model_cfg": dict(cfg or {}),
             "model_state": model.state_dict(), **meta}
    return save_checkpoint(path, state)
