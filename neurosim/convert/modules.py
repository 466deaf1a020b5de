r"""Modules of a converted network: the IF neuron that replaces an activation, scalers, the model shell.

A converted network runs its (traced) ANN graph on the time steps merged into the batch,
``[T*B, ...]``; every activation became an :class:`IFNeuron`, which views its input as
``[T, B, ...]`` and runs an integrate-and-fire layer (:class:`neurosim.snn.IFLayer`, a LIF with
``tau = inf``, on the fused CPU kernel when the input is a CPU float tensor) over the steps::

    z_t      = input_scale * x_t            (theta / lambda; folded into the producing layer if it can be)
    H_t      = V_{t-1} + z_t                 V_0 = v_init (0, or 1/2 for QCFS / half-threshold)
    S_t      = H_t >= 1
    V_t      = H_t - S_t                     (reset="subtract"; "zero": V_t = (1 - S_t) H_t)
    out_t    = output_scale * S_t            (lambda; folded into the consuming layers if it can be)

so ``lambda * mean_t S_t`` estimates ``ReLU(z)`` clipped at ``lambda`` (the layer scale from
calibration, or a QCFS threshold). With ``signed=True`` (:func:`~neurosim.convert.ann_to_snn`
``signed=True``) the neuron also fires a negative spike, ``S_t = -1`` and ``V_t = H_t + 1``, when
``H_t < 0`` while its spike count ``N_{t-1} = sum_{s<t} S_s`` is positive (the signed neuron
with memory of Wang et al., IJCAI 2022): a spike fired early on an input that later turns
negative is taken back, so after ``T`` steps ``N_T = clip(floor(sum_t z_t + V_0), 0, .)`` up to
the one-spike-per-step limit, whatever the order of the input: ``QCFS`` exactly at ``T = L`` for
an uneven input train with the right mean (Bu et al. 2022's "unevenness error" removed). Plain
PyTorch loop (no fused kernel, no surrogate gradient). :class:`ConvertedSNN` is the model: ``forward(x[T, B, ...])``
returns the decoded output (mean or sum over the steps of the last layer's output, which
never spikes), :meth:`ConvertedSNN.forward_steps` the per-step outputs ``[T, B, ...]``.
Neuron states persist between calls (streaming) until :func:`neurosim.snn.reset_states`.
"""
from __future__ import annotations

import torch
from torch import nn

from neurosim._validation import check_choice, check_int, check_memory
from neurosim.snn.containers import Stateful, reset_states
from neurosim.snn.functional.lif import check_sequence
from neurosim.snn.modules.plif import IFLayer

__all__ = ["Scale", "IFNeuron", "SignedIF", "ConvertedSNN", "READOUTS", "StaticSteps", "check_signed"]

#: decodings of the output sequence ``y_t`` (``[T, B, ...]``): mean and sum over the steps
READOUTS = ("mean", "sum")


def check_signed(signed, reset) -> bool:
    """``signed`` (signed IF neurons) is a bool, and True only with ``reset="subtract"``."""
    if not isinstance(signed, bool):
        raise TypeError(f"signed must be True or False, got {signed!r}")
    if signed and reset != "subtract":
        raise ValueError(f"signed=True takes a spike back by adding the threshold and needs reset='subtract', "
                         f"got reset={reset!r}")
    return signed


def _view_channels(scale: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``scale`` (0-d, or ``[C]`` for channel dim 1) shaped to broadcast against ``x`` ``[N, C, ...]``."""
    if scale.ndim == 0:
        return scale
    if x.ndim < 2 or x.shape[1] != scale.shape[0]:
        raise ValueError(f"a per-channel scale of {scale.shape[0]} channels does not fit an input of shape "
                         f"{tuple(x.shape)} (channels on dim 1)")
    return scale.view(1, -1, *([1] * (x.ndim - 2)))


class Scale(nn.Module):
    """Multiply by a constant (0-d, or per channel on dim 1 of ``[N, C, ...]``): ``x * scale``.

    ``relays_events``: spikes times a positive constant are still those spikes (the factor
    belongs to the next layer's weights), so :mod:`neurosim.snn.stats` bills the consumer as
    synaptic operations on the spikes.
    """

    relays_events = True

    def __init__(self, scale: torch.Tensor):
        super().__init__()
        self.register_buffer("scale", torch.as_tensor(scale).detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return x * _view_channels(self.scale, x)

    def extra_repr(self) -> str:
        s = self.scale
        return f"{float(s):.6g}" if s.ndim == 0 else f"per channel, {s.numel()} channels"


class StaticSteps(int):
    """The step count ``T`` passed to the IF layers of a body called on one step ``[B, ...]`` of a
    static input (:meth:`ConvertedSNN.forward_static`): an IF layer whose input has ``batch`` rows
    runs the fused static-input kernel (the input read once per step, never expanded) and returns
    ``[T*B, ...]``; the layers before the first IF layer run once instead of ``T`` times."""

    def __new__(cls, steps: int, batch: int):
        obj = super().__new__(cls, steps)
        obj.batch = int(batch)
        return obj


class SignedIF(Stateful, nn.Module):
    """Signed integrate-and-fire with memory, threshold 1, on ``[T, B, ...]`` (see the module docstring):
    ``H_t = V_{t-1} + x_t``; ``S_t = [H_t >= 1] - [H_t < 0 and N_{t-1} > 0]``; ``V_t = H_t - S_t``;
    ``N_t = N_{t-1} + S_t``. State ``(V, N)`` carries on between calls until ``reset_state``. A plain
    PyTorch loop with no surrogate gradient (a ``ValueError`` when the input needs a gradient)."""

    def __init__(self, v_init: float = 0.0):
        super().__init__()
        self.v_init = float(v_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        if torch.is_grad_enabled() and x.requires_grad:
            raise ValueError("signed IF neurons have no surrogate gradient: run the network under torch.no_grad() "
                             "(inference), or convert with signed=False to fine-tune it")
        shape = x.shape[1:]
        if self.state is None or self.state[0].shape != shape or self.state[0].dtype != x.dtype:
            self.state = (torch.full(shape, self.v_init, dtype=x.dtype, device=x.device),
                          torch.zeros(shape, dtype=x.dtype, device=x.device))
        v, n = self.state
        out = torch.empty_like(x)
        for t in range(x.shape[0]):
            v = v + x[t]
            s = (v >= 1.0).to(x.dtype) - ((v < 0.0) & (n > 0)).to(x.dtype)
            v = v - s
            n = n + s
            out[t] = s
        self.state = (v, n)
        return out

    def extra_repr(self) -> str:
        return f"v_init={self.v_init:g}"


class IFNeuron(nn.Module):
    """Integrate-and-fire replacement of one activation, on merged ``[T*B, ...]`` tensors.

    ``forward(x[T*B, ...], T) -> out[T*B, ...]`` (see the module docstring). Threshold 1 in
    normalised units; the layer scale ``lambda`` lives in ``input_scale`` (``1/lambda``) and
    ``output_scale`` (``lambda``) or, after folding, in the neighbouring weights (then the
    buffer is ``None``). ``self.neuron`` is the stateful :class:`neurosim.snn.IFLayer`.

    Parameters
    ----------
    scale : torch.Tensor
        ``lambda``: 0-d (per layer) or ``[C]`` (per channel, dim 1), all > 0.
    v_init : float
        Initial membrane in units of the threshold (0; 0.5 for QCFS or half-threshold).
    reset : {"subtract", "zero"}
    input_scale, output_scale : torch.Tensor or None
        The factors applied before and after the neuron; default ``1/scale`` and ``scale``.
    signed : bool
        Signed spikes with memory (see the module docstring); needs ``reset="subtract"``.
    """

    def __init__(self, scale: torch.Tensor, *, v_init: float = 0.0, reset: str = "subtract",
                 input_scale: torch.Tensor | None = None, output_scale: torch.Tensor | None = None,
                 surrogate=None, signed: bool = False):
        super().__init__()
        self.signed = check_signed(signed, reset)
        scale = torch.as_tensor(scale).detach().clone()
        self.register_buffer("scale", scale)
        self.register_buffer("input_scale", 1.0 / scale if input_scale is None else input_scale)
        self.register_buffer("output_scale", scale.clone() if output_scale is None else output_scale)
        kw = {} if surrogate is None else {"surrogate": surrogate}
        self.v_init = float(v_init)
        #: set by the conversion when a 2x2 average pool (stride 2) is this layer's only consumer:
        #: the pool runs inside the IF kernel and the output is the pooled spikes (the same values)
        self.pool = False
        #: the module path of that pool in the ANN (None for ``F.avg_pool2d``): the ANN layer whose
        #: output matches this layer's (:func:`neurosim.convert.feature_pair`)
        self.pool_source = None
        self.pool_2x2 = nn.AvgPool2d(2)  # the pool's plain path (no parameters or buffers)
        self.neuron = (SignedIF(self.v_init) if signed else
                       IFLayer(v_th=1.0, v_reset=0.0, v_rest=self.v_init, reset=reset, **kw))

    def forward(self, x: torch.Tensor, T: int) -> torch.Tensor:  # noqa: D102
        if self.input_scale is not None:
            x = x * _view_channels(self.input_scale, x)
        static = isinstance(T, StaticSteps) and T > 1 and x.shape[0] == T.batch
        B = x.shape[0] if static else x.shape[0] // T
        s = self._run(x if static else x.reshape(T, B, *x.shape[1:]), int(T) if static else None)
        s = s.reshape(int(T) * B, *s.shape[2:])
        if self.output_scale is not None:
            s = s * _view_channels(self.output_scale, s)
        return s

    def _run(self, x: torch.Tensor, steps: int | None) -> torch.Tensor:
        """Spikes ``[T, B, ...]`` (2x2-average-pooled with :attr:`pool`) of ``x`` ``[T, B, ...]``, or
        of ``x`` ``[B, ...]`` presented at each of ``steps`` steps; the layer's state carries on.

        The fused kernel pools and reads a static input inside; while hooks observe ``self.neuron``
        (spike recording, :func:`neurosim.snn.stats.measure_activity`) it is called on the full
        sequence instead, so they see every unpooled spike (the same values either way)."""
        nr = self.neuron
        if (self.pool or steps is not None) and not _observed(nr) and not isinstance(nr, SignedIF):
            from neurosim.snn.fused import dispatch

            state = nr._kept_state(x.shape if steps is not None else x.shape[1:])
            fused = dispatch(x, state, nr.spec, nr.backend, pool=self.pool, steps=steps)
            if fused is not None:
                out, nr.state = fused
                return out
        if steps is not None:
            x = x.unsqueeze(0).expand(steps, *x.shape)
        s = nr(x)
        if self.pool:  # a module, so that hooks (measure_activity's event tracing) see the pool too
            p = self.pool_2x2(s.reshape(-1, *s.shape[2:]))
            s = p.reshape(*s.shape[:2], *p.shape[1:])
        return s

    def extra_repr(self) -> str:
        kind = "per layer" if self.scale.ndim == 0 else f"per channel ({self.scale.numel()})"
        signed = "signed, " if getattr(self, "signed", False) else ""
        return (f"scale {kind}, v_init={self.v_init:g}, {signed}input_scale={'folded' if self.input_scale is None else 'kept'}, "
                f"output_scale={'folded' if self.output_scale is None else 'kept'}")


class ConvertedSNN(nn.Module):
    """A converted spiking network: ``forward(x[T, B, ...]) -> decoded output`` (see the module docstring).

    Attributes
    ----------
    body : torch.fx.GraphModule
        The ANN graph with :class:`IFNeuron` layers, called as ``body(x[T*B, ...], T)``.
    readout : {"mean", "sum"}
        ``"mean"`` (default): the average over the steps of the last layer's output, in the
        ANN's units (logits, or regression outputs); ``"sum"``: its sum (the membrane potential
        of a non-spiking integrator; spikingjelly's decoding).
    timesteps : int or None
        Default number of steps for :meth:`run_static`.
    scales : dict
        ``{IF layer path in body (the activation module path, or the node name of a functional activation): lambda}`` (0-d or per-channel tensors).
    """

    def __init__(self, body: nn.Module, *, readout: str = "mean", timesteps: int | None = None,
                 scales: dict | None = None, info: dict | None = None):
        super().__init__()
        self.body = body
        self.readout = check_choice("readout", readout, READOUTS)
        if timesteps is not None:
            timesteps = check_int("timesteps", timesteps, min_value=1)
        self.timesteps = timesteps
        self._scales = dict(scales or {})
        self.info = dict(info or {})
        self._static = _static_prefix(body)

    @property
    def scales(self) -> dict:
        """``{IF layer path: lambda}``: each IF layer's ``scale`` buffer (so it follows
        ``load_state_dict``, ``.to()``, ``.double()``), else the value given at construction."""
        out = {}
        for name, given in self._scales.items():
            try:
                neuron = self.body.get_submodule(name)
            except AttributeError:
                neuron = None
            out[name] = neuron.scale if isinstance(neuron, IFNeuron) else given
        return out

    @property
    def feature_layers(self) -> tuple:
        """Module paths (for ``get_submodule``) of the IF layers, in graph order: the named features
        that RSA hooks read (``neurosim tsrsa --model`` on a converted model file)."""
        return tuple(f"body.{name}" for name in self._scales)

    def forward_steps(self, x: torch.Tensor):
        """The output of every step, ``[T, B, ...]`` (a tensor, or a tuple/list of them as the ANN returns)."""
        check_sequence(x, "x")
        _check_dtype(self.body, x)
        T, B = int(x.shape[0]), int(x.shape[1])
        out = _run_body(self.body, x.reshape(T * B, *x.shape[2:]), T, x, "[T, B, ...]")
        return _map_tensors(out, lambda y: y.reshape(T, B, *y.shape[1:]))

    def forward_static(self, x: torch.Tensor, timesteps: int, *, fuse: bool = True):
        """:meth:`forward_steps` of ``x`` ``[B, ...]`` presented at each of ``timesteps`` steps
        (``[T, B, ...]`` out, states carried on as by :meth:`forward_steps`). The same values as
        ``forward_steps(x.expand(T, ...))``: the layers before the first IF layers run once, not
        ``T`` times, and those IF layers read their input once per step (when every use of those
        layers' outputs is an IF layer; otherwise the input is expanded). With ``fuse`` (default) a
        block ``IF (2x2 pool) -> conv -> IF`` after the static part runs per image over the steps in one
        kernel (:mod:`neurosim.convert.static`; its conv on events, so against a dense conv the values
        agree up to summation order)."""
        T = check_int("timesteps", timesteps, min_value=1)
        if not isinstance(fuse, bool):
            raise TypeError(f"fuse must be True or False, got {fuse!r}")
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if x.ndim < 1:
            raise ValueError("x must be one step [B, ...], got a 0-d tensor")
        if not x.is_floating_point():
            raise TypeError(f"x must be a floating-point tensor, got dtype {x.dtype}; convert with x.float()")
        _check_dtype(self.body, x)
        B = int(x.shape[0])
        n_if = sum(isinstance(m, IFNeuron) for m in self.body.modules())
        # a lower bound: every IF layer outputs at least one value per step and sample
        check_memory("timesteps", T, B * max(n_if, 1) * x.element_size(), f"{T} steps of {B} samples")
        if not self._static:
            return self.forward_steps(x.unsqueeze(0).expand(T, *x.shape))
        out = _run_body(self.body, x, StaticSteps(T, B), x, "[B, ...]", fuse=fuse)
        return _map_tensors(out, lambda y: y.reshape(T, B, *y.shape[1:]))

    def forward(self, x: torch.Tensor):  # noqa: D102
        steps = self.forward_steps(x)
        if self.readout == "sum":
            return _map_tensors(steps, lambda y: y.sum(0))
        return _map_tensors(steps, lambda y: y.mean(0))

    def run_static(self, x: torch.Tensor, timesteps: int | None = None, *, reset: bool = True):
        """Present the same input ``x`` ``[B, ...]`` at each of ``timesteps`` steps (default
        :attr:`timesteps`) and decode; with ``reset`` (default) the neuron states are reset first."""
        if timesteps is None:
            timesteps = self.timesteps
            if timesteps is None:
                raise ValueError("timesteps is not set: pass run_static(x, timesteps=T) or convert with "
                                 "ann_to_snn(..., timesteps=T)")
        timesteps = check_int("timesteps", timesteps, min_value=1)
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if reset:
            reset_states(self)
        steps = self.forward_static(x, timesteps)
        if self.readout == "sum":
            return _map_tensors(steps, lambda y: y.sum(0))
        return _map_tensors(steps, lambda y: y.mean(0))

    def extra_repr(self) -> str:
        return f"readout={self.readout!r}, timesteps={self.timesteps}, neurons={len(self._scales)}"


def _check_dtype(body: nn.Module, x: torch.Tensor) -> None:
    """``TypeError`` naming ``x`` when its dtype differs from the network's floating weights."""
    p = next((q for q in body.parameters() if q.is_floating_point()), None)
    if p is not None and x.dtype != p.dtype and not torch.is_autocast_enabled(x.device.type):
        raise TypeError(f"x has dtype {x.dtype} but the converted network's weights are {p.dtype}; pass "
                        f"x.to({p.dtype}) (or convert the network, e.g. snn.to({x.dtype}))")


def _run_body(body: nn.Module, inputs: torch.Tensor, T, x: torch.Tensor, layout: str, fuse: bool = False):
    """``body(inputs, T)`` (with ``fuse``, its fused static blocks: :mod:`neurosim.convert.static`); a torch
    error (an input that does not fit the ANN's layers) as a ``ValueError`` naming ``x`` and its shape."""
    try:
        if fuse:
            from neurosim.convert.static import run_fused

            return run_fused(body, inputs, T)
        return body(inputs, T)
    except RuntimeError as exc:
        msg = str(exc).strip().split("\n")[0]
        raise ValueError(f"x of shape {tuple(x.shape)} does not fit the converted network ({type(exc).__name__}: "
                         f"{msg}); x must be {layout} with each sample shaped like the ANN's input") from exc


def _observed(m: nn.Module) -> bool:
    """Whether forward hooks (the module's or global ones) would see ``m``'s calls."""
    from torch.nn.modules import module as _mod

    return bool(m._forward_hooks or m._forward_pre_hooks or _mod._global_forward_hooks
                or _mod._global_forward_pre_hooks)


def _static_prefix(body) -> bool:
    """Whether ``body`` (an fx graph ``(x, T)``) can run on one step of a static input: every node
    computed from ``x`` alone (before any IF layer) is used only by such nodes or by IF layers."""
    graph = getattr(body, "graph", None)
    if graph is None:
        return False
    modules = dict(body.named_modules())
    nodes = list(graph.nodes)
    if not nodes or nodes[0].op != "placeholder":
        return False
    static, consts = {nodes[0]}, set()
    for n in nodes[1:]:
        if n.op in ("placeholder", "output"):
            continue
        if n.op == "get_attr":
            consts.add(n)
            continue
        is_if = n.op == "call_module" and isinstance(modules.get(n.target), IFNeuron)
        ins = n.all_input_nodes
        if not is_if and any(a in static for a in ins) and all(a in static or a in consts for a in ins):
            static.add(n)
    for n in static:
        for u in n.users:
            if u in static:
                continue
            if not (u.op == "call_module" and isinstance(modules.get(u.target), IFNeuron) and u.args[0] is n):
                return False
    return True


def _map_tensors(out, fn):
    if isinstance(out, torch.Tensor):
        return fn(out)
    if isinstance(out, (tuple, list)):
        return type(out)(_map_tensors(o, fn) for o in out)
    if isinstance(out, dict):
        return {k: _map_tensors(v, fn) for k, v in out.items()}
    return out
