r"""NIR export of converted networks: ``export_nir(snn, input_shape)`` for a :class:`ConvertedSNN`.

Registered with :func:`neurosim.snn.nir_graph.register_graph_exporter`, so
``neurosim.snn.nir.export_nir`` / ``write_nir`` (and ``neurosim.io``'s re-exports) take a
converted model; ``import_nir`` reads the graph back (a :class:`~neurosim.snn.nir_graph.GraphNet`
when it branches, an ``nn.Sequential`` when it is a chain) and gives the same spikes bit for
bit (the same torch layers and IF code compute both sides).

What is written (one node per op of ``snn.body``, named after the fx node / module path)
---------------------------------------------------------------------------------------------
* IF layer (:class:`~neurosim.convert.IFNeuron`) -> ``nir.IF`` with ``v_threshold = 1``,
  ``v_reset = 0`` and ``r = 1/dt``; a scale that was not folded into a neighbouring layer
  (``x/lambda`` in, ``lambda`` out) -> a ``nir.Scale`` before / after it (per-channel scales
  expanded to the layer's shape).
* ``Conv2d`` -> ``nir.Conv2d``; ``Linear`` (1-d input) -> ``nir.Affine`` / ``nir.Linear``;
  ``AvgPool2d`` / ``F.avg_pool2d`` -> ``nir.AvgPool2d`` (``SumPool2d`` for ``divisor_override=1``);
  adaptive average pooling whose output size divides the input -> ``nir.AvgPool2d`` with
  kernel = stride = input/output; ``Flatten`` / ``torch.flatten`` / ``view`` / ``reshape``
  that merge contiguous dims -> ``nir.Flatten``; multiplication or division by a number ->
  ``nir.Scale`` (division as a product with ``1/c``, which can differ by an ulp); ``Identity``,
  ``contiguous`` -> nothing.
* ``a + b`` (residual add) -> no node: the consumers of the sum get an edge from each summand
  (NIR sums the inputs of a node); ``a - b`` and ``-b`` go through a ``nir.Scale(-1)``.
* The graph's ``Output`` is the per-step output ``y_t`` of the last layer, which
  :meth:`ConvertedSNN.forward_steps` returns. The decoding (``snn.readout``: mean or sum over
  the steps) has no NIR node: it is recorded in ``graph.metadata["neurosim"]["converted"]``
  (``readout``, ``timesteps``); apply it to the imported model's output yourself.

Max pooling, BatchNorm left unfolded, concatenation, upsampling, padding, products of two
signals, constant tensors, several outputs and anything else raise ``ValueError`` naming the
fx node and the fix; NIR 1.0 has no node for them.

What NIR's IF means here (nir 1.0.8) and what other tools will do
-----------------------------------------------------------------
NIR's IF is :math:`\dot v = R I`, spike when :math:`v > v_{thr}`, then :math:`v \leftarrow v_{reset}`
(a hard reset; the ``v_reset`` field came with NIR PR #129, 2025; how to write other resets is
open, NIR issues #137/#138). With forward Euler over ``dt`` and spikes read as the value 1 in
the step they occur (snntorch, norse, neurosim), ``v += dt R I`` is ``v += I`` for
``r = 1/dt``, so ``dt`` only sets the unit of ``r``. Three properties of a converted IF layer
have no NIR field and are kept in the node's ``metadata["neurosim"]`` (read back by
``import_nir``; other tools ignore them):

* **reset by subtraction** (``reset="subtract"``, the premise of rate conversion,
  ``CONVERSION.md`` §1): a tool reading only the fields resets to 0 and throws the surplus
  away, so its rates fall below ``ReLU(z)/lambda`` and accuracy drops (in continuous time the
  two resets agree, NIR PR #63, because ``v`` never overshoots; per step they do not);
  ``reset="zero"`` conversions are NIR's reset exactly;
* **fire on** ``v >= 1`` (NIR: ``>``): differs only where a membrane lands exactly on 1;
* **initial membrane** ``v_init`` (0.5 for QCFS / half threshold; NIR starts at 0): recorded as
  ``v_rest``.
"""
from __future__ import annotations

import operator

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn

from neurosim.convert.graph import describe
from neurosim.convert.modules import ConvertedSNN, IFNeuron, Scale
from neurosim.snn.nir import EXPORTERS, NIR_DT, ExportStep, _nir
from neurosim.snn.nir_graph import register_graph_exporter

__all__ = ["export_converted"]

_ADD = {operator.add, operator.iadd, torch.add, "add", "add_"}
_SUB = {operator.sub, operator.isub, torch.sub, "sub", "sub_"}
_NEG = {operator.neg, torch.neg, "neg"}
_MUL = {operator.mul, operator.imul, torch.mul, "mul", "mul_"}
_DIV = {operator.truediv, operator.itruediv, torch.div, "div", "div_"}
_RESHAPES = {torch.flatten, torch.reshape, "flatten", "view", "reshape"}
_PASS = {"contiguous", operator.pos}
_LAYERS = (nn.Conv2d, nn.Linear, nn.AvgPool2d)
_FIX = ("NIR 1.0 has nodes for Conv2d, Linear/Affine, average/sum pooling, Flatten, Scale and IF (plus summed "
        "fan-in edges for additions): express the ANN with these and convert again")


class _Shapes(fx.Interpreter):
    """Per-sample output shape of every tensor-valued node, from one run on zeros. IF layers
    keep the shape (halved by a pool fused into them) and are skipped, so no neuron state of the caller's model is touched."""

    def __init__(self, gm):
        super().__init__(gm)
        self.shapes = {}

    def call_module(self, target, args, kwargs):
        m = self.module.get_submodule(target)
        if isinstance(m, IFNeuron):
            return F.avg_pool2d(args[0], 2) if m.pool else args[0]
        return super().call_module(target, args, kwargs)

    def run_node(self, n):
        out = super().run_node(n)
        if isinstance(out, torch.Tensor):  # (a constant from get_attr is recorded, then refused where used)
            self.shapes[n] = tuple(int(s) for s in out.shape[1:])
        return out


def _shapes(body: fx.GraphModule, shape: tuple) -> dict:
    param = next(body.parameters(), None)
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.get_default_dtype()
    interp = _Shapes(body)
    try:
        with torch.no_grad():
            interp.run(torch.zeros(1, *shape, dtype=dtype), 1)
    except Exception as exc:  # noqa: BLE001 - any failure means the shape does not fit the model
        raise ValueError(f"the converted model does not run on one sample of input_shape {shape} "
                         f"({type(exc).__name__}: {exc}); pass the shape of one input without time and batch, "
                         "e.g. (1, 28, 28)") from None
    return interp.shapes


def _flatten_dims(sin: tuple, sout: tuple):
    """``(start, end)`` such that flattening ``sin`` over ``start..end`` gives ``sout``; ``None`` if none does."""
    if int(np.prod(sin)) != int(np.prod(sout)) or len(sout) > len(sin):
        return None
    for start in range(len(sin)):
        end = start + len(sin) - len(sout)
        if sin[:start] == sout[:start] and sin[end + 1:] == sout[start + 1:]:
            return start, end
    return None


class _Writer:
    """Collects NIR nodes and edges; ``src[fx node]`` lists the NIR nodes whose outputs sum to its value."""

    def __init__(self, snn: ConvertedSNN, shape: tuple, dt: float, discretization: str):
        self.nir = _nir()
        self.body = snn.body
        self.modules = dict(snn.body.named_modules())
        self.dt, self.discretization = dt, discretization
        self.shapes = _shapes(snn.body, shape)
        self.nodes = {"input": self.nir.Input(input_type={"input": np.array(shape)})}
        self.edges = []
        self.src = {}

    # -- helpers --------------------------------------------------------------------------------
    def refuse(self, n, what: str, fix: str = _FIX):
        return ValueError(f"cannot export {describe(n, self.modules)} of the converted model to NIR: {what}; {fix}")

    def add(self, base: str, node, sources: list, n) -> list:
        name, k = base, 1
        while name in self.nodes or (name == "output" and not isinstance(node, self.nir.Output)):
            name, k = f"{base}_{k}", k + 1
        if len(set(sources)) != len(sources):
            raise self.refuse(n, f"it adds the output of {sorted({s for s in sources if sources.count(s) > 1})} "
                                 "to itself, and NIR cannot repeat an edge", "multiply by 2 instead of x + x")
        self.nodes[name] = node
        self.edges += [(s, name) for s in sources]
        return [name]

    def inputs(self, n) -> list:
        """The source lists of ``n``'s tensor arguments (an error for constants)."""
        args = []
        fx.node.map_arg((n.args, n.kwargs), args.append)  # every Node argument in order, lists included
        out = []
        for a in args:
            if a in self.shapes:
                if a not in self.src:
                    raise self.refuse(n, f"its input {a.name!r} is a constant tensor, not a signal",
                                      "fold the constant into a layer's weights or bias")
                out.append(self.src[a])
        if not out:
            raise self.refuse(n, "it has no signal input (only constants or a tuple)")
        return out

    def scale(self, n, base: str, s, shape: tuple, sources: list) -> list:
        s = torch.as_tensor(s).detach().cpu()
        if s.ndim == 1:
            s = s.reshape(-1, *([1] * (len(shape) - 1)))
        arr = np.array(np.broadcast_to(s.numpy(), shape), copy=True)
        return self.add(base, self.nir.Scale(scale=arr), sources, n)

    def layer(self, n, m: nn.Module, sources: list, base: str) -> list:
        sin = self.shapes[n.args[0]]
        if isinstance(m, nn.Linear) and len(sin) != 1:
            raise self.refuse(n, f"Linear on a per-sample input of shape {sin} (NIR's Affine takes vectors)",
                              "flatten before the Linear layer")
        entry = next(EXPORTERS[c] for c in type(m).__mro__ if c in EXPORTERS)
        try:
            node, out = entry.fn(m, ExportStep(sin, self.dt, self.discretization))
        except ValueError as exc:
            raise self.refuse(n, str(exc), "change the layer's options") from None
        if tuple(out) != self.shapes[n]:  # pragma: no cover - the exporters compute it the same way
            raise self.refuse(n, f"NIR's output shape {tuple(out)} differs from the model's {self.shapes[n]}")
        return self.add(base, node, sources, n)

    def adaptive(self, n, sources: list, base: str) -> list:
        (h, w), (ho, wo) = self.shapes[n.args[0]][-2:], self.shapes[n][-2:]
        if h % ho or w % wo:
            raise self.refuse(n, f"adaptive average pooling from {h}x{w} to {ho}x{wo} has unequal windows, "
                                 "NIR's AvgPool2d one kernel", "use an output size that divides the input size")
        return self.layer(n, nn.AvgPool2d((h // ho, w // wo)), sources, base)

    def reshape(self, n, sources: list, base: str) -> list:
        sin, sout = self.shapes[n.args[0]], self.shapes[n]
        if sin == sout:
            return sources
        dims = _flatten_dims(sin, sout)
        if dims is None:
            raise self.refuse(n, f"it reshapes {sin} to {sout}, which is not a flatten of neighbouring dims",
                              "NIR 1.0 has Flatten but no reshape: flatten instead")
        node = self.nir.Flatten(input_type={"input": np.array(sin)}, start_dim=dims[0], end_dim=dims[1])
        return self.add(base, node, sources, n)

    # -- one fx node ----------------------------------------------------------------------------
    def module(self, n) -> list:
        m = self.modules[n.target]
        (sources, *_), base = self.inputs(n), n.target
        if isinstance(m, IFNeuron):
            if getattr(m, "signed", False):
                raise self.refuse(n, "it fires signed spikes (ann_to_snn(signed=True)), which NIR's IF cannot express",
                                  "convert with signed=False to export")
            shape = self.shapes[n.args[0]]  # the IF layer's own shape (before a pool it runs inside)
            if m.input_scale is not None:
                sources = self.scale(n, f"{base}_scale_in", m.input_scale, shape, sources)
            entry = next(EXPORTERS[c] for c in type(m.neuron).__mro__ if c in EXPORTERS)
            node, _ = entry.fn(m.neuron, ExportStep(shape, self.dt, self.discretization))
            out = self.add(base, node, sources, n)
            if m.pool:  # the 2x2 average pool fused into the IF kernel at conversion: its own NIR node
                pool = nn.AvgPool2d(2)
                entry = next(EXPORTERS[c] for c in type(pool).__mro__ if c in EXPORTERS)
                node, _ = entry.fn(pool, ExportStep(shape, self.dt, self.discretization))
                out = self.add(f"{base}_pool", node, out, n)
            shape = self.shapes[n]
            if m.output_scale is not None:
                out = self.scale(n, f"{base}_scale_out", m.output_scale, shape, out)
            return out
        if isinstance(m, Scale):
            return self.scale(n, base, m.scale, self.shapes[n], sources)
        if isinstance(m, _LAYERS):
            return self.layer(n, m, sources, base)
        if isinstance(m, nn.AdaptiveAvgPool2d):
            return self.adaptive(n, sources, base)
        if isinstance(m, nn.Flatten):
            return self.reshape(n, sources, base)
        if isinstance(m, (nn.Identity, nn.Dropout)):
            return sources
        if isinstance(m, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AdaptiveMaxPool2d)):
            raise self.refuse(n, "NIR 1.0 has no max-pooling node (and max pooling of spikes is not max "
                                 "pooling of rates)", "train and convert the ANN with average pooling")
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            raise self.refuse(n, "a BatchNorm that was not folded into a preceding Conv/Linear has no NIR node",
                              "place it right after a Conv2d/Linear with one user and convert with fold_bn=True")
        raise self.refuse(n, f"{type(m).__name__} has no NIR node")

    def function(self, n) -> list:
        f, base = n.target, n.name
        srcs = self.inputs(n)
        nums = [a for a in n.args if isinstance(a, (int, float)) and not isinstance(a, bool)]
        if f in _PASS:
            return srcs[0]
        if f in _ADD or f in _SUB:
            if len(srcs) != 2 or "alpha" in n.kwargs:
                raise self.refuse(n, "only the sum or difference of two signals is a NIR fan-in",
                                  "fold constants into a layer's bias; drop alpha")
            a, b = srcs
            if f in _ADD and set(a) & set(b):
                raise self.refuse(n, f"it adds the output of {sorted(set(a) & set(b))} to itself, and NIR cannot "
                                     "repeat an edge", "multiply by 2 instead of x + x")
            if f in _SUB:
                b = self.scale(n, f"{base}_neg", -1.0, self.shapes[n], b)
            return a + b
        if f in _NEG:
            return self.scale(n, base, -1.0, self.shapes[n], srcs[0])
        if f in _MUL and len(srcs) == 1 and len(nums) == 1:
            return self.scale(n, base, float(nums[0]), self.shapes[n], srcs[0])
        if f in _DIV and len(srcs) == 1 and len(nums) == 1 and nums[0] is n.args[1] and float(nums[0]) != 0:
            return self.scale(n, base, 1.0 / float(nums[0]), self.shapes[n], srcs[0])
        if f in _RESHAPES:
            return self.reshape(n, srcs[0], base)
        if f is F.avg_pool2d:
            return self.layer(n, nn.AvgPool2d(*n.args[1:], **n.kwargs), srcs[0], base)
        if f is F.adaptive_avg_pool2d:
            return self.adaptive(n, srcs[0], base)
        if f in (F.max_pool2d, torch.max_pool2d, F.adaptive_max_pool2d):
            raise self.refuse(n, "NIR 1.0 has no max-pooling node", "train and convert the ANN with average pooling")
        raise self.refuse(n, "this operation has no NIR node")

    def run(self, snn: ConvertedSNN):
        placeholders = [n for n in self.body.graph.nodes if n.op == "placeholder"]
        self.src[placeholders[0]] = ["input"]
        for n in self.body.graph.nodes:
            if n.op == "output":
                y = n.args[0]
                if not isinstance(y, fx.Node) or y not in self.src:
                    raise self.refuse(n, "the model returns several tensors (or a constant)",
                                      "export a model with one output tensor")
                shape = self.shapes[y]
                self.add("output", self.nir.Output(output_type={"output": np.array(shape)}), self.src[y], n)
            elif n.op in ("placeholder", "get_attr") or n not in self.shapes:
                continue  # the step count T, constants (refused where used), sizes for view(...)
            elif n.op == "call_module":
                self.src[n] = self.module(n)
            else:
                self.src[n] = self.function(n)
        meta = {"neurosim": {"dt": float(self.dt), "discretization": self.discretization, "version": 1,
                             "converted": {"readout": snn.readout, "timesteps": int(snn.timesteps or 0),
                                           "output": "per-step output of the last layer; decode with readout"}}}
        return self.nir.NIRGraph(nodes=self.nodes, edges=self.edges, metadata=meta)


@register_graph_exporter(ConvertedSNN)
def export_converted(snn: ConvertedSNN, input_shape, *, dt: float = NIR_DT, discretization: str = "euler"):
    """The ``nir.NIRGraph`` of a converted network (see the module docstring).

    Called by :func:`neurosim.snn.nir.export_nir` (which checks ``input_shape``, ``dt`` and
    ``discretization`` first); ``input_shape`` is one sample without time and batch.

    Raises
    ------
    ValueError
        An op with no NIR node (the message names the fx node and the fix), or an
        ``input_shape`` the model cannot run.
    """
    if not isinstance(snn, ConvertedSNN):
        raise TypeError(f"snn must be a neurosim.convert.ConvertedSNN, got {type(snn).__name__}")
    shape = tuple(int(s) for s in input_shape)
    return _Writer(snn, shape, dt, discretization).run(snn)
