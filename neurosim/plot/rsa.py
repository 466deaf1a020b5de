"""RSA figures: an RDM image, TSRSA curves (score vs a swept variable), a layer x area heat map,
and per-layer score bars for one area.

Every function returns the ``Figure`` it drew into, saves it when ``path`` is given, and never
calls ``plt.show``.
"""
from __future__ import annotations

import numpy as np

__all__ = ["plot_rdm", "plot_tsrsa_curves", "plot_score_heatmap", "plot_layer_scores"]


def _as_matrix(name: str, value, *, finite_only: bool = False) -> np.ndarray:
    """``value`` as a float64 array; ``TypeError`` naming ``name`` for non-numeric input (None,
    dicts, strings, complex). NaN passes (it marks missing values) unless ``finite_only``."""
    try:
        a = np.asarray(value)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise TypeError(f"{name} must be a numeric array, got {type(value).__name__}") from exc
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a numeric array, got {type(value).__name__} of dtype {a.dtype}")
    a = a.astype(np.float64)
    if finite_only and not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN/inf; pass finite values")
    return a


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
    NaN marks an omitted pair (as in :class:`~neurosim.rsa.RDM`): such cells are grey and left
    out of the ranks; an RDM with no finite pair, or with inf, is an error.
    """
    D = rdm.square() if hasattr(rdm, "square") else _as_matrix("rdm", rdm)
    if D.ndim != 2 or D.shape[0] != D.shape[1]:
        raise ValueError(f"rdm must be an RDM or a square matrix, got shape {D.shape}")
    if np.isinf(D).any():
        raise ValueError("rdm contains inf; dissimilarities must be finite (NaN marks an omitted pair)")
    iu = np.triu_indices(D.shape[0], 1)
    if D.size and (np.isnan(D).all() or (iu[0].size and np.isnan(D[iu]).all())):
        raise ValueError(f"rdm has no dissimilarity to show: every pair of its {D.shape[0]} conditions is NaN "
                         "(omitted); compute the RDM from finite patterns")
    if rank:
        from neurosim.rsa.compare import average_ranks

        v = D[iu]
        ok = np.isfinite(v)
        r = np.full(v.shape, np.nan)
        r[ok] = average_ranks(v[ok]) / max(int(ok.sum()), 1) * 100
        D = np.zeros_like(D)
        D[iu] = r
        D.T[iu] = r
    fig, ax, own = _fig_ax(ax, (4.2, 3.6))
    import matplotlib

    cm = matplotlib.colormaps[cmap].with_extremes(bad="0.85") if isinstance(cmap, str) else cmap
    im = ax.imshow(np.ma.masked_invalid(D), cmap=cm, interpolation="nearest")
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


def _scores_matrix(result, layers, areas):
    if hasattr(result, "matrix"):
        M, layers, areas = result.matrix, result.layers, result.areas
    else:
        M = result
    M = _as_matrix("result", M)
    if M.ndim != 2 or M.size == 0:
        raise ValueError(f"result must be a TSRSAResult or a non-empty [n_layers, n_areas] score matrix, "
                         f"got shape {M.shape}")
    if np.isinf(M).any():
        raise ValueError("result contains inf scores; scores are correlations (NaN marks a missing one)")
    layers = list(layers) if layers is not None else [str(i) for i in range(M.shape[0])]
    areas = list(areas) if areas is not None else [str(j) for j in range(M.shape[1])]
    if (len(layers), len(areas)) != M.shape:
        raise ValueError(f"layers has {len(layers)} and areas has {len(areas)} names for a {M.shape} score "
                         "matrix; pass one name per row (layers) and per column (areas)")
    return M, layers, areas


def _luminance(rgba) -> float:
    """Relative luminance (WCAG 2) of an sRGB colour."""
    c = np.asarray(rgba[:3], dtype=float)
    c = np.where(c <= 0.03928, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return float(0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2])


def plot_score_heatmap(result, layers=None, areas=None, *, ax=None, path=None, title: str | None = None,
                       annotate: bool = True, cmap="RdBu_r"):
    """Layer x area heat map of TSRSA/RSA scores (a ``TSRSAResult`` or a matrix + names).

    Scores are correlations, so the colour scale is diverging and symmetric about 0
    (``[-m, m]`` with ``m`` the largest ``|score|``): 0 is white, the sign is the hue, and no
    score maps to black however few cells there are. Values are written in each cell (black or
    white, whichever contrasts more with the cell); the best layer of each area is outlined;
    NaN cells are grey and marked "n/a". For one area, :func:`plot_layer_scores` (bars) is
    easier to read.
    """
    from matplotlib.colors import Normalize
    from matplotlib.patches import Rectangle

    M, layers, areas = _scores_matrix(result, layers, areas)
    finite = M[np.isfinite(M)]
    m = float(np.max(np.abs(finite))) if finite.size else 1.0
    m = m if m > 0 else 1.0
    fig, ax, own = _fig_ax(ax, (2.8 + 0.9 * len(areas), 1.2 + 0.4 * len(layers)))
    import matplotlib

    cm = matplotlib.colormaps[cmap].with_extremes(bad="0.85") if isinstance(cmap, str) else cmap
    im = ax.imshow(np.ma.masked_invalid(M), cmap=cm, norm=Normalize(-m, m), aspect="auto")
    fig.colorbar(im, ax=ax, label="score")
    ax.set_xticks(range(len(areas)), areas, rotation=45 if len(areas) > 1 else 0, ha="right" if len(areas) > 1
                  else "center")
    ax.set_yticks(range(len(layers)), layers, fontsize=7)
    if annotate and M.size <= 200:
        for i in range(M.shape[0]):
            for j in range(M.shape[1]):
                v = M[i, j]
                if not np.isfinite(v):
                    ax.text(j, i, "n/a", ha="center", va="center", fontsize=7, color="k")
                    continue
                lum = _luminance(im.cmap(im.norm(v)))
                # WCAG contrast with black (lum + 0.05) / 0.05 vs with white 1.05 / (lum + 0.05)
                color = "k" if (lum + 0.05) ** 2 >= 0.05 * 1.05 else "w"
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8, color=color)
        for j in range(M.shape[1]):
            col = M[:, j]
            if np.isfinite(col).any():
                i = int(np.nanargmax(col))
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="k", lw=2))
    if title:
        ax.set_title(title)
    return _save(fig, path, own)


def plot_layer_scores(result, area=None, *, layers=None, ceiling=None, ax=None, path=None,
                      title: str | None = None, xlabel: str = "TSRSA score"):
    """Horizontal bars of every layer's score for one area, value labels, best layer darker.

    ``result``: a ``TSRSAResult`` (``area`` picks the column; default the first), a
    ``{layer: score}`` dict or a 1-D array with ``layers``. ``ceiling``: a noise ceiling drawn
    as a dashed line, a float or ``(mean, sem)`` (the band is +- sem).
    """
    if hasattr(result, "matrix"):
        M, names, areas = _scores_matrix(result, None, None)
        j = 0 if area is None else areas.index(area) if area in areas else None
        if j is None:
            raise ValueError(f"area {area!r} is not in the result; areas: {', '.join(areas)}")
        values = M[:, j]
        area = areas[j]
    elif isinstance(result, dict):
        names, values = list(result), _as_matrix("result", list(result.values()))
    else:
        values = _as_matrix("result", result)
        if values.ndim != 1:
            raise ValueError(f"result must be 1-D scores (one per layer), got shape {values.shape}")
        names = list(layers) if layers is not None else [str(i) for i in range(values.size)]
        if len(names) != values.size:
            raise ValueError(f"layers has {len(names)} layer names for {values.size} scores in result; "
                             "pass one name per score")
    if values.size == 0:
        raise ValueError("result has no layer scores to plot")
    if np.isinf(values).any():
        raise ValueError("result contains inf scores; scores are correlations (NaN marks a missing one)")
    fig, ax, own = _fig_ax(ax, (5.0, 1.0 + 0.45 * values.size))
    y = np.arange(values.size)
    finite = np.isfinite(values)
    best = int(np.nanargmax(values)) if finite.any() else -1
    colors = ["C0" if i == best else "#9ecae1" for i in range(values.size)]
    ax.barh(y, np.where(finite, values, 0.0), color=colors, height=0.6)
    hi = float(np.nanmax(np.abs(values))) if finite.any() else 1.0
    for i, v in enumerate(values):
        label = f"{v:.3f}" if np.isfinite(v) else "n/a"
        ax.text((v if np.isfinite(v) else 0.0) + 0.02 * hi * (1 if not np.isfinite(v) or v >= 0 else -1), i, label,
                va="center", ha="left" if not np.isfinite(v) or v >= 0 else "right", fontsize=8)
    lo_x, hi_x = min(0.0, float(np.nanmin(values)) if finite.any() else 0.0), hi
    if ceiling is not None:
        cm, cs = (ceiling, 0.0) if np.isscalar(ceiling) else ceiling
        ax.axvline(cm, color="k", ls="--", lw=1, label=f"noise ceiling {cm:.2f}")
        if cs:
            ax.axvspan(cm - cs, cm + cs, color="k", alpha=0.1)
        hi_x = max(hi_x, cm + cs)
        ax.legend(fontsize=8, loc="lower right")
    span = hi_x - lo_x or 1.0
    ax.set_xlim(lo_x - (0.15 * span if lo_x < 0 else 0.0), hi_x + 0.18 * span)
    ax.axvline(0.0, color="0.5", lw=0.8)
    ax.set_yticks(y, names, fontsize=8)
    ax.invert_yaxis()  # first layer on top
    ax.set_xlabel(xlabel if area is None else f"{xlabel} vs {area}")
    if title:
        ax.set_title(title)
    return _save(fig, path, own)
