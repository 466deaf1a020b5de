"""Demo figures: the TSRSA heat map never renders a score black, and the one-area bar chart.

Readability is measured, not eyeballed: WCAG 2 relative luminance and contrast ratio, computed
here from the colours matplotlib drew (the formula is the W3C's, written out independently).
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.image import AxesImage

from neurosim.plot.rsa import plot_layer_scores, plot_score_heatmap


def _wcag_luminance(rgb):
    c = np.array([v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in rgb[:3]])
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]


def _contrast(a, b):
    la, lb = sorted((_wcag_luminance(a), _wcag_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


@pytest.mark.parametrize("scores", [[[0.23], [0.14]], [[0.5, -0.2], [0.1, 0.0], [-0.4, 0.3]]])
def test_heatmap_cells_are_not_black_and_labels_readable(scores):
    from matplotlib.colors import to_rgba

    M = np.array(scores)
    fig = plot_score_heatmap(M, [f"l{i}" for i in range(M.shape[0])], [f"a{j}" for j in range(M.shape[1])])
    ax = fig.axes[0]
    im = next(a for a in ax.get_children() if isinstance(a, AxesImage))
    assert im.norm.vmin == pytest.approx(-im.norm.vmax) and im.norm.vmax == pytest.approx(np.abs(M).max())
    colors = {(i, j): im.cmap(im.norm(M[i, j])) for i in range(M.shape[0]) for j in range(M.shape[1])}
    for rgba in colors.values():
        assert _wcag_luminance(rgba) > 0.02  # black is 0; the old magma scale gave its minimum 0.0006
    texts = {t.get_text(): t for t in ax.texts}
    for (i, j), rgba in colors.items():
        label = texts[f"{M[i, j]:.2f}"]
        assert label.get_position() == (j, i)
        assert _contrast(rgba, to_rgba(label.get_color())) >= 4.5  # WCAG AA for normal text
    if M.shape == (2, 1):  # two different scores get visibly different colours
        assert _contrast(colors[0, 0], colors[1, 0]) > 1.5


def test_heatmap_nan_cell_is_marked():
    fig = plot_score_heatmap(np.array([[0.2, np.nan]]), ["l"], ["a", "b"])
    assert "n/a" in [t.get_text() for t in fig.axes[0].texts]


def test_layer_score_bars_match_the_scores():
    scores = {"features.sn1": 0.22999, "features.sn2": 0.14181, "features.sn3": -0.05}
    fig = plot_layer_scores(scores, ceiling=(0.57, 0.02), title="t")
    ax = fig.axes[0]
    bars = [p for p in ax.patches if p.__class__.__name__ == "Rectangle" and p.get_height() == pytest.approx(0.6)]
    np.testing.assert_allclose([b.get_width() for b in bars], list(scores.values()))
    labels = [t.get_text() for t in ax.texts]
    assert labels == ["0.230", "0.142", "-0.050"]
    assert [t.get_text() for t in ax.get_yticklabels()] == list(scores)
    ceiling = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert ceiling and ceiling[0].get_xdata()[0] == pytest.approx(0.57)
    best = max(bars, key=lambda b: b.get_width())
    assert all(b.get_facecolor() != best.get_facecolor() for b in bars if b is not best)


def test_layer_scores_from_a_tsrsa_result_and_errors():
    from neurosim.rsa.tsrsa import TSRSAResult

    res = TSRSAResult(np.array([[0.1, 0.3], [0.2, 0.4]]), ("l1", "l2"), ("V1", "LM"))
    ax = plot_layer_scores(res, "LM").axes[0]
    assert [t.get_text() for t in ax.texts] == ["0.300", "0.400"] and "LM" in ax.get_xlabel()
    with pytest.raises(ValueError, match="area 'VISp'"):
        plot_layer_scores(res, "VISp")
    with pytest.raises(ValueError, match="layer names"):
        plot_layer_scores(np.array([0.1, 0.2]), layers=["a"])
