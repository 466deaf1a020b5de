"""NIR export/import: a lazy re-export of :mod:`neurosim.snn.nir` (the torch layer).

``from neurosim.io.nir import export_nir`` and ``neurosim.io.read_nir`` keep working; the
implementation, its registries and the discrete <-> continuous mapping are documented in
:mod:`neurosim.snn.nir`. Importing this module imports neither torch nor ``nir``; the first
attribute access does (:func:`__getattr__`, the one torch-layer import of ``neurosim.io``).
"""
from __future__ import annotations

__all__ = ["export_nir", "import_nir", "write_nir", "read_nir", "NIR_DT"]


def __getattr__(name: str):
    if name in __all__:
        from neurosim.snn import nir as impl  # lazy: the numpy layer must not import torch on import

        value = getattr(impl, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'neurosim.io.nir' has no attribute {name!r}")
