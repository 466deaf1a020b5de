"""``neurosim simulate``: run a canonical network and save its spikes, raster and timings.

Writes into ``out``:

* ``summary.json``: ``network``, ``n_neurons``, ``n_synapses``, ``n_spikes``, ``rate_hz``
  (mean rate per neuron), ``rates_hz`` (mean rate per neuron of each group, by group name),
  ``duration_ms`` (default: the network's published duration, ``net.meta["duration_ms"]``, else 1 s), ``dt_ms``, ``seed``, ``build_wall_s`` (network
  construction), ``compile_wall_s`` (the network kernel's first call: Numba compilation, or
  loading it from the cache), ``warmup_steps`` / ``warmup_wall_s`` (the first 10 steps, run
  and timed on their own: they include the first use, i.e. compilation or cache load, of the
  input-drawing kernels), ``sim_steps`` / ``sim_wall_s`` (the simulation loop over the other
  steps, compiled code only), ``neuron_updates_per_s`` (``n_neurons * sim_steps /
  sim_wall_s``) and any ``warnings`` raised (e.g. a time step outside the model's accurate
  range, with the recommended dt);
* with ``--backend nest`` (the same network, connectivity and initial state exported to NEST,
  ``neurosim.sim.nest``; ``--threads`` NEST threads) the summary has ``backend: "nest"``,
  ``build_wall_s`` (export + NEST build), ``nest_build_wall_s`` (NEST's part), ``sim_wall_s``
  (``nest.Simulate``), ``threads``; no compile or warm-up entries;
* ``spikes.npz``: ``times_ms`` (float64) and ``ids`` (int64), one entry per spike;
* ``raster.png``: the raster above the population rate;
* networks with STDP synapses (``stdp``): ``weights.npz`` (``w_final`` and ``w_initial`` of
  every plastic synapse, ``w_max``; with a weight monitor its snapshots ``t_ms``, ``w``) and
  ``weights.png`` (the histogram of the final ``w / w_max`` over the initial one); the summary
  gains ``weights``: the fractions below 0.1 and above 0.9 ``w_max`` and the mean ``w / w_max``.

The networks (ALGORITHMS.md §7, SIMULATION.md) are the table ``neurosim.sim.NETWORKS``:
``izhikevich2003`` (Izhikevich 2003, 80 % excitatory, 1 ms step), ``cuba`` and ``coba``
(Vogels-Abbott / Brette et al. 2007 benchmarks 2 and 1), ``cobahh`` (benchmark 3, Hodgkin-Huxley),
``brunel`` (Brunel 2000 sparse balanced network, asynchronous-irregular state) and ``stdp`` (Song,
Miller & Abbott 2000 as Brian2's STDP example).
"""
from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path
from typing import Annotated, Optional

import numpy as np

from neurosim._validation import check_int, check_positive
from neurosim.commands import OUT_HELP, Argument, Option, StageResult, ensure_out_dir, write_json
from neurosim.sim.catalog import NETWORKS

__all__ = ["run", "demo_stage", "NETWORKS", "build_network", "simulate_network", "simulate_network_nest"]


def _check_args(network, neurons, duration_ms, dt_ms, seed):
    if network not in NETWORKS:
        raise ValueError(f"network must be one of {', '.join(sorted(NETWORKS))}; got {network!r}")
    if neurons is not None:
        NETWORKS[network].check_neurons(check_int("neurons", neurons, min_value=1), "neurons")
    if duration_ms is not None:
        check_positive("duration_ms", duration_ms, unit="ms")
    if dt_ms is not None:
        check_positive("dt_ms", dt_ms, unit="ms")
    check_int("seed", seed, min_value=0)


def build_network(network: str, neurons=None, dt_ms=None, seed: int = 0):
    """Build the canonical network ``network`` of ``neurosim.sim.NETWORKS`` (validated arguments)."""
    kwargs = {"rng": seed}
    if dt_ms is not None:
        kwargs["dt"] = dt_ms
    if neurons is not None:
        kwargs["n_neurons"] = neurons
    return NETWORKS[network](**kwargs)


#: steps ``run`` and the demo simulate (and time) on their own before the timed loop
WARMUP_STEPS = 10


def simulate_network(net, duration_ms: float, *, progress: bool = False, warmup_steps: int = 0) -> dict:
    """Run ``net`` for ``duration_ms``; returns spikes and the timing/rate numbers.

    Timings: ``compile_wall_s`` is the network kernel's first call (Numba JIT or cache load,
    no steps). The first ``warmup_steps`` steps are then run as a separate ``net.run`` and
    timed as ``warmup_wall_s``: they include the first use of the input-drawing kernels (the
    noise generator is compiled or loaded from the cache there), which can take a second
    while a warm step takes microseconds. ``sim_wall_s`` times the remaining ``sim_steps``
    steps, and ``neuron_updates_per_s`` is ``n_neurons * sim_steps / sim_wall_s``. The
    spikes are those of one run of ``duration_ms``: consecutive runs continue the simulation.
    """
    dt = float(net.dt)
    n_steps = int(round(duration_ms / dt))
    warm = min(int(warmup_steps), n_steps - 1) if n_steps > 1 else 0
    warm_s = 0.0
    if warm > 0:
        net.run(warm * dt, progress=False)
        warm_s = float(net.timing.get("sim_wall_s", float("nan")))
    net.run((n_steps - warm) * dt, progress=progress)
    mon = net.monitors["spikes"]
    times = np.asarray(mon.times_ms, dtype=np.float64)
    ids = np.asarray(mon.ids, dtype=np.int64)
    n = int(net.n_neurons)
    timing = dict(net.timing)
    sim_s = float(timing.get("sim_wall_s", float("nan")))
    steps = n_steps - warm
    return {
        "times_ms": times, "ids": ids, "n_neurons": n, "n_synapses": int(net.n_synapses),
        "n_spikes": int(times.size), "rate_hz": times.size / n / (duration_ms / 1000.0),
        "sim_wall_s": sim_s, "sim_steps": steps, "build_wall_s": float(timing.get("build_wall_s", float("nan"))),
        "compile_wall_s": float(timing.get("compile_wall_s", 0.0)),
        "warmup_steps": warm, "warmup_wall_s": warm_s,
        "neuron_updates_per_s": n * steps / sim_s if sim_s > 0 else None,
        "dt_ms": dt,
    }


def simulate_network_nest(net, duration_ms: float, *, threads: int = 1, seed: int = 0) -> dict:
    """Run ``net`` on NEST (``net.run(..., backend="nest")``); the result keys of :func:`simulate_network` with
    ``nest_build_wall_s`` (NEST's network construction) and ``sim_wall_s`` (``nest.Simulate``)."""
    nn = net.to_nest(threads=threads, seed=seed + 1)
    nn.run(duration_ms)
    mon = nn.monitors["spikes"]
    times, ids = np.asarray(mon.times_ms, dtype=np.float64), np.asarray(mon.ids, dtype=np.int64)
    n, steps, sim_s = int(net.n_neurons), nn.step, float(nn.timing["sim_wall_s"])
    return {"times_ms": times, "ids": ids, "n_neurons": n, "n_synapses": int(net.n_synapses),
            "n_spikes": int(times.size), "rate_hz": times.size / n / (duration_ms / 1000.0), "sim_wall_s": sim_s,
            "sim_steps": steps, "build_wall_s": float(nn.timing["build_wall_s"]),
            "nest_build_wall_s": float(nn.timing["nest_build_wall_s"]), "threads": int(threads),
            "neuron_updates_per_s": n * steps / sim_s if sim_s > 0 else None, "dt_ms": float(nn.dt)}


def _n_exc(net):
    n_exc = getattr(net, "meta", {}).get("n_exc")
    return None if n_exc is None else int(n_exc)


def _save_raster(path, res, duration_ms, title, split=None, bin_ms=5.0):
    from neurosim.plot.spikes import raster_and_rate

    n = res["n_neurons"]
    fig = raster_and_rate(res["times_ms"], res["ids"], n, duration_ms, bin_ms=bin_ms, split=split, title=title,
                          markersize=1.0 if n <= 10000 else 0.5)
    fig.savefig(path, dpi=110)
    return str(path)


def run(network: Annotated[str, Argument(help="canonical network", choices=tuple(NETWORKS))],
        neurons: Annotated[Optional[int], Option(
            "--neurons", help="number of neurons (default: the published size)")] = None,
        duration_ms: Annotated[Optional[float], Option(
            "--duration-ms", help="simulated time in ms (default: the network's published duration, else 1000)")] = None,
        dt_ms: Annotated[Optional[float], Option(
            "--dt-ms", help="time step in ms (default: the network's own)")] = None,
        seed: Annotated[int, Option("--seed")] = 0,
        out: Annotated[Path, Option("--out", help=OUT_HELP)] = Path("neurosim-out/simulate"),
        progress: Annotated[bool, Option("--progress/--no-progress")] = True,
        backend: Annotated[str, Option("--backend", help="simulator: neurosim or nest (the same network exported "
                                       "to NEST 3.10: pip install nest-simulator)")] = "neurosim",
        threads: Annotated[int, Option("--threads", help="NEST threads (--backend nest)")] = 1) -> dict:
    """Simulate ``network`` and write ``summary.json``, ``spikes.npz`` and ``raster.png`` to ``out``."""
    _check_args(network, neurons, duration_ms, dt_ms, seed)
    if backend not in ("neurosim", "nest"):
        raise ValueError(f"backend must be 'neurosim' or 'nest', got {backend!r}")
    check_int("threads", threads, min_value=1)
    if backend == "nest":
        from neurosim.sim.nest.run import import_nest

        try:
            import_nest()
        except ImportError as exc:  # the command line reports it as a usage error (exit 2)
            raise ValueError(str(exc)) from None
    out = ensure_out_dir(out)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        net = build_network(network, neurons, dt_ms, seed)
        build_outer = time.perf_counter() - t0
        if duration_ms is None:
            duration_ms = float(getattr(net, "meta", {}).get("duration_ms", 1000.0))
        if backend == "nest":
            res = simulate_network_nest(net, duration_ms, threads=threads, seed=seed)
        else:
            res = simulate_network(net, duration_ms, progress=progress, warmup_steps=WARMUP_STEPS)
    messages = []
    for w in caught:
        msg = str(w.message)
        if msg not in messages:
            messages.append(msg)
            print(f"warning: {msg}", file=sys.stderr)
    if not np.isfinite(res["build_wall_s"]):
        res["build_wall_s"] = build_outer
    np.savez(out / "spikes.npz", times_ms=res["times_ms"], ids=res["ids"])
    title = f"{network}: {res['n_neurons']} neurons, {res['rate_hz']:.2f} Hz"
    _save_raster(out / "raster.png", res, duration_ms, title, split=_n_exc(net))
    summary = {k: v for k, v in res.items() if k not in ("times_ms", "ids")}
    summary["rates_hz"] = group_rates(net, res["ids"], duration_ms)
    weights = _save_weights(out, net)
    if weights:
        summary["weights"] = weights
    summary.update(network=network, duration_ms=float(duration_ms), seed=int(seed), warnings=messages,
                   out=str(out), backend=backend)
    write_json(out / "summary.json", summary)
    return summary


def group_rates(net, ids, duration_ms: float) -> dict:
    """Mean rate per neuron (Hz) of each group of ``net``, from the spike ids of a run of ``duration_ms``."""
    counts = np.bincount(np.asarray(ids, dtype=np.int64), minlength=int(net.n_neurons))
    return {name: float(counts[g.start:g.stop].sum() / g.n / (duration_ms / 1000.0)) for name, g in net.groups.items()}


def _save_weights(out: Path, net) -> dict:
    """``weights.npz`` and ``weights.png`` of the network's STDP synapse groups (the first one's histogram);
    returns the summary numbers (empty when the network has no plastic synapses)."""
    plastic = [sg for sg in net.synapses if getattr(sg, "kind", "") == "stdp"]
    if not plastic:
        return {}
    arrays, numbers, first = {}, {}, None
    for sg in plastic:
        w_max = float(sg.plasticity.w_max)
        key = "" if len(plastic) == 1 else f"{sg.name}_"
        w = np.asarray(sg.weights, dtype=np.float64)
        w0 = np.broadcast_to(np.asarray(sg.weight, dtype=np.float64), w.shape).copy()
        arrays.update({f"{key}w_final": w, f"{key}w_initial": w0, f"{key}w_max": np.float64(w_max)})
        first = first or (sg, w0 / w_max, w / w_max)
        r = w / w_max
        numbers[sg.name] = {"n": int(w.size), "w_max": w_max, "mean_w_over_wmax": float(r.mean()) if w.size else None,
                            "frac_below_0.1": float(np.mean(r < 0.1)) if w.size else None,
                            "frac_above_0.9": float(np.mean(r > 0.9)) if w.size else None}
    for name, mon in net.monitors.items():
        if type(mon).__name__ == "WeightMonitor":
            arrays[f"{name}_t_ms"], arrays[f"{name}_w"] = np.asarray(mon.t_ms), np.asarray(mon.w)
    np.savez(out / "weights.npz", **arrays)
    _weights_figure(out / "weights.png", *first)
    return numbers


def _weights_figure(path, sg, initial, final) -> None:
    """Histogram of the final ``w / w_max`` of the STDP group ``sg`` over the initial one."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.4), constrained_layout=True)
    bins = np.linspace(0.0, 1.0, 41)
    ax.hist(initial, bins=bins, color="0.75", label="initial")
    ax.hist(final, bins=bins, color="C0", alpha=0.8, label="final")
    ax.set_xlabel("w / w_max")
    ax.set_ylabel("synapses")
    ax.set_title(f"{sg.name}: {final.size} synapses, {sg.plasticity.pairing.replace('_', '-')} STDP")
    ax.legend(frameon=False)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def demo_stage(stage_dir, *, data_dir=None, fast: bool = False, seed: int = 0, progress: bool = False) -> StageResult:
    """Izhikevich (2003) raster and a CUBA raster + population rate (no data needed).

    ``progress`` is accepted for the demo's interface; each simulation loop takes milliseconds,
    so it shows no bar (``neurosim simulate`` shows one).
    """
    stage_dir = Path(stage_dir)
    izh_n, izh_ms = (1000, 300.0) if fast else (1000, 1000.0)
    cuba_n, cuba_ms = (4000, 300.0) if fast else (4000, 1000.0)
    izh = simulate_network(build_network("izhikevich2003", izh_n, None, seed), izh_ms, warmup_steps=WARMUP_STEPS)
    f1 = _save_raster(stage_dir / "izhikevich2003_raster.png", izh, izh_ms,
                      f"Izhikevich 2003: {izh_n} neurons, {izh['rate_hz']:.1f} Hz", split=int(0.8 * izh_n),
                      bin_ms=2.0)
    cuba = simulate_network(build_network("cuba", cuba_n, None, seed), cuba_ms, warmup_steps=WARMUP_STEPS)
    f2 = _save_raster(stage_dir / "cuba_raster_rate.png", cuba, cuba_ms,
                      f"CUBA: {cuba_n} neurons, {cuba['rate_hz']:.1f} Hz", split=int(0.8 * cuba_n))
    metrics = {}
    for name, res in (("izhikevich2003", izh), ("cuba", cuba)):
        for key in ("n_neurons", "n_synapses", "n_spikes", "rate_hz", "compile_wall_s", "warmup_wall_s",
                    "sim_wall_s", "sim_steps", "neuron_updates_per_s"):
            val = res[key]
            metrics[f"{name}_{key}"] = round(val, 4) if isinstance(val, float) else val

    def timing(r):
        return (f"{r['sim_wall_s'] * 1e3:.1f} ms for {r['sim_steps']} steps "
                f"({r['neuron_updates_per_s'] / 1e6:.0f} M neuron updates/s); before it, kernel compilation or "
                f"cache loading {r['compile_wall_s'] * 1e3:.0f} ms and the first {r['warmup_steps']} steps "
                f"{r['warmup_wall_s'] * 1e3:.0f} ms")

    text = (
        f"Izhikevich (2003) network, {izh_n} neurons (800:200 excitatory:inhibitory, thalamic noise), "
        f"{izh_ms:.0f} ms at dt = {izh['dt_ms']} ms: mean rate {izh['rate_hz']:.2f} Hz (published regime ~7.5 Hz over "
        f"1 s; the first 100 ms carry a synchronous onset transient), with the alpha/gamma-band population bursts "
        f"of the paper in the raster. CUBA (Vogels-Abbott / Brette et al. 2007 benchmark 2), {cuba_n} neurons, "
        f"{cuba_ms:.0f} ms at dt = {cuba['dt_ms']} ms: {cuba['rate_hz']:.2f} Hz (Brian2 and NEST give ~5.5 Hz).\n\n"
        f"Timing: the Izhikevich simulation loop took {timing(izh)}; CUBA {timing(cuba)}"
        + (" (the network kernel is shared: compiled already)" if cuba["compile_wall_s"] < 1e-3 else "")
        + ". The first steps are timed apart because they include compiling (or "
        "loading from Numba's cache) the kernels that draw the random input, paid once per process."
    )
    return StageResult(name="simulation", metrics=metrics, figures=[f1, f2], text=text)
