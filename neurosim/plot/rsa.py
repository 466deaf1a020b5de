"""RSA figures: an RDM image, TSRSA curves (score vs a swept variable), a layer x area heat map.

Every function returns the ``Figure`` it drew into, saves it when ``path`` is given, and never
calls ``plt.show``.
"""
from __future__ import annotations

import numpy as np

__all__ = ["plot_rdm", "plot_tsrsa_curves", "plot_score_heatmap"]


def _fig_ax(ax, figsize):
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, dpi=100)
        return fig, ax, True
    return ax.figure, ax, False


def _save(fig, path, own):
    if path is not None:
        fig.savefig(path, bbox_inches="tight")
        if own:
            import matplotlib.pyplot as plt

            plt.close(fig)
    return fig


def plot_rdm(rdm, *, ax=None, path=None, title: str | None = None, rank: bool = False, cmap="viridis"):
    """Image of an RDM (an :class:`~neurosim.rsa.RDM` or a square matrix).

    ``rank=True`` shows percentile ranks of the dissimilarities (the usual RSA display).
    """
    D = rdm.square() if hasattr(rdm, "square") else np.asarray(rdm, dtype=np.float64)
    if D.ndim != 2 or D.shape[0] != D.shape[1]:
        raise ValueError(f"rdm must be an RDM or a square matrix, got shape {D.shape}")
    if rank:
        iu = np.triu_indices(D.shape[0], 1)
        from neurosim.rsa.compare import average_ranks

        r = average_ranks(D[iu]) / max(len(iu[0]), 1) * 100
        D = np.zeros_like(D)
        D[iu] = r
        D.T[iu] = r
    fig, ax, own = _fig_ax(ax, (4.2, 3.6))
    im = ax.imshow(D, cmap=cmap, interpolation="nearest")
    fig.colorbar(im, ax=ax, label="percentile" if rank else "dissimilarity")
    ax.set_xlabel("condition")
    ax.set_ylabel("condition")
    if title:
        ax.set_title(title)
    return _save(fig, path, own)


def plot_tsrsa_curves(x, curves: dict, *, errors: dict | None = None, ceiling=None, ax=None, path=None,
                      xlabel: str = "", ylabel: str = "TSRSA score", title: str | None = None):
    """Score curves ``curves[name] = values over x`` with optional error bars and ceiling band.

    ``ceiling`` is a float or ``(mean, sem)``.
    """
    x = np.asarray(x)
    fig, ax, own = _fig_ax(ax, (5.0, 3.4))
    for name, y in curves.items():
        y = np.asarray(y, dtype=float)
        if y.shape != x.shape:
            raise ValueError(f"curve {name!r} has shape {y.shape}, x has {x.shape}")
        err = None if errors is None else errors.get(name)
        ax.errorbar(x, y, yerr=err, marker="o", ms=3, capsize=2, label=name)
    if ceiling is not None:
        m, s = (ceiling, 0.0) if np.isscalar(ceiling) else ceiling
        ax.axhline(m, color="k", ls="--", lw=1, label="noise ceiling")
        if s:
            ax.axhspan(m - s, m + s, color="k", alpha=0.1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return _save(fig, path, own)


def plot_score_heatmap(result, layers=None, areas=None, *, ax=None, path=None, title: str | None = None,
                       annotate: bool = True, cmap="magma"):
    """Layer x area heat map of TSRSA/RSA scores (a ``TSRSAResult`` or a matrix + names)."""
    if hasattr(result, "matrix"):
        M, layers, areas = result.matrix, result.layers, result.areas
    else:
        M = np.asarray(result, dtype=float)
    M = np.asarray(M, dtype=float)
    if M.ndim != 2:
        raise ValueError(f"scores must be a [n_layers, n_areas] matrix, got shape {M.shape}")
    layers = list(layers) if layers is not None else [str(i) for i in range(M.shape[0])]
    areas = list(areas) if areas is not None else [str(j) for j in range(M.shape[1])]
    if (len(layers), len(areas)) != M.shape:
        raise ValueError(f"{len(layers)} layer and {len(areas)} area names for a {M.shape} matrix")
    fig, ax, own = _fig_ax(ax, (1.8 + 0.9 * len(areas), 1.0 + 0.35 * len(layers)))
    im = ax.imshow(M, cmap=cmap, aspect="auto")
    fig.colorbar(im, ax=ax, label="score")
    ax.set_xticks(range(len(areas)), areas, rotation=45, ha="right")
    ax.set_yticks(range(len(layers)), layers, fontsize=7)
    if annotate and M.size <= 200:
        lo, hi = np.nanmin(M), np.nanmax(M)
        for i in range(M.shape[0]):
            for j in range(M.shape[1]):
                dark = (M[i, j] - lo) < 0.6 * (hi - lo + 1e-12)
                ax.text(j, i, f"{M[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="w" if dark else "k")
        best = np.nanargmax(M, axis=0)
        for j, i in enumerate(best):
            ax.add_patch(__import__("matplotlib.patches", fromlist=["Rectangle"]).Rectangle(
                (j - 0.5, i - 0.5), 1, 1, fill=False, ec="c", lw=1.5))
    if title:
        ax.set_title(title)
    return _save(fig, path, own)
