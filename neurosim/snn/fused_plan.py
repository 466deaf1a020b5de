"""Kernel configuration of a fused LIF call: the ``P``/``F`` arrays, block sizes, threads, kept per layer.

:func:`kernel_arrays` maps a :class:`~neurosim.snn.functional.lif.LIFSpec` to the kernels'
parameter layout (packed by :func:`neurosim.kernels.bptt_layout.pack`). :func:`plan` adds the
block sizes and scratch of one call and the threads it runs on, and keeps the result for the
next call of the same layer: with cold caches (the state a layer meets in a network, after
other layers ran) configuring costs ~0.1 ms, against ~4.5 ms of kernels per forward + backward
of the T32 B64 N2048 benchmark case. Plans are keyed on the spec object, the options object
(:class:`~neurosim.snn.fused_config.FusedOptions`) and the shape; both objects are frozen, and
a plan is used only while they are the very objects it was made for.

Threads: :func:`torch_team` is the OpenMP team of PyTorch's ``libgomp`` (made on first use,
never at import); plans carry it when ``FusedOptions.torch_threads`` is on, and
:func:`neurosim.kernels.blocks.run_blocks` then runs the kernels as regions of it.
"""
from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np
import torch

from neurosim.kernels.bptt_layout import (F_BWD_BLOCK, FORM_NORSE, FORM_PARAMETRIC, FORMS, RESET_CODES,
                                          STREAM_ALIGN, pack)
from neurosim.snn.functional.lif import LIFSpec
from neurosim.kernels.blocks import n_workers
from neurosim.kernels.bptt import forward_work, n_blocks
from neurosim.snn.buffers import NP_DTYPES
from neurosim.snn.fused_config import FusedOptions, get_fused_options

__all__ = ["Plan", "plan", "kernel_arrays", "forward_block", "backward_block", "recompute_block", "stream_ok",
           "torch_openmp_library", "torch_team"]

def torch_openmp_library() -> str | None:
    """Path of the GNU OpenMP library PyTorch runs its CPU operators on (``None`` when PyTorch
    was built without OpenMP or uses another runtime)."""
    import glob

    if not torch._C.has_openmp:
        return None
    found = sorted(glob.glob(os.path.join(os.path.dirname(torch.__file__), "lib", "libgomp*.so*")))
    return found[0] if found else None


_TEAM: list = []


def torch_team():
    """The :class:`neurosim.kernels.omp.Team` of PyTorch's OpenMP library (one per process,
    made on first use; not :meth:`~neurosim.kernels.omp.Team.available` without one)."""
    if not _TEAM:
        from neurosim.kernels.omp import Team

        _TEAM.append(Team(torch_openmp_library()))
    return _TEAM[0]


def forward_block(M: int, align: int, threads: int, options: FusedOptions) -> int:
    """Neurons per forward block: ``M`` split over ``threads``, a multiple of ``align`` (``2 W``
    with pooling: whole pairs of image rows), at most ``options.block`` (rounded down to
    ``align``, at least one ``align``)."""
    per = -(-M // threads)
    cap = max(align, options.block // align * align)
    return max(1, min(cap, -(-per // align) * align))


def backward_block(T: int, itemsize: int) -> int:
    """Neurons per backward block when the membranes are recomputed: at most 4096 (long
    contiguous rows), with the ``[T, block]`` membranes within ~2 MiB (L2/L3)."""
    block = 4096
    while block > 256 and T * block * itemsize > 2 * 1024 * 1024:
        block //= 2
    return block


def recompute_block(T: int, itemsize: int, block: int, pool_w: int, options: FusedOptions) -> int:
    """Backward block when the membranes are recomputed: at most the forward ``block`` and
    ``options.backward_block`` (default :func:`backward_block`); whole row pairs with pooling."""
    b = min(block, backward_block(T, itemsize) if options.backward_block is None else options.backward_block)
    if pool_w:
        b = max(2 * pool_w, b // (2 * pool_w) * 2 * pool_w)
    return b


def stream_ok(T: int, M: int, x2: torch.Tensor, options: FusedOptions) -> bool:
    """Streaming stores of the membranes: on (``options.stream_membrane``), a ``[T, M]`` buffer
    of at least ``options.stream_min_bytes`` and rows of ``M`` elements a whole number of
    ``STREAM_ALIGN`` bytes (the buffers themselves start on 64-byte lines)."""
    size = x2.element_size()
    return (options.stream_membrane and T * M * size >= options.stream_min_bytes
            and M % (STREAM_ALIGN // size) == 0)


def kernel_arrays(spec: LIFSpec, dtype, k: float | None = None, T: int = 1, block: int | None = None,
                  store: bool = False, pool_w: int = 0, stream: bool = False, options: FusedOptions | None = None):
    """The ``P`` (dtype) and ``F`` (int64) arrays that configure the kernels for ``spec``.

    ``k``: a learnable leak fraction (the parametric form); ``block``: forward block (default
    ``options.block``); ``store``: the backward reads stored membranes (else its block is
    :func:`recompute_block`); ``pool_w``: image width for the fused 2x2 average pooling, 0 for
    none; ``stream``: the forward writes the stored membranes with streaming stores (the caller
    checks the row length, :func:`stream_ok`); ``options``: default the current ones.
    """
    if options is None:
        options = get_fused_options()
    block = options.block if block is None else int(block)
    itemsize = np.dtype(dtype).itemsize
    if k is not None:
        form, leak = (FORM_NORSE if spec.form == "norse" else FORM_PARAMETRIC), k
    else:
        form = FORMS[spec.form]
        leak = spec.decay if spec.form == "snntorch" else spec.k
    sg = spec.surrogate
    return pack(dtype, form=form, tau=spec.tau, v_th=spec.v_th, v_reset=spec.v_reset, v_rest=spec.v_rest,
                leak=leak, surrogate=sg.kernel_id, surrogate_param=sg.kernel_param, decay_input=spec.decay_input,
                strict=spec.strict, reset=RESET_CODES[spec.reset], detach_reset=spec.detach_reset,
                reset_delay=spec.reset_delay, steps=T, block=block,
                bwd_block=block if store else recompute_block(T, itemsize, block, pool_w, options),
                pool_w=pool_w, stream=stream and store)


class Plan(NamedTuple):
    """The configuration of one call (the spec and options it was made for first)."""

    spec: LIFSpec
    options: FusedOptions
    P: np.ndarray
    F: np.ndarray
    nblocks: int  # forward blocks
    work: int  # forward scratch per thread
    bwd_block: int
    team: object  # the OpenMP team, or None: the thread pool


#: plans of recent calls
_PLANS: dict = {}
_PLANS_MAX = 128


def _configure(spec, options, x2, T, M, store, pool_w, threads, learnable) -> Plan:
    block = forward_block(M, 2 * pool_w if pool_w else 64, threads, options)
    P, F = kernel_arrays(spec, NP_DTYPES[x2.dtype], 1.0 if learnable else None, T=T, block=block, store=store,
                         pool_w=pool_w, stream=stream_ok(T, M, x2, options), options=options)
    team = torch_team() if options.torch_threads else None
    return Plan(spec, options, P, F, n_blocks(M, block), forward_work(F), int(F[F_BWD_BLOCK]), team)


def plan(spec: LIFSpec, options: FusedOptions, x2: torch.Tensor, T: int, M: int, store: bool, pool_w: int,
         threads: int | None, learnable: bool) -> Plan:
    """The :class:`Plan` of a call on ``x2`` ``[T or 1, M]`` (``threads``: 1, or ``None`` for
    every worker thread; ``learnable``: the leak is a learnable ``k``, whose value the caller
    writes into its own copy of ``P``, :func:`neurosim.kernels.bptt_layout.with_leak`). The
    key holds the ids of ``spec`` and ``options``; the plan holds the objects themselves, so no
    other object can take those ids while the entry exists."""
    nw = n_workers() if threads is None else threads
    key = (id(spec), id(options), x2.dtype, T, M, store, pool_w, nw, learnable)
    p = _PLANS.get(key)
    if p is None:
        p = _configure(spec, options, x2, T, M, store, pool_w, nw, learnable)
        if len(_PLANS) >= _PLANS_MAX:
            _PLANS.clear()
        _PLANS[key] = p
    return p
