"""``neurosim bench sim``: a quick self-timing of the network simulator (no peer libraries).

Times the simulation loop of the canonical Izhikevich (2003) network (1000 neurons, 1 s) and
CUBA (4000 neurons, 1 s) after a warm-up run (so Numba compilation is excluded), measures the
machine's copy bandwidth with ``np.copyto``, and writes ``out/summary.json`` with neuron
updates per second and the fraction of the bandwidth bound reached (bytes per neuron-step as
in ``benchmarks/bench_sim.py``). Peer comparisons (Brian2, NumPy) live in
``benchmarks/bench_sim.py``; the LIF-layer and RSA benchmarks in ``benchmarks/bench_lif_layer.py``
and ``benchmarks/bench_rsa.py``.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import numpy as np

from neurosim._validation import check_int, check_positive
from neurosim.commands import OUT_HELP, Argument, Option, ensure_out_dir, write_json

__all__ = ["run", "copy_bandwidth", "BYTES_PER_NEURON_STEP"]

#: minimum memory traffic of one neuron update in float32 (PEERS.md; derivation in
#: benchmarks/bench_sim.py): CUBA v, ge, gi read + written and the refractory counter read;
#: Izhikevich v, u read + written, the noise input and a, b read
BYTES_PER_NEURON_STEP = {"cuba": 28, "izhikevich2003": 28}

_ELSEWHERE = {
    "lif": "benchmarks/bench_lif_layer.py",
    "rsa": "benchmarks/bench_rsa.py",
}


def copy_bandwidth(n_bytes: int = 1 << 28, repeats: int = 5) -> float:
    """Best-of-``repeats`` copy bandwidth in bytes/s: (read + write) bytes of ``np.copyto``."""
    src = np.ones(n_bytes // 8)
    dst = np.empty_like(src)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t0)
    return 2 * src.nbytes / best


def _time_network(name: str, n: int, duration_ms: float, seed: int, repeats: int) -> dict:
    from neurosim.commands.simulate import build_network, simulate_network

    simulate_network(build_network(name, n, None, seed), min(duration_ms, 50.0))  # compile / warm up
    runs = [simulate_network(build_network(name, n, None, seed), duration_ms) for _ in range(repeats)]
    walls = [r["sim_wall_s"] for r in runs]
    best = runs[int(np.argmin(walls))]
    return {
        "n_neurons": best["n_neurons"], "n_synapses": best["n_synapses"], "duration_ms": duration_ms,
        "dt_ms": best["dt_ms"], "rate_hz": round(best["rate_hz"], 4), "sim_wall_s": walls,
        "sim_wall_s_best": min(walls),
        "neuron_updates_per_s": best["n_neurons"] * round(duration_ms / best["dt_ms"]) / min(walls),
    }


def run(what: Annotated[str, Argument(help="sim, lif or rsa")] = "sim",
        out: Annotated[Path, Option("--out", help=OUT_HELP)] = Path("neurosim-out/bench"), *,
        repeats: int = 3, seed: int = 0,
        duration_ms: float = 1000.0, sizes: dict | None = None, bandwidth_mb: int = 256) -> dict:
    """Time the simulator; ``what`` must be ``"sim"`` (see the module docstring for the others).

    ``sizes`` overrides the network sizes (``{"izhikevich2003": 1000, "cuba": 4000}``);
    ``bandwidth_mb`` is the array size of the copy-bandwidth measurement.
    """
    if what in _ELSEWHERE:
        raise ValueError(f"`neurosim bench {what}` is not a CLI benchmark; run `python {_ELSEWHERE[what]}` "
                         f"(it compares neurosim with its peer libraries); `neurosim bench sim` times the simulator")
    if what != "sim":
        raise ValueError(f"what must be one of 'sim', 'lif', 'rsa'; got {what!r}")
    repeats = check_int("repeats", repeats, min_value=1)
    duration_ms = check_positive("duration_ms", duration_ms, unit="ms")
    out = ensure_out_dir(out)
    bw = copy_bandwidth(check_int("bandwidth_mb", bandwidth_mb, min_value=1) << 20)
    sizes = {"izhikevich2003": 1000, "cuba": 4000, **(sizes or {})}
    results = {}
    for name, n in sizes.items():
        r = _time_network(name, n, duration_ms, seed, repeats)
        bound = bw / BYTES_PER_NEURON_STEP[name]
        r["bytes_per_neuron_step"] = BYTES_PER_NEURON_STEP[name]
        r["bandwidth_bound_updates_per_s"] = bound
        r["fraction_of_bound"] = r["neuron_updates_per_s"] / bound
        results[name] = r
    import numba

    summary = {"what": what, "copy_bandwidth_gb_s": bw / 1e9, "numba_threads": numba.get_num_threads(),
               "networks": results}
    write_json(out / "summary.json", summary)
    return summary
