"""Fuzz census: property-based probing of the public API and the command line.

Every public entry point (``neurosim.*`` constructors and functions, every option of every
``neurosim`` subcommand) gets hypothesis-generated inputs: wrong types, wrong shapes and
ranks, empty and huge sizes, NaN/inf, negative and zero values, other dtypes, non-contiguous
and read-only arrays, and corrupt files of every format the package reads. Each input is
classified:

* ``clear``   a ``ValueError``/``TypeError``/``FileNotFoundError`` (CLI: exit 2, no
              traceback) whose message names the argument (a registry ``KeyError`` that
              lists the valid names also counts);
* ``correct`` a result that passes the generic check (no NaN/inf for finite inputs) and the
              entry's independent check, where it has one;
* ``crash``   any other exception (from inside Numba, torch, NumPy; ``MemoryError``), or an
              error that does not name the argument;
* ``hang``    the call ran past the per-call limit;
* ``silent``  a wrong answer without an error: NaN/inf output, a failed independent check,
              or an invalid input accepted.

Usage (from the repository root)::

    python tests/fuzz_census.py                  # default census (>= 1,000 inputs)
    python tests/fuzz_census.py --long           # long census (about 8x the inputs)
    python tests/fuzz_census.py --only rsa --examples 50
    python tests/fuzz_census.py --failures fuzz-failures.txt   # reproducers of every failure

The probes run in a worker process under an address-space limit (``--mem-gib``, default 6),
so a "huge size" input fails with ``MemoryError`` (counted as a crash) instead of exhausting
the machine; a worker that dies or hangs is restarted after the entry point it was in.
Hypothesis is derandomised (a fixed seed per entry point), so a run is reproducible;
``--seed`` picks another fixed seed.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUTCOMES = ("clear", "correct", "crash", "hang", "silent")
CLEAR_TYPES_NAMES = ("ValueError", "TypeError", "FileNotFoundError", "NotADirectoryError")

# entry modules, in run order (numpy layers first; torch layers; the command line last)
ENTRY_MODULES = tuple(os.environ.get("FUZZ_MODULES", "fuzz_entries_np,fuzz_entries_data,fuzz_entries_torch,fuzz_entries_convert,fuzz_entries_cli").split(","))


class _Hang(BaseException):
    """Raised by the per-call alarm (a BaseException so that ``except Exception`` cannot eat it)."""


def _alarm(signum, frame):
    raise _Hang()


def classify_exception(exc: BaseException, probe) -> tuple[str, str]:
    from fuzz_gen import names_in, origin

    """``(outcome, detail)`` for an exception raised by a probe's call."""
    msg = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    kind = type(exc).__name__
    where = origin(exc)
    detail = f"{kind}: {msg[:300]}{where}"
    if isinstance(exc, MemoryError):
        return "crash", detail
    clear_type = isinstance(exc, (ValueError, TypeError, FileNotFoundError, NotADirectoryError))
    if isinstance(exc, KeyError) and ("valid" in msg or names_in(msg, probe.names)):
        clear_type = True
    if not clear_type:
        return "crash", detail
    if names_in(msg, probe.names) or (isinstance(exc, KeyError) and "valid" in msg):
        return "clear", detail
    return "crash", "error does not name " + "/".join(map(str, probe.names[:6])) + ": " + detail


def run_probe(probe, default_timeout: float) -> tuple[str, str]:
    """Call ``probe`` under a timer; classify the outcome."""
    import warnings

    from fuzz_gen import CLIResult, finite_tree

    limit = probe.timeout or default_timeout
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = probe.call()
    except _Hang:
        return "hang", f"no result after {limit:g} s"
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - classification is the point
        signal.setitimer(signal.ITIMER_REAL, 0)
        if isinstance(exc, SystemExit):
            return "crash", f"SystemExit({exc.code})"
        return classify_exception(exc, probe)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        _close_figures()
    if isinstance(result, CLIResult):
        return result.outcome, result.detail
    if probe.expect == "error":
        return "silent", "accepted an invalid input without error"
    value = result[0] if probe.check is not None else result
    try:
        bad = None if probe.allow_nonfinite else finite_tree(value)
    except Exception as exc:  # noqa: BLE001 - e.g. a lazily expanded result that cannot be scanned
        return "crash", f"the result could not be inspected: {type(exc).__name__}: {exc}"
    if bad:
        return "silent", bad
    if probe.check is not None:
        try:
            why = probe.check(result)
        except Exception as exc:  # noqa: BLE001
            return "silent", f"independent check failed with {type(exc).__name__}: {exc}"
        if why:
            return "silent", why
    return "correct", ""


def _close_figures():
    mpl = sys.modules.get("matplotlib.pyplot")
    if mpl is not None:
        mpl.close("all")


# ---------------------------------------------------------------------------------------------
# worker: runs the entries, one JSON line per event

def load_entries(only=None):
    """All entries ``(name, owner, strategy_factory)`` from the entry modules (filtered by ``only``)."""
    sys.path.insert(0, str(HERE))
    out = []
    for modname in ENTRY_MODULES:
        mod = __import__(modname)
        for e in mod.entries():
            if only and not any(o in e.name for o in only):
                continue
            out.append(e)
    return out


def _make_body(emit, counter, i, timeout):
    seen = set()

    def body(probe):
        key = (probe.label, probe.repro)
        if key in seen:  # hypothesis may draw the same input again: run and count it once
            return
        seen.add(key)
        counter["k"] += 1
        emit(type="try", i=i, label=probe.label, repro=probe.repro)
        outcome, detail = run_probe(probe, timeout)
        emit(type="probe", i=i, label=probe.label, expect=probe.expect, outcome=outcome, detail=detail,
             repro=probe.repro)
    return body


def worker(args):
    import numpy as np
    from hypothesis import HealthCheck, Phase, given, seed, settings

    np.seterr(all="ignore")
    os.environ.setdefault("MPLBACKEND", "Agg")
    entries = load_entries(args.only)
    out = open(args.results, "a", buffering=1)

    def emit(**rec):
        out.write(json.dumps(rec) + "\n")
        out.flush()

    emit(type="entries", names=[e.name for e in entries], owners=[e.owner for e in entries])
    tmp_root = Path(args.tmp)
    for i, e in enumerate(entries):
        if i < args.start:
            continue
        emit(type="begin", i=i, name=e.name, owner=e.owner)
        counter = {"k": 0}
        body = _make_body(emit, counter, i, e.timeout or args.timeout)

        strategy = e.strategy(tmp_root / f"e{i}")
        test = settings(max_examples=e.examples(args.examples), derandomize=args.seed is None, database=None,
                        deadline=None, suppress_health_check=list(HealthCheck),
                        phases=[Phase.explicit, Phase.generate], print_blob=False)(given(strategy)(body))
        if args.seed is not None:
            test = seed(args.seed + i)(test)
        try:
            test()
        except Exception as exc:  # noqa: BLE001 - a generator bug must not stop the census
            emit(type="harness_error", i=i, detail=f"{type(exc).__name__}: {exc}")
        emit(type="end", i=i, n=counter["k"])
    emit(type="done")
    out.close()


# ---------------------------------------------------------------------------------------------
# parent: limits, restarts, table

def _limit_memory(gib):
    def f():
        import resource

        lim = int(gib * 2 ** 30)
        resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
        os.setsid()
    return f


def census(*, examples=20, only=None, timeout=20.0, mem_gib=6.0, seed_=None, verbose=False,
           stall_s=None, modules=None, log=print) -> dict:
    """Run the census in worker processes; returns ``{"rows": {...}, "failures": [...]}``.

    ``modules``: entry modules (default :data:`ENTRY_MODULES`); ``stall_s``: a worker that
    reports nothing for this long is killed (a hang inside compiled code) and restarted.
    """
    stall_s = stall_s or max(timeout, 120.0) + 60.0
    rows, failures, owners, order = {}, [], {}, []
    start = 0
    tmp = Path(tempfile.mkdtemp(prefix="neurosim-fuzz-"))
    env = dict(os.environ, PYTHONHASHSEED="0", MPLBACKEND="Agg", NEUROSIM_FAST="1", TQDM_DISABLE="1",
               PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    env.pop("NEUROSIM_DEBUG", None)
    if modules:
        env["FUZZ_MODULES"] = ",".join(modules)
    restarts = 0
    while True:
        results = tmp / f"results{restarts}.jsonl"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--results", str(results),
               "--start", str(start), "--examples", str(examples), "--timeout", str(timeout), "--tmp", str(tmp)]
        if only:
            cmd += sum((["--only", o] for o in only), [])
        if seed_ is not None:
            cmd += ["--seed", str(seed_)]
        errlog = open(tmp / f"worker{restarts}.err", "w")
        proc = subprocess.Popen(cmd, env=env, stdout=errlog, stderr=subprocess.STDOUT,
                                preexec_fn=_limit_memory(mem_gib), cwd=str(tmp))
        last_size, last_change = -1, time.time()
        killed = False
        while proc.poll() is None:
            time.sleep(0.5)
            size = results.stat().st_size if results.exists() else 0
            if size != last_size:
                last_size, last_change = size, time.time()
            elif time.time() - last_change > stall_s:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                killed = True
        errlog.close()
        recs = [json.loads(l) for l in results.read_text().splitlines() if l.strip()] if results.exists() else []
        current, last_try, done = None, None, False
        for r in recs:
            t = r["type"]
            if t == "entries":
                if not order:
                    order = list(r["names"])
                    owners = dict(zip(r["names"], r["owners"]))
                    for n in order:
                        rows[n] = {o: 0 for o in OUTCOMES}
            elif t == "begin":
                current, last_try = r["i"], None
                if verbose:
                    log(f"  [{r['i'] + 1}/{len(order)}] {r['name']}")
            elif t == "try":
                last_try = r
            elif t == "probe":
                name = order[r["i"]]
                rows[name][r["outcome"]] += 1
                last_try = None
                if r["outcome"] in ("crash", "hang", "silent"):
                    failures.append({"entry": name, "owner": owners[name], **{k: r[k] for k in
                                     ("label", "expect", "outcome", "detail", "repro")}})
            elif t == "harness_error":
                name = order[r["i"]]
                failures.append({"entry": name, "owner": owners[name], "label": "(generator)", "expect": "-",
                                 "outcome": "harness", "detail": r["detail"], "repro": ""})
            elif t == "end":
                current = None
            elif t == "done":
                done = True
        if done or not order:
            if not order:
                err = (tmp / f"worker{restarts}.err").read_text()[-3000:]
                raise RuntimeError(f"the census worker produced no entries:\n{err}")
            break
        # the worker died (signal, MemoryError at import, rlimit) or stalled inside an entry
        if current is None:
            current = start
        name = order[current]
        outcome = "hang" if killed else "crash"
        tail = (tmp / f"worker{restarts}.err").read_text()[-400:].strip().replace("\n", " | ")
        rows[name][outcome] += 1
        failures.append({"entry": name, "owner": owners[name], "label": (last_try or {}).get("label", "?"),
                         "expect": "-", "outcome": outcome,
                         "detail": ("worker stalled (killed)" if killed else f"worker died rc={proc.returncode}")
                         + f": {tail}", "repro": (last_try or {}).get("repro", "")})
        start = current + 1
        restarts += 1
        if start >= len(order):
            break
    return {"rows": rows, "owners": owners, "order": order, "failures": failures, "tmp": str(tmp)}


def format_table(res) -> str:
    rows, owners = res["rows"], res["owners"]
    w = max([len(n) for n in rows] + [11])
    head = f"{'entry point':<{w}}  owner  {'inputs':>6} {'clear':>6} {'correct':>7} {'crash':>6} {'hang':>5} {'silent':>6}"
    lines = [head, "-" * len(head)]
    tot = {o: 0 for o in OUTCOMES}
    for n in res["order"]:
        r = rows[n]
        k = sum(r.values())
        for o in OUTCOMES:
            tot[o] += r[o]
        lines.append(f"{n:<{w}}  {owners[n]:<5}  {k:>6} {r['clear']:>6} {r['correct']:>7} {r['crash']:>6} "
                     f"{r['hang']:>5} {r['silent']:>6}")
    lines.append("-" * len(head))
    k = sum(tot.values())
    lines.append(f"{'TOTAL (' + str(len(rows)) + ' entry points)':<{w}}  {'':<5}  {k:>6} {tot['clear']:>6} "
                 f"{tot['correct']:>7} {tot['crash']:>6} {tot['hang']:>5} {tot['silent']:>6}")
    return "\n".join(lines)


def totals(res, owner=None) -> dict:
    tot = {o: 0 for o in OUTCOMES}
    for n, r in res["rows"].items():
        if owner is None or res["owners"][n] == owner:
            for o in OUTCOMES:
                tot[o] += r[o]
    return tot


def write_failures(res, path):
    with open(path, "w") as fh:
        by_owner = {}
        for f in res["failures"]:
            by_owner.setdefault(f["owner"], []).append(f)
        for owner in sorted(by_owner):
            fh.write(f"## owner {owner}: {len(by_owner[owner])} failure(s)\n")
            for f in by_owner[owner]:
                fh.write(f"[{f['outcome']}] {f['entry']}  input: {f['label']}  (expected {f['expect']})\n")
                fh.write(f"    {f['detail']}\n")
                if f["repro"]:
                    fh.write(f"    repro: {f['repro']}\n")
            fh.write("\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--long", action="store_true", help="long census (8x the examples per entry point)")
    ap.add_argument("--examples", type=int, default=None, help="examples per entry point (default 24; --long 200)")
    ap.add_argument("--only", action="append", help="run entry points whose name contains this (repeatable)")
    ap.add_argument("--timeout", type=float, default=20.0, help="per-call limit in s (hang)")
    ap.add_argument("--mem-gib", type=float, default=6.0, help="address-space limit of the worker (GiB)")
    ap.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: derandomised)")
    ap.add_argument("--failures", default="fuzz-failures.txt", help="file for failures with reproducers")
    ap.add_argument("--json", default=None, help="also write the table as JSON here")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--results", help=argparse.SUPPRESS)
    ap.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--tmp", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.examples is None:
        args.examples = 200 if args.long else 24
    if args.worker:
        sys.path.insert(0, str(HERE))
        worker(args)
        return 0
    t0 = time.time()
    res = census(examples=args.examples, only=args.only, timeout=args.timeout, mem_gib=args.mem_gib,
                 seed_=args.seed, verbose=args.verbose)
    print(format_table(res))
    tot = totals(res)
    print(f"\n{sum(tot.values())} inputs in {time.time() - t0:.0f} s; {len(res['failures'])} failure(s)"
          f" (reproducers: {args.failures})")
    write_failures(res, args.failures)
    if args.json:
        Path(args.json).write_text(json.dumps({k: res[k] for k in ("rows", "owners", "order")}, indent=1))
    harness = sum(f["outcome"] == "harness" for f in res["failures"])
    if harness:
        print(f"{harness} entry point(s) stopped on a generator error (see {args.failures})")
    return 0 if tot["crash"] == tot["hang"] == tot["silent"] == harness == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
