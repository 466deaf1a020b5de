"""Input/output: atomic checkpoints and NIR export/import (loaded lazily; torch only on use)."""
from __future__ import annotations

import importlib

_EXPORTS = {
    "save_checkpoint": "checkpoint", "load_checkpoint": "checkpoint", "save_model": "checkpoint",
    "export_nir": "nir", "import_nir": "nir", "write_nir": "nir", "read_nir": "nir",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"neurosim.io.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'neurosim.io' has no attribute {name!r}")
