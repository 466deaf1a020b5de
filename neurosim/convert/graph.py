"""The ANN side of conversion: trace with ``torch.fx``, classify every node, fold BatchNorm, tidy the graph.

Every node of the traced graph must be one of

* an **activation**: ``nn.ReLU``, ``F.relu``, ``torch.relu``, ``x.relu()`` (in-place forms too),
  ``clamp(x, min=0)`` / ``clip`` / ``clamp_min(x, 0)``; a clipped ReLU (``nn.ReLU6``,
  ``F.relu6``, ``nn.Hardtanh(0, c)``, ``F.hardtanh(x, 0, c)``, ``clamp(x, 0, c)``: the clip only
  lowers the calibrated scale, which the IF neuron saturates at anyway); or a
  :class:`~neurosim.convert.QCFS` module;
* an op that is **linear** in the input (or affine: a bias is a constant current): Conv,
  ConvTranspose, Linear, eval BatchNorm (folded into a preceding Conv/Linear when that one feeds
  only the BN), average pooling, flatten/view/reshape, add/sub, multiplication by a constant,
  concatenation, mean/sum over non-batch dims, padding with 0, upsampling, indexing;
* **dropout** (removed) or **max pooling** (``maxpool="pre"``: a ``ReLU -> MaxPool`` pair is
  swapped, which is the same function, so the pool takes the max of the analog inputs of the
  neuron at every step; ``"spikes"``: the pool takes the max of the spikes, spikingjelly's
  behaviour, whose rate overshoots; ``"error"``: refuse).

Anything else raises ``ValueError`` naming the node, what it is and how to fix it. The SNN
runs the graph on ``[T*B, ...]`` (time merged into the batch), so ops that act on dim 0
(``torch.flatten(x)``, ``cat`` along dim 0, ``x[0]``, ``mean()`` without ``dim``) are refused
too.
"""
from __future__ import annotations

import copy
import dataclasses
import operator

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.nn.utils.fusion import fuse_conv_bn_weights, fuse_linear_bn_weights

from neurosim.convert.qcfs import QCFS

__all__ = ["Activation", "trace", "prepare", "describe", "MAXPOOL_STRATEGIES"]

MAXPOOL_STRATEGIES = ("pre", "spikes", "error")

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_CONVT = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_LINEAR_MODULES = _CONV + _CONVT + _BN + (
    nn.Linear, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d, nn.Flatten, nn.Unflatten, nn.Identity, nn.Upsample, nn.ZeroPad2d)
_DROPOUT_MODULES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)
_MAXPOOL_MODULES = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d,
                    nn.AdaptiveMaxPool3d)
#: activation modules that are not ReLU-like (for a better message)
_OTHER_ACTIVATIONS = (nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU,
                      nn.Softplus, nn.Mish, nn.Hardswish, nn.Hardsigmoid, nn.Softmax, nn.LogSoftmax, nn.Softsign,
                      nn.RReLU, nn.GLU, nn.Threshold, nn.Tanhshrink, nn.Softshrink, nn.Hardshrink)

_RELU_FUNCS = {F.relu, torch.relu, torch.relu_, F.relu_}
_RELU_METHODS = {"relu", "relu_"}
_CLAMP_FUNCS = {torch.clamp, torch.clip, torch.clamp_min}
_CLAMP_METHODS = {"clamp", "clamp_", "clip", "clip_", "clamp_min", "clamp_min_"}
_DROPOUT_FUNCS = {F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout, F.feature_alpha_dropout}
_MAXPOOL_FUNCS = {F.max_pool1d, F.max_pool2d, F.max_pool3d, F.adaptive_max_pool1d, F.adaptive_max_pool2d,
                  F.adaptive_max_pool3d, torch.max_pool1d, torch.max_pool2d, torch.max_pool3d}
_ADD_FUNCS = {operator.add, operator.iadd, operator.sub, operator.isub, torch.add, torch.sub,
              operator.neg, operator.pos, torch.neg}
_SCALE_FUNCS = {operator.mul, operator.imul, torch.mul, operator.truediv, operator.itruediv, torch.div}
_LINEAR_FUNCS = {F.avg_pool1d, F.avg_pool2d, F.avg_pool3d, F.adaptive_avg_pool1d, F.adaptive_avg_pool2d,
                 F.adaptive_avg_pool3d, torch.reshape, F.linear, F.conv1d, F.conv2d, F.conv3d, F.interpolate,
                 getattr, torch.squeeze}
_DIM_FUNCS = {torch.flatten: ("start_dim", 1, 0), torch.cat: ("dim", 1, 0), torch.concat: ("dim", 1, 0),
              torch.mean: ("dim", 1, None), torch.sum: ("dim", 1, None), torch.unsqueeze: ("dim", 1, None),
              torch.chunk: ("dim", 2, 0), torch.split: ("dim", 2, 0), torch.transpose: (None, None, None),
              torch.permute: (None, None, None)}
_LINEAR_METHODS = {"view", "reshape", "size", "dim", "contiguous", "add", "add_", "sub", "sub_", "neg",
                   "unflatten", "squeeze", "expand_as", "view_as", "reshape_as"}
_SCALE_METHODS = {"mul", "mul_", "div", "div_"}
#: (keyword, position, default) of the dim argument (fx puts the tensor first for methods too)
_DIM_METHODS = {"flatten": ("start_dim", 1, 0), "mean": ("dim", 1, None), "sum": ("dim", 1, None),
                "unsqueeze": ("dim", 1, None), "chunk": ("dim", 2, 0), "split": ("dim", 2, 0),
                "transpose": (None, None, None), "permute": (None, None, None)}
_SEQUENCE_PRODUCERS = {"chunk", "split", "size", "unbind"}

_FIX_ACTIVATION = ("replace it by nn.ReLU (or neurosim.convert.QCFS for low latency) and retrain or fine-tune "
                   "the ANN; IF neurons only approximate ReLU-like activations")
_FIX_GENERIC = ("express it with supported ops (conv, linear, eval BatchNorm, average/max pooling, flatten, "
                "view, add, constant scaling, cat, ReLU forms, QCFS) or remove it from the model's forward")


@dataclasses.dataclass
class Activation:
    """One activation node: ``kind`` is ``"relu"``, ``"clip"`` (ReLU clipped at ``clip``) or ``"qcfs"``."""

    node: fx.Node
    kind: str
    clip: float | None = None
    qcfs: QCFS | None = None


class _Tracer(fx.Tracer):
    """``torch.fx`` tracer that keeps QCFS and neurosim's drop-in layers (Conv2d, BatchNorm2d) as leaves."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        from neurosim.snn.batchnorm import BatchNorm2d
        from neurosim.snn.conv import Conv2d

        if type(m) in (QCFS, Conv2d, BatchNorm2d):
            return True
        return super().is_leaf_module(m, qualname)


class _Method(nn.Module):
    """Trace ``model.<name>`` instead of ``model.forward``."""

    def __init__(self, model: nn.Module, name: str):
        super().__init__()
        self.model = model
        self._name = name

    def forward(self, x):  # noqa: D102
        return getattr(self.model, self._name)(x)


def trace(model: nn.Module, method: str = "forward") -> fx.GraphModule:
    """A ``GraphModule`` of ``model.<method>`` (a deep copy: the caller's model is never changed)."""
    if not isinstance(method, str) or not callable(getattr(model, method, None)):
        raise ValueError(f"method must name a method of the model, got {method!r}")
    root = copy.deepcopy(model)
    if method != "forward":
        root = _Method(root, method)
    tracer = _Tracer()
    try:
        graph = tracer.trace(root)
    except Exception as e:  # fx raises TraceError, TypeError, RuntimeError, ... from user code
        raise ValueError(
            f"torch.fx could not trace model.{method} ({type(e).__name__}: {e}). Tracing needs a forward "
            "without Python control flow on tensor values or shapes (if/for/assert on x.shape, x.dim(), "
            "x.sum() ...): move such checks out of forward, or pass method='<name>' naming a plain "
            "method to trace (neurosim.models teachers: method='_forward')") from e
    gm = fx.GraphModule(tracer.root, graph)
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise ValueError(f"model.{method} takes {len(placeholders)} inputs "
                         f"({', '.join(p.name for p in placeholders)}); ann_to_snn converts single-input models: "
                         "wrap the model so that forward(x) takes one tensor")
    return gm


def describe(node: fx.Node, modules: dict) -> str:
    """``"node 'relu_1' (torch.nn.functional.relu)"``: how errors name a node."""
    if node.op == "call_module":
        what = f"module {node.target!r}, {type(modules[node.target]).__name__}"
    elif node.op == "call_function":
        fn = node.target
        what = f"{getattr(fn, '__module__', None) or ''}.{getattr(fn, '__name__', repr(fn))}".lstrip(".")
    elif node.op == "call_method":
        what = f"method .{node.target}()"
    else:
        what = node.op
    return f"node {node.name!r} ({what})"


def _arg(node: fx.Node, pos: int | None, name: str | None, default=None):
    if name is not None and name in node.kwargs:
        return node.kwargs[name]
    if pos is not None and len(node.args) > pos:
        return node.args[pos]
    return default


def _clamp_bounds(node: fx.Node):
    """``(min, max)`` of a clamp/clip/clamp_min call (method or function: the tensor is args[0])."""
    fname = node.target if node.op == "call_method" else node.target.__name__
    lo = _arg(node, 1, "min")
    hi = None if fname.startswith("clamp_min") else _arg(node, 2, "max")
    return lo, hi


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _activation(node: fx.Node, modules: dict) -> Activation | None:
    """The activation this node is, ``None`` if it is none; ``ValueError`` for an unconvertible one."""
    if node.op == "call_module":
        m = modules[node.target]
        if type(m) is QCFS:
            return Activation(node, "qcfs", qcfs=m)
        if type(m) is nn.ReLU:
            return Activation(node, "relu")
        if type(m) in (nn.ReLU6, nn.Hardtanh):
            if m.min_val != 0 or not m.max_val > 0:
                raise ValueError(f"cannot convert {describe(node, modules)}: Hardtanh({m.min_val}, {m.max_val}) is not "
                                 f"a clipped ReLU (needs min_val=0 < max_val); fix: {_FIX_ACTIVATION}")
            return Activation(node, "clip", clip=float(m.max_val))
        return None
    if node.op == "call_function" and node.target in _RELU_FUNCS or node.op == "call_method" and node.target in _RELU_METHODS:
        return Activation(node, "relu")
    if node.op == "call_function" and node.target is F.relu6:
        return Activation(node, "clip", clip=6.0)
    if node.op == "call_function" and node.target is F.hardtanh:
        lo, hi = _arg(node, 1, "min_val", -1.0), _arg(node, 2, "max_val", 1.0)
        if lo == 0 and _is_number(hi) and hi > 0:
            return Activation(node, "clip", clip=float(hi))
        raise ValueError(f"cannot convert {describe(node, modules)}: hardtanh({lo}, {hi}) is not a clipped ReLU "
                         f"(needs min_val=0 < max_val); fix: {_FIX_ACTIVATION}")
    if node.op == "call_function" and node.target in _CLAMP_FUNCS or node.op == "call_method" and node.target in _CLAMP_METHODS:
        lo, hi = _clamp_bounds(node)
        if _is_number(lo) and lo == 0 and (hi is None or _is_number(hi) and hi > 0):
            return Activation(node, "relu" if hi is None else "clip", clip=None if hi is None else float(hi))
        raise ValueError(f"cannot convert {describe(node, modules)}: clamp(min={lo}, max={hi}) is not a ReLU; only "
                         f"clamp(x, min=0) and clamp(x, 0, c) with a number c > 0 convert; fix: {_FIX_GENERIC}")
    return None


def _check_dim(node, modules, spec):
    """Refuse ops on dim 0 (time x batch in the SNN). ``spec`` = (kwarg, position, default)."""
    name, pos, default = spec
    if name is None:  # transpose / permute
        dims = list(node.args[1:]) + [node.kwargs[k] for k in ("dims", "dim0", "dim1") if k in node.kwargs]
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = list(dims[0])
        if node.target in ("permute", torch.permute):
            ok = bool(dims) and dims[0] == 0
        else:
            ok = 0 not in dims
        if not ok:
            raise ValueError(f"cannot convert {describe(node, modules)}: it moves dim 0 (the batch, which holds "
                             "time x batch in the SNN); fix: keep dim 0 in place")
        return
    d = _arg(node, pos, name, default)
    dims = d if isinstance(d, (tuple, list)) else [d]
    if any(x is None or x == 0 for x in dims):
        raise ValueError(f"cannot convert {describe(node, modules)}: it acts on dim 0 ({name}={d}; the batch, which "
                         f"holds time x batch in the SNN); fix: give {name}= a dim >= 1 (e.g. torch.flatten(x, 1))")


def _check_getitem(node, modules):
    src = node.args[0]
    if not isinstance(src, fx.Node):
        return
    produced_sequence = (src.op == "call_method" and src.target in _SEQUENCE_PRODUCERS) or (
        src.op == "call_function" and (src.target in (torch.chunk, torch.split, torch.unbind)
                                       or src.target is getattr))
    if produced_sequence:
        return
    idx = node.args[1]
    first = idx[0] if isinstance(idx, tuple) and idx else idx
    if first is Ellipsis or first == slice(None, None, None):
        return
    raise ValueError(f"cannot convert {describe(node, modules)}: it indexes dim 0 ({idx!r}; the batch, which holds "
                     "time x batch in the SNN); fix: index dims >= 1 only (x[:, ...])")


def check_node(node: fx.Node, modules: dict, dynamic: set, maxpool: str) -> str:
    """Category of a node (``"activation"``, ``"linear"``, ``"dropout"``, ``"maxpool"``, ``"other"``
    for placeholder/output/get_attr); ``ValueError`` naming the node for anything unconvertible."""
    if node.op in ("placeholder", "output", "get_attr"):
        return "other"
    if _activation(node, modules) is not None:
        return "activation"
    where = describe(node, modules)
    if node.op == "call_module":
        m = modules[node.target]
        if isinstance(m, _DROPOUT_MODULES):
            return "dropout"
        if isinstance(m, _MAXPOOL_MODULES):
            if getattr(m, "return_indices", False):
                raise ValueError(f"cannot convert {where}: return_indices=True; fix: {_FIX_GENERIC}")
            return _maxpool(where, maxpool)
        if isinstance(m, _BN) and (m.running_mean is None or m.running_var is None):
            raise ValueError(f"cannot convert {where}: BatchNorm without running statistics "
                             "(track_running_stats=False) normalises each batch; fix: train with running statistics")
        if isinstance(m, nn.Flatten) and m.start_dim == 0:
            raise ValueError(f"cannot convert {where}: Flatten(start_dim=0) flattens the batch; fix: nn.Flatten(1)")
        if isinstance(m, _LINEAR_MODULES):
            return "linear"
        fix = _FIX_ACTIVATION if isinstance(m, _OTHER_ACTIVATIONS) else _FIX_GENERIC
        kind = "an activation that is not ReLU-like" if isinstance(m, _OTHER_ACTIVATIONS) else "not a supported layer"
        raise ValueError(f"cannot convert {where}: {kind}; fix: {fix}")
    tgt = node.target
    if node.op == "call_function":
        if tgt in _DROPOUT_FUNCS:
            return "dropout"
        if tgt in _MAXPOOL_FUNCS:
            return _maxpool(where, maxpool)
        if tgt in (F.linear, F.conv1d, F.conv2d, F.conv3d) and any(
                isinstance(a, fx.Node) and a in dynamic for a in list(node.args[1:]) + list(node.kwargs.values())):
            raise ValueError(f"cannot convert {where}: its weight depends on the input, which is not linear; "
                             f"fix: {_FIX_GENERIC}")
        if tgt in _ADD_FUNCS or tgt in _LINEAR_FUNCS:
            return "linear"
        if tgt is F.batch_norm:
            if _arg(node, 5, "training", False):
                raise ValueError(f"cannot convert {where}: batch_norm(training=True); fix: pass training=False")
            return "linear"
        if tgt is F.pad:
            if _arg(node, 2, "mode", "constant") != "constant" or _arg(node, 3, "value", None) not in (None, 0, 0.0):
                raise ValueError(f"cannot convert {where}: only constant zero padding is linear; fix: F.pad(x, p)")
            return "linear"
        if tgt is operator.getitem:
            _check_getitem(node, modules)
            return "linear"
        if tgt in _SCALE_FUNCS:
            return _check_scale(node, where, dynamic)
        if tgt in _DIM_FUNCS:
            _check_dim(node, modules, _DIM_FUNCS[tgt])
            return "linear"
    elif node.op == "call_method":
        if tgt in _LINEAR_METHODS:
            if tgt == "squeeze" and not node.args[1:] and "dim" not in node.kwargs:
                raise ValueError(f"cannot convert {where}: squeeze() without dim may drop the batch dim; "
                                 "fix: x.squeeze(dim) with dim >= 1")
            return "linear"
        if tgt in _SCALE_METHODS:
            return _check_scale(node, where, dynamic)
        if tgt in _DIM_METHODS:
            _check_dim(node, modules, _DIM_METHODS[tgt])
            return "linear"
    name = getattr(tgt, "__name__", str(tgt)).lower()
    other = any(k in name for k in ("sigmoid", "tanh", "gelu", "silu", "softmax", "elu", "leaky", "softplus",
                                    "mish", "hardswish", "swish", "exp"))
    kind = "an activation that is not ReLU-like" if other else "not linear and not a ReLU form"
    raise ValueError(f"cannot convert {where}: {kind}; fix: {_FIX_ACTIVATION if other else _FIX_GENERIC}")


def _maxpool(where: str, strategy: str) -> str:
    if strategy == "error":
        raise ValueError(f"cannot convert {where}: max pooling has no exact spiking form and maxpool='error' was "
                         "given; fix: use average pooling in the ANN (and retrain), or maxpool='pre' (max of the "
                         "neuron inputs) or 'spikes' (max of the spikes)")
    return "maxpool"


def _check_scale(node: fx.Node, where: str, dynamic: set) -> str:
    a, b = node.args[0], node.args[1] if len(node.args) > 1 else _arg(node, None, "other")
    da = isinstance(a, fx.Node) and a in dynamic
    db = isinstance(b, fx.Node) and b in dynamic
    div = node.target in (operator.truediv, operator.itruediv, torch.div, "div", "div_")
    if da and db or (div and db):
        raise ValueError(f"cannot convert {where}: a product or quotient of two signals is not linear; "
                         f"fix: {_FIX_GENERIC}")
    return "linear"


def _dynamic_nodes(graph: fx.Graph) -> set:
    """Nodes whose value depends on the input (the others are constants: parameters, shapes of nothing)."""
    dyn = set()
    for n in graph.nodes:
        if n.op == "placeholder" or any(a in dyn for a in n.all_input_nodes):
            dyn.add(n)
    return dyn


def _single_call(gm: fx.GraphModule, target: str) -> bool:
    return sum(1 for n in gm.graph.nodes if n.op == "call_module" and n.target == target) == 1


def _set_module(gm: fx.GraphModule, target: str, module: nn.Module) -> None:
    parent, _, leaf = target.rpartition(".")
    setattr(gm.get_submodule(parent) if parent else gm, leaf, module)


def _fold_bn(gm: fx.GraphModule) -> list:
    """Fold every eval BatchNorm that follows a Conv (not transposed) or Linear feeding only it (with eps)."""
    modules = dict(gm.named_modules())
    folded = []
    for node in list(gm.graph.nodes):
        if node.op != "call_module" or not isinstance(modules[node.target], _BN):
            continue
        src = node.args[0]
        if not (isinstance(src, fx.Node) and src.op == "call_module" and len(src.users) == 1
                and isinstance(modules[src.target], _CONV + (nn.Linear,)) and _single_call(gm, src.target)):
            continue
        bn, layer = modules[node.target], copy.deepcopy(modules[src.target])
        if isinstance(layer, nn.Linear):
            if not isinstance(bn, nn.BatchNorm1d):
                continue
            w = bn.weight if bn.weight is not None else torch.ones_like(bn.running_mean)
            b = bn.bias if bn.bias is not None else torch.zeros_like(bn.running_mean)
            layer.weight, layer.bias = fuse_linear_bn_weights(layer.weight, layer.bias, bn.running_mean,
                                                              bn.running_var, bn.eps, w, b)
        else:
            layer.weight, layer.bias = fuse_conv_bn_weights(layer.weight, layer.bias, bn.running_mean,
                                                            bn.running_var, bn.eps, bn.weight, bn.bias)
        _set_module(gm, src.target, layer)
        modules[src.target] = layer
        node.replace_all_uses_with(src)
        gm.graph.erase_node(node)
        folded.append((src.target, node.target))
    return folded


def _remove_dropout(gm: fx.GraphModule, kinds: dict) -> None:
    for node in list(gm.graph.nodes):
        if kinds.get(node) == "dropout":
            node.replace_all_uses_with(node.args[0])
            gm.graph.erase_node(node)


def _pool_before_activation(gm: fx.GraphModule, kinds: dict) -> int:
    """Swap ``activation -> maxpool`` to ``maxpool -> activation`` (max commutes with a monotone
    activation) when the activation feeds only the pool. Returns the number of swaps."""
    swaps = 0
    for pool in list(gm.graph.nodes):
        if kinds.get(pool) != "maxpool":
            continue
        act = pool.args[0]
        if not (isinstance(act, fx.Node) and kinds.get(act) == "activation" and len(act.users) == 1):
            continue
        z = act.args[0]
        pool.replace_input_with(act, z)
        with gm.graph.inserting_after(pool):
            new_act = gm.graph.node_copy(act, lambda n: pool if n is z else n)
        pool.replace_all_uses_with(new_act, delete_user_cb=lambda u: u is not new_act)
        gm.graph.erase_node(act)
        kinds[new_act] = "activation"
        swaps += 1
    return swaps


def prepare(model: nn.Module, *, method: str = "forward", maxpool: str = "pre", fold_bn: bool = True):
    """Trace ``model``, check every node, remove dropout, fold BN, move max pools before activations.

    Returns ``(gm, activations, report)``: the ANN ``GraphModule`` (same function as the model,
    up to BN-folding rounding), its :class:`Activation` list in graph order, and a dict of what
    was done (``"bn_folded"``, ``"maxpool_swapped"``, ``"maxpools"``, ``"dropout_removed"``).
    """
    gm = trace(model, method)
    modules = dict(gm.named_modules())
    dynamic = _dynamic_nodes(gm.graph)
    kinds = {n: check_node(n, modules, dynamic, maxpool) for n in gm.graph.nodes}
    report = {"dropout_removed": sum(k == "dropout" for k in kinds.values()),
              "maxpools": sum(k == "maxpool" for k in kinds.values())}
    _remove_dropout(gm, kinds)
    report["bn_folded"] = _fold_bn(gm) if fold_bn else []
    report["maxpool_swapped"] = _pool_before_activation(gm, kinds) if maxpool == "pre" else 0
    gm.graph.lint()
    gm.delete_all_unused_submodules()
    gm.recompile()
    modules = dict(gm.named_modules())
    acts = [a for a in (_activation(n, modules) for n in gm.graph.nodes) if a is not None]
    return gm, acts, report
