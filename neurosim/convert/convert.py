r"""``ann_to_snn``: a trained ReLU (or QCFS) network to a rate-coded integrate-and-fire network.

Steps (``shared/specs/CONVERSION.md`` §9):

1. trace the ANN with ``torch.fx`` (eval mode required), check every node, remove dropout,
   fold BatchNorm into the preceding Conv/Linear (with ``eps``), move max pools before the
   activations (:mod:`neurosim.convert.graph`);
2. compute a scale ``lambda`` per activation (per layer or per channel) from calibration
   inputs (:mod:`neurosim.convert.calibrate`); a QCFS activation brings its own threshold;
3. replace every activation by an :class:`~neurosim.convert.modules.IFNeuron` (threshold 1,
   reset by subtraction, ``x / lambda`` in, ``spikes * lambda`` out) and, with ``fold_scales``,
   move the two factors into the neighbouring Conv/Linear weights where the graph allows
   (Diehl et al. 2015 / Rueckauer et al. 2017 weight normalisation), so the synaptic layers
   see binary spikes (``neurosim.snn.stats`` counts them as synaptic operations);
4. wrap the graph as a :class:`~neurosim.convert.modules.ConvertedSNN` taking ``[T, B, ...]``.
"""
from __future__ import annotations

import copy
from collections import Counter

import torch
import torch.nn.functional as F
from torch import fx, nn

from neurosim._validation import check_choice, check_int, check_number
from neurosim.convert import calibrate as cal
from neurosim.convert import graph as G
from neurosim.convert.event import use_events
from neurosim.convert.modules import READOUTS, ConvertedSNN, IFNeuron, Scale, check_signed

__all__ = ["ann_to_snn", "RESETS"]

RESETS = ("subtract", "zero")

_POOLS = (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
          nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d,
          nn.Identity)
_POOL_FUNCS = {F.avg_pool1d, F.avg_pool2d, F.avg_pool3d, F.adaptive_avg_pool1d, F.adaptive_avg_pool2d,
               F.adaptive_avg_pool3d, F.max_pool1d, F.max_pool2d, F.max_pool3d, F.adaptive_max_pool1d,
               F.adaptive_max_pool2d, F.adaptive_max_pool3d, torch.max_pool1d, torch.max_pool2d, torch.max_pool3d}
_FLATTENS = {torch.flatten, torch.reshape, "flatten", "view", "reshape"}


def _check_args(model, timesteps, reset, per_channel, mode, estimator, momentum, v_init, maxpool, readout):
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    training = [n or "<model>" for n, m in model.named_modules() if m.training]
    if training:
        shown = ", ".join(training[:4]) + (" ..." if len(training) > 4 else "")
        raise ValueError(f"model is in training mode ({shown}): BatchNorm would normalise with batch statistics "
                         "and Dropout would drop units during calibration; call model.eval() before ann_to_snn")
    if timesteps is not None:
        check_int("timesteps", timesteps, min_value=1)
    check_choice("reset", reset, RESETS)
    if not isinstance(per_channel, bool):
        raise TypeError(f"per_channel must be True or False, got {per_channel!r}")
    cal.parse_mode(mode)
    check_choice("estimator", estimator, cal.ESTIMATORS)
    m = check_number("momentum", momentum)
    if not 0.0 <= m <= 1.0:
        raise ValueError(f"momentum must lie in [0, 1], got {momentum}")
    v = check_number("v_init", v_init)
    if not 0.0 <= v < 1.0 or float(torch.tensor(v, dtype=torch.float32)) >= 1.0:  # 1 - 1e-9 is 1 in float32
        raise ValueError(f"v_init is the initial membrane as a fraction of the threshold and must lie in [0, 1) "
                         f"(0.5 = half threshold; below 1 also in float32), got {v_init}")
    check_choice("maxpool", maxpool, G.MAXPOOL_STRATEGIES)
    check_choice("readout", readout, READOUTS)


def ann_to_snn(model: nn.Module, calibration=None, *, mode="99.9%", timesteps: int | None = None,
               reset: str = "subtract", per_channel: bool = False, estimator: str = "exact",
               momentum: float = 0.1, v_init: float = 0.0, maxpool: str = "pre", readout: str = "mean",
               fold_scales: bool = True, fold_bn: bool = True, method: str = "forward",
               batch_size: int = 256, signed: bool = False) -> ConvertedSNN:
    """Convert a trained ANN (ReLU forms, clipped ReLUs, QCFS) into a multi-step IF network.

    Parameters
    ----------
    model : torch.nn.Module
        The ANN, in ``eval()`` mode, traceable by ``torch.fx``; one tensor input. Not modified.
    calibration : DataLoader, iterable of batches, or tensor ``[N, ...]``
        Typical inputs (training images with the training preprocessing). Batches may be
        tensors, ``(input, target)`` pairs or dicts with an ``"input"``/``"x"``/``"image"`` key.
        Optional when every activation is a :class:`~neurosim.convert.QCFS`.
    mode : "max", "p%" (0 < p <= 100) or float in (0, 1]
        Layer-scale statistic (see :mod:`neurosim.convert.calibrate`). Default ``"99.9%"``.
    timesteps : int, optional
        Default ``T`` for :meth:`ConvertedSNN.run_static`.
    reset : {"subtract", "zero"}
        Reset by subtraction (keeps the surplus; the conversion's premise) or to zero (biased
        low; for comparison only).
    per_channel : bool
        One scale per channel (dim 1) instead of per layer.
    estimator : {"exact", "ema"}
        Dataset statistic, or spikingjelly 2.0's running average of per-batch statistics
        (``momentum``) for parity with ``spikingjelly.activation_based.ann2snn.Converter``.
    v_init : float
        Initial membrane of the ReLU neurons as a fraction of the threshold (0; 0.5 turns the
        floor into rounding). QCFS neurons start at their ``shift``.
    maxpool : {"pre", "spikes", "error"}
        Max pooling strategy (see :mod:`neurosim.convert.graph`).
    readout : {"mean", "sum"}
        Decoding of the last layer's per-step outputs (it never spikes): mean over the steps
        (the ANN's units; regression) or sum (membrane potential).
    fold_scales : bool
        Fold the scales into neighbouring Conv/Linear weights where possible (default); False
        keeps explicit scalers (spikingjelly's structure; same values up to float rounding).
    fold_bn : bool
        Fold BatchNorm into the preceding Conv/Linear.
    method : str
        Method of ``model`` to trace (``"_forward"`` for the neurosim.models teachers).
    batch_size : int
        Batch size when ``calibration`` is one tensor.
    signed : bool
        Signed IF neurons with memory (:class:`~neurosim.convert.modules.IFNeuron`): a neuron whose
        membrane falls below 0 after it has fired takes a spike back (a -1 spike). Removes the
        error of uneven input trains (deep or residual QCFS networks at ``T = L``); spikes are
        then in {-1, 0, 1} (hardware must support signed events), the simulation is a PyTorch
        loop and there is no surrogate gradient and no NIR export. Needs ``reset="subtract"``.

    Returns
    -------
    ConvertedSNN
        ``snn(x[T, B, ...])`` -> decoded output; ``snn.forward_steps(x)`` -> ``[T, B, ...]``;
        ``snn.scales`` the per-activation scales; ``snn.info`` what was done.

    Raises
    ------
    ValueError
        A node that cannot be converted (named, with the fix); the model in training mode; an
        empty calibration set or an activation that never fires on it; a bad argument.
    TypeError
        Arguments of the wrong type.
    """
    _check_args(model, timesteps, reset, per_channel, mode, estimator, momentum, v_init, maxpool, readout)
    check_int("batch_size", batch_size, min_value=1)
    check_signed(signed, reset)
    gm, acts, report = G.prepare(model, method=method, maxpool=maxpool, fold_bn=fold_bn)
    names = _neuron_names(gm, acts)
    need = {a.node.name: names[a.node] for a in acts if a.kind != "qcfs"}
    shapes = {}
    scales = {}
    if need or (calibration is not None and per_channel):
        if calibration is None:
            raise ValueError(f"calibration is required for the {len(need)} ReLU-like activation(s) "
                             f"({', '.join(list(need.values())[:3])}{' ...' if len(need) > 3 else ''}): pass a DataLoader, a list of "
                             "batches or a tensor [N, ...] of typical inputs")
        scales = cal.calibrate(gm, need, calibration, mode=mode, estimator=estimator, per_channel=per_channel,
                               momentum=momentum, batch_size=batch_size, shapes=shapes)
    info = {"mode": mode, "estimator": estimator, "per_channel": per_channel, "reset": reset, "v_init": v_init,
            "maxpool": maxpool, "fold_scales": fold_scales, "fold_bn": fold_bn, "method": method, "signed": signed}
    return _assemble(gm, acts, report, names, scales, shapes, info, readout=readout, timesteps=timesteps)


def _assemble(gm, acts, report, names, scales, shapes, info, *, readout, timesteps) -> ConvertedSNN:
    """The ConvertedSNN of a prepared graph, given a scale per non-QCFS activation node (by node name)."""
    param = next(gm.parameters(), None)
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.get_default_dtype()
    by_name = {}
    for a in acts:
        lam = a.qcfs.threshold.detach().reshape(()) if a.kind == "qcfs" else scales[a.node.name]
        by_name[names[a.node]] = lam.to(dtype)
    body, origin = _build(gm, acts, names, by_name, v_init=info["v_init"], reset=info["reset"],
                          signed=info.get("signed", False))
    folded = _fold(body, origin, shapes) if info["fold_scales"] else {"input": 0, "output": 0, "scalers": 0}
    pools_fused = _fuse_pools(body)
    use_events(body)  # Conv/Linear layers reading spikes skip the zeros (no-grad CPU calls; neurosim.convert.event)
    body.graph.lint()
    body.delete_all_unused_submodules()
    body.recompile()
    info = {**info, "neurons": len(acts), "qcfs": sum(a.kind == "qcfs" for a in acts),
            "bn_folded": report["bn_folded"], "maxpool_swapped": report["maxpool_swapped"],
            "dropout_removed": report["dropout_removed"], "scales_folded": folded, "pools_fused": pools_fused}
    return ConvertedSNN(body, readout=readout, timesteps=timesteps, scales=by_name, info=info)


def _is_pool2(node: fx.Node, modules) -> bool:
    """``node`` is a 2x2 average pool with stride 2, no padding, floor mode (module or ``F.avg_pool2d``)."""
    def two(v):
        return v == 2 or tuple(v) == (2, 2) if isinstance(v, (int, tuple, list)) else False

    if node.op == "call_module":
        m = modules.get(node.target)
        return (type(m) is nn.AvgPool2d and two(m.kernel_size) and two(m.stride) and m.padding in (0, (0, 0))
                and not m.ceil_mode and m.divisor_override is None and len(node.args) == 1 and not node.kwargs)
    if node.op == "call_function" and node.target is F.avg_pool2d:
        names = ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")
        a = dict(zip(names, node.args), **node.kwargs)
        return (set(a) <= set(names) and two(a.get("kernel_size")) and two(a.get("stride", 2) or 2)
                and a.get("padding", 0) in (0, (0, 0)) and not a.get("ceil_mode", False)
                and a.get("divisor_override") is None)
    return False


def _fuse_pools(body: fx.GraphModule) -> int:
    """IF layers whose only consumer is a 2x2 average pool take the pool into their kernel
    (:attr:`IFNeuron.pool`; exact: the same means of 0/1 spikes) and the pool node goes."""
    modules = dict(body.named_modules())
    fused = 0
    for n in list(body.graph.nodes):
        if n.op != "call_module" or not isinstance(modules[n.target], IFNeuron) or len(n.users) != 1:
            continue
        u = next(iter(n.users))
        if u.args and u.args[0] is n and _is_pool2(u, modules):
            modules[n.target].pool = True
            modules[n.target].pool_source = u.target if u.op == "call_module" else None
            u.replace_all_uses_with(n)
            body.graph.erase_node(u)
            fused += 1
    return fused


def _unique(name: str, used: set) -> str:
    out, k = name, 1
    while out in used or any(u.startswith(out + ".") or out.startswith(u + ".") for u in used):
        out = f"{name}_{k}"
        k += 1
    used.add(out)
    return out


def _neuron_names(gm: fx.GraphModule, acts) -> dict:
    """Module path of the IF layer replacing each activation node: the ReLU module's own path
    (``features.relu1``), the node name for functional forms (``relu_1``); a module called twice
    gets ``<path>_1`` for its second call."""
    acts_nodes = {a.node for a in acts}
    used = {n.target for n in gm.graph.nodes if n.op in ("call_module", "get_attr") and n not in acts_nodes}
    return {a.node: _unique(a.node.target if a.node.op == "call_module" else a.node.name, used) for a in acts}


def _build(gm: fx.GraphModule, acts, names, scales, *, v_init, reset, signed=False):
    """The SNN body graph ``(x[T*B, ...], T)``: the ANN graph with IFNeuron calls for the activations."""
    graph = fx.Graph()
    x = graph.placeholder("x")
    T = graph.placeholder("T")
    by_node = {a.node: a for a in acts}
    root, env, origin = {}, {}, {}
    for n in gm.graph.nodes:
        if n.op == "placeholder":
            env[n] = x
            continue
        a = by_node.get(n)
        if a is not None:
            target = names[n]
            v0 = a.qcfs.shift if a.kind == "qcfs" else v_init
            root[target] = IFNeuron(scales[target], v_init=v0, reset=reset, signed=signed)
            env[n] = graph.call_module(target, (env[n.args[0] if n.args else n.kwargs["input"]], T))
        else:
            env[n] = graph.node_copy(n, lambda m: env[m])
            if n.op == "call_module":
                root[n.target] = gm.get_submodule(n.target)
            elif n.op == "get_attr":
                root[n.target] = _get_attr(gm, n.target)
        origin[env[n]] = n
    body = fx.GraphModule(copy.deepcopy(root), graph, class_name="ConvertedBody")
    return body, origin


def _get_attr(gm, target: str):
    obj = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _view(s: torch.Tensor, ndim: int, dim: int) -> torch.Tensor:
    """Per-channel ``s`` shaped for broadcasting along ``dim`` of an ``ndim``-tensor (0-d unchanged)."""
    if s.ndim == 0:
        return s
    shape = [1] * ndim
    shape[dim] = s.numel()
    return s.reshape(shape)


def _synaptic(m: nn.Module) -> bool:
    return isinstance(m, nn.Linear) or isinstance(m, G._CONV) and (m.groups == 1)


def _chain_to_layer(start: fx.Node, src: fx.Node, modules, calls, shapes, origin, scale: torch.Tensor):
    """Follow ``start`` (a user of ``src``) through pools / flatten to a Conv/Linear that reads only
    this chain; returns ``(layer node, scale expanded to its input features)`` or ``None``."""
    node, prev, s = start, src, scale
    for _ in range(16):
        if node.op == "call_module":
            m = modules[node.target]
            if _synaptic(m) and calls[node.target] == 1 and node.args and node.args[0] is prev and len(node.args) == 1:
                if s.ndim and s.numel() != (m.in_features if isinstance(m, nn.Linear) else m.in_channels):
                    return None
                return node, s
            if not isinstance(m, _POOLS + (nn.Flatten,)):
                return None
            is_flatten = isinstance(m, nn.Flatten)
        elif node.op in ("call_function", "call_method"):
            if node.target in _POOL_FUNCS:
                is_flatten = False
            elif node.target in _FLATTENS:
                is_flatten = True
            else:
                return None
        else:
            return None
        if node.args[0] is not prev or len(node.users) != 1:
            return None
        if is_flatten and s.ndim:
            a_in, a_out = origin.get(prev), origin.get(node)
            sin = shapes.get(a_in.name) if a_in is not None else None
            sout = shapes.get(a_out.name) if a_out is not None else None
            if sin is None or sout is None or len(sout) != 2 or len(sin) < 2 or sin[1] != s.numel():
                return None
            per = 1
            for d in sin[2:]:
                per *= d
            if sout[1] != sin[1] * per:
                return None
            s = s.repeat_interleave(per)
        prev, node = node, next(iter(node.users))
    return None


def _fold(body: fx.GraphModule, origin, shapes) -> dict:
    """Move IFNeuron input/output scales into neighbouring Conv/Linear weights (see module docstring)."""
    modules = dict(body.named_modules())
    by_id = Counter(id(modules[n.target]) for n in body.graph.nodes if n.op == "call_module")
    calls = {t: by_id[id(m)] for t, m in modules.items()}  # calls of the module object, under any name
    done = {"input": 0, "output": 0, "scalers": 0}
    with torch.no_grad():
        for n in list(body.graph.nodes):
            if n.op != "call_module" or not isinstance(modules[n.target], IFNeuron):
                continue
            neu = modules[n.target]
            p = n.args[0]
            if (p.op == "call_module" and _synaptic(modules[p.target]) and calls[p.target] == 1
                    and len(p.users) == 1):
                layer = modules[p.target]
                s = neu.input_scale.to(layer.weight.dtype)
                layer.weight.mul_(_view(s, layer.weight.ndim, 0))
                if layer.bias is not None:
                    layer.bias.mul_(s)
                neu.input_scale = None
                done["input"] += 1
            keep = []
            for u in list(n.users):
                hit = _chain_to_layer(u, n, modules, calls, shapes, origin, neu.output_scale)
                if hit is None:
                    keep.append(u)
                    continue
                layer_node, s = hit
                layer = modules[layer_node.target]
                layer.weight.mul_(_view(s.to(layer.weight.dtype), layer.weight.ndim, 1))
                done["output"] += 1
            if keep:
                target = n.target + "_out"
                body.add_submodule(target, Scale(neu.output_scale))
                modules[target] = body.get_submodule(target)
                with body.graph.inserting_after(n):
                    sn = body.graph.call_module(target, (n,))
                for u in keep:
                    u.replace_input_with(n, sn)
                done["scalers"] += 1
            neu.output_scale = None
    return done
