"""Options of the fused CPU LIF path (:mod:`neurosim.snn.fused`): one frozen object instead of module switches.

>>> from neurosim.snn.fused import fused_options
>>> with fused_options(store_membrane=False):      # doctest: +SKIP
...     spikes, state = lif(x)                      # recomputes the membranes in the backward

The defaults are the measured choices (``benchmarks/results_lif.md``); the options exist for
tests (small blocks so that a few dozen neurons span several, every path forced) and
experiments. A call reads the current options once: a backward uses those of its forward.
:func:`fused_options` changes them for a ``with`` block (process-wide, not per thread: use it
around whole experiments, not inside threads that run networks concurrently);
:func:`set_fused_options` changes the process default.
"""
from __future__ import annotations

import contextlib
import dataclasses

from neurosim.config import OMP

__all__ = ["FusedOptions", "fused_options", "set_fused_options", "get_fused_options"]


@dataclasses.dataclass(frozen=True, slots=True)
class FusedOptions:
    """How the fused kernels run a call; results do not depend on them (bit for bit, except
    where a field says otherwise).

    Attributes
    ----------
    block : int
        Largest forward block, neurons (time loop inside, contiguous innermost loop); calls
        with fewer neurons per worker thread use one block per thread.
    backward_block : int or None
        Neurons per backward block when the membranes are recomputed; ``None``: at most 4096
        (long contiguous rows) with the ``[T, block]`` membranes within ~2 MiB (L2/L3).
    store_membrane : bool
        Keep the charged membranes of the forward for the backward (one extra ``[T, ...]``
        buffer) instead of recomputing them (less memory, more arithmetic).
    store_membrane_max_bytes : int
        Largest ``[T, ...]`` sequence (bytes) whose membranes are stored rather than recomputed.
    grad_over_membrane : bool
        The backward writes the input gradient over the stored membranes (a second backward
        through the same graph, ``retain_graph=True``, then recomputes them from the input).
    stream_membrane : bool
        The forward writes the stored membranes with streaming (non-temporal) stores: no
        write-allocate read of the ``[T, M]`` buffer, which the backward reads much later
        (after the rest of the network), and no cache space taken from the next layer's data.
    stream_min_bytes : int
        ... for stored membrane buffers of at least this many bytes: a smaller one stays in the
        last-level cache until the backward reads it (measured on the 2-core machine, 32 MiB
        L3: forward+backward 16 MiB buffer -0.15 to -0.4 ms; 6.5 and 2 MiB buffers +0.05 /
        +0.07 ms).
    parallel_min_steps : int
        Sequences of fewer neuron-steps (``T * B * neurons``) run on one thread: handing work to
        a second thread costs ~0.15 ms per kernel call on the 2-core machine (T4 B32 N512
        forward + backward: 0.32 ms on one thread, 0.63 ms on two; T4 B64 N2048: 0.76 vs 0.97
        ms; T20 B64 N800, 1.0e6 steps: 1.33 vs 1.07 ms).
    torch_threads : bool
        Run multi-threaded calls as OpenMP regions of PyTorch's ``libgomp`` when PyTorch uses
        GNU OpenMP (``neurosim.kernels.omp``), else on neurosim's thread pool. Default from
        ``NEUROSIM_OMP`` (1).
    """

    block: int = 16384
    backward_block: int | None = None
    store_membrane: bool = True
    store_membrane_max_bytes: int = 256 << 20
    grad_over_membrane: bool = True
    stream_membrane: bool = True
    stream_min_bytes: int = 12 << 20
    parallel_min_steps: int = 3 << 18
    torch_threads: bool = OMP

    def __post_init__(self):
        for name in ("block", "backward_block"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(f"FusedOptions.{name} must be a positive int (neurons), got {value!r}")
        for name in ("store_membrane_max_bytes", "stream_min_bytes", "parallel_min_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"FusedOptions.{name} must be an int >= 0, got {value!r}")
        for name in ("store_membrane", "grad_over_membrane", "stream_membrane", "torch_threads"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"FusedOptions.{name} must be True or False, got {getattr(self, name)!r}")

    def replace(self, **changes) -> "FusedOptions":
        """A copy with ``changes`` (``TypeError`` names an unknown field)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise TypeError(f"unknown fused option(s) {', '.join(sorted(unknown))}; valid: "
                            f"{', '.join(f.name for f in dataclasses.fields(self))}")
        return dataclasses.replace(self, **changes)


#: the options calls read now (replaced, never mutated: a frozen object per setting)
_current = FusedOptions()


def get_fused_options() -> FusedOptions:
    """The options calls use now."""
    return _current


def set_fused_options(options: FusedOptions | None = None, **changes) -> FusedOptions:
    """Make ``options`` (default: the current ones), with ``changes``, the process default;
    returns the previous options."""
    global _current
    previous = _current
    new = previous if options is None else options
    if not isinstance(new, FusedOptions):
        raise TypeError(f"options must be a FusedOptions, got {type(new).__name__}")
    _current = new.replace(**changes) if changes else new
    return previous


@contextlib.contextmanager
def fused_options(**changes):
    """``with fused_options(store_membrane=False, block=64): ...``: the current options with
    ``changes`` inside the block (yields them), the previous ones after it."""
    previous = set_fused_options(**changes)
    try:
        yield _current
    finally:
        set_fused_options(previous)
