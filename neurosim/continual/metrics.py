"""Continual-learning metrics on the accuracy matrix ``R``.

``R[i, j]`` is the test accuracy on task ``j`` after training task ``i`` (``T x T``; entries
with ``j > i`` are not used). With ``T`` tasks (ALGORITHMS.md §2.2, Lopez-Paz & Ranzato 2017)::

    ACC = (1/T) Σ_j R[T−1, j]
    BWT = (1/(T−1)) Σ_{j<T−1} (R[T−1, j] − R[j, j])

BWT < 0 means forgetting. With a single task BWT is defined as 0 (nothing to forget).
"""
from __future__ import annotations

import numpy as np

from neurosim._validation import as_float_array

__all__ = ["accuracy_matrix_check", "average_accuracy", "backward_transfer", "forgetting"]


def accuracy_matrix_check(R) -> np.ndarray:
    """Validate ``R`` as a square float matrix with at least one task.

    Entries on and below the diagonal must be finite; above it (``j > i``, never used) NaN
    marks "not measured"; inf is refused everywhere.
    """
    R = as_float_array("R", R, dtype=np.float64, ndim=2, finite=False)
    if R.shape[0] != R.shape[1]:
        raise ValueError(f"R must be square (tasks x tasks), got shape {R.shape}")
    if R.shape[0] < 1:
        raise ValueError("R must hold at least one task (task count >= 1)")
    T = R.shape[0]
    if np.any(np.isinf(R)):
        i, j = (int(v) for v in np.argwhere(np.isinf(R))[0])
        raise ValueError(f"R contains inf (first at R[{i}, {j}] = {R[i, j]}); accuracies are finite numbers "
                         "(only NaN may mark an unmeasured entry above the diagonal)")
    if not np.all(np.isfinite(R[np.tril_indices(T)])):
        raise ValueError("R contains NaN/inf on or below the diagonal; fill every R[i, j] with j <= i")
    return R


def average_accuracy(R) -> float:
    """ACC: mean of the last row of ``R``."""
    R = accuracy_matrix_check(R)
    return float(R[-1].mean())


def backward_transfer(R) -> float:
    """BWT: mean over earlier tasks of final minus just-learned accuracy (0 for one task)."""
    R = accuracy_matrix_check(R)
    T = R.shape[0]
    if T == 1:
        return 0.0
    return float(np.mean(R[-1, :-1] - np.diag(R)[:-1]))


def forgetting(R) -> float:
    """Average forgetting: mean over earlier tasks of (best earlier accuracy − final accuracy)."""
    R = accuracy_matrix_check(R)
    T = R.shape[0]
    if T == 1:
        return 0.0
    best = np.array([R[j:T - 1, j].max() for j in range(T - 1)])
    return float(np.mean(best - R[-1, :-1]))
