"""NIR graphs that are not chains: the module that runs them, their order, whole-model exporters.

:func:`neurosim.snn.nir.import_nir` returns an ``nn.Sequential`` for a chain and a
:class:`GraphNet` for any other acyclic graph with one ``Input`` and one ``Output`` node
(residual networks, ANN-to-SNN conversions with skip connections). NIR's edges are identity
maps and the inputs of a node with several incoming edges are **summed** (NIR's reading of a
fan-in); :class:`GraphNet` adds them in the order of the graph's edge list, so an exporter that
lists ``a -> c`` before ``b -> c`` gets ``a + b`` bit for bit.

Models that are not a sequence of layers register a whole-model exporter with
:func:`register_graph_exporter` (e.g. :class:`neurosim.convert.ConvertedSNN`, in
:mod:`neurosim.convert.nir`); :func:`neurosim.snn.nir.export_nir` hands such a model, after
checking ``input_shape``, ``dt`` and ``discretization``, to that function. This module does
not import ``nir``.
"""
from __future__ import annotations

from typing import Callable, Iterable

import numpy as np
import torch
from torch import nn

__all__ = ["GraphNet", "ScaleLayer", "topological_order", "register_graph_exporter", "graph_exporter",
           "GRAPH_EXPORTERS", "dag"]

_GRAPH_EXPORTERS: dict[type, Callable] = {}
#: torch model type -> ``fn(model, input_shape, *, dt, discretization) -> nir.NIRGraph``
GRAPH_EXPORTERS = _GRAPH_EXPORTERS


def register_graph_exporter(*types: type):
    """Decorator: ``fn(model, input_shape, *, dt, discretization) -> nir.NIRGraph`` exports ``types``
    (and their subclasses) through :func:`neurosim.snn.nir.export_nir`."""
    if not types:
        raise TypeError("register_graph_exporter needs at least one type")

    def deco(fn):
        for t in types:
            if t in _GRAPH_EXPORTERS:
                raise ValueError(f"{t.__name__} already has a NIR graph exporter")
        for t in types:
            _GRAPH_EXPORTERS[t] = fn
        return fn

    return deco


def graph_exporter(cls: type) -> Callable | None:
    """The whole-model exporter registered for ``cls`` or a base class, else ``None``."""
    for c in cls.__mro__:
        if c in _GRAPH_EXPORTERS:
            return _GRAPH_EXPORTERS[c]
    return None


def topological_order(nodes: Iterable[str], edges) -> list[str]:
    """Node names in an order where every edge points forward (Kahn; ties in ``nodes`` order).

    Raises ``ValueError`` naming the nodes on a cycle (recurrent graphs) and edges whose ends
    are not nodes.
    """
    names = list(nodes)
    known = set(names)
    indeg = {n: 0 for n in names}
    succ: dict[str, list[str]] = {n: [] for n in names}
    for a, b in edges:
        if a not in known or b not in known:
            raise ValueError(f"edge ({a!r}, {b!r}) names a node that is not in the graph")
        succ[a].append(b)
        indeg[b] += 1
    ready = [n for n in names if indeg[n] == 0]
    order = []
    while ready:
        n = ready.pop(0)
        order.append(n)
        for b in succ[n]:
            indeg[b] -= 1
            if indeg[b] == 0:
                ready.append(b)
    if len(order) != len(names):
        cyc = [n for n in names if indeg[n] > 0]
        raise ValueError(f"import_nir cannot import recurrent (cyclic) graphs; nodes {cyc} are on or after a cycle")
    return order


def _shape_of(types) -> tuple | None:
    vals = list(types.values()) if isinstance(types, dict) else []
    if len(vals) != 1 or vals[0] is None:
        return None
    return tuple(int(v) for v in np.asarray(vals[0]).ravel())


def dag(graph, nir):
    """``(input, output, topological order, {node: sources in edge order})`` of an acyclic ``nir.NIRGraph``
    with one ``Input`` and one ``Output`` node (``nir``: the imported package); ``ValueError`` otherwise."""
    outs = [n for n, v in graph.nodes.items() if isinstance(v, nir.Output)]
    if len(outs) != 1:
        raise ValueError(f"a graph that branches or merges must have exactly one Output node, found {len(outs)}")
    inp = next(n for n, v in graph.nodes.items() if isinstance(v, nir.Input))
    order = topological_order(graph.nodes, graph.edges)
    pred = {n: [] for n in graph.nodes}
    succ = {n: [] for n in graph.nodes}
    for a, b in graph.edges:
        pred[b].append(a)
        succ[a].append(b)
        sa, sb = _shape_of(graph.nodes[a].output_type), _shape_of(graph.nodes[b].input_type)
        if sa is not None and sb is not None and sa != sb:
            raise ValueError(f"edge ({a!r}, {b!r}) carries shape {sa} into {b!r}, which takes {sb}")
    reach = {inp}
    for n in order:
        if any(p in reach for p in pred[n]):
            reach.add(n)
    useful = {outs[0]}
    for n in reversed(order):
        if any(b in useful for b in succ[n]):
            useful.add(n)
    lost = [n for n in graph.nodes if n not in reach or n not in useful]
    if lost:
        raise ValueError(f"nodes {lost} are not on a path from the input {inp!r} to the output {outs[0]!r}")
    return inp, outs[0], order, pred


class ScaleLayer(nn.Module):
    """NIR ``Scale``: ``x * scale`` with ``scale`` shaped like one sample (broadcast over ``[T, B]``)."""

    def __init__(self, scale: torch.Tensor):
        super().__init__()
        self.register_buffer("scale", torch.as_tensor(scale).detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return x * self.scale

    def extra_repr(self) -> str:
        return f"shape={tuple(self.scale.shape)}"


class GraphNet(nn.Module):
    """An imported acyclic NIR graph: ``forward(x[T, B, ...]) -> y[T, B, ...]`` (the ``Output`` node).

    Parameters
    ----------
    names : list of str
        The computing nodes, in topological order.
    layers : list of nn.Module
        The module of each node (same order), taking and returning ``[T, B, ...]``.
    sources : list of list of str
        For each node, the names of the nodes on its incoming edges, in edge order; the graph's
        ``Input`` node is named ``input``. Their outputs are summed.
    output : list of str
        The nodes feeding the ``Output`` node (summed).
    input : str
        The name of the graph's ``Input`` node.

    Stateful layers keep their state between calls until :func:`neurosim.snn.reset_states`.
    """

    def __init__(self, names, layers, sources, output, input: str = "input"):
        super().__init__()
        if not (len(names) == len(layers) == len(sources)):
            raise ValueError("names, layers and sources must have one entry per node")
        known = {input, *names}
        for name, src in zip(names, sources):
            bad = [s for s in src if s not in known]
            if bad or not src:
                raise ValueError(f"node {name!r} has no input or reads unknown nodes {bad}")
        if not output or any(s not in known for s in output):
            raise ValueError(f"the output reads unknown nodes: {output}")
        self.names = list(names)
        self.layers = nn.ModuleList(layers)
        self.sources = [list(s) for s in sources]
        self.output = list(output)
        self.input = input

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        env = {self.input: x}

        def gather(src):
            y = env[src[0]]
            for s in src[1:]:
                y = y + env[s]
            return y

        for name, layer, src in zip(self.names, self.layers, self.sources):
            env[name] = layer(gather(src))
        return gather(self.output)

    def extra_repr(self) -> str:
        merges = sum(len(s) > 1 for s in self.sources) + (len(self.output) > 1)
        return f"nodes={len(self.names)}, merges={merges}"
