"""The flat layout of a ``Network`` (what the kernel sees) and the run loop over it.

Private module. ``build_flat(net)`` packs a network into a :class:`FlatNetwork`: one population
layout per neuron model of ``neurosim.sim.models.MODELS`` (empty when the network has none of
that model; the tuple's structure, and so the compiled kernel, is the same for every network),
one projection layout per synapse kind (``neurosim.sim.synapses``), and the shared
``NetworkBuffers``; monitors and inputs bind themselves to it. ``run_flat(net, n_steps,
progress)`` draws each chunk's drive, calls ``neurosim.kernels.network.network_integrate`` and
hands spikes and samples to the monitors.
"""
from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from neurosim._validation import check_memory
from neurosim.kernels.network import NetworkBuffers, NetworkOutputs, network_integrate
from neurosim.kernels.network_kinds import (
    CH_V, GROUP_CHANNEL, GROUP_COLUMNS, GROUP_HET, GROUP_HI, GROUP_LO, GROUP_MODE, N_CHANNELS, REC_COL, REC_IDX,
    REC_VAR, EmptyProjection,
)
from neurosim.sim.models import MODELS, model_of
from neurosim.sim.monitors import SpikeMonitor, StateMonitor
from neurosim.sim.rates import RateMonitor
from neurosim.sim.synapses import SYNAPSE_KINDS

__all__ = ["FlatNetwork", "build_flat", "run_flat", "check_finite_state"]

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


@dataclasses.dataclass(frozen=True, eq=False)
class FlatNetwork:
    """A network as ``network_integrate`` reads it; its arrays hold the simulation state between runs.

    Attributes
    ----------
    populations : tuple
        One population layout per model of ``MODELS``, in global-id order.
    projections : tuple
        One projection layout per synapse kind of ``SYNAPSE_KINDS``.
    buffers : NetworkBuffers
        Ring buffer, spike list, direct-delivery mode, spike-output mask, sampling interval.
    undriven : bool array [N] or None
        Drive columns that no input writes (zeroed in every chunk); None when every column has an input.
    n_samples : int
        Values per sample row (the columns of all state monitors).
    """

    populations: tuple
    projections: tuple
    buffers: NetworkBuffers
    undriven: np.ndarray | None
    n_samples: int

    @property
    def n_neurons(self) -> int:
        return self.buffers.n_neurons

    def population(self, model: str):
        """The layout of model ``model`` (``"lif"``, ``"izhikevich"`` ...)."""
        return self.populations[list(MODELS).index(model)]

    def state(self, group, name: str) -> np.ndarray:
        """Copy of state variable ``name`` of ``group`` (``AttributeError`` when its model has none)."""
        pop = self.population(group.model)
        lo = group.start - pop.start
        return model_of(group).state_of(pop, name, lo, lo + group.n)

    def __getitem__(self, key: str):
        """A field of the buffers or of a projection by name (``flat["direct"]``, ``flat["indptr"]``), for
        tests and inspection."""
        for part in (self.buffers, *self.projections):
            if key in part._fields:
                return getattr(part, key)
        raise KeyError(f"{key!r} is not a field of the network buffers or projections")


def _group_table(model, groups, offsets, drive_channel) -> np.ndarray:
    table = np.zeros((len(groups), GROUP_COLUMNS), dtype=np.int64)
    for k, g in enumerate(groups):
        lo = offsets[g.name]
        table[k, GROUP_LO], table[k, GROUP_HI] = lo, lo + g.n
        table[k, GROUP_HET] = int(g.params.size() is not None or np.ptp(g.i_ext) != 0)
        table[k, GROUP_CHANNEL] = drive_channel.get(g.name, 0)
        table[k, GROUP_MODE] = model.mode(g.params)
    return table


def _samples(model, monitors, start) -> np.ndarray:
    """The sample table (int64 [3, R], rows ``REC_IDX, REC_VAR, REC_COL``) of a population starting at
    id ``start``, from its bound state monitors."""
    rec = [np.zeros((3, 0), dtype=np.int64)]
    for mon in monitors:
        for name, ids, cols in mon.sampled():
            part = np.empty((3, ids.size), dtype=np.int64)
            part[REC_IDX], part[REC_VAR], part[REC_COL] = ids - start, model.variables[name], cols
            rec.append(part)
    return np.ascontiguousarray(np.concatenate(rec, axis=1))


def build_flat(net) -> FlatNetwork:
    """Pack ``net`` (validated, not yet built) into its flat layout; binds monitors and inputs."""
    F = net.dtype
    offsets = net._offsets()
    N = net.n_neurons

    # monitors: spike output mask, sample columns
    rec_mask = np.zeros(N, dtype=np.uint8)
    state_mons, col = [], 0
    for mon in net.monitors.values():
        if isinstance(mon, (SpikeMonitor, RateMonitor)):  # both read the spike output
            rec_mask[mon.bind(N)] = 1
        elif isinstance(mon, StateMonitor):
            col = mon.bind(col)
            state_mons.append(mon)

    # populations, one per model (empty ones too)
    drive_channel = {inp.group.name: inp.channel for inp in net.inputs}
    pops, sizes, start = [], [], 0
    for model in MODELS.values():
        groups = [g for g in net.groups.values() if g.model == model.name]
        mons = [m for m in state_mons if m.group.model == model.name]
        table = _group_table(model, groups, offsets, drive_channel)
        pops.append(model.pack(groups, net.dt, F, start=start, table=table, rec=_samples(model, mons, start)))
        sizes.append(sum(g.n for g in groups))
        start += sizes[-1]

    # projections, one per synapse kind
    projs, dmax = [], 0
    for kind, builder in SYNAPSE_KINDS.items():
        groups = [sg for sg in net.synapses if sg.kind == kind]
        if kind != "static" and not groups:  # compile nothing of a kind the network does not use
            projs.append(EmptyProjection(delay_const=0))
            continue
        proj, d = builder(groups, offsets, N, F, uint16_max_n=UINT16_MAX_N)
        projs.append(proj)
        dmax = max(dmax, d)
    check_memory("delay_ms", (dmax + 1) * N_CHANNELS * N, F.itemsize,
                 f"the spike ring buffer for delays of {dmax} steps (dt={net.dt} ms) x {N} neurons")

    # direct delivery: one population holds every neuron, its model allows it, every delay is 0
    direct, direct_rows = 0, np.zeros((2, 0), dtype=F)
    whole = [(m, p) for m, p, n in zip(MODELS.values(), pops, sizes) if n == N and m.direct_field is not None]
    if whole and all(getattr(p, "delay_const", -1) == 0 for p in projs):
        jump_input = (any(sg.channel == CH_V and sg.n_synapses for sg in net.synapses)
                      or any(inp.channel == CH_V for inp in net.inputs))
        direct = 1 if jump_input else 2
        direct_rows = getattr(whole[0][1], whole[0][0].direct_field)

    # inputs: the first input of a group overwrites its drive columns, later ones add
    # (event inputs write no drive columns; nothing reads a source group's columns)
    covered = np.zeros(N, dtype=bool)
    for inp in net.inputs:
        g = inp.group
        inp.bind(F, accumulate=covered[g.start:g.stop].any())
        covered[g.start:g.stop] = True

    everys = [m.every for m in state_mons]
    bufs = NetworkBuffers(n_neurons=N, ring=np.zeros((dmax + 1, N_CHANNELS, N), dtype=F), direct=direct,
                          direct_rows=direct_rows, spk=np.zeros(max(N, 1), dtype=np.int32),
                          n_spk=np.zeros(1, dtype=np.int64), rec_mask=rec_mask,
                          rec_every=math.gcd(*everys) if everys else 1, one=F.type(1))
    return FlatNetwork(populations=tuple(pops), projections=tuple(projs), buffers=bufs,
                       undriven=None if covered.all() else ~covered, n_samples=col)


def _draw_drive(net, flat, drive, step0, T):
    """Fill ``drive[:T]`` with the (drive) inputs of steps ``step0 .. step0 + T - 1``."""
    d = drive[:T]
    if flat.undriven is not None:
        d[:, flat.undriven] = 0
    for inp in net.inputs:
        if not inp.events_only:
            inp.draw(d, step0)


def _draw_events(net, flat, step0, T):
    """Fill the Poisson sources' event lists with the spikes of steps ``step0 .. step0 + T - 1``
    (rows sorted, ids ascending within a row: the order a scan of the sources gave)."""
    pop = flat.population("poisson")
    rows, ids = [], []
    for inp in net.inputs:
        if inp.events_only:
            r, i = inp.events(step0, T)
            rows.append(r)
            ids.append(i + inp.group.start)
    rows = np.concatenate(rows)
    ids = np.concatenate(ids)
    order = np.lexsort((ids, rows))
    pop.ev_ptr[0] = 0
    np.cumsum(np.bincount(rows, minlength=T), out=pop.ev_ptr[1:T + 1])
    pop.ev_id[:ids.size] = ids[order]
    pop.row[0] = 0


def run_flat(net, n_steps: int, progress: bool):
    """Run ``n_steps`` steps in chunks of at most ``DRIVE_CHUNK_ELEMS`` drive values; each chunk's
    random drive is drawn before the kernel runs it (with ``PREFETCH_DRIVE``: in a helper thread
    while the GIL-free kernel runs the previous chunk). Each kernel call covers about
    ``CALL_SECONDS`` of wall time (its step count adapts to the measured speed), so Ctrl-C stops
    a long run promptly. The numbers do not depend on chunking."""
    from concurrent.futures import ThreadPoolExecutor

    from tqdm import tqdm

    flat = net._flat
    N = flat.n_neurons
    F = net.dtype
    every = flat.buffers.rec_every
    has_drive = any(not inp.events_only for inp in net.inputs)
    has_events = any(inp.events_only for inp in net.inputs)
    chunk = n_steps
    if has_drive:
        chunk = max(1, min(chunk, DRIVE_CHUNK_ELEMS // max(N, 1), -(-n_steps // (8 if PREFETCH_DRIVE else 1))))
    if has_events:  # the event lists hold one chunk
        chunk = min(chunk, flat.population("poisson").ev_ptr.shape[0] - 1)
    if progress:
        chunk = max(1, min(chunk, -(-n_steps // 20)))
    if has_drive:  # every column of a chunk is written by _draw_drive before the kernel reads it
        drives = [np.empty((chunk, N), dtype=F) for _ in range(2 if PREFETCH_DRIVE else 1)]
    else:  # read with weight 0 by the Izhikevich update: must be finite
        drives = [np.zeros((1, N), dtype=F)]
    cap = max(4 * N, 4096)
    out = NetworkOutputs(spike_step=np.empty(cap, dtype=np.int64), spike_id=np.empty(cap, dtype=np.int32),
                         samples=np.empty((chunk // every + 2, flat.n_samples), dtype=F))

    def call(step0, n, d):
        return network_integrate(step0, n, flat.populations, flat.projections, flat.buffers, d, has_drive, out)

    if not net._compiled:  # first call: JIT compile (or load from cache) outside the timed loop
        t0 = time.perf_counter()
        call(net.step, 0, drives[0])
        net.timing["compile_wall_s"] = time.perf_counter() - t0
        net._compiled = True

    spike_mons = [m for m in net.monitors.values() if isinstance(m, (SpikeMonitor, RateMonitor))]
    state_mons = [m for m in net.monitors.values() if isinstance(m, StateMonitor)]
    # monitors that sample between kernel calls (the weight monitor): calls end at their sampling steps
    step_mons = [m for m in net.monitors.values() if hasattr(m, "next_sample_step")]
    for m in step_mons:
        m.sample(net.step, net.dt)
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
        if has_events:
            _draw_events(net, flat, net.step, min(chunk, n_steps))
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
                n = min(T - k, per_call, *(m.next_sample_step(step0 + 1) - step0 for m in step_mons))
                d = drive[k:k + n] if has_drive else drive
                tc = time.perf_counter()
                steps_done, n_out, n_rec = call(step0, n, d)
                took = time.perf_counter() - tc
                if steps_done == n:  # (a call cut short by full buffers says nothing about speed)
                    per_call = max(1, min(8 * per_call, int(n * CALL_SECONDS / max(took, 1e-6))))
                if n_out:
                    for m in spike_mons:
                        m._append(out.spike_step[:n_out], out.spike_id[:n_out], net.dt)
                if n_rec:
                    first = -(-step0 // every) * every
                    steps = np.arange(first, step0 + steps_done, every)[:n_rec]
                    for m in state_mons:
                        m._append(steps, out.samples[:n_rec], net.dt)
                net.step += steps_done
                k += steps_done
                for m in step_mons:
                    m.sample(net.step, net.dt)
            if pending is not None:
                pending.result()
                pending = None
            elif has_drive and c + 1 < len(starts):  # no helper thread: draw the next chunk now
                _draw_drive(net, flat, drives[(c + 1) % len(drives)], net.step, min(chunk, n_steps - starts[c + 1]))
            if has_events and c + 1 < len(starts):  # the kernel has read this chunk's event lists
                _draw_events(net, flat, net.step, min(chunk, n_steps - starts[c + 1]))
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
    for g in net.groups.values():
        model = model_of(g)
        pop = flat.population(g.model)
        lo = g.start - pop.start
        bad = sum(int(np.count_nonzero(~np.isfinite(getattr(pop, f)[..., lo:lo + g.n]))) for f in model.finite)
        if bad:
            raise ValueError(
                f"the simulation diverged: {bad} state value(s) of group {g.name!r} overflowed to NaN/inf by "
                f"t = {net.t_ms:g} ms; the drive is too large for the model or dt={net.dt:g} ms too coarse: check "
                "dt, i_ext and v0 of the groups, synaptic weight values, the input rate_hz / weight, noise std / mean "
                "and timed input values")
