"""Input checks shared by the RSA modules (errors name the argument and the fix)."""
from __future__ import annotations

import numpy as np

from neurosim._validation import as_float_array

CONSTANT_POLICIES = ("raise", "omit")


def response_matrix(name: str, X, *, dtype=None, min_rows: int = 3) -> np.ndarray:
    """A finite 2-D float array [conditions/frames, units] with at least ``min_rows`` rows."""
    if isinstance(X, np.memmap):  # keep the memory map; check finiteness chunk-wise later
        a = X
        if a.ndim != 2:
            raise ValueError(f"{name} must have 2 dimensions [frames, units], got shape {a.shape}")
    else:
        a = as_float_array(name, X, dtype=dtype, ndim=2, finite=False)
        if a.size and not np.all(np.isfinite(a)):
            bad = np.argwhere(~np.isfinite(a))
            raise ValueError(f"{name} contains {len(bad)} NaN/inf value(s) (first at row {bad[0, 0]}, "
                             f"column {bad[0, 1]}); clean or impute them first")
    if a.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} frames/conditions (rows), got {a.shape[0]}")
    if a.shape[1] < 2:
        raise ValueError(f"{name} needs at least 2 units (columns) for a correlation, got {a.shape[1]}")
    return a


def same_rows(**arrays) -> int:
    """All arrays must have the same number of rows (frames/conditions)."""
    n = {k: int(np.shape(v)[0]) for k, v in arrays.items()}
    if len(set(n.values())) > 1:
        desc = ", ".join(f"{k} has {v}" for k, v in n.items())
        raise ValueError(f"mismatched frame counts: {desc} rows; give both the same frames in the same order")
    return next(iter(n.values()))


def describe_rows(rows) -> str:
    rows = [int(r) for r in rows]
    head = ", ".join(map(str, rows[:10]))
    return head + (f", ... ({len(rows)} rows)" if len(rows) > 10 else "")
