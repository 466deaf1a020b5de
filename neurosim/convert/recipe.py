r"""Conversion recipes: what a model file needs to rebuild a converted network without calibration.

A converted network (:func:`~neurosim.convert.ann_to_snn`) is the ANN's graph with IF layers;
its structure (which scales were folded into which weights, where a scaler stayed) depends
only on the ANN's architecture, the conversion options and the input shape, never on the
scale values. So a model file stores the ANN's registry name and options, a *recipe* (the
options and the input shape, plain values) and the converted network's ``state_dict``;
:func:`rebuild` converts a freshly built ANN of that architecture with placeholder scales
(1, so folding changes no weight) and ``load_state_dict`` then restores every weight and
scale (the :class:`~neurosim.convert.ConvertedSNN` refreshes ``scales`` from its IF layers).

>>> rec = recipe(snn, input_shape=(1, 28, 28))                      # doctest: +SKIP
>>> twin = rebuild(get_model("convnet", **cfg), rec)                 # doctest: +SKIP
>>> twin.load_state_dict(snn.state_dict())                          # doctest: +SKIP

:func:`neurosim.models.load_model` does this for files that carry a ``"conversion"`` entry
(``neurosim convert`` writes them).
"""
from __future__ import annotations

import numbers

import torch
from torch import nn

from neurosim.convert import calibrate as cal
from neurosim.convert import graph as G
from neurosim.convert.convert import RESETS, _assemble, _check_args, _neuron_names
from neurosim.convert.modules import READOUTS, ConvertedSNN, check_signed

__all__ = ["recipe", "rebuild", "RECIPE_VERSION"]

RECIPE_VERSION = 1
#: the options of ann_to_snn a recipe records (from ConvertedSNN.info), besides readout/timesteps
_OPTIONS = ("mode", "estimator", "per_channel", "reset", "v_init", "maxpool", "fold_scales", "fold_bn", "method")


def recipe(snn: ConvertedSNN, input_shape) -> dict:
    """The plain-value recipe of ``snn`` for inputs of one sample's shape ``input_shape`` (e.g. ``(1, 28, 28)``)."""
    if not isinstance(snn, ConvertedSNN):
        raise TypeError(f"snn must be a ConvertedSNN from ann_to_snn, got {type(snn).__name__}")
    missing = [k for k in _OPTIONS if k not in snn.info]
    if missing:
        raise ValueError(f"snn.info lacks {', '.join(missing)}: convert with this version's ann_to_snn")
    shape = _input_shape(input_shape, "input_shape")
    mode = snn.info["mode"]
    return {"version": RECIPE_VERSION, "input_shape": shape, "readout": snn.readout, "timesteps": snn.timesteps,
            **{k: snn.info[k] for k in _OPTIONS}, "mode": mode if isinstance(mode, str) else float(mode),
            "signed": bool(snn.info.get("signed", False))}


def _input_shape(shape, what: str) -> list:
    if isinstance(shape, torch.Size):
        shape = tuple(shape)
    if (not isinstance(shape, (tuple, list)) or not shape
            or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1 for s in shape)):
        raise ValueError(f"{what} must be a non-empty list of positive ints (one sample's shape, e.g. [1, 28, 28]), "
                         f"got {shape!r}")
    return [int(s) for s in shape]


def _check_recipe(rec) -> dict:
    if not isinstance(rec, dict):
        raise TypeError(f"recipe must be a dict (from neurosim.convert.recipe), got {type(rec).__name__}")
    need = ("version", "input_shape", "readout", "timesteps") + _OPTIONS
    missing = [k for k in need if k not in rec]
    if missing:
        raise ValueError(f"recipe lacks {', '.join(missing)}")
    if rec["version"] != RECIPE_VERSION:
        raise ValueError(f"recipe version {rec['version']!r} is not supported (this neurosim reads {RECIPE_VERSION})")
    if rec["readout"] not in READOUTS or rec["reset"] not in RESETS:
        raise ValueError(f"recipe readout {rec['readout']!r} / reset {rec['reset']!r} unknown")
    for k in ("per_channel", "fold_scales", "fold_bn"):
        if not isinstance(rec[k], bool):
            raise ValueError(f"recipe {k} must be true or false, got {rec[k]!r}")
    if not isinstance(rec["method"], str):
        raise ValueError(f"recipe method must be a method name, got {rec['method']!r}")
    return rec


def rebuild(model: nn.Module, rec: dict) -> ConvertedSNN:
    """The converted network of ``rec`` (from :func:`recipe`) for the ANN ``model``, with placeholder scales.

    ``model`` must have the architecture of the ANN that was converted (its weights do not
    matter: load the converted network's ``state_dict`` into the result). ``model`` is put in
    eval mode; it is not modified otherwise.
    """
    rec = _check_recipe(rec)
    shape = _input_shape(rec["input_shape"], "recipe input_shape")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    model.eval()
    _check_args(model, rec["timesteps"], rec["reset"], rec["per_channel"], rec["mode"], rec["estimator"], 0.1,
                rec["v_init"], rec["maxpool"], rec["readout"])
    gm, acts, report = G.prepare(model, method=rec["method"], maxpool=rec["maxpool"], fold_bn=rec["fold_bn"])
    names = _neuron_names(gm, acts)
    param = next(gm.parameters(), None)
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.get_default_dtype()
    device = param.device if param is not None else torch.device("cpu")
    shapes = {}
    try:
        with torch.no_grad():  # output shapes of every node (what folding through flatten needs), on one zero sample
            cal._Recorder(gm, {}, shapes).run(torch.zeros(1, *shape, dtype=dtype, device=device))
    except RuntimeError as exc:
        msg = str(exc).strip().split("\n")[0]
        raise ValueError(f"model does not run on one sample of the recipe input_shape {shape} ({type(exc).__name__}: "
                         f"{msg}); rebuild needs the architecture and input shape the converted ANN had") from exc
    scales = {}
    for a in acts:
        if a.kind == "qcfs":
            continue
        out = shapes.get(a.node.name)
        if rec["per_channel"] and (out is None or len(out) < 2):
            raise ValueError(f"per-channel recipe, but activation {names[a.node]!r} gives shape {out} (no channels)")
        scales[a.node.name] = (torch.ones(out[1], dtype=torch.float64) if rec["per_channel"]
                               else torch.ones((), dtype=torch.float64))
    info = {k: rec[k] for k in _OPTIONS}
    info["signed"] = check_signed(rec.get("signed", False), rec["reset"])  # optional: recipes before it are plain
    return _assemble(gm, acts, report, names, scales, shapes, info, readout=rec["readout"],
                     timesteps=rec["timesteps"])
