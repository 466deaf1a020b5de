"""The synapse kinds of the simulator: how the synapse groups of one kind become a kernel projection.

:data:`SYNAPSE_KINDS` maps ``SynapseGroup.kind`` to the function that packs all groups of that
kind into one projection layout (a ``NamedTuple`` registered in
``neurosim.kernels.network_kinds``). Today every synapse is ``"static"`` (fixed weight, current
or voltage-jump target, integer delay): :func:`static_projection` builds one CSR over all of
them. Adding a kind (plastic weights, short-term plasticity ...): its kernel module (layout,
``deliver`` / ``after_spikes``, registration), a builder here and its entry in
:data:`SYNAPSE_KINDS`, the option of ``Network.connect`` that selects it, and tests.
"""
from __future__ import annotations

import numpy as np

from neurosim.kernels.network_kinds import N_CHANNELS
from neurosim.kernels.synapse import (
    ROW_UNIFORM, StaticSynapses, csr_contiguous_rows, csr_order, csr_uniform_rows,
)
from neurosim.sim.stp import stp_projection

__all__ = ["static_projection", "SYNAPSE_KINDS"]


def static_projection(synapses, offsets: dict, n_neurons: int, dtype, *, uint16_max_n: int):
    """One :class:`StaticSynapses` CSR over ``synapses`` (keys ``N_CHANNELS pre + channel``) and its
    longest delay in steps.

    Rows keep each group's synapses in their order, groups in creation order (a stable sort),
    so the network adds the inputs of one spike in a documented order. Targets are uint16 when
    ``n_neurons <= uint16_max_n`` (the scatter then streams half the bytes), else int32. A
    uniform delay (one value for every synapse) is kept as ``delay_const`` without per-synapse
    delays.
    """
    N = n_neurons
    n_syn = sum(sg.n_synapses for sg in synapses)
    if N_CHANNELS * N >= 2 ** 31 or n_syn >= 2 ** 31:
        raise ValueError(f"network too large for 32-bit synapse indexing ({N} neurons, {n_syn} synapses)")
    keys = np.empty(n_syn, dtype=np.int32)
    post = np.empty(n_syn, dtype=np.int32)
    w = np.empty(n_syn, dtype=dtype)
    uniform_delays = {sg.delay_steps for sg in synapses if np.ndim(sg.delay_steps) == 0}
    per_syn_delays = any(np.ndim(sg.delay_steps) for sg in synapses) or len(uniform_delays) > 1
    dsteps = np.empty(n_syn if per_syn_delays else 0, dtype=np.int32)
    q = 0
    for sg in synapses:
        n = sg.n_synapses
        keys[q:q + n] = sg.pre
        keys[q:q + n] += offsets[sg.pre_group.name]
        keys[q:q + n] *= N_CHANNELS
        keys[q:q + n] += sg.channel
        post[q:q + n] = sg.post
        post[q:q + n] += offsets[sg.post_group.name]
        w[q:q + n] = sg.weight
        if per_syn_delays:
            dsteps[q:q + n] = sg.delay_steps
        q += n
    indptr = np.empty(N_CHANNELS * N + 1, dtype=np.int64)
    order = np.empty(n_syn, dtype=np.int32)
    csr_order(keys, indptr, order)
    del keys
    indices = post[order].astype(np.uint16) if N <= uint16_max_n else post[order]
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
    contig = np.zeros(N_CHANNELS * N, dtype=np.uint8)
    csr_contiguous_rows(indptr, indices, contig)
    csr_uniform_rows(indptr, weights, contig)
    wrow = np.zeros(N_CHANNELS * N, dtype=dtype)
    uni = np.flatnonzero(contig & ROW_UNIFORM)
    wrow[uni] = weights[indptr[uni]]
    proj = StaticSynapses(indptr=indptr, indices=indices, weights=weights, delays=delays, delay_const=delay_const,
                          contig=contig, wrow=wrow)
    return proj, dmax


#: ``SynapseGroup.kind`` -> builder ``(groups, offsets, n_neurons, dtype, **options) -> (layout, max delay steps)``
SYNAPSE_KINDS = {"static": static_projection, "stp": stp_projection}
