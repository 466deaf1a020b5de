"""neurosim.plot.spikes: rate counts by hand, figures render to non-empty PNGs."""
from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from neurosim.plot import plot_population_rate, population_rate, raster, raster_and_rate, traces


def _png_bytes(fig, tmp_path, name="f.png"):
    path = tmp_path / name
    fig.savefig(path, dpi=50)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return len(data)


def test_population_rate_hand_count():
    # 2 neurons, 12 ms in 5 ms bins -> [0,5) [5,10) [10,12] (last bin 2 ms wide)
    t = [0.0, 1.0, 4.9, 5.0, 9.99, 10.0, 12.0]
    tc, r = population_rate(t, 2, 12.0, 5.0)
    np.testing.assert_allclose(tc, [2.5, 7.5, 11.0])
    # 3 spikes / (2 neurons * 5 ms) = 300 Hz; 2 / (2 * 5 ms) = 200 Hz; 2 / (2 * 2 ms) = 500 Hz
    np.testing.assert_allclose(r, [300.0, 200.0, 500.0])


def test_population_rate_window_and_mean():
    rng = np.random.default_rng(0)
    t = rng.uniform(100.0, 300.0, size=1000)
    tc, r = population_rate(t, 50, 200.0, 10.0, t_start_ms=100.0)
    assert tc[0] == pytest.approx(105.0) and len(tc) == 20
    # mean rate = 1000 spikes / (50 neurons * 0.2 s) = 100 Hz
    assert r.mean() == pytest.approx(100.0)
    # spikes outside the window are not counted
    _, r2 = population_rate(np.r_[t, 50.0, 400.0], 50, 200.0, 10.0, t_start_ms=100.0)
    np.testing.assert_array_equal(r, r2)
    # empty spike train -> zeros
    _, r0 = population_rate([], 3, 20.0, 5.0)
    np.testing.assert_array_equal(r0, np.zeros(4))


@pytest.mark.parametrize("kwargs, field", [
    ({"n_neurons": 0}, "n_neurons"),
    ({"duration_ms": 0.0}, "duration_ms"),
    ({"duration_ms": -5.0}, "duration_ms"),
    ({"bin_ms": 0.0}, "bin_ms"),
    ({"times_ms": [1.0, np.nan]}, "times_ms"),
    ({"t_start_ms": np.inf}, "t_start_ms"),
    ({"bin_ms": 1e-300}, "^bin_ms=1e-300 makes 1e\\+301 bins"),  # fuzz census: was numpy's "Maximum allowed size"
    ({"bin_ms": 1e-3, "t_start_ms": 1e300}, "^bin_ms=0.001 is below the float64 resolution"),
])
def test_population_rate_validation(kwargs, field):
    args = {"times_ms": [1.0], "n_neurons": 2, "duration_ms": 10.0, "bin_ms": 1.0} | kwargs
    with pytest.raises(ValueError, match=field):
        population_rate(**args)


def test_raster_points_and_png(tmp_path):
    rng = np.random.default_rng(1)
    t = rng.uniform(0, 100, 250)
    i = rng.integers(0, 40, 250)
    ax = raster(t, i, n_neurons=40, title="x")
    offsets = np.concatenate([c.get_offsets() for c in ax.collections])
    assert offsets.shape == (250, 2)
    np.testing.assert_allclose(np.sort(offsets[:, 0]), np.sort(t))
    assert ax.get_ylim() == (-0.5, 39.5)
    assert _png_bytes(ax.figure, tmp_path) > 1000


def test_raster_split_and_monitor():
    mon = SimpleNamespace(times_ms=np.array([1.0, 2.0, 3.0, 4.0]), ids=np.array([0, 5, 9, 2]))
    ax = raster(mon, split=5)
    sizes = [len(c.get_offsets()) for c in ax.collections]
    assert sizes == [2, 2]


def test_raster_validation():
    with pytest.raises(ValueError, match="same length"):
        raster([1.0, 2.0], [0])
    with pytest.raises(ValueError, match="ids"):
        raster([1.0], [-1])
    with pytest.raises(TypeError, match="ids"):
        raster([1.0, 2.0])
    with pytest.raises(ValueError, match="times_ms"):
        raster([np.nan], [0])


def test_traces_lines_and_shapes(tmp_path):
    t = np.arange(100) * 0.5
    v = np.stack([np.sin(t), np.cos(t), t / 10], axis=1)
    ax = traces(t, v, labels=["a", "b", "c"], v_th=0.5, offset_mv=3.0)
    assert len(ax.lines) == 4  # 3 traces + threshold line
    np.testing.assert_allclose(ax.lines[1].get_ydata(), v[:, 1] + 3.0)
    assert _png_bytes(ax.figure, tmp_path) > 1000
    with pytest.raises(ValueError, match="time-first"):
        traces(t, v.T)
    with pytest.raises(ValueError, match="labels"):
        traces(t, v, labels=["a"])
    mon = SimpleNamespace(t_ms=t, v=v[:, :2], u=v)
    assert len(traces(mon).lines) == 2
    assert len(traces(mon, "u").lines) == 3
    with pytest.raises(TypeError, match="StateMonitor"):
        traces(t)


def test_rate_plot_and_combined_figure(tmp_path):
    t = np.array([1.0, 2.0, 12.0])
    ax = plot_population_rate(t, 1, 20.0, 10.0)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [200.0, 100.0])
    fig = raster_and_rate(t, [0, 0, 0], 1, 20.0, bin_ms=10.0)
    assert len(fig.axes) == 2
    assert _png_bytes(fig, tmp_path) > 1000


def test_import_is_light():
    code = "import sys, neurosim.plot; print('matplotlib' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"], out.stderr


def test_sibling_plot_modules_reachable_lazily():
    import importlib

    import neurosim.plot as plot

    for mod_name in ("rsa", "accuracy"):
        try:
            mod = importlib.import_module(f"neurosim.plot.{mod_name}")
        except ModuleNotFoundError:
            continue
        for name in getattr(mod, "__all__", ()):
            assert getattr(plot, name) is getattr(mod, name)
    with pytest.raises(AttributeError, match="no attribute"):
        plot.does_not_exist  # noqa: B018


# ----------------------------------------------------------------------------- fuzz census fixes
# RDM / score / accuracy figures: each case failed before its fix (plotted NaN or out-of-range
# values silently, or crashed with an error that did not name the argument).

def test_plot_rdm_rejects_all_nan_and_inf_but_greys_omitted_pairs():
    from neurosim.plot.rsa import plot_rdm
    from neurosim.rsa import RDM

    for rank in (False, True):
        with pytest.raises(ValueError, match="^rdm has no dissimilarity to show"):
            plot_rdm(np.full((3, 3), np.nan), rank=rank)
        with pytest.raises(ValueError, match="^rdm has no dissimilarity to show"):
            plot_rdm(RDM(np.full(3, np.nan)), rank=rank)
    with pytest.raises(ValueError, match="^rdm contains inf"):
        plot_rdm(np.array([[0.0, np.inf], [np.inf, 0.0]]))
    for bad in (None, {"a": 1}, np.ones((2, 2), complex), np.full((2, 2), "a")):
        with pytest.raises(TypeError, match="^rdm must be a numeric array"):
            plot_rdm(bad)
    # NaN marks an omitted pair (as in RDM): masked (grey) and left out of the percentile ranks;
    # the two finite pairs rank 1 and 2 of 2 -> 50 and 100 percent
    img = plot_rdm(RDM(np.array([1.0, np.nan, 3.0])), rank=True).axes[0].images[0].get_array()
    assert img.mask.tolist() == [[False, False, True], [False, False, False], [True, False, False]]
    np.testing.assert_array_equal(img.data[[0, 1], [1, 2]], [50.0, 100.0])


@pytest.mark.parametrize("R, exc, match", [
    (np.full((3, 3), 0.5 + 0.5j), TypeError, "^R must be numeric"),
    (np.full((3, 3), 50.0), ValueError, r"^R must hold accuracies in \[0, 1\]"),
    (np.full((3, 3), -0.1), ValueError, r"^R must hold accuracies in \[0, 1\]"),
    (np.array([[0.5, 0.2], [np.nan, 0.5]]), ValueError, "^R contains 1 NaN/inf value.s. in its lower triangle"),
    (np.array([[np.inf, np.nan], [0.5, 0.5]]), ValueError, "^R contains 1 NaN/inf value.s. in its lower triangle"),
    (np.array([[0.5, np.inf], [0.5, 0.5]]), ValueError, "^R contains inf above the diagonal"),
    (np.array([[0.5, 2.0], [0.5, 0.5]]), ValueError, r"^R must hold accuracies in \[0, 1\]"),
    (None, TypeError, "^R must be numeric"),
])
def test_plot_accuracy_matrix_validation(R, exc, match):
    from neurosim.plot.accuracy import plot_accuracy_matrix

    with pytest.raises(exc, match=match):
        plot_accuracy_matrix(R)


def test_plot_accuracy_matrix_ignores_the_upper_triangle():
    """Continual runs leave R[i, j] (j > i, not yet trained) NaN: the plot shows only j <= i."""
    from neurosim.plot.accuracy import plot_accuracy_matrix

    full = np.array([[0.9, 0.1], [0.6, 0.8]])
    partial = np.array([[0.9, np.nan], [0.6, 0.8]])
    a = plot_accuracy_matrix(full).axes[0]
    b = plot_accuracy_matrix(partial).axes[0]
    assert a.get_title() == b.get_title() == "ACC 70.0%, BWT -30.0%"
    np.testing.assert_array_equal(a.images[0].get_array(), b.images[0].get_array())
    import matplotlib.pyplot as plt

    plt.close(a.figure)
    plt.close(b.figure)


def test_plot_accuracy_matrix_title_values():
    from neurosim.plot.accuracy import plot_accuracy_matrix

    # ACC = mean of the last row = 70 %, BWT = mean(R[-1, :-1] - diag[:-1]) = 0.6 - 0.9 = -30 %
    fig = plot_accuracy_matrix(np.array([[0.9, 0.1], [0.6, 0.8]]))
    assert fig.axes[0].get_title() == "ACC 70.0%, BWT -30.0%"


@pytest.mark.parametrize("result, exc, match", [
    (None, TypeError, "^result must be a numeric array"),
    ({"a": 1}, TypeError, "^result must be a numeric array"),
    ("abc", TypeError, "^result must be a numeric array"),
    (np.ones((0, 2)), ValueError, "^result must be a TSRSAResult or a non-empty"),
    (np.ones(3), ValueError, "^result must be a TSRSAResult or a non-empty"),
    (np.array([[0.1, np.inf]]), ValueError, "^result contains inf"),
])
def test_plot_score_heatmap_validation(result, exc, match):
    from neurosim.plot.rsa import plot_score_heatmap

    with pytest.raises(exc, match=match):
        plot_score_heatmap(result)


def test_score_plots_name_the_mismatched_argument():
    from neurosim.plot.rsa import plot_layer_scores, plot_score_heatmap

    with pytest.raises(ValueError, match="^layers has 1 and areas has 2 names"):
        plot_score_heatmap(np.ones((2, 2)), ["a"], ["b", "c"])
    with pytest.raises(TypeError, match="^result must be a numeric array"):
        plot_layer_scores({"l1": "x"})
    with pytest.raises(TypeError, match="^result must be a numeric array"):
        plot_layer_scores(None)
