"""``sweep(build, grid, duration_ms=...)``: run a parameter grid of networks in worker processes.

Usage
-----
>>> import neurosim as ns
>>> def build(w=0.1, rate=1000.0):             # module level: worker processes import it
...     net = ns.sim.Network(dt=0.1, rng=0)
...     g = net.add_lif(100, ns.neurons.LIFParams(tau_mem=10.0, v_th=1.0), name="exc")
...     net.connect(g, g, p=0.1, weight=w, target="v")
...     net.add_poisson_input(g, rate, 0.1)
...     return net
>>> table = ns.sim.sweep(build, {"w": [0.05, 0.1], "rate": [500.0, 1000.0]}, duration_ms=200.0)
>>> table["w"], table["rate"], table["rate_exc"]       # one entry per point (4 here)

Grid: a dict ``name -> list of values`` (the Cartesian product, in ``itertools.product`` order
with the keys in the dict's order) or a list of dicts (one per point, the same keys each).
Every name must be a parameter of ``build`` (unless it takes ``**kwargs``): unknown names are a
``ValueError`` naming them before anything runs. Each point calls ``build(**point)``, which
returns a new, not yet run ``Network``; its randomness is the builder's (a fixed ``rng`` in
``build`` or a grid parameter such as ``seed``), so a point gives the same numbers in any
process and order. The point runs ``duration_ms`` and is measured by ``measure(net) -> dict``
(names -> numbers or arrays); the default adds a ``RateMonitor`` over all groups before the run
and measures ``rate_<group>``, the mean rate of each group in Hz.

Returns a table, a ``dict`` of numpy arrays (pandas-free), one row per point in grid order: one
column per grid name (the values, an object array when they are not numbers) and one per
measured name (stacked; a measured array gives a column of shape [points, ...]).

Processes: ``processes`` worker processes (``spawn`` context: a fresh interpreter, safe with
threads and on every OS) each run many points; a worker compiles the network kernel once for
the first network of a type and reuses it for the rest (or loads it from Numba's on-disk cache),
so the compile is paid once per process, not per point. ``build`` and ``measure`` must be
picklable (module-level functions) for ``processes > 1``; ``processes=1`` runs every point in
this process (same numbers). Ctrl-C stops the sweep within about a second: the workers (which
ignore SIGINT themselves) are terminated and ``KeyboardInterrupt`` propagates. An exception in
a point stops the sweep and is re-raised with a note naming the point.
"""
from __future__ import annotations

import inspect
import itertools
import pickle
import signal

import numpy as np

from neurosim._validation import check_int, check_positive

__all__ = ["sweep", "grid_points", "rate_per_group"]

#: seconds between checks for Ctrl-C while waiting for the workers
POLL_S = 0.2


def grid_points(grid) -> tuple[list, list]:
    """``(names, points)`` of a grid: a dict of lists (Cartesian product) or a list of dicts."""
    if isinstance(grid, dict):
        if not grid:
            raise ValueError("grid must name at least one parameter")
        names = list(grid)
        for k, vals in grid.items():
            if not isinstance(k, str):
                raise TypeError(f"grid keys must be parameter names (str), got {k!r}")
            if isinstance(vals, (str, bytes)) or not hasattr(vals, "__iter__"):
                raise TypeError(f"grid[{k!r}] must be a list of values, got {type(vals).__name__}")
        lists = [list(grid[k]) for k in names]
        empty = [k for k, v in zip(names, lists) if not v]
        if empty:
            raise ValueError(f"grid values for {', '.join(map(repr, empty))} are empty; give at least one value")
        return names, [dict(zip(names, combo)) for combo in itertools.product(*lists)]
    if isinstance(grid, (list, tuple)):
        if not grid or not all(isinstance(p, dict) for p in grid):
            raise TypeError("grid must be a dict name -> list of values, or a non-empty list of dicts (one per point)")
        names = list(grid[0])
        for k, p in enumerate(grid):
            if set(p) != set(names):
                raise ValueError(f"grid point {k} has parameters {sorted(p)}, point 0 has {sorted(names)}; every "
                                 "point must set the same names")
        return names, [dict(p) for p in grid]
    raise TypeError(f"grid must be a dict name -> list of values, or a list of dicts; got {type(grid).__name__}")


def _check_names(build, names) -> None:
    try:
        params = inspect.signature(build).parameters
    except (TypeError, ValueError):  # builtins without a signature: cannot check
        return
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return
    ok = [k for k, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    unknown = [k for k in names if k not in ok]
    if unknown:
        raise ValueError(f"grid has unknown parameter name(s) {', '.join(map(repr, unknown))}: build accepts "
                         f"{', '.join(ok) or 'no keyword arguments'}")


def rate_per_group(net) -> dict:
    """The default measure: ``rate_<group>`` (Hz) from the monitor ``_sweep_rates`` added before the run."""
    mon = net.monitors["_sweep_rates"]
    return {f"rate_{name}": float(r) for name, r in zip(mon.group_names, mon.mean_rate_hz())}


def _run_point(build, point, duration_ms, measure):
    """Build, run and measure one point (in a worker or in this process)."""
    from neurosim.sim.network import Network

    net = build(**point)
    if not isinstance(net, Network):
        raise TypeError(f"build must return a neurosim.sim.Network, got {type(net).__name__}")
    if measure is None:
        if net._flat is not None:
            raise ValueError("build returned a network that has already run (or stored): the default measure adds "
                             "a rate monitor before the run; return a new network or pass measure=")
        net.add_rate_monitor(None, name="_sweep_rates")
        measure = rate_per_group
    net.run(duration_ms, progress=False)
    out = measure(net)
    if not isinstance(out, dict) or not all(isinstance(k, str) for k in out):
        raise TypeError(f"measure must return a dict name -> value, got {type(out).__name__}")
    return out


def _worker_init():
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and terminates the workers


def _noted(exc, point):
    if hasattr(exc, "add_note"):
        exc.add_note(f"in sweep point {point}")
    return exc


def _picklable(name, obj) -> None:
    try:
        pickle.dumps(obj)
    except Exception as exc:
        raise TypeError(f"{name} must be picklable (a module-level function) to run in worker processes "
                        f"({exc}); define it at module level or use processes=1") from None


def sweep(build, grid, *, duration_ms: float, processes: int = 2, measure=None) -> dict:
    """Run ``build(**point)`` for every point of ``grid`` for ``duration_ms`` and measure it (module docstring).

    Parameters
    ----------
    build : callable ``(**params) -> Network``
        Builds a new network for one point (module-level for ``processes > 1``).
    grid : dict name -> list, or list of dicts
        The points: a Cartesian product or an explicit list.
    duration_ms : float
        Simulated time per point (ms).
    processes : int
        Worker processes (>= 1; 1 runs in this process). Never more than the number of points.
    measure : callable ``(net) -> dict`` or None
        What to record per point; default the mean rate of each group (``rate_<group>``, Hz).

    Returns
    -------
    dict of numpy arrays, one row per point (grid order).
    """
    if not callable(build):
        raise TypeError(f"build must be a callable returning a Network, got {type(build).__name__}")
    if measure is not None and not callable(measure):
        raise TypeError(f"measure must be a callable (net) -> dict or None, got {type(measure).__name__}")
    names, points = grid_points(grid)
    _check_names(build, names)
    duration_ms = check_positive("duration_ms", duration_ms, unit="ms")
    processes = min(check_int("processes", processes, min_value=1), len(points))
    if processes == 1:
        results = []
        for p in points:
            try:
                results.append(_run_point(build, p, duration_ms, measure))
            except Exception as exc:
                raise _noted(exc, p)
    else:
        _picklable("build", build)
        _picklable("measure", measure)
        results = _run_pool(build, points, duration_ms, measure, processes)
    return _table(names, points, results)


def _run_pool(build, points, duration_ms, measure, processes) -> list:
    import multiprocessing as mp

    pool = mp.get_context("spawn").Pool(processes, initializer=_worker_init)
    try:
        pending = [pool.apply_async(_run_point, (build, p, duration_ms, measure)) for p in points]
        results = []
        for p, res in zip(points, pending):
            while not res.ready():  # short waits: KeyboardInterrupt is raised between them
                res.wait(POLL_S)
            try:
                results.append(res.get())
            except Exception as exc:
                raise _noted(exc, p)
    except BaseException:
        pool.terminate()
        pool.join()
        raise
    pool.close()
    pool.join()
    return results


def _table(names, points, results) -> dict:
    keys = list(results[0])
    for k, r in enumerate(results):
        if list(r) != keys:
            raise ValueError(f"measure returned names {list(r)} for point {points[k]} but {keys} for {points[0]}; "
                             "it must return the same names for every point")
    table = {}
    for name in names:
        col = [p[name] for p in points]
        try:
            arr = np.asarray(col)
            if arr.dtype.kind not in "biufc" or arr.ndim != 1:
                raise ValueError
        except ValueError:
            arr = np.empty(len(col), dtype=object)
            arr[:] = col
        table[name] = arr
    for key in keys:
        if key in table:
            raise ValueError(f"measure returned {key!r}, which is also a grid parameter; rename one")
        table[key] = np.asarray([r[key] for r in results])
    return table
