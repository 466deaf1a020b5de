"""Brian2 cpp_standalone Brunel network for ``bench_scale.py`` (run inside benchmarks/.venv-brian2).

    benchmarks/.venv-brian2/bin/python benchmarks/brian2_brunel.py ARRAYS.npz --warmup-ms 50 --sim-ms 200

ARRAYS.npz is written by ``bench_scale.py`` (``write_arrays``): the synapse list neurosim built
for ``ns.sim.brunel`` (int32 ``src_<k>`` / ``tgt_<k>`` with neurosim global ids, scalar weight and
delay per projection) and the model's parameters. Brian2 gets the same connectivity: one
``Synapses`` per projection with a per-synapse ``w : volt`` (like NEST's per-synapse weight and
neurosim's CSR weights), a homogeneous delay, ``on_pre="v_post += w"``; LIF ``dv/dt = -v/tau``
(``unless refractory``: input during the refractory period is lost, NEST's
``refractory_input=False``), threshold ``v >= theta``, reset 0; the external drive is one
``PoissonInput`` per neuron (``N = CE`` sources at ``rate / CE``, weight J).

Memory: the generated binary loads the arrays and creates the synapses itself, so its peak RSS
(``binary_peak_kib``, from ``os.wait4`` on the binary: ``ru_maxrss``) is Brian2's simulation
memory; the Python side's peak (the arrays before they are written out) is ``python_peak_kib``
(minus ``python_base_kib``); the copies Brian2 keeps are dropped before the binary runs (the
Python process's RSS then: ``python_rss_at_run_kib``). Prints one JSON line.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import shutil
import subprocess
import tempfile
import time


def _rss_kib():
    with open("/proc/self/status") as fh:
        return next((int(ln.split()[1]) for ln in fh if ln.startswith("VmRSS:")), 0)


class _WaitShim:
    """Stands in for ``subprocess`` inside Brian2's device module while the binary runs: ``call`` starts
    the process and reaps it with ``os.wait4``, which returns that process's own resource usage."""

    def __init__(self):
        self.maxrss_kib = 0

    def call(self, args, stdout=None, **kw):
        proc = subprocess.Popen(args, stdout=stdout, **kw)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        self.maxrss_kib = max(self.maxrss_kib, usage.ru_maxrss)
        return proc.returncode

    def __getattr__(self, name):
        return getattr(subprocess, name)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("arrays")
    ap.add_argument("--warmup-ms", type=float, default=50.0)
    ap.add_argument("--sim-ms", type=float, default=200.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", default=None, help="project directory, kept (files that do not change between "
                    "sizes are not rewritten, so make recompiles only the others); default: a temporary one")
    args = ap.parse_args(argv)
    load0 = os.getloadavg()

    import numpy as np

    import brian2 as b2
    from brian2 import (Network, NeuronGroup, PoissonInput, SpikeMonitor, Synapses, defaultclock, device, ms,
                        mV, prefs, second, set_device)
    from brian2.devices.cpp_standalone import device as devmod

    base_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workdir = args.workdir or tempfile.mkdtemp(prefix="brian2-scale-")
    set_device("cpp_standalone", build_on_run=False, directory=workdir)
    prefs.devices.cpp_standalone.extra_make_args_unix = ["-j2"]   # the machine has 2 cores (default -j: unlimited)
    if args.threads > 1:
        prefs.devices.cpp_standalone.openmp_threads = args.threads
    t0 = time.perf_counter()
    b2.seed(args.seed)
    z = np.load(args.arrays)
    n, ce = int(z["n"]), int(z["CE"])
    tau, theta, t_ref = float(z["tau_m"]) * ms, float(z["theta"]) * mV, float(z["t_ref"]) * ms
    P = NeuronGroup(n, "dv/dt = -v/tau : volt (unless refractory)", threshold="v >= theta", reset="v = 0*mV",
                    refractory=t_ref, method="exact", namespace=dict(tau=tau, theta=theta))
    P.v = 0 * mV
    syns, n_syn = [], 0
    for k in range(int(z["n_proj"])):
        S = Synapses(P, P, "w : volt (constant)", on_pre="v_post += w", delay=float(z[f"delay_{k}"]) * ms)
        S.connect(i=z[f"src_{k}"].astype(np.int64), j=z[f"tgt_{k}"].astype(np.int64))
        S.w = float(z[f"weight_{k}"]) * mV
        syns.append(S)
        n_syn += int(z[f"src_{k}"].size)
    drive = PoissonInput(P, "v", N=ce, rate=float(z["poisson_rate_hz"]) / ce * b2.Hz, weight=float(z["J"]) * mV)
    mon = SpikeMonitor(P)
    defaultclock.dt = float(z["dt"]) * ms
    net = Network(P, *syns, drive, mon)
    net.run(args.warmup_ms * ms)
    net.run(args.sim_ms * ms)
    del z
    setup_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    device.build(directory=workdir, compile=True, run=False, with_output=False)
    compile_s = time.perf_counter() - t0
    device.static_arrays.clear()   # written out: the binary reads them from its files
    gc.collect()
    python_rss_kib = _rss_kib()
    shim = _WaitShim()
    devmod.subprocess, real = shim, devmod.subprocess
    try:
        t0 = time.perf_counter()
        device.run(directory=workdir, with_output=False)
        binary_s = time.perf_counter() - t0
    finally:
        devmod.subprocess = real
    sim_s = float(device._last_run_time)
    t = np.asarray(mon.t / second)
    n_spk = int(np.count_nonzero(t >= args.warmup_ms / 1000.0 - 1e-9))
    out = dict(simulator="brian2", threads=args.threads, neurons=n, n_synapses=n_syn, n_spikes=n_spk,
               rate_hz=n_spk / n / (args.sim_ms / 1000.0), setup_s=setup_s, compile_s=compile_s,
               binary_wall_s=binary_s, sim_s=sim_s, sim_clock="cpu" if args.threads == 1 else "wall",
               binary_peak_kib=shim.maxrss_kib, python_base_kib=base_kib,
               python_peak_kib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, python_rss_at_run_kib=python_rss_kib,
               loadavg_start=load0, loadavg_end=os.getloadavg(), brian2=b2.__version__)
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    else:  # the results and the arrays of this size are not needed again
        shutil.rmtree(os.path.join(workdir, "results"), ignore_errors=True)
        shutil.rmtree(os.path.join(workdir, "static_arrays"), ignore_errors=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
