"""RSA benchmark: neurosim vs rsatoolbox (and scipy) in one run, plus the large chunked cases.

Usage::

    python benchmarks/bench_rsa.py                 # all parts
    python benchmarks/bench_rsa.py --part peer     # 900 x 5000 end to end vs rsatoolbox
    python benchmarks/bench_rsa.py --part chunked  # 899 x 800,000 float32, chunked Gram
    python benchmarks/bench_rsa.py --part rank     # 3,599 frames: 6.5M-pair vector, argsort ranks

Part "peer": two correlation RDMs of 900 conditions x 5,000 features (float64) and their
Spearman correlation, end to end, median of ``--repeats`` runs for each implementation.
Part "chunked": features of 899 frames x 800,000 units are generated chunk by chunk
(never held at once: 2.9 GB as float32) and streamed into ``correlation_matrix``; peak
traced allocations (tracemalloc) and process max RSS are reported.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import time
import tracemalloc

import numpy as np


def _median_time(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def part_peer(repeats: int):
    from neurosim.rsa import Correlation, Spearman, compare
    from neurosim.rsa.tsrsa import tsrsa

    compare(np.arange(5.0), np.arange(5.0)[::-1], Spearman(ties="argsort"))  # compile Numba kernels
    rng = np.random.default_rng(0)
    X = rng.normal(size=(900, 5000))
    Y = X[:, :2500] @ rng.normal(size=(2500, 5000)) * 0.01 + rng.normal(size=(900, 5000))

    corr = Correlation()

    def ns_end_to_end():
        return compare(corr(X), corr(Y), "spearman")

    def ns_argsort():
        return tsrsa(X, Y, ties="argsort")

    rows = []
    t_rdm, _ = _median_time(lambda: corr(X), repeats)
    a, b = corr(X), corr(Y)
    t_sp, _ = _median_time(lambda: compare(a, b, "spearman"), repeats)
    t_sp_arg, _ = _median_time(lambda: compare(a, b, Spearman(ties="argsort")), repeats)
    t_e2e, v_ns = _median_time(ns_end_to_end, repeats)
    t_e2e_arg, v_arg = _median_time(ns_argsort, repeats)

    import scipy.spatial.distance as ssd
    import scipy.stats

    t_pdist, _ = _median_time(lambda: ssd.pdist(X, "correlation"), max(1, repeats // 2))
    t_sp_scipy, v_scipy = _median_time(lambda: scipy.stats.spearmanr(a.vector, b.vector).statistic,
                                       max(1, repeats // 2))
    try:
        from rsatoolbox.data import Dataset
        from rsatoolbox.rdm import calc_rdm, compare as rcompare

        dx, dy = Dataset(X), Dataset(Y)
        t_r_rdm, _ = _median_time(lambda: calc_rdm(dx, method="correlation"), max(1, repeats // 3))
        ra, rb = calc_rdm(dx, method="correlation"), calc_rdm(dy, method="correlation")
        t_r_sp, _ = _median_time(lambda: rcompare(ra, rb, method="spearman"), max(1, repeats // 3))

        def rs_e2e():
            return float(rcompare(calc_rdm(dx, method="correlation"), calc_rdm(dy, method="correlation"),
                                  method="spearman")[0, 0])

        t_r_e2e, v_r = _median_time(rs_e2e, max(1, repeats // 3))
    except ImportError:  # pragma: no cover
        t_r_rdm = t_r_sp = t_r_e2e = v_r = float("nan")
    rows.append(("correlation RDM (900 x 5000)", t_r_rdm, t_pdist, t_rdm))
    rows.append(("Spearman, average ranks", t_r_sp, t_sp_scipy, t_sp))
    rows.append(("Spearman, argsort ranks (paper)", float("nan"), float("nan"), t_sp_arg))
    rows.append(("end to end (2 RDMs + Spearman)", t_r_e2e, float("nan"), t_e2e))
    rows.append(("end to end, tsrsa() argsort", float("nan"), float("nan"), t_e2e_arg))
    print("\n## 900 conditions x 5,000 features, float64 (median of runs)\n")
    print("| step | rsatoolbox 0.3.2 | scipy | neurosim | rsatoolbox / neurosim |")
    print("|---|---|---|---|---|")
    for name, r, s, n in rows:
        fmt = lambda v: "–" if not np.isfinite(v) else (f"{v * 1e3:.1f} ms" if v < 1 else f"{v:.2f} s")
        ratio = f"**{r / n:.1f}x**" if np.isfinite(r) else "–"
        print(f"| {name} | {fmt(r)} | {fmt(s)} | {fmt(n)} | {ratio} |")
    print(f"\nvalues: neurosim {v_ns:.15f}, rsatoolbox {v_r:.15f}, scipy {v_scipy:.15f} "
          f"(|diff| {abs(v_ns - v_r):.1e}); argsort variant {v_arg:.15f}")


def _chunks(T, N, chunk, seed):
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(T, 8)).astype(np.float32)
    for a in range(0, N, chunk):
        n = min(chunk, N - a)
        # rectified low-rank signal + noise, like spike-count-ish features
        w = rng.normal(size=(8, n)).astype(np.float32)
        c = base @ w
        c += rng.standard_normal(size=(T, n), dtype=np.float32)
        np.maximum(c, 0, out=c)
        yield c


def part_chunked(T: int, N: int, chunk: int):
    from neurosim.rsa import correlation_matrix

    # data generation alone (to subtract it from the end-to-end time)
    t0 = time.perf_counter()
    for _ in _chunks(T, N, chunk, 1):
        pass
    t_gen = time.perf_counter() - t0
    tracemalloc.start()
    t0 = time.perf_counter()
    C = correlation_matrix(_chunks(T, N, chunk, 1), dtype=np.float32)
    t_all = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n## {T} frames x {N:,} units, float32 GEMM, chunks of {chunk:,} units\n")
    print("| what | value |\n|---|---|")
    print(f"| generate + correlate (streamed) | {t_all:.1f} s |")
    print(f"| of which data generation | {t_gen:.1f} s |")
    print(f"| correlation (Gram accumulation) | {t_all - t_gen:.1f} s |")
    print(f"| peak traced allocations (tracemalloc) | {peak / 2**20:.0f} MB |")
    print(f"| process max RSS | {rss:.0f} MB |")
    print(f"| full float32 matrix would be | {T * N * 4 / 2**30:.2f} GiB |")
    print(f"\ndiag check: max |C_ii - 1| = {np.abs(np.diag(C) - 1).max():.1e}")


def part_rank(T: int, N: int):
    from neurosim.rsa.compare import argsort_ranks, spearman_from_ranks
    from neurosim.rsa.tsrsa import tsrsa_vector

    argsort_ranks(np.arange(5.0))  # compile the Numba kernels outside the timings
    spearman_from_ranks(argsort_ranks(np.arange(5.0)), argsort_ranks(np.arange(5.0)))
    rng = np.random.default_rng(2)
    X = rng.normal(size=(T, N)).astype(np.float32)
    Y = (X[:, : N // 2] + rng.normal(size=(T, N // 2)).astype(np.float32))
    tracemalloc.start()
    t0 = time.perf_counter()
    vx = tsrsa_vector(X, dtype=np.float32)
    t_vec = time.perf_counter() - t0
    t0 = time.perf_counter()
    rx = argsort_ranks(vx)
    t_rank = time.perf_counter() - t0
    del vx
    ry = argsort_ranks(tsrsa_vector(Y, dtype=np.float32))
    t0 = time.perf_counter()
    rho = spearman_from_ranks(rx, ry)
    t_rho = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    n = T * (T - 1) // 2
    print(f"\n## {T} frames ({n:,} pairs), X of {N} units float32\n")
    print("| step | time |\n|---|---|")
    print(f"| correlation matrix + upper triangle (float64 vector) | {t_vec:.2f} s |")
    print(f"| argsort ranks of {n:,} values (int32 ranks) | {t_rank:.2f} s |")
    print(f"| rho from two rank vectors | {t_rho * 1e3:.0f} ms |")
    print(f"| peak traced allocations, whole part (inputs {2 * X.nbytes / 2**20:.0f} MB incl.) | {peak / 2**20:.0f} MB |")
    print(f"\nrho = {rho:.6f}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", choices=["all", "peer", "chunked", "rank"], default="all")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--frames", type=int, default=899)
    p.add_argument("--units", type=int, default=800_000)
    p.add_argument("--chunk", type=int, default=16_384)
    p.add_argument("--rank-frames", type=int, default=3599)
    args = p.parse_args()
    if args.part in ("all", "peer"):
        part_peer(args.repeats)
    if args.part in ("all", "rank"):
        part_rank(args.rank_frames, 2000)
    if args.part in ("all", "chunked"):
        part_chunked(args.frames, args.units, args.chunk)


if __name__ == "__main__":
    main()
