"""Multi-step LIF layer on CPU: neurosim (fused Numba BPTT) vs spikingjelly, snntorch and a plain torch loop.

Cases from ``shared/specs/PEERS.md`` §A: float32 input ``[T, B, N]``, tau 2, v_th 1, hard reset
to 0, ATan surrogate (alpha 2). Modes: forward without grad, and forward + backward with a
dense upstream gradient (``spikes.backward(g)``, as from a following layer).

Timing: all implementations in one process, interleaved round-robin over the repeats (so load
from other jobs hits them alike); medians reported; the fused kernels are compiled before
timing. ``--protocol interleaved`` calls each implementation right after the previous one:
caches holding (dirty) data of the previous call, and PyTorch's OpenMP worker still spinning
(libgomp spins ~8 ms after each parallel operator; neurosim's fused kernels run on that same
OpenMP team since session 6, before that its own second thread lost 1.4-4 ms to the spinning
one). ``--protocol quiet`` writes a 96 MiB NumPy buffer (cold caches, no torch threads involved)
and pauses 30 ms before every timed call of every implementation, so every call starts from
the same state and none inherits another's threads; ``both`` (default) prints both tables. Memory: each implementation runs in a fresh subprocess with
``MALLOC_MMAP_THRESHOLD_=65536`` (every large buffer is its own mmap and is returned to the OS
when freed, so the resident set size tracks live memory); a sampler thread reads RSS from
``/proc/self/statm`` every 0.2 ms during one forward+backward; "peak extra" = peak minus the
RSS just before the call (input, upstream gradient and compiled code excluded; ``x.grad``
included for everyone). neurosim's buffer cache (``neurosim.snn.fused.set_buffer_cache``) is
emptied before each measured call, so its buffers count as fresh allocations; what it keeps
after the call is printed separately. Bandwidth bound: 24 bytes per neuron-step forward+backward in
float32 -> 1.27e9 neuron-steps/s at 30 GB/s (PEERS.md): forward reads x and writes the spikes and
the stored membranes, backward reads the membranes and the upstream gradient and writes the
input gradient. The run also measures the copy bandwidth (``dst.copy_(src)``, 64 MiB, bytes
read + written per second) and reports the rate against that measured bound too.

Usage::

    python benchmarks/bench_lif_layer.py --repeats 25      # both cases and protocols, memory
    python benchmarks/bench_lif_layer.py --repeats 3 --no-memory
    python benchmarks/bench_lif_layer.py --protocol both --no-memory
"""
from __future__ import annotations

import argparse
import gc
import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time

import numpy as np
import torch

BOUND = 1.27e9
CASES = [(32, 64, 2048), (100, 32, 512)]
IMPLS = ["neurosim", "spikingjelly", "snntorch", "torch_loop"]
LABELS = {"neurosim": "neurosim LIF (fused)", "spikingjelly": "spikingjelly 2.0 LIFNode (m)",
          "snntorch": "snntorch 1.0 Leaky loop", "torch_loop": "plain torch loop"}


class _ATanSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g / (1 + (math.pi * x) ** 2)  # alpha = 2: (alpha/2) / (1 + (pi/2 alpha x)^2)


def make(name: str):
    """Return ``fn(x) -> spikes`` for implementation ``name`` (state reset on every call)."""
    if name == "neurosim":
        from neurosim.snn import LIF, ATan

        lif = LIF(2.0, convention="spikingjelly", surrogate=ATan(2.0))
        return lambda x: lif(x)[0]
    if name == "spikingjelly":
        from spikingjelly.activation_based import neuron, surrogate

        node = neuron.LIFNode(tau=2.0, surrogate_function=surrogate.ATan(), step_mode="m")

        def run(x):
            node.reset()
            return node(x)

        return run
    if name == "snntorch":
        import snntorch

        leaky = snntorch.Leaky(beta=0.5, threshold=1.0, spike_grad=snntorch.surrogate.atan(),
                               reset_mechanism="zero")

        def run(x):
            mem = leaky.init_leaky()
            out = []
            for xt in x:
                spk, mem = leaky(xt, mem)
                out.append(spk)
            return torch.stack(out)

        return run
    if name == "torch_loop":
        def run(x):
            v = torch.zeros_like(x[0])
            out = []
            for xt in x:
                h = v + (xt - v) / 2.0
                s = _ATanSpike.apply(h - 1.0)
                v = h * (1.0 - s)
                out.append(s)
            return torch.stack(out)

        return run
    raise KeyError(name)


def _data(T, B, N):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(T, B, N, generator=gen) * 1.5 + 0.5
    g = torch.randn(T, B, N, generator=gen)
    return x, g


def _fb(fn, x, g):
    x.grad = None
    fn(x).backward(g)


QUIET_FLUSH_BYTES = 96 << 20
QUIET_PAUSE_S = 0.03


def time_case(T, B, N, impls, repeats, quiet: bool = False):
    x, g = _data(T, B, N)
    xg = x.clone().requires_grad_(True)
    fns = {n: make(n) for n in impls}
    for fn in fns.values():  # warm-up (compiles the fused kernels)
        with torch.no_grad():
            fn(x)
        _fb(fn, xg, g)
    times = {(n, m): [] for n in impls for m in ("forward", "forward+backward")}
    flush = np.ones(QUIET_FLUSH_BYTES // 4, dtype=np.float32) if quiet else None

    def settle():
        if quiet:
            flush[:] += 1
            time.sleep(QUIET_PAUSE_S)

    for _ in range(repeats):
        for n, fn in fns.items():
            settle()
            t0 = time.perf_counter()
            with torch.no_grad():
                fn(x)
            times[(n, "forward")].append(time.perf_counter() - t0)
            settle()
            t0 = time.perf_counter()
            _fb(fn, xg, g)
            times[(n, "forward+backward")].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def copy_bandwidth(repeats: int = 15) -> float:
    """Bytes read + written per second by ``dst.copy_(src)`` on 64 MiB float32 tensors (fastest
    of ``repeats``: the machine's best case, so the bound stays an upper bound under load)."""
    src = torch.ones(16 * 2**20)
    dst = torch.empty_like(src)
    dst.copy_(src)
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        dst.copy_(src)
        ts.append(time.perf_counter() - t0)
    return 2 * src.numel() * 4 / min(ts)


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def memory_child(name, T, B, N):
    """Run in a subprocess: peak RSS increase (bytes) during one forward+backward."""
    x, g = _data(T, B, N)
    x.requires_grad_(True)
    fn = make(name)
    _fb(fn, x, g)  # warm-up / compile
    peaks = []
    cached = 0
    for _ in range(3):
        x.grad = None
        if name == "neurosim":  # count the cached [T, ...] buffers as fresh allocations
            from neurosim.snn import fused

            fused.set_buffer_cache(fused.buffer_cache_info()["max_bytes"])
        gc.collect()
        base = _rss()
        peak = [base]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], _rss())
                time.sleep(0.0002)

        th = threading.Thread(target=sample)
        th.start()
        _fb(fn, x, g)
        peak[0] = max(peak[0], _rss())
        stop.set()
        th.join()
        peaks.append(peak[0] - base)
        if name == "neurosim":
            from neurosim.snn import fused

            cached = fused.buffer_cache_info()["free_bytes"]
    print(json.dumps({"peak_extra": max(peaks), "cached": cached}))


def memory(name, T, B, N) -> tuple[float, float]:
    """(peak extra MiB, MiB kept in neurosim's buffer cache after the call)."""
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="65536")
    out = subprocess.run([sys.executable, __file__, "--memory-child", name, str(T), str(B), str(N)],
                         capture_output=True, text=True, env=env, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    return res["peak_extra"] / 2**20, res["cached"] / 2**20


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--impls", default=",".join(IMPLS))
    ap.add_argument("--protocol", choices=("interleaved", "quiet", "both"), default="both",
                    help="what precedes each timed call (module docstring)")
    ap.add_argument("--memory-child", nargs=4, metavar=("IMPL", "T", "B", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.memory_child:
        name, T, B, N = args.memory_child
        memory_child(name, int(T), int(B), int(N))
        return
    impls = args.impls.split(",")
    import numba

    print(f"torch {torch.__version__}, threads torch={torch.get_num_threads()} numba={numba.get_num_threads()}, "
          f"cpus={os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")
    bw = copy_bandwidth()
    measured_bound = bw / 24
    print(f"copy bandwidth {bw / 1e9:.1f} GB/s -> measured bound {measured_bound:.2e} neuron-steps/s "
          f"(24 bytes each)")
    protocols = ("interleaved", "quiet") if args.protocol == "both" else (args.protocol,)
    for protocol in protocols:
        rows = []
        for T, B, N in CASES:
            med = time_case(T, B, N, impls, args.repeats, quiet=protocol == "quiet")
            steps = T * B * N
            for mode in ("forward", "forward+backward"):
                ref = med[("neurosim", mode)] if "neurosim" in impls else None
                for n in impls:
                    t = med[(n, mode)]
                    rows.append((f"T{T} B{B} N{N}", mode, LABELS[n], t * 1e3, steps / t,
                                 (t / ref) if ref else float("nan")))
        print(f"\nprotocol: {protocol}")
        print("\n| case | mode | implementation | median ms | neuron-steps/s | % of bound (30 GB/s) "
              "| % of measured bound | time / neurosim |")
        print("|---|---|---|---|---|---|---|---|")
        for case, mode, label, ms, rate, ratio in rows:
            fb = mode == "forward+backward"
            pct = f"{100 * rate / BOUND:.1f}%" if fb else "-"
            pct_m = f"{100 * rate / measured_bound:.1f}%" if fb else "-"
            print(f"| {case} | {mode} | {label} | {ms:.1f} | {rate:.2e} | {pct} | {pct_m} | {ratio:.2f}x |")
    if not args.no_memory:
        T, B, N = CASES[0]
        print(f"\nPeak extra memory, forward+backward, T{T} B{B} N{N} (fresh process each):\n")
        print("| implementation | peak extra MiB | / spikingjelly | kept in cache after the call, MiB |")
        print("|---|---|---|---|")
        mem = {n: memory(n, T, B, N) for n in impls}
        for n in impls:
            rel = mem[n][0] / mem["spikingjelly"][0] if "spikingjelly" in mem else float("nan")
            print(f"| {LABELS[n]} | {mem[n][0]:.0f} | {rel:.2f} | {mem[n][1]:.0f} |")
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
