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

__all__ = ["save_checkpoint", "load_checkpoint"]


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
