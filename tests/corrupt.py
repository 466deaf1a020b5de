"""Corrupt variants of a good file, for the tests that every reader names a bad file.

Used by the NWB (tests/test_allen.py) and NIR (tests/test_corrupt_files.py) readers' tests.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

#: 4 KiB of seeded random bytes
GARBAGE = bytes(np.random.default_rng(15).integers(0, 256, size=4096, dtype=np.uint8))


def hdf5_variants(good: Path, text: bytes = b"session 1\n") -> list[Path]:
    """Beside ``good`` (an HDF5-based file): garbage, empty, text, half and cut-short copies, and
    a valid HDF5 file of the same suffix without the expected content. Returns their paths."""
    import h5py

    raw, folder, suffix = good.read_bytes(), good.parent, good.suffix
    cases = {"garbage": GARBAGE, "empty": b"", "text": text, "half": raw[:len(raw) // 2], "cut": raw[:-100]}
    paths = []
    for name, data in cases.items():
        paths.append(folder / f"{name}{suffix}")
        paths[-1].write_bytes(data)
    paths.append(folder / f"plain{suffix}")
    with h5py.File(paths[-1], "w") as f:
        f["x"] = 1
    return paths
