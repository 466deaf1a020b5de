"""Fused LIF on GPUs: Triton forward and backward kernels, chosen by the layers' ``backend``.

:func:`neurosim.snn.fused.dispatch`, the one backend choice of the layers, comes here for
``backend="triton"`` and for ``"auto"`` with a CUDA tensor. ``backend="auto"`` (the default of
:class:`~neurosim.snn.LIF`, :class:`~neurosim.snn.ParametricLIF`, :class:`~neurosim.snn.IF`,
:class:`~neurosim.snn.LIFAvgPool` and their layers) runs CUDA tensors here when triton imports
and :func:`why_not` finds no reason against it (else the torch step loop; without triton, with a
one-time warning that says how to install it); ``backend="triton"`` forces it, and a reason is
an error. CPU tensors keep the Numba path (:mod:`neurosim.snn.fused`) under ``"auto"``; with
``backend="triton"`` they run in Triton's interpreter when ``TRITON_INTERPRET=1`` was set
before triton was imported: the way to check the kernels without a GPU
(``tests/test_snn_triton.py``).

The options of the Numba path (:class:`~neurosim.snn.fused_config.FusedOptions`: blocks,
threads, stored membranes) do not apply here: the kernels always store the float32 membranes
for the backward.

Kernels: :mod:`neurosim.snn.triton.kernels`; autograd and launches:
:mod:`neurosim.snn.triton.autograd`. Both import triton, and are imported only by a call that
needs them: ``import neurosim.snn`` works without triton.
"""
from __future__ import annotations

import functools
import warnings

import torch

from neurosim.snn.functional.lif import LIFSpec

__all__ = ["available", "interpreted", "why_not", "ready", "run", "DTYPES", "INSTALL"]

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
    from neurosim.snn.fused import why_not_spec

    if x.dtype not in DTYPES:
        return f"dtype {x.dtype} is not float32/bfloat16/float16"
    reason = why_not_spec(x, spec, k)
    if reason:
        return reason
    device, interp = x.device.type, interpreted()
    if device == "cpu" and not interp:
        return ("x is a CPU tensor, which the Triton kernels take only in Triton's interpreter: set "
                "TRITON_INTERPRET=1 before Python imports triton (or use backend='auto' on CPU)")
    if device == "cuda" and interp:
        return ("TRITON_INTERPRET=1 was set when the kernels were imported: they run in Triton's interpreter, on "
                "CPU tensors only; unset it for CUDA tensors")
    if device not in ("cpu", "cuda"):
        return f"device {x.device} is neither a CUDA device nor the CPU"
    return ""


def _unavailable(backend: str) -> None:
    if backend == "triton":
        raise ValueError(f"backend='triton' needs the triton package, which is not installed: {INSTALL}; "
                         "or use backend='auto' (the torch loop on CUDA)")
    if not _WARNED:
        _WARNED.append(True)
        warnings.warn(f"triton is not installed: the LIF layers run CUDA tensors with the slow torch step loop. "
                      f"For the fused GPU kernels: {INSTALL}", RuntimeWarning, stacklevel=4)


def ready(x: torch.Tensor, k: torch.Tensor | None, backend: str) -> bool:
    """Whether :func:`neurosim.snn.fused.dispatch` may go on with the Triton kernels for a call
    with ``backend`` ``"triton"`` (or ``"auto"`` on a CUDA tensor): ``False`` (the caller runs
    its torch step loop) when triton is not installed and ``backend="auto"``, after a one-time
    warning; errors for what no backend can run (a learnable tau on another device than ``x``)
    and, with ``backend="triton"``, for a missing triton (``ValueError``) or an unsupported
    dtype (``TypeError``)."""
    if k is not None and k.device != x.device:
        raise ValueError(f"the learnable tau is on {k.device} but x is on {x.device}: move the layer to the input's "
                         "device (layer.to(x.device))")
    if not available():
        _unavailable(backend)
        return False
    if backend == "triton" and x.dtype not in DTYPES:
        raise TypeError(f"x has dtype {x.dtype}; backend='triton' takes float32, bfloat16 or float16: convert with "
                        "x.float(), or use backend='auto'")
    return True


def run(x: torch.Tensor, v0: torch.Tensor | None, spec: LIFSpec, k: torch.Tensor | None = None,
        pool: bool = False, steps: int | None = None):
    """:func:`neurosim.snn.triton.autograd.run` (imports triton)."""
    from neurosim.snn.triton.autograd import run as run_kernels

    return run_kernels(x, v0, spec, k, pool, steps)
