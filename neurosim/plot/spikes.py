"""Spike rasters, membrane traces and population rates.

Every plotting function takes plain arrays (or a monitor exposing them), draws on the
``ax`` it is given (or a new figure) and returns the ``matplotlib.axes.Axes`` it drew on
(``ax.figure`` is the figure). Nothing here calls ``plt.show``; matplotlib is imported
inside the functions so that ``import neurosim.plot`` stays cheap.

Population rate (Hz) in a bin ``[t_k, t_k + w_k)`` of width ``w_k`` ms::

    r_k = n_spikes_k / (n_neurons * w_k / 1000)

Units: times in ms, rates in Hz, membrane potentials in mV.
"""
from __future__ import annotations

import numpy as np

from neurosim._validation import (
    as_float_array, available_memory, check_int, check_nonnegative, check_number, check_positive,
    check_same_length,
)

__all__ = ["population_rate", "raster", "traces", "plot_population_rate", "raster_and_rate"]


# ----------------------------------------------------------------------------- helpers
def _spike_arrays(times_ms, ids):
    """Accept ``(times_ms, ids)`` arrays or a monitor with ``times_ms``/``ids`` attributes."""
    if ids is None:
        if hasattr(times_ms, "times_ms") and hasattr(times_ms, "ids"):
            times_ms, ids = times_ms.times_ms, times_ms.ids
        else:
            raise TypeError("ids is required unless times_ms is a SpikeMonitor (with .times_ms and .ids)")
    t = as_float_array("times_ms", times_ms, ndim=1)
    i = np.asarray(ids)
    if i.ndim != 1:
        raise ValueError(f"ids must be 1-D, got shape {i.shape}")
    if i.size and i.dtype.kind not in "iu":
        if i.dtype.kind != "f" or not np.all(np.isfinite(i)) or np.any(i != np.round(i)):
            raise TypeError(f"ids must hold integer neuron indices, got dtype {i.dtype}")
        i = i.astype(np.int64)
    if i.size and i.min() < 0:
        raise ValueError(f"ids must be >= 0, got min {i.min()}")
    check_same_length(times_ms=t, ids=i)
    return t, i


def _interactive_ok() -> bool:
    """True when pyplot is already in use (notebooks): then reuse its backend."""
    import sys

    return "matplotlib.pyplot" in sys.modules


def _figure(figsize, nrows=1, height_ratios=None):
    """A figure that works both with pyplot (notebooks) and headless (CLI, tests)."""
    if _interactive_ok():
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=figsize, layout="constrained")
    else:
        from matplotlib.figure import Figure

        fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(nrows, 1, sharex=True, squeeze=False,
                        gridspec_kw={"height_ratios": height_ratios} if height_ratios else None)
    return fig, axes[:, 0]


def _axes(ax, figsize):
    if ax is not None:
        return ax
    _, axes = _figure(figsize)
    return axes[0]


# ----------------------------------------------------------------------------- pure
def population_rate(times_ms, n_neurons, duration_ms, bin_ms=5.0, *, t_start_ms=0.0):
    """Population firing rate in bins.

    Parameters
    ----------
    times_ms : array (n_spikes,)
        Spike times in ms (any order).
    n_neurons : int
        Neurons in the population (the denominator), >= 1.
    duration_ms : float
        Length of the window ``[t_start_ms, t_start_ms + duration_ms]`` in ms, > 0.
    bin_ms : float
        Bin width in ms, > 0. When ``duration_ms`` is not a multiple of it, the last bin is
        shorter and its rate uses its own width.
    t_start_ms : float
        Window start. Spikes outside the window are not counted; a spike exactly at the
        window end falls in the last bin.

    Returns
    -------
    t_ms : array (n_bins,)
        Bin centres in ms.
    rate_hz : array (n_bins,)
        Mean rate per neuron in each bin, in Hz.
    """
    t = as_float_array("times_ms", times_ms, ndim=1)
    n = check_int("n_neurons", n_neurons, min_value=1)
    dur = check_positive("duration_ms", duration_ms, unit="ms")
    w = check_positive("bin_ms", bin_ms, unit="ms")
    t0 = check_number("t_start_ms", t_start_ms)
    # edges, centres, counts, widths, rates and np.histogram's temporaries: ~64 B per bin
    max_bins = 0.5 * available_memory() / 64
    n_bins = dur / w
    if not n_bins <= max_bins:
        raise ValueError(f"bin_ms={bin_ms} makes {n_bins:.3g} bins over duration_ms={dur}, more than fit in "
                         f"memory (~{max_bins:.3g}); use bin_ms >= {dur / max_bins:.3g}")
    n_full = int(np.floor(n_bins + 1e-9))
    edges = t0 + w * np.arange(n_full + 1)
    if dur - n_full * w > 1e-9 * max(1.0, dur):
        edges = np.append(edges, t0 + dur)
    edges[-1] = t0 + dur
    if not np.all(np.diff(edges) > 0):
        raise ValueError(f"bin_ms={bin_ms} is below the float64 resolution of times near t_start_ms={t0}; "
                         "use a larger bin_ms or a t_start_ms nearer 0")
    counts, _ = np.histogram(t, bins=edges)
    widths = np.diff(edges)
    return 0.5 * (edges[:-1] + edges[1:]), counts / (n * widths * 1e-3)


# ----------------------------------------------------------------------------- plots
def raster(times_ms, ids=None, ax=None, *, n_neurons=None, split=None, colors=("C0", "C3"),
           markersize=1.0, title=None, figsize=(7.0, 3.5)):
    """Spike raster: one dot per spike at (time, neuron index).

    Parameters
    ----------
    times_ms, ids : arrays (n_spikes,)
        Spike times (ms) and neuron indices; or pass a ``SpikeMonitor`` as ``times_ms``.
    ax : matplotlib Axes, optional
        Draw here; a new headless figure otherwise.
    n_neurons : int, optional
        Sets the y-range to ``[0, n_neurons)``.
    split : int, optional
        Neurons ``< split`` drawn in ``colors[0]`` (e.g. excitatory), the rest in ``colors[1]``.
    markersize : float
        Dot area in points^2.

    Returns
    -------
    Axes
        One scatter collection per colour group (all spikes in total).
    """
    t, i = _spike_arrays(times_ms, ids)
    check_positive("markersize", markersize)
    ax = _axes(ax, figsize)
    if split is None:
        ax.scatter(t, i, s=markersize, c=colors[0], marker=".", linewidths=0, rasterized=True)
    else:
        split = check_int("split", split, min_value=0)
        lo = i < split
        ax.scatter(t[lo], i[lo], s=markersize, c=colors[0], marker=".", linewidths=0, rasterized=True)
        ax.scatter(t[~lo], i[~lo], s=markersize, c=colors[1], marker=".", linewidths=0, rasterized=True)
    if n_neurons is not None:
        ax.set_ylim(-0.5, check_int("n_neurons", n_neurons, min_value=1) - 0.5)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("neuron")
    if title:
        ax.set_title(title)
    return ax


def traces(t_ms, values=None, ax=None, *, labels=None, offset_mv=0.0, v_th=None, ylabel="v (mV)",
           title=None, figsize=(7.0, 3.0)):
    """Membrane (or any state) traces against time.

    Parameters
    ----------
    t_ms : array (T,) or a StateMonitor
        Sample times in ms, or a ``StateMonitor`` (then ``values`` names the recorded variable,
        default ``"v"``).
    values : array (T,) or (T, k), or str
        Time-first samples: one line per column (a StateMonitor's ``mon.v`` is [T, k]).
    labels : sequence of str, optional
        One legend entry per column.
    offset_mv : float
        Vertical shift between successive traces (0: overlaid).
    v_th : float, optional
        Draw a dashed threshold line.

    Returns
    -------
    Axes
        With one ``Line2D`` per trace (plus one for ``v_th``).
    """
    if values is None or isinstance(values, str):
        mon = t_ms
        if not hasattr(mon, "t_ms"):
            raise TypeError("values is required unless t_ms is a StateMonitor (with .t_ms); "
                            "pass traces(monitor, 'v') or traces(t_ms, values)")
        var = values or ("values" if hasattr(mon, "values") else "v")
        values = mon[var] if hasattr(mon, "__getitem__") else getattr(mon, var)
        t_ms = mon.t_ms
    t = as_float_array("t_ms", t_ms, ndim=1)
    y = as_float_array("values", values, ndim=(1, 2))
    if y.ndim == 1:
        y = y[:, None]
    if y.shape[0] != t.shape[0]:
        if y.shape[1] == t.shape[0]:
            raise ValueError(f"values must be time-first (T, k) with T = len(t_ms) = {t.shape[0]}; "
                             f"got {y.shape}: pass values.T")
        raise ValueError(f"values must have len(t_ms) = {t.shape[0]} rows, got shape {y.shape}")
    off = check_nonnegative("offset_mv", offset_mv)
    if labels is not None and len(labels) != y.shape[1]:
        raise ValueError(f"labels must have one entry per trace ({y.shape[1]}), got {len(labels)}")
    ax = _axes(ax, figsize)
    for k in range(y.shape[1]):
        ax.plot(t, y[:, k] + k * off, lw=0.8, label=None if labels is None else labels[k])
    if v_th is not None:
        ax.axhline(float(v_th), ls="--", lw=0.8, c="0.4")
    if labels is not None:
        ax.legend(loc="upper right", fontsize="small", frameon=False)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return ax


def plot_population_rate(times_ms, n_neurons, duration_ms, bin_ms=5.0, ax=None, *, t_start_ms=0.0,
                         title=None, figsize=(7.0, 2.0)):
    """Plot :func:`population_rate` as a step curve; returns the Axes (one line)."""
    if hasattr(times_ms, "times_ms"):
        times_ms = times_ms.times_ms
    tc, r = population_rate(times_ms, n_neurons, duration_ms, bin_ms, t_start_ms=t_start_ms)
    ax = _axes(ax, figsize)
    ax.step(tc, r, where="mid", lw=0.9, c="k")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("rate (Hz)")
    ax.set_xlim(t_start_ms, t_start_ms + duration_ms)
    if title:
        ax.set_title(title)
    return ax


def raster_and_rate(times_ms, ids, n_neurons, duration_ms, *, bin_ms=5.0, split=None, title=None,
                    markersize=1.0, figsize=(7.0, 4.5)):
    """Raster above the population rate, sharing the time axis; returns the Figure."""
    t, i = _spike_arrays(times_ms, ids)
    fig, (ax_r, ax_p) = _figure(figsize, nrows=2, height_ratios=[3, 1])
    raster(t, i, ax=ax_r, n_neurons=n_neurons, split=split, markersize=markersize, title=title)
    ax_r.set_xlabel("")
    plot_population_rate(t, n_neurons, duration_ms, bin_ms, ax=ax_p)
    return fig
