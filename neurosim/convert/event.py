r"""Event-driven Conv2d / Linear for the synaptic layers of a converted network that read spikes.

In a converted network most synaptic layers read the output of an IF layer (spikes, or their
2x2 means when the pool is fused into the IF kernel), of which 5-20 % are non-zero. Such a
layer can skip the zeros: :mod:`neurosim.kernels.event` adds the weights of each non-zero input
only (a sparse-times-dense product, accumulated in vector registers). Measured on the 2-core AVX-512
benchmark machine against PyTorch 2.13's oneDNN / MKL, both on one thread, random inputs with density
``d`` (values k/4), ``dense time / event time`` (``python benchmarks/bench_event_layers.py``):

=================================  ======  =====  =====  =====  =====  =====
layer                              d=0.05  0.1    0.2    0.3    0.4    0.5
=================================  ======  =====  =====  =====  =====  =====
conv 3x3 s1, 32->64 ch, 14x14      3.62    1.92   1.39   0.92   0.79   0.64
conv 3x3 s1, 64->128 ch, 7x7       2.13    1.40   0.80   0.62   0.47   0.39
conv 3x3 s2, 32->64 ch, 16x16      0.82    0.55   0.41   0.51   0.36   0.19
linear 3136->256                   3.66    2.53   1.46   1.00   0.80   0.63
linear 1024->128                   2.73    1.98   1.33   1.03   0.86   0.69
linear 256->64                     1.43    1.23   1.05   0.79   0.58   0.51
linear 256->10                     0.70    0.54   0.34   0.22   0.16   0.15
=================================  ======  =====  =====  =====  =====  =====

so a stride-1 conv runs on events up to a density of :data:`CONV_MAX_DENSITY`, a linear layer
with at least :data:`LINEAR_MIN_OUT` outputs up to :data:`LINEAR_MAX_DENSITY`, and a strided
conv never (oneDNN's strided conv is the faster one there). In the benchmark's converted Fashion-MNIST
ConvNet (``benchmarks/bench_convert.py``) the second conv reads 18 % non-zero pooled spikes and the first
linear layer 19 %: both run on events, inside the fused static block of :mod:`neurosim.convert.static`.

How it is switched on: :func:`use_events` (called by :func:`~neurosim.convert.ann_to_snn` on
every converted network) changes the class of each ``nn.Conv2d`` / ``nn.Linear`` (or
``neurosim.snn.conv.Conv2d``) layer whose input comes from an IF layer (directly or through
flatten / reshape / pooling / a :class:`~neurosim.convert.Scale`) to a subclass of that same
class (:class:`EventConv2d`, :class:`EventSNNConv2d`, :class:`EventLinear`) whose ``forward``
runs the event kernel when

* the call needs no gradient (``torch.no_grad()``/inference mode, or nothing requires grad),
* the input is a CPU float32/float64 tensor of the weight's dtype (conv: ``[N, C, H, W]``,
  integer zero padding, stride 1, groups 1, dilation 1; linear: ``[..., K]``, at least
  :data:`LINEAR_MIN_OUT` outputs), and
* the density of non-zeros, counted on up to :data:`SAMPLE_ROWS` evenly spaced rows of the
  input, is at most the layer's ``event_max_density``,

and the base class's ``forward`` otherwise (training and gradients go through the ordinary torch
op). Nothing else changes: parameters and ``state_dict`` keys, ``isinstance(m, nn.Conv2d)``,
hooks (:func:`neurosim.snn.stats.measure_activity`), NIR export (exporters are looked up along the
class's MRO), model files and recipes (:func:`~neurosim.convert.rebuild` converts again).
``use_events(snn, False)`` restores the original classes; ``layer.event_max_density = 0`` turns
one layer off. Values agree with the dense op up to summation order: ``|Δ| ≤ 2 n ε Σ |w| |x|``
elementwise for ``n`` summed terms (``tests/test_convert_event.py``; bit-equal on dyadic data).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn

from neurosim.snn.buffers import FLOAT_DTYPES, cached_empty
from neurosim.snn.conv import Conv2d as SNNConv2d

__all__ = ["use_events", "event_layers", "EventConv2d", "EventSNNConv2d", "EventLinear", "CONV_MAX_DENSITY",
           "LINEAR_MAX_DENSITY", "LINEAR_MIN_OUT", "SAMPLE_ROWS", "sampled_density"]

#: default largest input density (fraction of non-zero values) for which a conv runs the event kernel
CONV_MAX_DENSITY = 0.25
#: the same for a linear layer
LINEAR_MAX_DENSITY = 0.25
#: fewest outputs of a linear layer run on events (each event's weight row is too short below)
LINEAR_MIN_OUT = 128
#: rows of the input (evenly spaced over the batch) on which the density is counted
SAMPLE_ROWS = 64
#: calls with fewer estimated multiply-adds run on one thread
PARALLEL_MIN_MACS = 1 << 20


def sampled_density(x: torch.Tensor, rows: int = SAMPLE_ROWS) -> float:
    """Fraction of non-zero values in at most ``rows`` rows (``x[i]``) of ``x``, every
    ``ceil(N / rows)``-th (in a converted network the rows are ``[T*B]``: every step is sampled)."""
    n = x.shape[0]
    if n == 0 or x.numel() == 0:
        return 0.0
    s = x[::-(-n // rows)]
    return int(torch.count_nonzero(s)) / s.numel()


def _needs_grad(x: torch.Tensor, layer: nn.Module) -> bool:
    if not torch.is_grad_enabled():
        return False
    return x.requires_grad or layer.weight.requires_grad or (layer.bias is not None and layer.bias.requires_grad)


def _plain_input(x, layer) -> bool:
    """A CPU float tensor of the layer's dtype whose call needs no gradient."""
    return (type(x) is torch.Tensor and x.device.type == "cpu" and x.dtype in FLOAT_DTYPES
            and layer.weight.dtype == x.dtype and layer.weight.device.type == "cpu" and not _needs_grad(x, layer))


def _weights(layer, make):
    """``(make(weight), bias)`` as NumPy arrays (zeros for no bias). Made on every call (a few
    microseconds for a conv, a copy of the weight for a linear layer): a cache could miss an
    update through ``weight.data``, which does not bump the parameter's version."""
    w, b = layer.weight.detach(), layer.bias
    bias = b.detach().contiguous() if b is not None else torch.zeros(w.shape[0], dtype=w.dtype)
    return make(w), bias.numpy()


def _transposed(w: torch.Tensor) -> np.ndarray:
    """``w.T`` ``[K, O]`` contiguous, in a cached buffer (a linear layer's weight as the event kernel reads it)."""
    from neurosim.kernels.event import transpose

    wt = cached_empty((w.shape[1], w.shape[0]), w.dtype).numpy()
    transpose(w.contiguous().numpy(), wt)
    return wt


class _EventConv:
    """``forward``: the event kernel where it applies and pays (module docstring), else the base class's."""

    #: largest input density run on the event kernel (instance attribute set by :func:`use_events`)
    event_max_density = CONV_MAX_DENSITY

    def forward(self, x):  # noqa: D102
        out = self._event_forward(x)
        return super().forward(x) if out is None else out

    def _event_forward(self, x):
        if (self.event_max_density <= 0 or not _plain_input(x, self) or x.ndim != 4 or self.groups != 1
                or tuple(self.dilation) != (1, 1) or tuple(self.stride) != (1, 1) or self.padding_mode != "zeros"
                or isinstance(self.padding, str) or x.shape[1] != self.in_channels):
            return None
        N, C, H, W = x.shape
        KH, KW = self.kernel_size
        (sh, sw), (ph, pw) = self.stride, self.padding
        Ho, Wo = (H + 2 * ph - KH) // sh + 1, (W + 2 * pw - KW) // sw + 1
        density = sampled_density(x) if x.numel() and Ho > 0 and Wo > 0 else 1.0
        if density > self.event_max_density:
            return None
        from neurosim.kernels.blocks import run_blocks
        from neurosim.kernels.event import conv_weight, conv_work_size, event_conv2d

        wz, b = _weights(self, lambda w: conv_weight(w.numpy()))
        O = self.out_channels
        out = cached_empty((N, O, Ho, Wo), x.dtype)
        geom = np.array([KH, KW, sh, sw, ph, pw], dtype=np.int64)
        macs = density * x.numel() * KH * KW * O
        run_blocks(event_conv2d, N, conv_work_size(C, W, KH, KW, O, Wo), x.detach().contiguous().numpy(), wz, b,
                   out.numpy(), geom, threads=1 if macs < PARALLEL_MIN_MACS else None)
        return out


class EventConv2d(_EventConv, nn.Conv2d):
    """:class:`torch.nn.Conv2d` that runs :func:`neurosim.kernels.event.event_conv2d` on sparse inputs
    without gradient (see the module docstring); made by :func:`use_events`, never built directly."""


class EventSNNConv2d(_EventConv, SNNConv2d):
    """:class:`neurosim.snn.conv.Conv2d` with the event path of :class:`EventConv2d` (its own
    direct kernel for few input channels stays the fallback)."""


class EventLinear(nn.Linear):
    """:class:`torch.nn.Linear` that runs :func:`neurosim.kernels.event.event_linear` on sparse inputs
    without gradient (see the module docstring); made by :func:`use_events`, never built directly."""

    #: largest input density run on the event kernel (instance attribute set by :func:`use_events`)
    event_max_density = LINEAR_MAX_DENSITY

    def forward(self, x):  # noqa: D102
        out = self._event_forward(x)
        return super().forward(x) if out is None else out

    def _event_forward(self, x):
        if (self.event_max_density <= 0 or not _plain_input(x, self) or x.ndim < 2 or x.shape[-1] != self.in_features
                or self.out_features < LINEAR_MIN_OUT):
            return None
        x2 = x.reshape(-1, self.in_features)
        N = x2.shape[0]
        density = sampled_density(x2) if x2.numel() else 1.0
        if density > self.event_max_density:
            return None
        from neurosim.kernels.blocks import run_blocks
        from neurosim.kernels.event import LINEAR_ROWS, event_linear

        wt, b = _weights(self, _transposed)
        out = cached_empty((N, self.out_features), x.dtype)
        macs = density * x2.numel() * self.out_features
        run_blocks(event_linear, N, LINEAR_ROWS * self.in_features, x2.detach().contiguous().numpy(), wt, b,
                   out.numpy(), threads=1 if macs < PARALLEL_MIN_MACS else None)
        return out.reshape(*x.shape[:-1], self.out_features)


#: class of a layer -> its event subclass (exact classes only: a user subclass may compute
#: something else in its own forward)
_EVENT_CLASS = {nn.Conv2d: EventConv2d, SNNConv2d: EventSNNConv2d, nn.Linear: EventLinear}
_BASE_CLASS = {v: k for k, v in _EVENT_CLASS.items()}
_DEFAULT_DENSITY = {EventConv2d: CONV_MAX_DENSITY, EventSNNConv2d: CONV_MAX_DENSITY, EventLinear: LINEAR_MAX_DENSITY}

_RELAY_FUNCS = {torch.flatten, torch.reshape, F.avg_pool1d, F.avg_pool2d, F.avg_pool3d, F.adaptive_avg_pool2d,
                F.max_pool1d, F.max_pool2d, F.max_pool3d, torch.max_pool2d}
_RELAY_METHODS = {"flatten", "view", "reshape", "contiguous"}
_RELAY_MODULES = (nn.Flatten, nn.Unflatten, nn.Identity, nn.Dropout, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
                  nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)


def _reads_spikes(node: fx.Node, modules: dict) -> bool:
    """Whether ``node``'s first argument comes from an IF layer through shape/pool/scale relays only."""
    from neurosim.convert.modules import IFNeuron, Scale

    src = node.args[0] if node.args else None
    for _ in range(32):
        if not isinstance(src, fx.Node):
            return False
        if src.op == "call_module":
            m = modules.get(src.target)
            if isinstance(m, IFNeuron):
                return True
            if not isinstance(m, _RELAY_MODULES + (Scale,)):
                return False
        elif not ((src.op == "call_function" and src.target in _RELAY_FUNCS)
                  or (src.op == "call_method" and src.target in _RELAY_METHODS)):
            return False
        src = src.args[0] if src.args else None
    return False


def event_layers(body: fx.GraphModule) -> list:
    """Paths (in ``body``) of the Conv2d / Linear layers of a converted body whose input is the
    output of an IF layer (directly or through flatten, reshape, pooling or a scaler), in graph
    order; a layer called more than once is listed when every call reads spikes."""
    modules = dict(body.named_modules())
    calls: dict = {}
    for n in body.graph.nodes:
        if n.op == "call_module" and isinstance(modules.get(n.target), (nn.Conv2d, nn.Linear)):
            calls.setdefault(n.target, []).append(_reads_spikes(n, modules))
    return [t for t, reads in calls.items() if all(reads)]


def use_events(model: nn.Module, enabled: bool = True, *, max_density: float | None = None) -> int:
    """Switch the event-driven Conv2d / Linear path of a converted network on or off.

    Parameters
    ----------
    model : ConvertedSNN or its ``body`` (a ``torch.fx.GraphModule``)
    enabled : bool
        True: the layers :func:`event_layers` finds (of class ``nn.Conv2d``, ``nn.Linear`` or
        ``neurosim.snn.conv.Conv2d`` exactly) get the event subclass; False: every event layer in
        ``model`` gets its original class back.
    max_density : float, optional
        ``event_max_density`` of the switched layers (default :data:`CONV_MAX_DENSITY` /
        :data:`LINEAR_MAX_DENSITY`); 0 keeps them dense.

    Returns
    -------
    int
        The number of layers whose class changed.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a ConvertedSNN or its body, got {type(model).__name__}")
    if max_density is not None and not (isinstance(max_density, (int, float)) and 0.0 <= max_density <= 1.0):
        raise ValueError(f"max_density must be a fraction in [0, 1], got {max_density!r}")
    changed = 0
    if not enabled:
        for m in model.modules():
            base = _BASE_CLASS.get(type(m))
            if base is not None:
                m.__class__ = base
                m.__dict__.pop("event_max_density", None)
                changed += 1
        return changed
    body = getattr(model, "body", model)
    if not isinstance(getattr(body, "graph", None), fx.Graph):
        raise TypeError(f"model must be a ConvertedSNN or its fx body, got {type(model).__name__}")
    for path in event_layers(body):
        m = body.get_submodule(path)
        cls = _EVENT_CLASS.get(type(m), type(m) if type(m) in _BASE_CLASS else None)
        if cls is None:
            continue
        if type(m) is not cls:
            m.__class__ = cls
            changed += 1
        m.event_max_density = float(_DEFAULT_DENSITY[cls] if max_density is None else max_density)
    return changed
