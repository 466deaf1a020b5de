"""Atomic checkpoints of torch state, and loading that names the file on every failure.

:func:`save_checkpoint` writes to a temporary file in the destination folder, flushes and
fsyncs it, then ``os.replace``-s it over the target, so a crash or interrupt never leaves a
half-written checkpoint: the file is either the old one or the new one. torch is imported
lazily (``neurosim.io`` is a numpy-level package).

State dicts may hold tensors, numbers, strings, lists/tuples/dicts of those (including the
numpy ``bit_generator.state`` dicts, which are plain ints and strings), so loading works with
``torch.load(weights_only=True)``, the safe default. A file that cannot be loaded (empty,
truncated, text, garbage, a pickle of arbitrary objects) raises
:class:`~neurosim.io.CorruptFileError` (a ``ValueError``) naming the file and the problem;
weights that do not fit the model they are loaded into (another model's checkpoint) raise it
too, from :func:`load_module_state`, listing the mismatching keys and shapes.
"""
from __future__ import annotations

import re
from pathlib import Path

from neurosim._atomic import atomic_open
from neurosim.io.files import CorruptFileError, brief, existing_file

__all__ = ["save_checkpoint", "load_checkpoint", "save_model", "load_module_state", "MODEL_FORMAT"]

#: ``format`` field of the self-describing model files written by :func:`save_model`
MODEL_FORMAT = "neurosim.model/1"

_ZIP_MAGIC = b"PK\x03\x04"
_SAFE_CONTENT = "tensors, numbers, strings, lists, tuples and dicts"


def save_checkpoint(path, state) -> Path:
    """Write ``state`` (anything ``torch.save`` accepts) atomically to ``path``; returns the path.

    The parent folder is created if needed.

    Raises
    ------
    ValueError
        ``path`` is an existing folder, or a parent of it is an existing file.
    """
    import torch

    path = Path(path)
    if path.is_dir():
        raise ValueError(f"checkpoint path {path} is an existing folder; give a file path such as "
                         f"{path / 'checkpoint.pt'}")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"cannot write checkpoint {path}: {parent} is a file, not a folder")
            break
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb", fsync=True) as fh:
        torch.save(state, fh)
    return path


def load_checkpoint(path, *, map_location="cpu", weights_only: bool = True):
    """Load a checkpoint written by :func:`save_checkpoint`.

    Parameters
    ----------
    path : path
    map_location : str or torch.device
        Where to place tensors (default CPU).
    weights_only : bool
        Use torch's restricted unpickler (default; refuses arbitrary objects). Pass ``False``
        only for files you wrote yourself: unpickling runs code stored in the file.

    Raises
    ------
    FileNotFoundError
        if ``path`` does not exist.
    CorruptFileError
        (a ``ValueError``) if ``path`` is a folder or not a loadable checkpoint: empty,
        truncated, text, garbage, or holding objects the restricted unpickler refuses.
    """
    import torch

    path = existing_file(path, "checkpoint")
    with open(path, "rb") as fh:
        head = fh.read(64)
    if not head:
        raise CorruptFileError(path, "is empty (0 bytes), not a checkpoint; it was probably cut short "
                                     "(disk full, killed copy): write it again or restore it from a copy")
    try:
        return torch.load(path, map_location=map_location, weights_only=weights_only)
    except Exception as exc:  # noqa: BLE001 - every failure of torch.load is a bad file; one clear error
        raise CorruptFileError(path, _load_failure(head, exc)) from None


def _load_failure(head: bytes, exc: Exception) -> str:
    """What is wrong with a file that ``torch.load`` refused, judged by its first bytes."""
    text = str(exc)
    refused = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if head.startswith(_ZIP_MAGIC) and refused:
        return (f"holds Python objects that the safe loader (torch.load with weights_only=True) refuses "
                f"({refused.group(1)}); neurosim never unpickles objects from files: save only {_SAFE_CONTENT}")
    detail = _detail(exc)
    if head.startswith(_ZIP_MAGIC):
        return (f"is a truncated or corrupt PyTorch checkpoint ({detail}); "
                "write it again or restore it from a copy")
    if head[:1] == b"\x80":
        return (f"is a pickle that is not a readable PyTorch checkpoint ({detail}); neurosim loads only "
                f"PyTorch files of {_SAFE_CONTENT}")
    if all(32 <= b < 127 or b in b"\t\n\r" for b in head):
        start = head.decode("ascii").strip().splitlines()[0][:40] if head.strip() else ""
        return f"is a text file ({start!r}...), not a PyTorch checkpoint"
    return (f"is not a PyTorch checkpoint (no zip archive or pickle header: it starts with bytes "
            f"{head[:8].hex(' ')})")


def _detail(exc: Exception) -> str:
    """torch's reason without its advice (which can suggest ``weights_only=False``)."""
    text = str(exc)
    if "WeightsUnpickler error:" in text:
        rest = text.split("WeightsUnpickler error:", 1)[1]
        lines = [ln.strip() for ln in rest.splitlines() if ln.strip() and "weights_only" not in ln]
        return lines[0][:160] if lines else "refused by the safe unpickler"
    line = brief(exc)
    if "weights_only" in line or "Weights only" in line:
        return "refused by the safe unpickler"
    return line.split(". ")[0].rstrip(".")  # torch appends advice after the first sentence


def load_module_state(module, state_dict, *, path=None, what: str | None = None) -> None:
    """``module.load_state_dict(state_dict)`` (strict) with a one-line error on a mismatch.

    Parameters
    ----------
    module : torch.nn.Module
    state_dict : mapping of names to tensors (from a checkpoint).
    path : the file the weights came from, named in the error.
    what : a name for the model in messages (default: the module's class name).

    Raises
    ------
    CorruptFileError
        (``ValueError``) if ``path`` is given and the weights do not fit ``module``: the message
        lists missing and unexpected keys and shape mismatches (checkpoint vs model). Without
        ``path`` the same message is raised as a plain ``ValueError``.
    """
    from collections.abc import Mapping

    import torch

    what = what or type(module).__name__

    def fail(problem):
        if path is not None:
            raise CorruptFileError(path, problem)
        raise ValueError(problem)

    if not isinstance(state_dict, Mapping):
        fail(f"holds {type(state_dict).__name__} where the weights of {what} (a dict of tensors) should be")
    try:
        module.load_state_dict(state_dict)
    except RuntimeError as exc:
        own = module.state_dict()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        shapes = [f"{k} {tuple(state_dict[k].shape)} vs {tuple(own[k].shape)}" for k in own
                  if k in state_dict and isinstance(state_dict[k], torch.Tensor)
                  and tuple(state_dict[k].shape) != tuple(own[k].shape)]
        other = [k for k in own if k in state_dict and not isinstance(state_dict[k], torch.Tensor)]
        parts = []
        for label, keys in (("missing keys", missing), ("unexpected keys", unexpected),
                            ("shape mismatches (file vs model)", shapes), ("not tensors", other)):
            if keys:
                more = f" and {len(keys) - 4} more" if len(keys) > 4 else ""
                parts.append(f"{label}: {', '.join(keys[:4])}{more}")
        reason = "; ".join(parts) if parts else brief(exc)
        fail(f"the weights do not fit {what} (another model's or another configuration's checkpoint?): {reason}")


def save_model(path, model, name: str, cfg=None, **meta) -> Path:
    """Write a self-describing model file: registry name, constructor options and weights.

    ``neurosim tsrsa --model PATH`` (and :func:`neurosim.models.load_model`) rebuild
    the model from it with ``neurosim.models.get_model(name, **cfg)``. ``meta`` holds plain
    extras (``dataset``, ``test_acc``, ``input_size``, ``timesteps``...). Written atomically;
    loadable with ``torch.load(weights_only=True)``.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be the model's registry name (a non-empty str), got {name!r}")
    state = {"format": MODEL_FORMAT, "model_name": name, "model_cfg": dict(cfg or {}),
             "model_state": model.state_dict(), **meta}
    return save_checkpoint(path, state)
