"""Image data sets as the in-memory ``(x, y)`` tensors :class:`~neurosim.distill.Trainer` takes.

The reading (IDX files, the file-free ``embedded`` digits, the first ``limit`` samples) is
:func:`neurosim.data.load_dataset`'s, in the numpy layer; this torch-side function only adds the
channel axis and wraps the arrays as tensors (no copy).
"""
from __future__ import annotations

__all__ = ["load_tensors"]


def load_tensors(dataset: str, split: str, root=None, limit=None, seed: int = 0):
    """``(x uint8 [N, 1, 28, 28], y int64 [N])`` torch tensors of ``dataset``'s ``split``.

    Parameters
    ----------
    dataset : {"mnist", "fashion_mnist", "embedded"}
    split : {"train", "test"}
    root : path, optional
        Folder holding ``mnist/`` and ``fashion_mnist/`` (default ``$NEUROSIM_DATA``).
    limit : int, optional
        Only the first ``limit`` samples.
    seed : int
        Seed of the generated ``embedded`` digits.
    """
    import numpy as np
    import torch

    from neurosim.data.mnist import load_dataset

    x, y = load_dataset(dataset, split, root=root, limit=limit, seed=seed)
    return torch.from_numpy(x).unsqueeze(1).contiguous(), torch.from_numpy(y.astype(np.int64, copy=False))
