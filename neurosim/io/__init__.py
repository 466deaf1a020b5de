"""Input/output: atomic checkpoints and NIR export/import (loaded lazily; torch only on use).

Unreadable files (empty, truncated, garbage, wrong format, another model's weights) raise
:class:`CorruptFileError`, a ``ValueError`` whose message starts with the file's path.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "save_checkpoint": "checkpoint", "load_checkpoint": "checkpoint", "save_model": "checkpoint",
    "load_module_state": "checkpoint", "CorruptFileError": "files", "load_npy": "files",
    "export_nir": "nir", "import_nir": "nir", "write_nir": "nir", "read_nir": "nir",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"neurosim.io.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'neurosim.io' has no attribute {name!r}")
