"""Flatten a ``Network`` into the arrays of ``neurosim.kernels.network`` and run it in chunks.

Private module: ``build_flat(net)`` returns a dict of contiguous arrays (layout documented in
``neurosim.kernels.network``); ``run_flat(net, n_steps, progress)`` draws each chunk's random
drive, calls the fused kernel and hands spikes and samples to the monitors.
"""
from __future__ import annotations

import math
import time

import numpy as np

from neurosim._validation import check_memory
from neurosim.kernels.lif import RESET_CODES
from neurosim.kernels.network import network_integrate
from neurosim.kernels.normal import BLOCK as _NBLOCK
from neurosim.kernels.normal import scaled_copy
from neurosim.kernels.synapse import csr_contiguous_rows, csr_order, csr_uniform_rows
from neurosim.sim.monitors import SpikeMonitor, StateMonitor

__all__ = ["build_flat", "run_flat", "NormalStream"]


class NormalStream:
    """Gaussian numbers ``mean + std z`` from a numpy Generator's raw bits (the noise of ``add_noise``).

    The stream: 64-bit outputs of ``gen.bit_generator.random_raw``, each split into two 32-bit
    units (low half first), turned into ``z ~ N(0, 1)`` in blocks of ``BLOCK`` samples (exactly
    ``BLOCK`` units each) by the float32 Box-Muller of ``neurosim.kernels.normal``, then scaled
    and written row by row (row-major ``[T, n]``). The unused rest of a block carries over to
    the next call, so the numbers do not depend on how the steps are split into chunks: the
    same generator state gives the same noise. Bits are drawn only for the blocks a call needs.
    """

    def __init__(self, gen):
        self.gen = gen
        self.z = np.zeros(_NBLOCK, dtype=np.float32)
        self.zpos = _NBLOCK  # next unused sample of the current block (none yet)
        self.scratch = np.zeros(_NBLOCK // 2, dtype=np.float32)

    def fill(self, out, lo, mean, std, accumulate=False):
        """Write (or add) ``mean + std z`` into ``out[:, lo:lo + mean.size]``, ``out`` C-contiguous [T, N]."""
        need = out.shape[0] * mean.size - (_NBLOCK - self.zpos)  # samples beyond the current block
        n_blocks = -(-need // _NBLOCK) if need > 0 else 0
        units = self.gen.bit_generator.random_raw(n_blocks * _NBLOCK // 2).view(np.int32)
        p, self.zpos = scaled_copy(units, 0, self.z, self.zpos, self.scratch, out, lo, mean, std, accumulate)
        if p != units.size:
            raise RuntimeError(f"NormalStream: {units.size} units drawn, {p} used")
        return out


def draw_normal(gen, shape, mean=0.0, std=1.0, dtype=np.float64):
    """``mean + std z`` [T, n] from a fresh :class:`NormalStream` over ``gen`` (what ``add_noise`` draws)."""
    T, n = shape
    out = np.empty((T, n), dtype=dtype)
    NormalStream(gen).fill(out, 0, np.broadcast_to(np.asarray(mean, dtype=dtype), (n,)).copy(),
                           np.broadcast_to(np.asarray(std, dtype=dtype), (n,)).copy())
    return out

#: networks with at most this many neurons store synapse targets as uint16 (else int32)
UINT16_MAX_N = 65535
#: largest drive chunk (steps x neurons) drawn at once (1 MB in float32; larger chunks were slower)
DRIVE_CHUNK_ELEMS = 250_000
#: wall time aimed at per kernel call: Numba code cannot be interrupted, so the loop returns to
#: Python this often and Ctrl-C stops a run within about this time (steps per call adapt to it)
CALL_SECONDS = 0.1
#: draw the next chunk's drive in a helper thread while the kernel runs: less wall time on a
#: free second core, but ~15 % more CPU time (izh1000: the drive crosses cores, thread hand-offs)
#: and a second thread; off by default, so a run uses one thread like the serial peers it is
#: compared with
PREFETCH_DRIVE = False

_LIF_ROWS = ("a_m", "a_e", "a_i", "k_e", "k_i", "v_inf", "v_th", "v_reset")
_IZH_ROWS = ("a", "b", "c", "d", "v_peak", "i_ext")


def _bcast(x, n):
    return np.broadcast_to(np.asarray(x, dtype=np.float64), (n,))


def build_flat(net) -> dict:
    F = net.dtype
    offsets = net._offsets()
    lif = [g for g in net.groups.values() if g.model == "lif"]
    izh = [g for g in net.groups.values() if g.model == "izhikevich"]
    nL = sum(g.n for g in lif)
    nI = sum(g.n for g in izh)
    N = nL + nI
    flat = {"N": N}

    # --- LIF
    lcoef = np.zeros((len(_LIF_ROWS), nL), dtype=F)
    lnref = np.zeros(nL, dtype=np.int32)
    lgroups = np.zeros((len(lif), 5), dtype=np.int64)
    dch = {inp.group.name: inp.channel for inp in net.inputs}
    lv = np.zeros(nL, dtype=F)
    for k, g in enumerate(lif):
        lo, hi = offsets[g.name], offsets[g.name] + g.n
        p = g.params
        c = p.coefficients(net.dt)
        c["v_inf"] = np.asarray(p.v_rest) + np.asarray(p.r) * g.i_ext
        c["v_th"], c["v_reset"] = p.v_th, p.v_reset
        het = p.size() is not None or np.ptp(g.i_ext) != 0
        for r, key in enumerate(_LIF_ROWS):
            lcoef[r, lo:hi] = _bcast(c[key], g.n)
        lnref[lo:hi] = np.broadcast_to(np.asarray(c["n_ref"]), (g.n,))
        lgroups[k] = (lo, hi, RESET_CODES[p.reset], int(het), dch.get(g.name, 0))
        lv[lo:hi] = g.v0
    flat.update(lv=lv, lie=np.zeros(nL, dtype=F), lii=np.zeros(nL, dtype=F), lrefr=np.zeros(nL, dtype=np.int32),
                lcoef=lcoef, lnref=lnref, lgroups=lgroups)

    # --- Izhikevich
    icoef = np.zeros((len(_IZH_ROWS), nI), dtype=F)
    igroups = np.zeros((len(izh), 4), dtype=np.int64)
    iv = np.zeros(nI, dtype=F)
    iu = np.zeros(nI, dtype=F)
    for k, g in enumerate(izh):
        lo, hi = offsets[g.name], offsets[g.name] + g.n
        p = g.params
        vals = {"a": p.a, "b": p.b, "c": p.c, "d": p.d, "v_peak": p.v_peak, "i_ext": g.i_ext}
        for r, key in enumerate(_IZH_ROWS):
            icoef[r, lo - nL:hi - nL] = _bcast(vals[key], g.n)
        het = p.size() is not None or np.ptp(g.i_ext) != 0
        igroups[k] = (lo, hi, int(het), dch.get(g.name, 0))
        iv[lo - nL:hi - nL] = g.v0
        iu[lo - nL:hi - nL] = g.u0
    flat.update(iv=iv, iu=iu, icoef=icoef, igroups=igroups)

    # --- synapses: one CSR over keys 3 pre + channel (stable: keeps each group's order)
    n_syn = net.n_synapses
    if 3 * N >= 2 ** 31 or n_syn >= 2 ** 31:
        raise ValueError(f"network too large for 32-bit synapse indexing ({N} neurons, {n_syn} synapses)")
    keys = np.empty(n_syn, dtype=np.int32)
    post = np.empty(n_syn, dtype=np.int32)
    w = np.empty(n_syn, dtype=F)
    uniform_delays = {sg.delay_steps for sg in net.synapses if np.ndim(sg.delay_steps) == 0}
    per_syn_delays = any(np.ndim(sg.delay_steps) for sg in net.synapses) or len(uniform_delays) > 1
    dsteps = np.empty(n_syn if per_syn_delays else 0, dtype=np.int32)
    q = 0
    for sg in net.synapses:
        n = sg.n_synapses
        keys[q:q + n] = sg.pre
        keys[q:q + n] += offsets[sg.pre_group.name]
        keys[q:q + n] *= 3
        keys[q:q + n] += sg.channel
        post[q:q + n] = sg.post
        post[q:q + n] += offsets[sg.post_group.name]
        w[q:q + n] = sg.weight
        if per_syn_delays:
            dsteps[q:q + n] = sg.delay_steps
        q += n
    indptr = np.empty(3 * N + 1, dtype=np.int64)
    order = np.empty(n_syn, dtype=np.int32 if n_syn < 2 ** 31 else np.int64)
    csr_order(keys, indptr, order)
    del keys
    # targets as uint16 when every id fits: the scatter streams half the bytes (cuba40000: -24 %)
    indices = post[order].astype(np.uint16) if N <= UINT16_MAX_N else post[order]
    del post
    weights = w[order]
    del w
    if per_syn_delays and n_syn and dsteps.min() == dsteps.max():  # per-synapse arrays, all equal
        per_syn_delays, uniform_delays = False, {int(dsteps[0])}
    if per_syn_delays:
        delays = dsteps[order]
        dmax = int(delays.max()) if n_syn else 0
        delay_const = -1
    else:
        delays = np.zeros(0, dtype=np.int32)
        dmax = delay_const = (uniform_delays.pop() if uniform_delays else 0)
    del order, dsteps
    check_memory("delay_ms", (dmax + 1) * 3 * N, F.itemsize,
                 f"the spike ring buffer for delays of {dmax} steps (dt={net.dt} ms) x {N} neurons")
    contig = np.zeros(3 * N, dtype=np.uint8)
    csr_contiguous_rows(indptr, indices, contig)
    csr_uniform_rows(indptr, weights, contig)
    wrow = np.zeros(3 * N, dtype=F)
    uni = np.flatnonzero(contig & 2)
    wrow[uni] = weights[indptr[uni]]
    flat.update(indptr=indptr, indices=indices, weights=weights, delays=delays, delay_const=delay_const,
                ring=np.zeros((dmax + 1, 3, N), dtype=F), contig=contig, wrow=wrow,
                direct=0, one=F.type(1))
    if nI == 0 and delay_const == 0:
        jump_input = bool(np.diff(indptr)[2::3].any()) or any(inp.channel == 2 for inp in net.inputs)
        flat["direct"] = 1 if jump_input else 2

    # --- spikes and monitors
    flat.update(spk=np.zeros(max(N, 1), dtype=np.int32), n_spk=np.zeros(1, dtype=np.int64))
    rec_mask = np.zeros(N, dtype=np.uint8)
    rec_idx, rec_var, everys, col = [], [], [], 0
    for mon in net.monitors.values():
        if isinstance(mon, SpikeMonitor):
            ids = np.concatenate([np.arange(offsets[g.name], offsets[g.name] + g.n) for g in mon._groups]) \
                if mon._groups else np.zeros(0, dtype=np.int64)
            mon.__init__(mon.name, np.unique(ids), N)
            rec_mask[mon.neuron_ids] = 1
        elif isinstance(mon, StateMonitor):
            from neurosim.sim.network import _VARS

            g = mon.group
            mon.global_ids = offsets[g.name] + mon.neurons
            mon._col0 = col
            for var in mon.variables:
                rec_idx.append(mon.global_ids)
                rec_var.append(np.full(mon.neurons.size, _VARS[g.model][var], dtype=np.int64))
                col += mon.neurons.size
            everys.append(mon.every)
    flat["rec_mask"] = rec_mask
    flat["rec_idx"] = np.concatenate(rec_idx).astype(np.int64) if rec_idx else np.zeros(0, dtype=np.int64)
    flat["rec_var"] = np.concatenate(rec_var) if rec_var else np.zeros(0, dtype=np.int64)
    flat["rec_every"] = math.gcd(*everys) if everys else 1
    flat["compiled"] = False
    return flat


def _draw_drive(net, flat, drive, step0, T):
    """Fill ``drive[:T]`` with the inputs of steps ``step0 .. step0 + T - 1``."""
    offsets = net._offsets()
    d = drive[:T]
    covered = np.zeros(drive.shape[1], dtype=bool)
    first = []
    for inp in net.inputs:
        lo = offsets[inp.group.name]
        first.append(not covered[lo:lo + inp.group.n].any())
        covered[lo:lo + inp.group.n] = True
    if not covered.all():
        d[:, ~covered] = 0
    for inp, is_first in zip(net.inputs, first):
        lo = offsets[inp.group.name]
        hi = lo + inp.group.n
        if inp.kind == "noise":
            if getattr(inp, "stream", None) is None:
                inp.stream = NormalStream(inp.rng)
                inp.std_f = np.ascontiguousarray(inp.std, dtype=drive.dtype)
                inp.mean_f = np.ascontiguousarray(inp.mean, dtype=drive.dtype)
            inp.stream.fill(d, lo, inp.mean_f, inp.std_f, accumulate=not is_first)
            continue
        if is_first:
            d[:, lo:hi] = 0
        if inp.kind == "poisson":
            counts = inp.rng.poisson(inp.lam, size=(T, inp.group.n))
            d[:, lo:hi] += counts * np.asarray(inp.weight, dtype=drive.dtype)
        else:  # timed
            a = max(step0, inp.start_step)
            b = min(step0 + T, inp.start_step + inp.values.shape[0])
            if a < b:
                d[a - step0:b - step0, lo:hi] += inp.values[a - inp.start_step:b - inp.start_step]


def _call(flat, step0, n_steps, drive, has_drive, out_step, out_id, rec_out, izh_k):
    f = flat
    return network_integrate(
        step0, n_steps,
        f["lv"], f["lie"], f["lii"], f["lrefr"], f["lcoef"], f["lnref"], f["lgroups"],
        f["iv"], f["iu"], f["icoef"], f["igroups"], izh_k,
        drive, has_drive,
        f["indptr"], f["indices"], f["weights"], f["delays"], f["delay_const"], f["ring"], f["contig"], f["wrow"],
        f["direct"],
        f["one"], f["spk"], f["n_spk"],
        f["rec_mask"], out_step, out_id, 0,
        f["rec_idx"], f["rec_var"], f["rec_every"], rec_out, 0)


def run_flat(net, n_steps: int, progress: bool):
    """Run ``n_steps`` steps in chunks of at most ``DRIVE_CHUNK_ELEMS`` drive values; each chunk's
    random drive is drawn before the kernel runs it (with ``PREFETCH_DRIVE``: in a helper thread
    while the GIL-free kernel runs the previous chunk). Each kernel call covers about
    ``CALL_SECONDS`` of wall time (its step count adapts to the measured speed), so Ctrl-C stops
    a long run promptly. The numbers do not depend on chunking."""
    from concurrent.futures import ThreadPoolExecutor

    from tqdm import tqdm

    flat = net._flat
    N = flat["N"]
    F = net.dtype
    every = flat["rec_every"]
    R = flat["rec_idx"].size
    has_drive = bool(net.inputs)
    chunk = n_steps
    if has_drive:
        chunk = max(1, min(chunk, DRIVE_CHUNK_ELEMS // max(N, 1), -(-n_steps // (8 if PREFETCH_DRIVE else 1))))
    if progress:
        chunk = max(1, min(chunk, -(-n_steps // 20)))
    if has_drive:  # every column of a chunk is written by _draw_drive before the kernel reads it
        drives = [np.empty((chunk, N), dtype=F) for _ in range(2 if PREFETCH_DRIVE else 1)]
    else:  # read with weight 0 by the Izhikevich update: must be finite
        drives = [np.zeros((1, N), dtype=F)]
    cap = max(4 * N, 4096)
    out_step = np.empty(cap, dtype=np.int64)
    out_id = np.empty(cap, dtype=np.int32)
    rec_out = np.empty((chunk // every + 2, R), dtype=F)
    izh_k = np.array([0.04, 5.0, 140.0, 0.5 * float(net.dt), float(net.dt)], dtype=F)

    if not flat["compiled"]:  # first call: JIT compile (or load from cache) outside the timed loop
        t0 = time.perf_counter()
        _call(flat, net.step, 0, drives[0], has_drive, out_step, out_id, rec_out, izh_k)
        net.timing["compile_wall_s"] = time.perf_counter() - t0
        flat["compiled"] = True

    spike_mons = [m for m in net.monitors.values() if isinstance(m, SpikeMonitor)]
    state_mons = [m for m in net.monitors.values() if isinstance(m, StateMonitor)]
    bar = tqdm(total=n_steps, disable=not progress, unit="step", desc=f"simulating {n_steps * net.dt:g} ms",
               leave=False)
    pool = ThreadPoolExecutor(max_workers=1) if has_drive and PREFETCH_DRIVE else None
    t0 = time.perf_counter()
    per_call = 16  # steps per kernel call, adapted to CALL_SECONDS after every call
    try:
        starts = list(range(0, n_steps, chunk))
        pending = None
        if has_drive:
            _draw_drive(net, flat, drives[0], net.step, min(chunk, n_steps))
        for c, start in enumerate(starts):
            T = min(chunk, n_steps - start)
            drive = drives[c % len(drives)]
            if pool is not None and c + 1 < len(starts):  # draw the next chunk while this one runs
                nxt = starts[c + 1]
                pending = pool.submit(_draw_drive, net, flat, drives[(c + 1) % 2], net.step + T,
                                      min(chunk, n_steps - nxt))
            k = 0
            while k < T:
                step0 = net.step
                n = min(T - k, per_call)
                d = drive[k:k + n] if has_drive else drive
                tc = time.perf_counter()
                steps_done, n_out, n_rec = _call(flat, step0, n, d, has_drive, out_step, out_id, rec_out, izh_k)
                took = time.perf_counter() - tc
                if steps_done == n:  # (a call cut short by full buffers says nothing about speed)
                    per_call = max(1, min(8 * per_call, int(n * CALL_SECONDS / max(took, 1e-6))))
                if n_out:
                    for m in spike_mons:
                        m._append(out_step[:n_out], out_id[:n_out], net.dt)
                if n_rec:
                    first = -(-step0 // every) * every
                    steps = np.arange(first, step0 + steps_done, every)[:n_rec]
                    for m in state_mons:
                        m._append(steps, rec_out[:n_rec], net.dt)
                net.step += steps_done
                k += steps_done
            if pending is not None:
                pending.result()
                pending = None
            elif has_drive and c + 1 < len(starts):  # no helper thread: draw the next chunk now
                _draw_drive(net, flat, drives[(c + 1) % len(drives)], net.step, min(chunk, n_steps - starts[c + 1]))
            bar.update(T)
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
        bar.close()
    net.timing["sim_wall_s"] = time.perf_counter() - t0
    check_finite_state(net)


def check_finite_state(net) -> None:
    """``ValueError`` when the state overflowed to NaN/inf: finite but too large drives diverged."""
    flat = net._flat
    offsets = net._offsets()
    nL = flat["lv"].shape[0]
    for g in net.groups.values():
        lo = offsets[g.name] - (0 if g.model == "lif" else nL)
        keys = ("lv", "lie", "lii") if g.model == "lif" else ("iv", "iu")
        bad = sum(int(np.count_nonzero(~np.isfinite(flat[k][lo:lo + g.n]))) for k in keys)
        if bad:
            raise ValueError(
                f"the simulation diverged: {bad} state value(s) of group {g.name!r} overflowed to NaN/inf by "
                f"t = {net.t_ms:g} ms; the drive is too large for the model or dt={net.dt:g} ms too coarse: check "
                "dt, i_ext and v0 of the groups, synaptic weight values, the input rate_hz / weight, noise std / mean "
                "and timed input values")
