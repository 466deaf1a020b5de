"""Plot of a continual-learning accuracy matrix ``R`` (``R[i, j]``: task j after training task i)."""
from __future__ import annotations

import numpy as np

from neurosim._validation import as_float_array

__all__ = ["plot_accuracy_matrix"]


def plot_accuracy_matrix(R, *, ax=None, path=None, title: str | None = None, percent: bool = True,
                         annotate: bool = True):
    """Heat map of the lower triangle of ``R`` with ACC and BWT in the title.

    Parameters
    ----------
    R : array (T, T), accuracies in [0, 1] on and below the diagonal; the upper triangle (tasks
        not yet trained, often NaN) is not read.
    ax : matplotlib Axes, optional (a new figure otherwise).
    path : file to save the figure to (PNG), optional.
    title : title prefix; ACC and BWT are appended.
    percent : show values in percent.
    annotate : write the values into the cells (skipped for T > 12).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    R = as_float_array("R", R, dtype=np.float64, finite=False)
    if R.ndim != 2 or R.shape[0] != R.shape[1] or R.shape[0] < 1:
        raise ValueError(f"R must be a square matrix with at least one task, got shape {R.shape}")
    T = R.shape[0]
    low = R[np.tril_indices(T)]  # R[i, j] for j <= i; the upper triangle (tasks not yet seen) is not shown
    bad = int(low.size - np.count_nonzero(np.isfinite(low)))
    if bad:
        raise ValueError(f"R contains {bad} NaN/inf value(s) in its lower triangle (R[i, j], j <= i: task j "
                         "evaluated after training task i); only the upper triangle may be NaN")
    if np.isinf(R).any():
        raise ValueError("R contains inf above the diagonal; use NaN for tasks not yet trained")
    known = R[~np.isnan(R)]
    if known.min() < 0.0 or known.max() > 1.0:
        raise ValueError(f"R must hold accuracies in [0, 1] (fractions, not percent), got values in "
                         f"[{known.min():.4g}, {known.max():.4g}]")
    scale = 100.0 if percent else 1.0
    M = np.where(np.tril(np.ones((T, T), dtype=bool)), R * scale, np.nan)
    acc = float(R[-1].mean()) * scale
    bwt = float(np.mean(R[-1, :-1] - np.diag(R)[:-1])) * scale if T > 1 else 0.0
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(1.0 + 0.55 * T, 0.8 + 0.5 * T), dpi=100)
    else:
        fig = ax.figure
    im = ax.imshow(M, vmin=0, vmax=scale, cmap="viridis")
    ax.set_xlabel("evaluated task j")
    ax.set_ylabel("after training task i")
    ax.set_xticks(range(T))
    ax.set_yticks(range(T))
    if annotate and T <= 12:
        for i in range(T):
            for j in range(i + 1):
                v = M[i, j]
                ax.text(j, i, f"{v:.0f}" if percent else f"{v:.2f}", ha="center", va="center", fontsize=7,
                        color="black" if v > 0.6 * scale else "white")
    unit = "%" if percent else ""
    head = f"{title}: " if title else ""
    ax.set_title(f"{head}ACC {acc:.1f}{unit}, BWT {bwt:+.1f}{unit}", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if path is not None:
        fig.tight_layout()
        fig.savefig(path)
        if own:
            plt.close(fig)
    return fig
