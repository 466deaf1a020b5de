"""Self-describing model files: write with :func:`save_model`, rebuild with :func:`load_model`.

A model file (``model.pt``, written by ``neurosim train`` and ``neurosim distill``) is a dict
readable with ``torch.load(weights_only=True)``::

    {"format": "neurosim.model/1", "model_name": <registry name>, "model_cfg": {<options>},
     "model_state": <state dict>, <extras: dataset, test_acc, input_size, timesteps, ...>}

:func:`load_model` accepts a registry name (an untrained model), ``NAME@FILE`` or a file; the
file may also be a Trainer checkpoint (weights under ``student``/``model``/``state_dict``) or a
bare state dict. A file with a ``"conversion"`` entry (``neurosim convert``) holds an ANN converted
to a spiking network: ``model_name``/``model_cfg`` name the ANN, and the model returned is the
:class:`neurosim.convert.ConvertedSNN` rebuilt by :func:`neurosim.convert.rebuild` with the file's weights. It returns a :class:`LoadedModel` record: the model together with what is known
about it (trained or not, the image size it was trained on, the file's extras); nothing is
attached to the model itself.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, Optional

from neurosim.io.checkpoint import MODEL_FORMAT, save_model

from .building import build_model
from .registry import list_models

__all__ = ["LoadedModel", "load_model", "save_model", "MODEL_FORMAT", "FIXED_INPUT_SIZE"]

#: image side length of the registry models whose classifier fixes it (when the options and the
#: file do not say otherwise); the other models take any size
FIXED_INPUT_SIZE = MappingProxyType({"spiking_convnet": 28, "convnet": 28})

#: keys under which a file may hold the weights, in the order they are looked for
_WEIGHT_KEYS = ("model_state", "state_dict", "student", "model")
#: file entries that describe the model rather than being extras
_STRUCTURE_KEYS = ("format", "model_name", "model_cfg") + _WEIGHT_KEYS
#: types of the file entries kept as :attr:`LoadedModel.meta` (the plain extras of save_model)
_PLAIN = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class LoadedModel:
    """A model from :func:`load_model` and what is known about it.

    Attributes
    ----------
    name : str
        Registry name (:func:`neurosim.models.list_models`).
    model : torch.nn.Module
        The model, in eval mode.
    trained : bool
        True when the weights were read from a file, False for a freshly initialised model.
    input_size : int or None
        Image side length the model expects: the ``input_size`` option or file entry, else
        :data:`FIXED_INPUT_SIZE` for models whose classifier fixes it, else None (any size).
    cfg : mapping
        The constructor options the model was built with (the file's, then the caller's).
    path : str or None
        The file read (None: untrained).
    meta : mapping
        The file's other plain entries (strings and numbers: ``dataset``, ``test_acc``,
        ``timesteps``, ...); empty when untrained.
    """

    name: str
    model: Any
    trained: bool
    input_size: Optional[int] = None
    cfg: Mapping = field(default_factory=dict)
    path: Optional[str] = None
    meta: Mapping = field(default_factory=dict)


def _parse_spec(spec: str):
    """``(name, file)`` of a spec: ``NAME``, ``NAME@FILE`` or ``FILE`` (a .pt/.pth/.ckpt or existing path)."""
    if not isinstance(spec, (str, Path)):
        raise TypeError(f"spec must be a model name or a file path (str), got {type(spec).__name__}")
    spec = str(spec)
    if "@" in spec:
        name, ckpt = spec.split("@", 1)
        return name, ckpt
    if Path(spec).suffix in (".pt", ".pth", ".ckpt") or Path(spec).exists():
        return None, spec
    return spec, None


def _read_file(ckpt: str, name: Optional[str]):
    """``(name, state, file_cfg)`` from the model file ``ckpt`` (checked against ``name``)."""
    from neurosim.io.checkpoint import load_checkpoint
    from neurosim.io.files import CorruptFileError

    if not Path(ckpt).exists():
        raise FileNotFoundError(f"--model checkpoint {ckpt} not found")
    state = load_checkpoint(ckpt)
    if not isinstance(state, dict):
        raise CorruptFileError(ckpt, f"holds a {type(state).__name__}, not a model file (a dict with "
                                     "'model_name' and 'model_state', as neurosim train writes model.pt)")
    held = state.get("model_name")
    if held is not None and not isinstance(held, str):
        raise CorruptFileError(ckpt, f"its 'model_name' is a {type(held).__name__}, not a model name")
    if name is None:
        if held is None:
            raise CorruptFileError(ckpt, f"has no 'model_name'; pass --model NAME@{ckpt}")
        name = held
    elif held is not None and held != name:
        raise CorruptFileError(ckpt, f"holds a {held!r} model, not {name!r}; pass --model {ckpt} to "
                                     f"load the {held!r} it holds")
    if held is not None and held not in list_models():
        raise CorruptFileError(ckpt, f"holds an unknown model {held!r}; known: {', '.join(list_models())}")
    file_cfg = state.get("model_cfg", {})
    if not isinstance(file_cfg, dict):
        raise CorruptFileError(ckpt, f"its 'model_cfg' is a {type(file_cfg).__name__}, not a dict of options")
    return name, state, file_cfg


def _weights(state: dict, ckpt: str) -> dict:
    import torch

    from neurosim.io.files import CorruptFileError

    for key in _WEIGHT_KEYS:
        if isinstance(state.get(key), dict):
            return state[key]
    if not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CorruptFileError(ckpt, "holds no weights: no 'model_state', 'state_dict', 'student' or "
                                     "'model' entry, and it is not a state dict itself")
    return state


def load_model(spec, seed: int = 0, **cfg) -> LoadedModel:
    """Build a model from a registry name, ``NAME@FILE`` or a model file; returns a :class:`LoadedModel`.

    Parameters
    ----------
    spec : str
        ``NAME`` (an untrained model, initial weights from ``seed``), ``NAME@FILE`` (the file's
        weights into ``NAME``) or ``FILE`` (a ``.pt``/``.pth``/``.ckpt`` or existing path holding
        ``model_name``).
    seed : int
        Seeds the initial weights (:func:`neurosim.models.build_model`; the caller's global torch
        RNG is left as it was).
    **cfg
        Constructor options; they override the file's ``model_cfg``.

    Files are read with :func:`neurosim.io.load_checkpoint` (``weights_only=True``: nothing is
    unpickled but tensors and plain values).

    Raises
    ------
    FileNotFoundError
        the file does not exist.
    KeyError
        ``spec`` names no registered model.
    CorruptFileError
        (``ValueError``) the file is unreadable, holds no weights, names another or an unknown
        model, or its weights/options/``input_size`` do not fit; the message names the file.
    """
    from neurosim.io.checkpoint import load_module_state
    from neurosim.io.files import CorruptFileError

    name, ckpt = _parse_spec(spec)
    state, file_cfg = None, {}
    if ckpt is not None:
        name, state, file_cfg = _read_file(ckpt, name)
        cfg = {**file_cfg, **cfg}
    try:
        model = build_model(name, seed=seed, **cfg)
    except (TypeError, ValueError) as exc:
        if not file_cfg:
            raise
        raise CorruptFileError(ckpt, f"its model_cfg {file_cfg} does not build {name!r}: {exc}") from None
    conversion = state.get("conversion") if state is not None else None
    if conversion is not None:  # a converted SNN (neurosim convert): rebuild its structure from the ANN
        from neurosim.convert import rebuild

        try:
            model = rebuild(model, conversion)
        except (TypeError, ValueError) as exc:
            raise CorruptFileError(ckpt, f"its 'conversion' recipe does not rebuild a converted {name!r}: "
                                         f"{exc}") from None
    if state is not None:
        load_module_state(model, _weights(state, ckpt), path=ckpt,
                          what=repr(name) if conversion is None else f"the SNN converted from {name!r}")
    model.eval()
    size = cfg.get("input_size", state.get("input_size") if state is not None else None)
    if size is None:
        size = FIXED_INPUT_SIZE.get(name)
    elif isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
        raise CorruptFileError(ckpt, f"its 'input_size' {size!r} is not a positive integer")
    meta = {} if state is None else {k: v for k, v in state.items()
                                     if k not in _STRUCTURE_KEYS and isinstance(v, _PLAIN)}
    return LoadedModel(name=name, model=model, trained=ckpt is not None,
                       input_size=None if size is None else int(size), cfg=MappingProxyType(dict(cfg)),
                       path=None if ckpt is None else str(ckpt), meta=MappingProxyType(meta))

