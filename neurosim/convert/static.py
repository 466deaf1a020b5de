"""Fused blocks of a converted network on a static input (:meth:`ConvertedSNN.forward_static`).

When the same analog image is presented at every step, a block ``IF layer (2x2 pool) -> conv ->
IF layer`` whose first IF layer reads the static input (the first conv's output) runs per image
over all steps in one kernel, :func:`neurosim.kernels.event_static.if_conv_if`: no ``[T B, ...]``
tensor between the three layers is written to memory. The outputs and the two IF layers' states are
bit-identical to running the three layers one after the other with the conv on events (the layers'
own arithmetic, in the same order); against a dense conv they agree up to summation order, the bound
:mod:`neurosim.convert.event` states.

The block runs fused when, at the call:

* the graph has the three ``call_module`` nodes in a chain, each output used only by the next;
* both IF layers are plain (not signed) :class:`~neurosim.convert.IFNeuron` layers with folded scales,
  reset by subtraction, ``>=`` firing, no leak (``tau = inf``), a backend other than ``"torch"``, the
  first one pooling 2x2 and reading the static input (even ``H``, ``W``);
* the conv is an event conv (:func:`~neurosim.convert.use_events`) whose event path applies to the
  call (CPU, the weight's float dtype, no gradient, stride 1, groups 1, zero padding) and whose
  ``event_max_density`` is not below the density its input had at the last fused call (the fused
  block measures it; a denser input runs the layers one by one, the conv choosing dense or events,
  and the next call tries the fused block again);
* no hook observes any of the modules (hooks see the unfused calls, every value).

When the second IF layer's output goes only through a flatten from dim 1 (``nn.Flatten()``,
``torch.flatten(x, 1)``, ``x.flatten(1)``) to an event linear layer (a ConvNet's classifier), the block
also runs that layer on each step's flattened output (:func:`neurosim.kernels.event.event_linear`'s
chains: bit-identical to the layer on events), and the ``[T B, ...]`` spikes between them are never
written, if the linear layer's event path applies (no hook on it or the flatten, at least
``LINEAR_MIN_OUT`` outputs, the input's dtype) and its input was not denser than its
``event_max_density`` at the last fused call (otherwise the layer runs itself, as with the conv).

Anything else runs the graph as it is. ``ConvertedSNN.forward_static(..., fuse=False)`` turns this off.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import fx, nn

from neurosim.convert.event import LINEAR_MIN_OUT, EventLinear, _EventConv, _plain_input, _transposed, _weights
from neurosim.convert.modules import IFNeuron, SignedIF, StaticSteps, _observed
from neurosim.snn.buffers import cached_empty

__all__ = ["fused_blocks", "run_fused"]


def fused_blocks(body) -> dict:
    """``{first IF node name: (IF path, conv path, IF path, conv node name, second IF node name, tail)}``: the
    chains ``IF -> conv -> IF`` of ``body``'s graph that :func:`run_fused` may fuse. ``tail`` is
    ``(flatten node name, linear path, linear node name)`` when the second IF layer's output goes only
    through a flatten to an event linear layer (``nn.Flatten(1, -1)``, ``torch.flatten(x, 1)`` or
    ``x.flatten(1)``), else None."""
    graph = getattr(body, "graph", None)
    if graph is None:
        return {}
    modules = dict(body.named_modules())
    out = {}
    for a in graph.nodes:
        if a.op != "call_module" or not isinstance(modules.get(a.target), IFNeuron) or len(a.users) != 1:
            continue
        b = next(iter(a.users))
        if (b.op != "call_module" or not isinstance(modules.get(b.target), _EventConv) or len(b.args) != 1
                or b.kwargs or b.args[0] is not a or len(b.users) != 1):
            continue
        c = next(iter(b.users))
        if c.op != "call_module" or not isinstance(modules.get(c.target), IFNeuron) or c.args[0] is not b:
            continue
        out[a.name] = (a.target, b.target, c.target, b.name, c.name, _linear_tail(c, modules))
    return out


def _linear_tail(c: fx.Node, modules: dict):
    """``(flatten node name, linear path, linear node name)`` when ``c``'s only use is a flatten from dim 1
    whose only use is an event linear layer's input, else None."""
    if len(c.users) != 1:
        return None
    f = next(iter(c.users))
    if len(f.users) != 1 or not f.args or f.args[0] is not c:
        return None
    mod = modules.get(f.target) if f.op == "call_module" else None
    if isinstance(mod, nn.Flatten):
        flat = type(mod) is nn.Flatten and mod.start_dim == 1 and mod.end_dim == -1 and not _observed(mod)
    elif f.op == "call_function" and f.target is torch.flatten or f.op == "call_method" and f.target == "flatten":
        dims = tuple(f.args[1:]) + tuple(f.kwargs.get(k) for k in ("start_dim", "end_dim") if k in f.kwargs)
        flat = dims in ((1,), (1, -1)) and set(f.kwargs) <= {"start_dim", "end_dim"}
    else:
        flat = False
    if not flat:
        return None
    lin = next(iter(f.users))
    if (lin.op != "call_module" or not isinstance(modules.get(lin.target), EventLinear) or len(lin.args) != 1
            or lin.kwargs or lin.args[0] is not f):
        return None
    return f.name, lin.target, lin.name


def _plain_if(m: IFNeuron) -> bool:
    nr = m.neuron
    if isinstance(nr, SignedIF) or m.input_scale is not None or m.output_scale is not None:
        return False
    spec = nr.spec
    return (nr.backend != "torch" and spec.form == "spikingjelly" and math.isinf(spec.tau) and spec.tau > 0
            and not spec.decay_input and spec.reset == "subtract" and not spec.strict and not spec.reset_delay
            and not _observed(m) and not _observed(nr) and not _observed(m.pool_2x2))


def _membrane(m: IFNeuron, shape, x: torch.Tensor) -> torch.Tensor | None:
    """A new tensor holding ``m``'s membranes (``v_rest`` when it holds no state), or None when its state
    is not a CPU tensor of ``x``'s dtype."""
    state = m.neuron._kept_state(shape)   # ValueError for a state of another shape, as unfused
    v = None if state is None else state[0]
    if v is not None and (not isinstance(v, torch.Tensor) or v.device.type != "cpu" or v.dtype != x.dtype):
        return None
    out = cached_empty(shape, x.dtype)       # reused buffers: no page faults on a fresh allocation
    if v is None:
        out.fill_(m.neuron.spec.v_rest)
    else:
        out.copy_(v.detach())
    return out


def _block(a: IFNeuron, conv, c: IFNeuron, x: torch.Tensor, T, lin=None):
    """``(output [T B, ...], whether the linear layer lin ran in the block)`` (and the IF layers' new states),
    or None when the block does not apply. ``lin``: the event linear layer after a flatten, or None."""
    if not (isinstance(T, StaticSteps) and T > 1 and x.ndim == 4 and x.shape[0] == T.batch and a.pool):
        return None
    if not (_plain_if(a) and _plain_if(c)) or _observed(conv) or not _plain_input(x, conv):
        return None
    if (conv.event_max_density <= 0 or conv.groups != 1 or tuple(conv.dilation) != (1, 1)
            or tuple(conv.stride) != (1, 1) or conv.padding_mode != "zeros" or isinstance(conv.padding, str)):
        return None
    if _denser_than_allowed(conv):
        return None
    B, C, H1, W1 = (int(s) for s in x.shape)
    if H1 % 2 or W1 % 2 or C != conv.in_channels or H1 == 0 or W1 == 0:
        return None
    (KH, KW), (ph, pw) = conv.kernel_size, conv.padding
    H, W = H1 // 2, W1 // 2
    Ho, Wo = H + 2 * ph - KH + 1, W + 2 * pw - KW + 1
    if Ho <= 0 or Wo <= 0 or (c.pool and (Ho % 2 or Wo % 2)):
        return None
    O = conv.out_channels
    Hs, Ws = (Ho // 2, Wo // 2) if c.pool else (Ho, Wo)
    v1 = _membrane(a, (B, C, H1, W1), x)
    v2 = _membrane(c, (B, O, Ho, Wo), x)
    if v1 is None or v2 is None:
        return None
    from neurosim.kernels.blocks import run_blocks
    from neurosim.kernels.event import conv_weight
    from neurosim.kernels.event_static import if_conv_if, work_size
    from neurosim.snn.functional.lif import LIFState

    fuse_lin = lin is not None and _linear_applies(lin, x, O * Hs * Ws)
    wz, bias = _weights(conv, lambda w: conv_weight(w.numpy()))
    s1, s2 = a.neuron.spec, c.neuron.spec
    prm = np.array([s1.v_th, s1.v_th - s1.v_reset, s2.v_th, s2.v_th - s2.v_reset], dtype=wz.dtype)
    steps = int(T)
    if fuse_lin:
        wl, bl = _weights(lin, _transposed)
        lout = cached_empty((steps, B, lin.out_features), x.dtype)
        out = np.zeros((1, 1, 1, 1, 1), dtype=wz.dtype)
        args = (out, wl, bl, lout.numpy())
    else:
        out = cached_empty((steps, B, O, Hs, Ws), x.dtype)
        args = (out.numpy(), np.zeros((1, 1), wz.dtype), np.zeros(0, wz.dtype), np.zeros((1, 1, 1), wz.dtype))
    nnz = np.zeros((B, 2), dtype=np.int64)
    geom = np.array([KH, KW, ph, pw, int(c.pool), steps, int(fuse_lin)], dtype=np.int64)
    run_blocks(if_conv_if, B, work_size(C, H1, W1, O, KH, KW, Ho, Wo), x.detach().contiguous().numpy(),
               v1.numpy(), wz, bias, v2.numpy(), *args, geom, prm, nnz)
    conv._static_density = float(nnz[:, 0].sum()) / max(1, steps * B * C * H * W)
    a.neuron.state = LIFState(v1)
    c.neuron.state = LIFState(v2)
    if fuse_lin:
        lin._static_density = float(nnz[:, 1].sum()) / max(1, steps * B * O * Hs * Ws)
        return lout.reshape(steps * B, lin.out_features), True
    return out.reshape(steps * B, *out.shape[2:]), False


def _linear_applies(lin, x: torch.Tensor, K: int) -> bool:
    """Whether the event linear layer ``lin`` (reading the block's flattened output, ``K`` values a step)
    runs in the block: its event path applies (no hooks, CPU, the dtype, no gradient, enough outputs)
    and its input was not denser than its ``event_max_density`` at the last fused call."""
    if (_observed(lin) or lin.in_features != K or lin.out_features < LINEAR_MIN_OUT or lin.event_max_density <= 0
            or not _plain_input(x, lin)):
        return False
    return not _denser_than_allowed(lin)


def _denser_than_allowed(layer) -> bool:
    """Whether ``layer``'s input at the last fused call was denser than its ``event_max_density``: then this
    call runs the layer itself (dense or events, its own choice) and the next call measures again."""
    last = getattr(layer, "_static_density", None)
    if last is not None and last > layer.event_max_density:
        layer._static_density = None
        return True
    return False


class _Runner(fx.Interpreter):
    """Runs the graph; at the first IF node of a fused block, the block (when it applies)."""

    def __init__(self, body, plan):
        super().__init__(body)
        self.plan = plan
        self.ready = {}

    def run_node(self, n):  # noqa: D102
        if n.name in self.ready:
            return self.ready.pop(n.name)
        blk = self.plan.get(n.name)
        if blk is not None:
            args, _ = self.fetch_args_kwargs_from_env(n)
            get = self.module.get_submodule
            tail = blk[5]
            r = _block(get(blk[0]), get(blk[1]), get(blk[2]), args[0], args[1],
                       None if tail is None else get(tail[1]))
            if r is not None:
                y, ran_linear = r
                self.ready[blk[3]] = None
                if ran_linear:
                    self.ready[blk[4]] = self.ready[tail[0]] = None
                    self.ready[tail[2]] = y
                else:
                    self.ready[blk[4]] = y
                return None
        return super().run_node(n)


def run_fused(body, x: torch.Tensor, T):
    """``body(x, T)`` with the fused blocks of :func:`fused_blocks` where they apply (plain ``body(x, T)``
    when the graph has none)."""
    plan = fused_blocks(body)
    if not plan:
        return body(x, T)
    return _Runner(body, plan).run(x, T)
