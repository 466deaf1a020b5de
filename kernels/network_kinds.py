"""The kinds of parts the network loop (``neurosim.kernels.network``) is made of, and their dispatch.

A network is a tuple of *populations* (one per neuron model, all groups of that model) and a
tuple of *projections* (one per synapse kind). Each part is a ``NamedTuple`` of arrays and
scalars (its layout) whose class is registered here with the ``@njit`` functions the loop calls
on it. ``network_integrate`` calls :func:`step_populations`, :func:`deliver_projections` ...
on the whole tuples; Numba unrolls each of them at compile time into one static call per part,
to the function registered for the part's class. So the loop never names a model: adding a
neuron model or a synapse kind means writing its kernel module (layout class, one-step passes,
:func:`register_population` / :func:`register_projection`) and its ``neurosim.sim`` record; the
loop, the flat layout and the drive code stay as they are.

Shared conventions
------------------
Input channels (``N_CHANNELS`` rows of the ring buffer ``[D, N_CHANNELS, N]``, indexed by
global neuron id): ``CH_EXC`` 0 (excitatory input: a LIF current, an Izhikevich current for
one step), ``CH_INH`` 1 (inhibitory input), ``CH_V`` 2 (a jump of ``v``).

Group table (int64 ``[G, GROUP_COLUMNS]``, one row per neuron group of a population, global
ids): ``GROUP_LO``, ``GROUP_HI`` (ids ``[lo, hi)``), ``GROUP_HET`` (1 when the group's
coefficients differ between neurons: the passes read arrays, else the scalar at ``lo``),
``GROUP_CHANNEL`` (the channel its drive goes to), ``GROUP_MODE`` (a model-specific code, e.g.
the LIF reset).

The registered functions (every population layout has a field ``start``, its first global id;
all are compiled with :data:`NJIT_LOOP`)::

    step(pop, buf, x, has_drive, direct, s, one, spk, cnt) -> cnt
        integrate one step: read the inbox ``buf`` [N_CHANNELS, N] (this step's ring slot; clear
        what it reads) and the drive row ``x`` [N] (when ``has_drive``), append the global ids
        of spiking neurons to ``spk`` from position ``cnt``; returns the new count.
        ``direct`` (see ``network_integrate``), ``s`` int32 step within the call, ``one`` 1 in
        the state dtype.
    record(pop, row, s)        write the population's sampled values into ``row``
    end_call(pop, steps_done)  leave the state as it must be kept between calls
    deliver(proj, spk, n_spk, m, ring, direct, direct_rows)
        add the synapses of the spiking neurons ``spk[:n_spk]`` of step ``m - 1`` to the ring
        (or, with ``direct``, channels 0 and 1 straight into ``direct_rows`` [2, N])
    after_spikes(proj, spk, cnt, m)   plasticity, once step ``m``'s spikes are known

Numba only (numpy + numba + ``neurosim.config``).
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numba
import numpy as np
from numba import types
from numba.extending import overload

from neurosim.config import NJIT

__all__ = [
    "NJIT_LOOP", "N_CHANNELS", "CH_EXC", "CH_INH", "CH_V", "REC_IDX", "REC_VAR", "REC_COL", "GROUP_COLUMNS",
    "GROUP_LO", "GROUP_HI", "GROUP_HET", "GROUP_CHANNEL", "GROUP_MODE", "PopulationKernels", "ProjectionKernels",
    "POPULATIONS", "PROJECTIONS", "register_population", "register_projection", "step_populations",
    "record_populations", "end_call_populations", "deliver_projections", "after_spikes_projections", "get",
    "EmptyPopulation", "EmptyProjection",
]

#: flags of the network loop and of every kernel it calls per step: ``NJIT`` without Numba's
#: reference counting (NRT, option ``_nrt``). These kernels allocate nothing, and every array
#: they touch belongs to the caller of ``network_integrate`` for the whole call; with NRT, every
#: binding of a layout's arrays costs an atomic increment and decrement (about 1 us per step in
#: all, more than a step of a small network). Code that allocates does not compile with these
#: flags (Numba raises at compile time), so the omission cannot leak or free memory early.
NJIT_LOOP = {**NJIT, "_nrt": False}

#: input channels: rows of the ring buffer
N_CHANNELS = 3
CH_EXC, CH_INH, CH_V = 0, 1, 2
#: rows of a population's sample table ``rec`` (int64 [3, R])
REC_IDX, REC_VAR, REC_COL = range(3)
#: columns of a population's group table
GROUP_COLUMNS = 5
GROUP_LO, GROUP_HI, GROUP_HET, GROUP_CHANNEL, GROUP_MODE = range(GROUP_COLUMNS)


class PopulationKernels(NamedTuple):
    """The ``@njit`` functions of one neuron model in the network loop (signatures above)."""

    step: Callable
    record: Callable
    end_call: Callable


class ProjectionKernels(NamedTuple):
    """The ``@njit`` functions of one synapse kind in the network loop (signatures above)."""

    deliver: Callable
    after_spikes: Callable


#: population layout class -> its kernels (filled by the model modules at import)
POPULATIONS: dict[type, PopulationKernels] = {}
#: projection layout class -> its kernels (filled by the synapse modules at import)
PROJECTIONS: dict[type, ProjectionKernels] = {}


def register_population(layout: type, *, step, record, end_call) -> None:
    """Make ``layout`` (a ``NamedTuple`` class with a ``start`` field) a population kind."""
    POPULATIONS[layout] = PopulationKernels(step, record, end_call)


def register_projection(layout: type, *, deliver, after_spikes) -> None:
    """Make ``layout`` (a ``NamedTuple`` class) a projection (synapse) kind."""
    PROJECTIONS[layout] = ProjectionKernels(deliver, after_spikes)


def _kernels(table, typ, what):
    cls = getattr(typ, "instance_class", None)
    if cls not in table:
        raise TypeError(f"{typ} is not a registered {what} layout; registered: "
                        f"{', '.join(c.__name__ for c in table)}")
    return table[cls]


# Loops over the parts, unrolled at compile time: each function below calls the registered
# function of the tuple's first part, then itself on the rest of the tuple (a shorter tuple type,
# so another compiled function; the empty tuple ends it). The Python bodies run under
# NUMBA_DISABLE_JIT. (``numba.literal_unroll`` would keep the loop variable in a stack slot
# allocated inside the time loop: the stack grew by a layout per step and overflowed after a few
# thousand steps.)
def step_populations(pops, buf, x, has_drive, direct, s, one, spk, cnt):
    """The registered ``step`` of every population in turn; returns the spike count."""
    for pop in pops:
        cnt = POPULATIONS[type(pop)].step(pop, buf, x, has_drive, direct, s, one, spk, cnt)
    return cnt


def record_populations(pops, row, s):
    """The registered ``record`` of every population."""
    for pop in pops:
        POPULATIONS[type(pop)].record(pop, row, s)


def end_call_populations(pops, steps_done):
    """The registered ``end_call`` of every population."""
    for pop in pops:
        POPULATIONS[type(pop)].end_call(pop, steps_done)


def deliver_projections(projs, spk, n_spk, m, ring, direct, direct_rows):
    """The registered ``deliver`` of every projection."""
    for proj in projs:
        PROJECTIONS[type(proj)].deliver(proj, spk, n_spk, m, ring, direct, direct_rows)


def after_spikes_projections(projs, spk, cnt, m):
    """The registered ``after_spikes`` of every projection."""
    for proj in projs:
        PROJECTIONS[type(proj)].after_spikes(proj, spk, cnt, m)


def _first(table, tup, what):
    return _kernels(table, tup.types[0], what)


@overload(step_populations, jit_options=NJIT_LOOP)
def _step_populations(pops, buf, x, has_drive, direct, s, one, spk, cnt):
    if len(pops.types) == 0:
        return lambda pops, buf, x, has_drive, direct, s, one, spk, cnt: cnt
    fn = _first(POPULATIONS, pops, "population").step

    def impl(pops, buf, x, has_drive, direct, s, one, spk, cnt):
        cnt = fn(pops[0], buf, x, has_drive, direct, s, one, spk, cnt)
        return step_populations(pops[1:], buf, x, has_drive, direct, s, one, spk, cnt)
    return impl


@overload(record_populations, jit_options=NJIT_LOOP)
def _record_populations(pops, row, s):
    if len(pops.types) == 0:
        return lambda pops, row, s: None
    fn = _first(POPULATIONS, pops, "population").record

    def impl(pops, row, s):
        fn(pops[0], row, s)
        record_populations(pops[1:], row, s)
    return impl


@overload(end_call_populations, jit_options=NJIT_LOOP)
def _end_call_populations(pops, steps_done):
    if len(pops.types) == 0:
        return lambda pops, steps_done: None
    fn = _first(POPULATIONS, pops, "population").end_call

    def impl(pops, steps_done):
        fn(pops[0], steps_done)
        end_call_populations(pops[1:], steps_done)
    return impl


@overload(deliver_projections, jit_options=NJIT_LOOP)
def _deliver_projections(projs, spk, n_spk, m, ring, direct, direct_rows):
    if len(projs.types) == 0:
        return lambda projs, spk, n_spk, m, ring, direct, direct_rows: None
    fn = _first(PROJECTIONS, projs, "projection").deliver

    def impl(projs, spk, n_spk, m, ring, direct, direct_rows):
        fn(projs[0], spk, n_spk, m, ring, direct, direct_rows)
        deliver_projections(projs[1:], spk, n_spk, m, ring, direct, direct_rows)
    return impl


@overload(after_spikes_projections, jit_options=NJIT_LOOP)
def _after_spikes_projections(projs, spk, cnt, m):
    if len(projs.types) == 0:
        return lambda projs, spk, cnt, m: None
    fn = _first(PROJECTIONS, projs, "projection").after_spikes

    def impl(projs, spk, cnt, m):
        fn(projs[0], spk, cnt, m)
        after_spikes_projections(projs[1:], spk, cnt, m)
    return impl


def get(x, i):
    """``x[i]`` for an array, ``x`` for a scalar (a coefficient of a heterogeneous or homogeneous group;
    specialised at compile time under Numba)."""
    return x[i] if np.ndim(x) else x


@overload(get)
def _get(x, i):
    if isinstance(x, types.Array):
        return lambda x, i: x[i]
    return lambda x, i: x


def any_crossing(v, th, lo, hi, strict):
    """Whether some ``v[i] >= th[i]`` (``v[i] > th[i]`` with ``strict``) for ``lo <= i < hi``; ``th``
    a scalar or an array over the same indices.

    The test runs over slices indexed from 0: indexed ``v[i]`` from ``range(lo, hi)``, LLVM cannot
    prove ``i >= 0`` and keeps Numba's negative-index wraparound, which turns the vector loads into
    gathers (``vgatherqps``: a third of CUBA's step on Zen 4).
    """
    vb = v[lo:hi]
    tb = th[lo:hi] if np.ndim(th) else np.full(vb.shape, th)
    return bool(np.any(vb > tb)) if strict else bool(np.any(vb >= tb))


@overload(any_crossing)
def _any_crossing(v, th, lo, hi, strict):
    if isinstance(th, types.Array):
        def impl(v, th, lo, hi, strict):
            vb = v[lo:hi]
            tb = th[lo:hi]
            hit = False
            if strict:
                for i in range(vb.shape[0]):
                    hit |= vb[i] > tb[i]
            else:
                for i in range(vb.shape[0]):
                    hit |= vb[i] >= tb[i]
            return hit
        return impl

    def impl_scalar(v, th, lo, hi, strict):
        vb = v[lo:hi]
        hit = False
        if strict:
            for i in range(vb.shape[0]):
                hit |= vb[i] > th
        else:
            for i in range(vb.shape[0]):
                hit |= vb[i] >= th
        return hit
    return impl_scalar


class EmptyPopulation(NamedTuple):
    """A model without groups in this network (``NeuronModel.skip_empty``): its kernels do nothing,
    so a network compiles no code of a model it does not use."""

    start: int
    groups: np.ndarray
    rec: np.ndarray


def _empty_step(p, buf, x, has_drive, direct, s, one, spk, cnt):
    return cnt


def _empty_record(p, row, s):
    pass


def _empty_end_call(p, steps_done):
    pass


register_population(EmptyPopulation, step=numba.njit(**NJIT_LOOP)(_empty_step),
                    record=numba.njit(**NJIT_LOOP)(_empty_record), end_call=numba.njit(**NJIT_LOOP)(_empty_end_call))


class EmptyProjection(NamedTuple):
    """A synapse kind without groups in this network (every kind but the static one): its kernels do
    nothing, so a network compiles no code of a synapse kind it does not use. ``delay_const`` 0: it
    never stands in the way of direct delivery."""

    delay_const: int


def _empty_deliver(proj, spk, n_spk, m, ring, direct, direct_rows):
    pass


def _empty_after_spikes(proj, spk, cnt, m):
    pass


register_projection(EmptyProjection, deliver=numba.njit(**NJIT_LOOP)(_empty_deliver),
                    after_spikes=numba.njit(**NJIT_LOOP)(_empty_after_spikes))
