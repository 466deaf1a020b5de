"""Fused LIF on GPUs: Triton forward and backward kernels, chosen by the layers' ``backend``.

``backend="auto"`` (the default of :class:`~neurosim.snn.LIF`, :class:`~neurosim.snn.ParametricLIF`,
:class:`~neurosim.snn.IF`, :class:`~neurosim.snn.LIFAvgPool` and their layers) runs CUDA
tensors here when triton imports and :func:`why_not` finds no reason against it (else the torch
step loop; without triton, with a one-time warning that says how to install it);
``backend="triton"`` forces it, and a reason is an error. CPU tensors keep the Numba path
(:mod:`neurosim.snn.fused`) under ``"auto"``; with ``backend="triton"`` they run in Triton's
interpreter when ``TRITON_INTERPRET=1`` was set before triton was imported: the way to check the
kernels without a GPU (``tests/test_snn_triton.py``).

Kernels: :mod:`neurosim.snn.triton.kernels`; autograd and launches:
:mod:`neurosim.snn.triton.autograd`. Both import triton, and are imported only by a call that
needs them: ``import neurosim.snn`` works without triton.
"""
from __future__ import annotations

import functools
import warnings

import torch

from neurosim.snn.functional.lif import LIFSpec, LIFState, _check_state

__all__ = ["available", "interpreted", "why_not", "dispatch", "DTYPES", "INSTALL"]

#: input dtypes of the kernels (the state inside is float32)
DTYPES = (torch.float32, torch.bfloat16, torch.float16)
INSTALL = "pip install -e \".[gpu]\" (or pip install \"triton>=3.0\")"

_WARNED: list = []  # the one-time warning for CUDA tensors without triton was given


@functools.lru_cache(maxsize=1)
def available() -> bool:
    """Whether triton imports."""
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def interpreted() -> bool:
    """Whether the kernels run in Triton's interpreter (on CPU tensors): ``TRITON_INTERPRET=1``
    was set when they were first imported (imports them; triton must be available)."""
    from neurosim.snn.triton import kernels

    return kernels.interpreted()


def why_not(x: torch.Tensor, spec: LIFSpec, k: torch.Tensor | None = None) -> str:
    """Why the Triton kernels cannot run this call ("" when they can; triton is available)."""
    if x.dtype not in DTYPES:
        return f"dtype {x.dtype} is not float32/bfloat16/float16"
    if spec.surrogate.kernel_id < 0:
        return f"surrogate {spec.surrogate!r} has no kernel form"
    if k is not None and spec.form == "snntorch":
        return "learnable tau with form='snntorch' (use the torch backend)"
    if x.ndim < 2 or x.shape[0] == 0:
        return "x is not a [T, B, ...] sequence"
    if x.device.type == "cpu":
        if not interpreted():
            return ("x is a CPU tensor, which the Triton kernels take only in Triton's interpreter: set "
                    "TRITON_INTERPRET=1 before Python imports triton (or use backend='auto' on CPU)")
    elif x.device.type != "cuda" or interpreted():
        return f"device {x.device} is not a CUDA device (with TRITON_INTERPRET=1: the CPU)"
    return ""


def _unavailable(backend: str) -> None:
    if backend == "triton":
        raise ValueError(f"backend='triton' needs the triton package, which is not installed: {INSTALL}; "
                         "or use backend='auto' (the torch loop on CUDA)")
    if not _WARNED:
        _WARNED.append(True)
        warnings.warn(f"triton is not installed: the LIF layers run CUDA tensors with the slow torch step loop. "
                      f"For the fused GPU kernels: {INSTALL}", RuntimeWarning, stacklevel=4)


def dispatch(x: torch.Tensor, state, spec: LIFSpec, backend: str, k: torch.Tensor | None = None,
             pool: bool = False, steps: int | None = None):
    """:func:`neurosim.snn.fused.dispatch` for ``backend="triton"`` and for ``"auto"`` with a
    tensor not on the CPU: ``(out, LIFState)`` from the Triton kernels, or ``None`` when the
    caller runs its torch step loop (``"auto"`` only; for ``"triton"`` a reason raises
    ``ValueError``, an unsupported dtype ``TypeError``). Same arguments."""
    from neurosim.snn.fused import why_not_pool

    xs = x if steps is None else x.unsqueeze(0)
    v0 = None if state is None else _check_state(state, xs[0], spec).v
    if k is not None and k.device != x.device:
        raise ValueError(f"the learnable tau is on {k.device} but x is on {x.device}: move the layer to the input's "
                         "device (layer.to(x.device))")
    if not available():
        return _unavailable(backend)
    if backend == "triton" and x.dtype not in DTYPES:
        raise TypeError(f"x has dtype {x.dtype}; backend='triton' takes float32, bfloat16 or float16: convert with "
                        "x.float(), or use backend='auto'")
    reason = why_not(xs, spec, k) or (why_not_pool(xs) if pool else "")
    if reason:
        if backend == "triton":
            raise ValueError(f"the Triton kernels do not support this input/spec ({reason}); use backend='auto' "
                             "or 'torch'")
        return None
    from neurosim.snn.triton.autograd import run

    out, v = run(x, v0, spec, k, pool, steps)
    return out, LIFState(v)
