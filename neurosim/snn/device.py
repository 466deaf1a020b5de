"""Where training runs: the device (``cpu``, ``cuda``, ``auto``) and mixed precision (AMP).

The command line's ``--device`` and ``--amp`` options (``neurosim train``, ``distill``,
``continual``, ``tsrsa``, ``demo``) and :class:`neurosim.distill.Trainer` resolve here:

* :func:`resolve_device`: ``"auto"`` is ``cuda`` (``cuda:LOCAL_RANK`` under torchrun) when
  ``torch.cuda.is_available()``, else ``cpu``; ``"cuda"`` without a CUDA device is a
  ``ValueError`` that says to use ``--device cpu``. A ``torch.device`` (including ``meta``, the
  shape-only device the tests run models on) is taken as it is.
* :class:`Precision`: ``amp="none"`` (float32, the default: results reproduce bit for bit),
  ``"bf16"`` (``torch.autocast`` to bfloat16; CUDA, and the CPU where torch supports it) or
  ``"fp16"`` (autocast to float16 with a ``torch.amp.GradScaler``; CUDA only). Autocast runs
  matrix products and convolutions in the low precision; the neuron state, losses and the
  optimizer stay float32 (autocast's float32 list, and neurosim's layers keep float32 state).

:func:`holds_values` says whether a tensor has data (not on ``meta``): the data-dependent
checks of the layers (NaN/inf in the input) are skipped on ``meta`` tensors, whose values do
not exist.
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import torch

from neurosim import config

__all__ = ["DEVICES", "AMP_MODES", "resolve_device", "Precision", "backward_step", "holds_values", "module_device"]

#: accepted ``--device`` values
DEVICES = ("cpu", "cuda", "auto")
#: accepted ``--amp`` values
AMP_MODES = ("none", "bf16", "fp16")

_AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def _no_cuda(flag: str, name: str) -> ValueError:
    return ValueError(f"{flag} {name}: no CUDA device (torch.cuda.is_available() is False); use {flag} cpu")


def resolve_device(device="auto", *, flag: str = "--device") -> torch.device:
    """The ``torch.device`` that ``device`` names (see the module docstring).

    ``device``: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"auto"`` or a ``torch.device``. ``flag``
    is the option named in errors (``"device"`` for Python callers).
    """
    if isinstance(device, torch.device):
        if device.type == "cuda" and not torch.cuda.is_available():
            raise _no_cuda(flag, str(device))
        return torch.device("cuda", config.local_rank()) if device.type == "cuda" and device.index is None else device
    if not isinstance(device, str):
        raise TypeError(f"{flag} must be one of {', '.join(DEVICES)} (or a torch.device), got "
                        f"{type(device).__name__} ({device!r})")
    name = device.strip().lower()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name in ("cpu", "meta"):  # meta: shapes only (tests)
        return torch.device(name)
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise _no_cuda(flag, device)
        if name == "cuda":
            return torch.device("cuda", config.local_rank())
        try:
            dev = torch.device(name)
        except RuntimeError:
            raise ValueError(f"{flag} {device!r} is not a device name; use cuda, cuda:N, cpu or auto") from None
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"{flag} {device}: there are {torch.cuda.device_count()} CUDA device(s) "
                             f"(cuda:0 .. cuda:{torch.cuda.device_count() - 1})")
        return dev
    raise ValueError(f"{flag} must be one of {', '.join(DEVICES)}, got {device!r}")


@dataclass(frozen=True)
class Precision:
    """Mixed-precision policy of a training run on ``device_type`` (see the module docstring).

    ``Precision.of(amp, device)`` validates; :meth:`autocast` is the context for forward passes
    and losses; :meth:`grad_scaler` a new ``GradScaler`` for ``fp16`` (None otherwise).
    """

    amp: str = "none"
    device_type: str = "cpu"

    @classmethod
    def of(cls, amp: str, device, *, flag: str = "--amp") -> "Precision":
        if not isinstance(amp, str) or amp not in AMP_MODES:
            raise ValueError(f"{flag} must be one of {', '.join(AMP_MODES)}, got {amp!r}")
        dtype = torch.device(device).type if not isinstance(device, torch.device) else device.type
        if amp == "fp16" and dtype != "cuda":
            raise ValueError(f"{flag} fp16 needs a CUDA device (float16 training with a gradient scaler); on the "
                             f"{dtype} use {flag} bf16 or {flag} none")
        if amp != "none" and dtype not in ("cuda", "meta") and not torch.amp.is_autocast_available(dtype):
            raise ValueError(f"{flag} {amp}: torch has no autocast for the {dtype} device; use {flag} none")
        if amp == "bf16" and dtype == "cuda" and not torch.cuda.is_bf16_supported():
            raise ValueError(f"{flag} bf16: this GPU does not support bfloat16; use {flag} fp16 or {flag} none")
        return cls(amp, dtype)

    @property
    def dtype(self):
        """The autocast dtype (None for ``amp="none"``)."""
        return _AMP_DTYPES.get(self.amp)

    @property
    def enabled(self) -> bool:
        return self.amp != "none"

    def autocast(self):
        """``torch.autocast`` for this policy (a no-op context for ``amp="none"``)."""
        if not self.enabled or self.device_type == "meta":
            return nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def grad_scaler(self):
        """A ``torch.amp.GradScaler`` for ``fp16``, else None."""
        return torch.amp.GradScaler(self.device_type) if self.amp == "fp16" else None


def backward_step(loss: torch.Tensor, optimizer, scaler=None, *, after_backward=None, clip=None, params=None) -> None:
    """Gradients of ``loss``, then ``after_backward()`` (e.g. a projection of the gradients), clipping
    of the gradient norm of ``params`` to ``clip``, and one ``optimizer`` step.

    With a ``GradScaler`` (``fp16``) the loss is scaled, the gradients are unscaled before clipping
    and the step is skipped when they overflowed; ``after_backward`` sees the scaled gradients
    (fine for linear maps such as projections).
    """
    if scaler is None:
        loss.backward()
    else:
        scaler.scale(loss).backward()
    if after_backward is not None:
        after_backward()
    if clip is not None:
        if scaler is not None:
            scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(params, clip)
    if scaler is None:
        optimizer.step()
    else:
        scaler.step(optimizer)
        scaler.update()


def holds_values(t: torch.Tensor) -> bool:
    """True unless ``t`` lives on the ``meta`` device (shapes only, no values to check)."""
    return t.device.type != "meta"


def module_device(module: torch.nn.Module, default=None) -> torch.device:
    """The device of ``module``'s first parameter (else buffer); ``default`` (CPU) when it has none."""
    for t in module.parameters():
        return t.device
    for t in module.buffers():
        return t.device
    return torch.device("cpu") if default is None else torch.device(default)
