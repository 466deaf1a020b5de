r"""NIR (Neuromorphic Intermediate Representation) export and import for spiking stacks.

``export_nir(model, input_shape, dt=1e-4)`` turns a sequential multi-step model
(``nn.Sequential`` of ``SeqToANN``-wrapped conv/pool layers, ``Linear``, ``Flatten`` and
``LIFLayer``/``IFLayer``/``ParametricLIFLayer``/``CubaLIFLayer``; also the zoo's
``SpikingMLP`` and ``SpikingConvNet``), or a model with a whole-model exporter
(:func:`~neurosim.snn.nir_graph.register_graph_exporter`: ``neurosim.convert.ConvertedSNN``,
residual graphs included), into a ``nir.NIRGraph``; ``import_nir(graph)`` builds the
equivalent neurosim ``nn.Sequential`` for a chain, or a
:class:`~neurosim.snn.nir_graph.GraphNet` for any other acyclic graph (fan-in edges are
summed), with input ``[T, B, ...]`` and output the per-step output of the last node.
``write_nir``/``read_nir`` add the file step (``nir.write``/``nir.read``, HDF5). Requires
the optional ``nir`` package (``pip install nir``), imported only when a function is called.
``neurosim.io`` re-exports the four functions lazily.

Registries
----------
Both directions are driven by type tables, so a new layer is added in one place:
:func:`register_exporter` (torch module type -> function returning one NIR node, with the
node types it may write), :func:`register_importer` (NIR node type -> function returning one
torch module) and :func:`register_layers` (a container or composite model -> the modules it
runs in order; ``[]`` skips a module). Lookups follow the class's MRO, so subclasses inherit
their base's entry. The zoo models register their layer order next to their class; the tests
check that every node type an exporter writes has an importer and round-trip each registered
type.

Discrete <-> continuous mapping (``dt`` in seconds, NIR's unit)
--------------------------------------------------------------
The mapping is the spec's: :meth:`LIFSpec.to_nir` / :meth:`LIFSpec.from_nir` and
:meth:`CubaLIFSpec.to_nir` / :meth:`CubaLIFSpec.from_nir`
(:mod:`neurosim.snn.functional`). A neurosim LIF step (any ``form``) is the affine map
:math:`h = \beta v + (1-\beta) v_{rest} + g\,x` with decay :math:`\beta = 1 - 1/\tau`
(``LIFSpec.decay``) and input gain :math:`g` (``LIFSpec.input_gain``: ``1/tau`` with
``decay_input``, else 1). NIR's LIF is :math:`\tau_c \dot v = (v_{leak} - v) + R I`. With
``discretization="euler"`` (default; snntorch and norse integrate NIR this way) one
forward-Euler step of length ``dt`` reproduces the neurosim step exactly when

.. math::  \tau_c = \frac{dt}{1-\beta},\qquad v_{leak} = v_{rest},\qquad R = \frac{g}{1-\beta}, \qquad I = x,

so ``tau_c = tau * dt`` and ``R = 1`` for the default ``decay_input=True`` (``R = tau``
without it). ``discretization="exact"`` (zero-order hold, for simulators that integrate
the ODE exactly over a step) writes :math:`\tau_c = -dt / \ln\beta` and the same ``R``.
A neuron without leak (:math:`\beta = 1`, ``IFLayer``) is written as ``nir.IF`` with
:math:`R = g/dt` (Euler: :math:`v \mathrel{+}= dt\,R\,I`). ``v_threshold = v_th``,
``v_reset = v_reset``. A ``ParametricLIFLayer`` is written with its current learned ``tau``.

Current-based LIF (``CubaLIFLayer``): the current :math:`c_t = \alpha c_{t-1} + x_t`
(:math:`\alpha = 1 - 1/\tau_{syn}`) drives the LIF charge. NIR's
:math:`\tau_{syn}\dot I = -I + w_{in} S`, Euler-stepped with the new current driving the
membrane (snntorch's reading), matches with :math:`\tau_{syn,c} = dt/(1-\alpha)`,
:math:`w_{in} = 1/(1-\alpha)` (so :math:`I = c`), and the membrane fields as for LIF.

What NIR 1.0 cannot say is kept in each node's ``metadata["neurosim"]`` (the exact discrete
``tau``, reset mode, ``>=`` vs ``>``, surrogate, ``decay_input``, ``detach_reset``, form) and
in the graph's ``metadata["neurosim"] = {"dt", "discretization"}``; :func:`import_nir` uses
them, so export -> import is exact. Other tools ignore them, which means:

* **Fire rule.** NIR (and snntorch, norse) fire on ``v > v_threshold``; neurosim's default is
  ``fire=">="``. Another tool reading a default neurosim graph gives the same spikes unless a
  membrane lands exactly on the threshold (likely with quantised weights or inputs), where
  neurosim spikes and the other tool does not. Build the layers with ``fire=">"`` for
  identical spikes; :func:`import_nir` of a graph without neurosim metadata uses ``>``.
* NIR's reset is to ``v_reset`` (hard). A subtractive or absent reset is written with
  ``v_reset = v_reset`` plus the metadata; other simulators will hard-reset.
* BatchNorm is folded into the preceding ``Conv2d``/``Linear`` using its running statistics
  (eval-mode semantics); export a trained model.
* The time average of the logits done by the zoo models is a readout, not a node: the
  graph's output is the per-step output of the last layer.

snntorch (1.0, via ``snntorch.import_from_nir``) assumes ``dt = 1e-4`` s, forward Euler,
``v_leak = 0``, one threshold per layer; it divides the threshold by ``R dt / tau`` instead
of scaling the input, resets to zero and fires on ``>`` (see above); its importer maps
``nir.Flatten`` to ``torch.nn.Flatten(start_dim, end_dim)`` on batched tensors (NIR's dims
exclude the batch, so the flatten is off by one dimension) and ``nir.IF`` to
``Leaky(beta=0.9)``. Export with ``dt=1e-4``, ``reset="zero"``, ``v_reset=0``, ``fire=">"``
for snntorch; see ``tests/test_nir.py`` for what matches.
"""
from __future__ import annotations

import dataclasses
import numbers
from types import MappingProxyType
from typing import Callable, Iterable

import numpy as np
import torch
from torch import nn

from neurosim._validation import check_choice, check_positive
from neurosim.snn.containers import SeqToANN, Stateful
from neurosim.snn.functional.cuba import CubaLIFSpec
from neurosim.snn.functional.lif import DISCRETIZATIONS, LIFSpec
from neurosim.snn.modules import CubaLIFLayer, IFLayer, LIFLayer, ParametricLIFLayer
from neurosim.snn.nir_graph import GraphNet, ScaleLayer, dag, graph_exporter

__all__ = [
    "export_nir", "import_nir", "write_nir", "read_nir", "NIR_DT", "Exporter", "ExportStep", "ImportStep",
    "register_exporter", "register_importer", "register_layers", "EXPORTERS", "IMPORTERS",
]

#: default step (seconds) written to NIR: snntorch's importer hard-codes 1e-4 s
NIR_DT = 1e-4
_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


def _nir():
    try:
        import nir
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("NIR support needs the 'nir' package: pip install nir") from exc
    return nir


# -- registries ------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ExportStep:
    """What an exporter is given besides its module."""

    shape: tuple[int, ...]  #: shape of one sample at one step entering the module
    dt: float  #: seconds per step
    discretization: str  #: "euler" or "exact"
    batchnorm: nn.Module | None = None  #: the BatchNorm that follows, to fold (``folds_batchnorm`` exporters)


@dataclasses.dataclass(frozen=True)
class ImportStep:
    """What an importer is given besides its node."""

    name: str  #: the node's name in the graph
    dt: float
    discretization: str


@dataclasses.dataclass(frozen=True)
class Exporter:
    """A registered exporter: ``fn(module, ExportStep) -> (node, output_shape)``."""

    fn: Callable
    nodes: tuple[str, ...]  #: the NIR node types ``fn`` may return (each needs an importer)
    folds_batchnorm: bool = False


_EXPORTERS: dict[type, Exporter] = {}
_LAYERS: dict[type, Callable[[nn.Module], Iterable[nn.Module]]] = {}
_IMPORTERS: dict[str, Callable] = {}
#: read-only views: torch type -> :class:`Exporter`; NIR node type name -> importer
EXPORTERS = MappingProxyType(_EXPORTERS)
IMPORTERS = MappingProxyType(_IMPORTERS)


def _register(table: dict, keys, value, what: str):
    if not keys:
        raise TypeError(f"register_{what} needs at least one type")
    for key in keys:
        if key in table:
            raise ValueError(f"{getattr(key, '__name__', key)} already has a NIR {what}")
    for key in keys:
        table[key] = value


def register_exporter(*types: type, nodes: Iterable[str], folds_batchnorm: bool = False):
    """Decorator: ``fn(module, step: ExportStep) -> (nir_node, output_shape)`` exports ``types``.

    ``nodes`` names the NIR node types ``fn`` may write (``"LIF"``, ``"Affine"`` ...); each
    needs a :func:`register_importer`. ``folds_batchnorm``: a BatchNorm right after the module
    is passed as ``step.batchnorm`` and folded into it.
    """
    def deco(fn):
        _register(_EXPORTERS, types, Exporter(fn, tuple(nodes), bool(folds_batchnorm)), "exporter")
        return fn

    return deco


def register_layers(*types: type):
    """Decorator: ``fn(module) -> modules`` gives the modules ``types`` run, in order (``[]``: skip)."""
    def deco(fn):
        _register(_LAYERS, types, fn, "layer order")
        return fn

    return deco


def register_importer(*node_types: str):
    """Decorator: ``fn(node, step: ImportStep) -> nn.Module`` imports NIR nodes of ``node_types`` (class names)."""
    def deco(fn):
        _register(_IMPORTERS, node_types, fn, "importer")
        return fn

    return deco


def _lookup(table: dict, cls: type):
    for c in cls.__mro__:
        if c in table:
            return table[c]
    return None


def _importer(node):
    for c in type(node).__mro__:
        if c.__module__.split(".")[0] == "nir" and c.__name__ in _IMPORTERS:
            return _IMPORTERS[c.__name__]
    return None


# -- export ----------------------------------------------------------------------------------
def _linearize(module) -> list:
    """Leaf modules of a sequential model, in forward order."""
    if isinstance(module, Stateful) or _lookup(_EXPORTERS, type(module)) is not None:
        return [module]
    layers = _lookup(_LAYERS, type(module))
    if layers is None:
        return [module]  # not exportable: export_nir names it
    return [leaf for child in layers(module) for leaf in _linearize(child)]


def export_nir(model, input_shape, *, dt: float = NIR_DT, discretization: str = "euler"):
    """Export a sequential spiking model to a ``nir.NIRGraph``.

    Parameters
    ----------
    model : ``nn.Sequential`` (possibly nested, with ``SeqToANN``) of ``Conv2d``,
        ``BatchNorm2d`` (folded), ``Linear``, ``Flatten``, ``AvgPool2d`` (``SumPool2d`` when
        ``divisor_override=1``), ``Dropout``/``Identity`` (skipped) and the LIF layers; or a
        ``SpikingMLP``/``SpikingConvNet`` (any type in :data:`EXPORTERS`, or expanded by
        :func:`register_layers`).
    input_shape : shape of one sample at one step, e.g. ``(1, 28, 28)`` (no time, no batch).
    dt : seconds per step written to the graph (``NIR_DT`` = 1e-4 s, snntorch's value).
    discretization : ``"euler"`` (default) or ``"exact"``; see the module docstring.

    Returns
    -------
    nir.NIRGraph with nodes ``input``, ``0``, ``1``, ... , ``output`` in a chain. Layers with
    neurosim's default ``fire=">="`` spike where other NIR tools (``>``) do not when a membrane
    equals the threshold exactly (module docstring).
    """
    nir = _nir()
    dt = check_positive("dt", dt, unit="s")
    check_choice("discretization", discretization, DISCRETIZATIONS)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    try:
        shape = None if isinstance(input_shape, (str, bytes, dict)) else tuple(input_shape)
    except TypeError:
        shape = None
    if shape is None:
        raise TypeError(f"input_shape must be the shape of one sample, e.g. (1, 28, 28); got {input_shape!r}")
    if not shape or not all(isinstance(s, numbers.Integral) and s >= 1 for s in shape):
        raise ValueError(f"input_shape must be the positive shape of one sample, e.g. (1, 28, 28); got {input_shape}")
    shape = tuple(int(s) for s in shape)
    whole = graph_exporter(type(model))
    if whole is not None:  # e.g. neurosim.convert.ConvertedSNN (neurosim.convert.nir)
        return whole(model, shape, dt=dt, discretization=discretization)
    mods = _linearize(model)
    nodes = {"input": nir.Input(input_type={"input": np.array(shape)})}
    order = []
    cur = shape
    i = 0
    while i < len(mods):
        m = mods[i]
        if isinstance(m, _BATCHNORMS):
            raise ValueError("a BatchNorm must follow a Conv2d or Linear to be folded into it for NIR export")
        entry = _lookup(_EXPORTERS, type(m))
        if entry is None:
            names = ", ".join(sorted(t.__name__ for t in _EXPORTERS))
            raise TypeError(f"cannot export {type(m).__name__} to NIR; supported: {names}, BatchNorm (folded) "
                            "in a sequential stack (max-pooling and feedback are not expressible in NIR 1.0 here; "
                            "residual graphs export from neurosim.convert.ConvertedSNN)")
        nxt = mods[i + 1] if i + 1 < len(mods) else None
        bn = nxt if entry.folds_batchnorm and isinstance(nxt, _BATCHNORMS) else None
        node, cur = entry.fn(m, ExportStep(cur, dt, discretization, bn))
        name = str(len(order))
        nodes[name] = node
        order.append(name)
        i += 2 if bn is not None else 1
    nodes["output"] = nir.Output(output_type={"output": np.array(cur)})
    chain = ["input"] + order + ["output"]
    edges = list(zip(chain[:-1], chain[1:]))
    meta = {"neurosim": {"dt": float(dt), "discretization": discretization, "version": 1}}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def _fold_bn(weight, bias, bn):
    """Fold an eval-mode BatchNorm into the preceding weights (output channels first)."""
    std = torch.sqrt(bn.running_var.double() + bn.eps)
    gamma = bn.weight.detach().double() if bn.weight is not None else torch.ones_like(std)
    beta = bn.bias.detach().double() if bn.bias is not None else torch.zeros_like(std)
    s = gamma / std
    w = weight.double() * s.reshape(-1, *([1] * (weight.dim() - 1)))
    b0 = bias.double() if bias is not None else torch.zeros_like(std)
    b = (b0 - bn.running_mean.double()) * s + beta
    return w.to(weight.dtype), b.to(weight.dtype)


def _weights(m, step: ExportStep):
    w, b = m.weight.detach(), (m.bias.detach() if m.bias is not None else None)
    if step.batchnorm is not None:
        w, b = _fold_bn(w, b, step.batchnorm)
    return w, b


def _pair(v):
    a = np.atleast_1d(np.asarray(v)).astype(np.int64).ravel()
    if a.size == 1:
        return (int(a[0]), int(a[0]))
    return tuple(int(x) for x in a)


def _out_shape(m, shape):
    p = next(m.parameters(), None)
    with torch.no_grad():
        return tuple(m(torch.zeros(1, *shape, dtype=None if p is None else p.dtype)).shape[1:])


@register_exporter(nn.Conv2d, nodes=("Conv2d",), folds_batchnorm=True)
def _export_conv(m, step):
    if m.padding_mode != "zeros" or isinstance(m.padding, str):
        raise ValueError("only numeric zero padding can be exported to NIR Conv2d")
    w, b = _weights(m, step)
    if b is None:
        b = torch.zeros(w.shape[0], dtype=w.dtype)
    node = _nir().Conv2d(input_shape=tuple(step.shape[-2:]), weight=w.numpy().copy(), stride=tuple(m.stride),
                         padding=tuple(m.padding), dilation=tuple(m.dilation), groups=m.groups, bias=b.numpy().copy())
    return node, _out_shape(m, step.shape)


@register_exporter(nn.Linear, nodes=("Affine", "Linear"), folds_batchnorm=True)
def _export_linear(m, step):
    nir = _nir()
    w, b = _weights(m, step)
    if step.shape[-1] != m.in_features:
        raise ValueError(f"Linear expects {m.in_features} inputs but receives shape {step.shape}; add a Flatten")
    node = (nir.Affine(weight=w.numpy().copy(), bias=b.numpy().copy()) if b is not None
            else nir.Linear(weight=w.numpy().copy()))
    return node, step.shape[:-1] + (m.out_features,)


@register_exporter(nn.Flatten, nodes=("Flatten",))
def _export_flatten(m, step):
    # time-major models flatten [T, B, ...] from dim 2; NIR's dims exclude time and batch
    if 0 <= m.start_dim < 2 or 0 <= m.end_dim < 2:
        raise ValueError(f"Flatten({m.start_dim}, {m.end_dim}) would merge the time/batch dims of a "
                         "[T, B, ...] model; use nn.Flatten(2)")
    start = m.start_dim - 2 if m.start_dim >= 0 else m.start_dim
    end = m.end_dim - 2 if m.end_dim >= 0 else m.end_dim
    node = _nir().Flatten(input_type={"input": np.array(step.shape)}, start_dim=start, end_dim=end)
    return node, tuple(int(v) for v in node.output_type["output"])


@register_exporter(nn.AvgPool2d, nodes=("AvgPool2d", "SumPool2d"))
def _export_avgpool(m, step):
    nir = _nir()
    k, s, p = _pair(m.kernel_size), _pair(m.stride if m.stride is not None else m.kernel_size), _pair(m.padding)
    if m.ceil_mode:
        raise ValueError("AvgPool2d(ceil_mode=True) cannot be exported to NIR")
    if m.divisor_override == 1:
        node = nir.SumPool2d(kernel_size=np.array(k), stride=np.array(s), padding=np.array(p))
    elif m.divisor_override is None:
        if any(p) and m.count_include_pad is False:
            raise ValueError("AvgPool2d with padding must count the padding (count_include_pad=True) for NIR")
        node = nir.AvgPool2d(kernel_size=np.array(k), stride=np.array(s), padding=np.array(p))
    else:
        raise ValueError(f"AvgPool2d(divisor_override={m.divisor_override}) has no NIR node")
    return node, _out_shape(m, step.shape)


def _full(shape, fields: dict) -> dict:
    return {k: np.full(shape, v, dtype=np.float64) for k, v in fields.items()}


def _neuron_node(spec: LIFSpec, step):
    nir = _nir()
    fields = spec.to_nir(step.dt, step.discretization)
    cls = nir.LIF if "tau" in fields else nir.IF
    return cls(**_full(step.shape, fields), metadata={"neurosim": spec.nir_metadata()}), step.shape


@register_exporter(LIFLayer, nodes=("LIF", "IF"))  # IF: a LIFLayer with decay 1 (snntorch's beta=1)
@register_exporter(IFLayer, nodes=("IF",))
def _export_lif(m, step):
    return _neuron_node(m.spec, step)


@register_exporter(ParametricLIFLayer, nodes=("LIF",))
def _export_plif(m, step):
    # the learned time constant, frozen (spikes equal the layer's up to float rounding)
    return _neuron_node(m.spec.replace(tau=m.tau), step)


@register_exporter(CubaLIFLayer, nodes=("CubaLIF",))
def _export_cuba(m, step):
    cs = m.cuba_spec
    node = _nir().CubaLIF(**_full(step.shape, cs.to_nir(step.dt, step.discretization)),
                          metadata={"neurosim": cs.nir_metadata()})
    return node, step.shape


@register_layers(nn.Sequential)  # includes SeqToANN
def _sequential_layers(m):
    return list(m)


@register_layers(nn.Dropout, nn.Identity)
def _skipped(m):
    return []


# -- import ----------------------------------------------------------------------------------
def _chain(graph):
    """Node names from the input to the output of a chain-shaped graph; ``None`` if a node branches or merges."""
    nir = _nir()
    succ, pred = {}, {}
    for a, b in graph.edges:
        succ.setdefault(a, []).append(b)
        pred.setdefault(b, []).append(a)
    inputs = [n for n, v in graph.nodes.items() if isinstance(v, nir.Input)]
    if len(inputs) != 1:
        raise ValueError(f"the graph must have exactly one Input node, found {len(inputs)}")
    if any(len(succ.get(n, [])) > 1 or len(pred.get(n, [])) > 1 for n in graph.nodes):
        return None
    order, cur, seen = [], inputs[0], set()
    while True:
        order.append(cur)
        seen.add(cur)
        nxt = succ.get(cur, [])
        if not nxt:
            break
        cur = nxt[0]
        if cur in seen:
            raise ValueError("import_nir cannot import recurrent (cyclic) graphs")
    if len(order) != len(graph.nodes):
        missing = sorted(set(graph.nodes) - set(order))
        raise ValueError(f"nodes {missing} are not on the input -> output chain")
    return order


def _uniform(name, arr):
    a = np.asarray(arr, dtype=np.float64)
    if a.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(a == a.flat[0]):
        raise ValueError(f"{name} differs between neurons; neurosim layers take one value per layer")
    return float(a.flat[0])


def _fields(node, step: ImportStep, *names) -> list[float]:
    return [_uniform(f"{step.name}.{n}", getattr(node, n)) for n in names]


def _neurosim_metadata(node) -> dict | None:
    meta = node.metadata
    ns = meta.get("neurosim") if isinstance(meta, dict) else None
    return ns if isinstance(ns, dict) and ns else None


def _f32(a):
    return torch.as_tensor(np.asarray(a), dtype=torch.float32)


def import_nir(graph, *, dt: float | None = None, discretization: str | None = None):
    """Build a neurosim model (input ``[T, B, ...]``) from a NIR graph.

    A chain gives an ``nn.Sequential``; any other acyclic graph with one ``Input`` and one
    ``Output`` node a :class:`~neurosim.snn.nir_graph.GraphNet` (the inputs of a node with
    several incoming edges are summed, in edge order). ``dt`` and ``discretization`` default
    to the values the graph's neurosim metadata records, else ``NIR_DT`` (1e-4 s) and
    ``"euler"``. Node types: those in :data:`IMPORTERS`.
    """
    nir = _nir()
    if not isinstance(graph, nir.NIRGraph):
        raise TypeError(f"graph must be a nir.NIRGraph, got {type(graph).__name__}")
    gmeta = _neurosim_metadata(graph) or {}
    if dt is None:
        dt = float(gmeta.get("dt", NIR_DT))
    dt = check_positive("dt", dt, unit="s")
    if discretization is None:
        discretization = str(gmeta.get("discretization", "euler"))
    check_choice("discretization", discretization, DISCRETIZATIONS)

    def build(name):
        node = graph.nodes[name]
        fn = _importer(node)
        if fn is None:
            raise TypeError(f"cannot import NIR node {name!r} of type {type(node).__name__}; supported: "
                            f"{', '.join(_IMPORTERS)}")
        return fn(node, ImportStep(name, dt, discretization))

    order = _chain(graph)
    if order is not None:
        return nn.Sequential(*[build(n) for n in order if not isinstance(graph.nodes[n], (nir.Input, nir.Output))])
    inp, out, order, pred = dag(graph, nir)
    names = [n for n in order if n not in (inp, out)]
    return GraphNet(names, [build(n) for n in names], [pred[n] for n in names], pred[out], input=inp)


@register_importer("Affine", "Linear")
def _import_linear(node, step):
    w = np.asarray(node.weight)
    affine = isinstance(node, _nir().Affine)
    lin = nn.Linear(w.shape[1], w.shape[0], bias=affine)
    with torch.no_grad():
        lin.weight.copy_(_f32(w))
        if affine:
            lin.bias.copy_(_f32(node.bias))
    return lin


@register_importer("Conv2d")
def _import_conv(node, step):
    w = np.asarray(node.weight)
    if isinstance(node.padding, str):
        raise ValueError(f"NIR Conv2d padding {node.padding!r} is not supported; use numeric padding")
    conv = nn.Conv2d(w.shape[1] * node.groups, w.shape[0], tuple(w.shape[-2:]), stride=_pair(node.stride),
                     padding=_pair(node.padding), dilation=_pair(node.dilation), groups=int(node.groups), bias=True)
    with torch.no_grad():
        conv.weight.copy_(_f32(w))
        conv.bias.copy_(_f32(node.bias) if node.bias is not None else torch.zeros(w.shape[0]))
    return SeqToANN(conv)


@register_importer("Flatten")
def _import_flatten(node, step):
    start = node.start_dim + 2 if node.start_dim >= 0 else node.start_dim
    end = node.end_dim + 2 if node.end_dim >= 0 else node.end_dim
    return nn.Flatten(start, end)


@register_importer("AvgPool2d", "SumPool2d")
def _import_pool(node, step):
    k, s, p = (_pair(a) for a in (node.kernel_size, node.stride, node.padding))
    return SeqToANN(nn.AvgPool2d(k, s, p, divisor_override=1 if isinstance(node, _nir().SumPool2d) else None))


@register_importer("Scale")
def _import_scale(node, step):
    return ScaleLayer(_f32(node.scale))


@register_importer("LIF")
def _import_lif(node, step):
    tau, r, v_leak, v_th, v_reset = _fields(node, step, "tau", "r", "v_leak", "v_threshold", "v_reset")
    return LIFLayer(spec=LIFSpec.from_nir(tau, r, v_leak, v_th, v_reset, dt=step.dt,
                                          discretization=step.discretization, metadata=_neurosim_metadata(node)))


@register_importer("IF")
def _import_if(node, step):
    r, v_th, v_reset = _fields(node, step, "r", "v_threshold", "v_reset")
    return IFLayer(spec=LIFSpec.from_nir(None, r, 0.0, v_th, v_reset, dt=step.dt, discretization=step.discretization,
                                         metadata=_neurosim_metadata(node)))


@register_importer("CubaLIF")
def _import_cuba(node, step):
    fields = _fields(node, step, "tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in")
    try:
        cs = CubaLIFSpec.from_nir(*fields, dt=step.dt, discretization=step.discretization,
                                  metadata=_neurosim_metadata(node))
    except ValueError as exc:
        raise ValueError(f"NIR CubaLIF {step.name!r}: {exc}") from None
    if cs.alpha is not None:
        return CubaLIFLayer(spec=cs.lif, alpha=cs.alpha)
    return CubaLIFLayer(spec=cs.lif, tau_syn=cs.tau_syn)


# -- files -----------------------------------------------------------------------------------
def write_nir(model, path, input_shape, **kwargs) -> None:
    """``export_nir(model, input_shape, **kwargs)`` written to ``path`` (``nir.write``, HDF5)."""
    _nir().write(str(path), export_nir(model, input_shape, **kwargs))


def read_nir(path, **kwargs):
    """Read a NIR file and :func:`import_nir` it.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    CorruptFileError
        (a ``ValueError``) the file is empty, not HDF5, truncated, or HDF5 without a NIR graph.
    ValueError, TypeError
        the graph holds what :func:`import_nir` cannot build; the message names the file.
    """
    from neurosim.io.files import CorruptFileError, brief, existing_file

    path = existing_file(path, "NIR file")
    with open(path, "rb") as fh:
        head = fh.read(8)
    if not head:
        raise CorruptFileError(path, "is empty (0 bytes), not a NIR file")
    nir = _nir()
    import h5py  # a dependency of nir

    if not h5py.is_hdf5(str(path)):
        raise CorruptFileError(path, "is not a NIR file (no HDF5 signature; NIR files are HDF5, written by nir.write)")
    try:
        graph = nir.read(str(path))
    except Exception as exc:  # noqa: BLE001 - h5py/nir raise OSError, KeyError, ... for damaged files
        raise CorruptFileError(path, f"is not a readable NIR graph ({type(exc).__name__}: {brief(exc)}); "
                                     "write it again with nir.write or neurosim.io.write_nir") from None
    try:
        return import_nir(graph, **kwargs)
    except (ValueError, TypeError) as exc:  # a graph import_nir cannot build: say which file
        raise (TypeError if isinstance(exc, TypeError) else ValueError)(f"{path}: {exc}") from None
