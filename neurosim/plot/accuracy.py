"""Accuracy plots: a continual-learning accuracy matrix ``R`` (``R[i, j]``: task j after training task i),
and a converted SNN's accuracy against the number of time steps (with the ANN's level)."""
from __future__ import annotations

import numpy as np

from neurosim._validation import as_float_array, check_number

__all__ = ["plot_accuracy_matrix", "plot_accuracy_vs_timesteps"]


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
    return _finish(fig, path, own)


def plot_accuracy_vs_timesteps(timesteps, accuracy, *, ann_acc=None, ax=None, path=None, title: str | None = None,
                               percent: bool = True, label: str = "SNN"):
    """Accuracy of a spiking network against the number of time steps ``T``, with an ANN's level as a line.

    Parameters
    ----------
    timesteps : 1-D sequence of positive ints (the ``T`` evaluated), strictly increasing.
    accuracy : 1-D sequence of accuracies in [0, 1], one per ``T``.
    ann_acc : the ANN's accuracy in [0, 1] (a dashed horizontal line), optional.
    ax : matplotlib Axes, optional (a new figure otherwise).
    path : file to save the figure to (PNG), optional.
    title : axes title, optional.
    percent : show values in percent.
    label : legend label of the curve.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    T = as_float_array("timesteps", timesteps, dtype=np.float64)
    acc = as_float_array("accuracy", accuracy, dtype=np.float64)
    if T.ndim != 1 or T.size < 1:
        raise ValueError(f"timesteps must be a non-empty 1-D sequence, got shape {T.shape}")
    if np.any(T < 1) or np.any(T != np.round(T)) or np.any(np.diff(T) <= 0):
        raise ValueError(f"timesteps must be strictly increasing positive integers, got {T.tolist()}")
    if acc.shape != T.shape or acc.ndim != 1:
        raise ValueError(f"accuracy must hold one value per time step count: {T.size} timesteps, "
                         f"accuracy of shape {acc.shape}")
    levels = [("accuracy", acc)]
    if ann_acc is not None:
        ann_acc = check_number("ann_acc", ann_acc)
        levels.append(("ann_acc", np.array([ann_acc])))
    for name, v in levels:
        if np.any(v < 0.0) or np.any(v > 1.0):
            raise ValueError(f"{name} must hold accuracies in [0, 1] (fractions, not percent), got values in "
                             f"[{v.min():.4g}, {v.max():.4g}]")
    scale = 100.0 if percent else 1.0
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(4.5, 3.2), dpi=100)
    else:
        fig = ax.figure
    ax.plot(T, acc * scale, "o-", label=label)  # next colour of the cycle: several curves on one ax
    if ann_acc is not None:
        ax.axhline(float(ann_acc) * scale, color="grey", linestyle="--", label=f"ANN {float(ann_acc) * scale:.2f}"
                                                                               + ("%" if percent else ""))
    if T.size > 1 and T[-1] / T[0] >= 4:
        ax.set_xscale("log", base=2)
    ax.set_xticks(T, [str(int(t)) for t in T])
    ax.set_xlabel("time steps T")
    ax.set_ylabel("accuracy (%)" if percent else "accuracy")
    ax.set_ylim(0, scale * 1.02)
    ax.legend(loc="lower right", fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    return _finish(fig, path, own)


def _finish(fig, path, own: bool):
    """Save ``fig`` to ``path`` (if given) and close it when this module made it; returns ``fig``."""
    if path is not None:
        import matplotlib.pyplot as plt

        fig.tight_layout()
        fig.savefig(path)
        if own:
            plt.close(fig)
    return fig
