"""Multi-step LIF layer on the GPU: neurosim (Triton) vs spikingjelly, snntorch, a torch loop and torch.compile.

All implementations in one process, float32 input ``[T, B, N]``, tau 2, v_th 1, hard reset to 0,
decay_input, ATan surrogate (alpha 2) (spikingjelly's convention; snntorch ``Leaky`` with
beta = 0.5 and ``reset_mechanism="zero"``, its own fire/reset order). Cases:

* ``lif T32 B64 N2048`` and ``lif T100 B32 N512``: the LIF layer alone;
* ``on T500 B16 N512 / N4096 / N16384``: the open-neuromorphic library benchmark, one
  ``Linear(N, N)`` followed by the LIF layer (the same Linear weights for everyone).

Each row is one forward + backward with a dense upstream gradient (``out.backward(g)``), timed
with CUDA events after ``--warmup`` untimed calls; the median of ``--repeats`` is reported. Peak
memory: ``torch.cuda.max_memory_allocated`` during one forward+backward after
``reset_peak_memory_stats``, minus what was allocated before the call (input, gradient, Linear
weights), i.e. what the implementation itself needs. Bandwidth: the LIF layer must move at least
24 bytes per neuron-step forward + backward in float32 (read x, write spikes and one stored
state; read g and the state, write dx); the Linear adds its input, output and their gradients
(16 bytes per neuron-step) and its weight three times (forward, input gradient, weight gradient:
12 N^2 bytes). "spikes != loop" counts the forward spikes that differ from the plain torch loop's
on the same input (snntorch's ``Leaky`` resets one step later by design, so it differs). "of peak" divides those bytes per second by the device's peak memory bandwidth
(from the device's memory clock and bus width where torch reports them, else a table of known
GPUs) and "of copy" by a measured ``dst.copy_(src)`` bandwidth (1 GiB, read + write).

Implementations (each in try/except; a failure is a table row with its reason):

* ``neurosim``: ``neurosim.snn.LIF(..., backend="triton")`` (the fused Triton kernels); a build
  without that backend falls back to ``backend="auto"`` and the row says so;
* ``spikingjelly``: 2.0 ``LIFNode(step_mode="m")``, which picks its CUDA implementation itself
  (``SJ_LIF_CUDA_IMPLEMENTATION``: native CUDA, Triton, torch); rows ``spikingjelly[triton]`` and
  ``spikingjelly[cuda]`` force each where it can be forced;
* ``snntorch``: 1.0 ``Leaky`` stepped in a Python loop;
* ``torch loop``: the LIF equations stepped in Python with an ATan autograd function;
* ``torch.compile``: the same loop with its step compiled (``torch.compile(step)``; compiling
  the unrolled T = 500 loop takes minutes). ``--tiny`` uses the ``aot_eager`` backend (no code
  generation) so that the CPU check needs no compiler.

``--tiny --device cpu`` runs every case at tiny sizes on the CPU (neurosim's Triton kernels under
``TRITON_INTERPRET=1``, set here before triton is imported) with wall-clock timing and no
memory figures: a check that the script runs end to end (``tests/test_bench_lif_gpu.py``).

    python benchmarks/bench_lif_gpu.py --out $OUT                # GPU, every case
    python benchmarks/bench_lif_gpu.py --tiny --device cpu       # the CPU check
"""
from __future__ import annotations

import argparse
import functools
import json
import math
import os
import statistics
import sys
import time
import traceback

CASES = [("lif T32 B64 N2048", 32, 64, 2048, False), ("lif T100 B32 N512", 100, 32, 512, False),
         ("on T500 B16 N512", 500, 16, 512, True), ("on T500 B16 N4096", 500, 16, 4096, True),
         ("on T500 B16 N16384", 500, 16, 16384, True)]
TINY = [("lif T4 B2 N16", 4, 2, 16, False), ("lif T6 B2 N8", 6, 2, 8, False), ("on T5 B2 N8", 5, 2, 8, True),
        ("on T5 B2 N16", 5, 2, 16, True), ("on T5 B2 N32", 5, 2, 32, True)]
IMPLS = ["neurosim", "spikingjelly", "spikingjelly[triton]", "spikingjelly[cuda]", "snntorch", "torch loop",
         "torch.compile"]
#: peak memory bandwidth (bytes/s) of GPUs by name, used when torch does not report clock and bus width
KNOWN_PEAK = {"H200": 4.8e12, "H100 SXM": 3.35e12, "H100 80GB HBM3": 3.35e12, "H100 PCIe": 2.0e12, "H100": 3.35e12,
              "A100-SXM4-80GB": 2.039e12, "A100-PCIE-80GB": 1.935e12, "A100": 1.555e12, "L40S": 8.64e11,
              "L4": 3.0e11, "A10": 6.0e11, "V100": 9.0e11, "T4": 3.2e11}


@functools.lru_cache(maxsize=None)
def _atan_spike():
    """The ATan spike function of ``bench_lif_layer``'s torch loop (one class for the whole run:
    torch.compile's guards stay valid)."""
    from bench_lif_layer import _ATanSpike

    return _ATanSpike


@functools.lru_cache(maxsize=None)
def _loop_step(spike):
    def step(xt, v):
        h = v + (xt - v) / 2.0
        s = spike.apply(h - 1.0)
        return s, h * (1.0 - s)

    return step


def _loop(step):
    import torch

    def run(x):
        v = torch.zeros_like(x[0])
        out = []
        for xt in x:
            s, v = step(xt, v)
            out.append(s)
        return torch.stack(out)

    return run


def _sj_selection():
    """spikingjelly 2.0's switch between its LIF CUDA implementations (private; None if absent)."""
    try:
        from spikingjelly._ops import lif as sj_lif
    except ImportError:
        return None
    sel = getattr(sj_lif, "_selection", None)
    return sel if sel is not None and hasattr(sel, "_requested") else None


def _sj_request(impl: str) -> str:
    """Make spikingjelly select ``impl`` ("auto", "cuda", "triton", "torch") from now on; returns
    the previous request. The same as setting ``SJ_LIF_CUDA_IMPLEMENTATION`` before its import."""
    sel = _sj_selection()
    if sel is None:
        raise RuntimeError("this spikingjelly has no LIF implementation switch (SJ_LIF_CUDA_IMPLEMENTATION)")
    old, sel._requested = sel._requested, impl
    for attr in ("_selections", "_compiled_selections"):
        if isinstance(getattr(sel, attr, None), dict):
            getattr(sel, attr).clear()
    return old


def _sj_selected() -> str:
    """The names of the CUDA implementations spikingjelly selected so far ("" if none)."""
    sel = _sj_selection()
    chosen = getattr(sel, "_selections", {}) if sel is not None else {}
    return ", ".join(sorted({str(getattr(v, "name", v)) for v in chosen.values()}))


def make(name: str, tiny: bool, device=None):
    """``(fn(x) -> spikes, note)`` for implementation ``name`` (state reset on every call).

    ``spikingjelly[impl]`` switches spikingjelly to ``impl`` process-wide: call
    ``_sj_request("auto")`` after timing it (:func:`run_case` does).
    """
    import torch

    if name == "neurosim":
        from neurosim.snn import LIF, ATan

        try:
            lif = LIF(2.0, convention="spikingjelly", surrogate=ATan(2.0), backend="triton")
            note = "backend='triton'"
        except (ValueError, TypeError) as exc:
            lif = LIF(2.0, convention="spikingjelly", surrogate=ATan(2.0), backend="auto")
            note = f"backend='auto' (triton refused: {str(exc).splitlines()[0][:80]})"
        return (lambda x: lif(x)[0]), note
    if name.startswith("spikingjelly"):
        from spikingjelly.activation_based import neuron, surrogate

        note = "auto-selected implementation"
        if "[" in name:
            impl = name[name.index("[") + 1:-1]
            _sj_request(impl)
            note = f"SJ_LIF_CUDA_IMPLEMENTATION={impl}"
        if device is not None and device.type != "cuda":
            note += " (CPU tensors: spikingjelly's CPU path whatever the switch)"
        node = neuron.LIFNode(tau=2.0, surrogate_function=surrogate.ATan(), step_mode="m")

        def run(x):
            node.reset()
            return node(x)

        return run, note
    if name == "snntorch":
        import snntorch

        leaky = snntorch.Leaky(beta=0.5, threshold=1.0, spike_grad=snntorch.surrogate.atan(), reset_mechanism="zero")

        def run(x):
            leaky.to(x.device)
            mem = leaky.init_leaky()
            out = []
            for xt in x:
                spk, mem = leaky(xt, mem)
                out.append(spk)
            return torch.stack(out)

        return run, "Leaky, Python loop"
    step = _loop_step(_atan_spike())
    if name == "torch loop":
        return _loop(step), "eager"
    if name == "torch.compile":
        backend = "aot_eager" if tiny else "inductor"
        return _loop(_compiled(step, backend)), f"step compiled ({backend}; compile time in the warm-up)"
    raise KeyError(name)


@functools.lru_cache(maxsize=None)
def _compiled(step, backend):
    """One compiled step for the whole run (shapes of later cases recompile it once, dynamic)."""
    import torch

    return torch.compile(step, backend=backend)


class _Timer:
    """CUDA events on a GPU, ``perf_counter`` on the CPU; milliseconds."""

    def __init__(self, device):
        self.cuda = device.type == "cuda"

    def __call__(self, fn) -> float:
        import torch

        if self.cuda:
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            b.record()
            b.synchronize()
            return a.elapsed_time(b)
        t0 = time.perf_counter()
        fn()
        return 1e3 * (time.perf_counter() - t0)


def peak_bandwidth(device):
    """``(bytes/s, source)`` of the device's peak memory bandwidth, or ``(None, reason)``."""
    import torch

    if device.type != "cuda":
        return None, "cpu"
    p = torch.cuda.get_device_properties(device)
    clock, bus = getattr(p, "memory_clock_rate", 0), getattr(p, "memory_bus_width", 0)
    if clock and bus:  # kHz, bits; double data rate
        return 2.0 * clock * 1e3 * bus / 8.0, f"clock {clock / 1e6:.2f} GHz x {bus}-bit bus"
    for key, bw in KNOWN_PEAK.items():
        if key in p.name:
            return bw, f"table ({key})"
    return None, f"unknown GPU {p.name!r}"


def copy_bandwidth(device) -> float | None:
    """Measured ``dst.copy_(src)`` bandwidth, bytes read + written per second (1 GiB)."""
    import torch

    if device.type != "cuda":
        return None
    src = torch.empty(1 << 28, device=device)
    dst = torch.empty_like(src)
    timer = _Timer(device)
    for _ in range(3):
        dst.copy_(src)
    ms = statistics.median(timer(lambda: dst.copy_(src)) for _ in range(10))
    del src, dst
    torch.cuda.empty_cache()
    return 2.0 * (1 << 30) / (ms / 1e3)


def bytes_moved(T, B, N, linear) -> float:
    """Least bytes a float32 forward + backward must move (see the module docstring)."""
    n = T * B * N
    return 24.0 * n + ((16.0 * n + 12.0 * N * N) if linear else 0.0)


def run_case(case, impls, device, warmup, repeats, tiny):
    """One row per implementation: ``{impl, ms, peak_mib, note | error}``."""
    import torch

    label, T, B, N, linear = case
    gen = torch.Generator(device="cpu").manual_seed(0)
    x = (torch.randn(T, B, N, generator=gen) * 1.5 + 0.5).to(device)
    g = torch.randn(T, B, N, generator=gen).to(device)
    lin = None
    if linear:
        lin = torch.nn.Linear(N, N, device=device)
        with torch.no_grad():
            lin.weight.normal_(0.0, 1.5 / math.sqrt(N), generator=None)
    with torch.no_grad():  # the reference spikes: the plain torch loop's
        ref = _loop(_loop_step(_atan_spike()))(lin(x) if lin is not None else x)
    timer = _Timer(device)
    rows = []
    for name in impls:
        row = {"case": label, "impl": name}
        try:
            fn, row["note"] = make(name, tiny, device)
            with torch.no_grad():
                row["spikes_differ"] = int((fn(lin(x) if lin is not None else x) != ref).sum())
            xr = x.detach().clone().requires_grad_(True)

            def call(fn=fn, xr=xr):
                xr.grad = None
                if lin is not None:
                    lin.zero_grad(set_to_none=True)
                    out = fn(lin(xr))
                else:
                    out = fn(xr)
                out.backward(g)

            for _ in range(warmup):
                call()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            row["ms"] = statistics.median(timer(call) for _ in range(repeats))
            if device.type == "cuda":
                torch.cuda.synchronize(device)
                before = torch.cuda.memory_allocated(device)
                torch.cuda.reset_peak_memory_stats(device)
                call()
                torch.cuda.synchronize(device)
                row["peak_mib"] = (torch.cuda.max_memory_allocated(device) - before) / 2**20
            if name.startswith("spikingjelly") and device.type == "cuda" and _sj_selected():
                row["note"] += f"; ran: {_sj_selected()}"
            del xr
        except Exception as exc:  # noqa: BLE001 - the reason goes into the table
            row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
            if os.environ.get("BENCH_DEBUG"):
                traceback.print_exc()
        finally:
            if name.startswith("spikingjelly[") and _sj_selection() is not None:
                _sj_request("auto")
            if device.type == "cuda":
                torch.cuda.empty_cache()
        rows.append(row)
    return rows


def tables(rows, cases, device_name, peak, peak_src, copy_bw) -> str:
    """The markdown report: per case, every implementation with time, memory, bandwidth, ratios."""
    out = [f"# LIF layer forward+backward on {device_name}", "",
           f"Peak memory bandwidth: {'n/a' if peak is None else f'{peak / 1e9:.0f} GB/s'} ({peak_src}); "
           f"measured copy: {'n/a' if copy_bw is None else f'{copy_bw / 1e9:.0f} GB/s'}.", ""]
    for label, T, B, N, linear in cases:
        sub = [r for r in rows if r["case"] == label]
        ok = {r["impl"]: r for r in sub if "ms" in r}
        ns = ok.get("neurosim")
        sj_best = min((r for k, r in ok.items() if k.startswith("spikingjelly")), key=lambda r: r["ms"], default=None)
        mb = bytes_moved(T, B, N, linear)
        out += [f"## {label}" + (" (Linear + LIF)" if linear else ""), "",
                "| implementation | ms | peak extra MiB | of peak bw | of copy bw | x neurosim time | spikes != loop | note |",
                "|---|---|---|---|---|---|---|---|"]
        for r in sub:
            if "ms" not in r:
                out.append(f"| {r['impl']} | failed | | | | | | {r.get('error', '')} |")
                continue
            rate = mb / (r["ms"] / 1e3)
            of_peak = f"{100 * rate / peak:.0f} %" if peak else "n/a"
            of_copy = f"{100 * rate / copy_bw:.0f} %" if copy_bw else "n/a"
            ratio = f"{r['ms'] / ns['ms']:.2f}" if ns else "n/a"
            mem = f"{r['peak_mib']:.1f}" if "peak_mib" in r else "n/a"
            out.append(f"| {r['impl']} | {r['ms']:.3f} | {mem} | {of_peak} | {of_copy} | {ratio} | "
                       f"{r['spikes_differ']} of {T * B * N} | {r.get('note', '')} |")
        if ns and sj_best:
            mem = ""
            if "peak_mib" in ns and "peak_mib" in sj_best and sj_best["peak_mib"] > 0:
                mem = f"; peak memory neurosim / {sj_best['impl']} {ns['peak_mib'] / sj_best['peak_mib']:.2f} (target <= 1)"
            snn = ok.get("snntorch")
            out += ["", f"neurosim vs best spikingjelly ({sj_best['impl']}): {sj_best['ms'] / ns['ms']:.2f}x "
                        f"(target >= 1.0)" + (f"; vs snntorch {snn['ms'] / ns['ms']:.2f}x (target >= 3)" if snn else "")
                    + mem]
        out.append("")
    return "\n".join(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    p.add_argument("--tiny", action="store_true", help="tiny sizes (with --device cpu: the end-to-end check)")
    p.add_argument("--warmup", type=int, default=None, help="untimed calls first (default 3; tiny 1)")
    p.add_argument("--repeats", type=int, default=None, help="timed calls (default 10; tiny 1)")
    p.add_argument("--cases", default=None, help="comma list of case labels (default: all)")
    p.add_argument("--impls", default=",".join(IMPLS), help="comma list of implementations")
    p.add_argument("--out", default=None, help="folder for bench_lif_gpu.md and bench_lif_gpu.json")
    a = p.parse_args(argv)
    if a.device == "cpu":  # neurosim's Triton kernels run on CPU tensors only under the interpreter
        os.environ.setdefault("TRITON_INTERPRET", "1")
    import torch

    device = torch.device(a.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda: no CUDA device (torch.cuda.is_available() is False); "
                         "use --tiny --device cpu for the CPU check")
    cases = TINY if a.tiny else CASES
    if a.cases:
        want = {c.strip() for c in a.cases.split(",")}
        cases = [c for c in cases if c[0] in want]
    impls = [i.strip() for i in a.impls.split(",") if i.strip()]
    warmup = a.warmup if a.warmup is not None else (1 if a.tiny else 3)
    repeats = a.repeats if a.repeats is not None else (1 if a.tiny else 10)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    peak, src = peak_bandwidth(device)
    copy_bw = copy_bandwidth(device)
    rows, done = [], []
    for case in cases:  # the files are rewritten after every case: a run cut short keeps what it measured
        t0 = time.perf_counter()
        rows += run_case(case, impls, device, warmup, repeats, a.tiny)
        done.append(case)
        print(f"[{case[0]}] {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
        text = tables(rows, done, name, peak, src, copy_bw)
        text += (f"\ntorch {torch.__version__}, CUDA {torch.version.cuda}, warm-up {warmup}, repeats {repeats} "
                 f"(median){', tiny sizes' if a.tiny else ''}.\n")
        if a.out:
            os.makedirs(a.out, exist_ok=True)
            with open(os.path.join(a.out, "bench_lif_gpu.md"), "w") as fh:
                fh.write(text)
            with open(os.path.join(a.out, "bench_lif_gpu.json"), "w") as fh:
                json.dump({"device": name, "peak_bw": peak, "peak_source": src, "copy_bw": copy_bw, "rows": rows,
                           "warmup": warmup, "repeats": repeats, "tiny": a.tiny}, fh, indent=2)
    print(text)
    return rows


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
