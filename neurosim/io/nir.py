r"""NIR (Neuromorphic Intermediate Representation) export and import for spiking stacks.

``export_nir(model, input_shape, dt=1e-4)`` turns a sequential multi-step model
(``nn.Sequential`` of ``SeqToANN``-wrapped conv/pool layers, ``Linear``, ``Flatten`` and
``LIFLayer``/``IFLayer``/``ParametricLIFLayer``/``CubaLIFLayer``; also :class:`~neurosim.models.SpikingMLP` and
:class:`~neurosim.models.SpikingConvNet`) into a ``nir.NIRGraph``; ``import_nir(graph)``
builds the equivalent neurosim ``nn.Sequential`` (input ``[T, B, ...]``, output the
per-step output of the last node). ``write_nir``/``read_nir`` add the file step
(``nir.write``/``nir.read``, HDF5). Requires the optional ``nir`` package
(``pip install nir``); torch and nir are imported only when a function is called.

Discrete <-> continuous mapping (``dt`` in seconds, NIR's unit)
--------------------------------------------------------------
A neurosim LIF step (any ``form``) is the affine map
:math:`h = \beta v + (1-\beta) v_{rest} + g\,x` with decay :math:`\beta = 1 - 1/\tau`
(``LIFSpec.decay``) and input gain :math:`g` (``1/tau`` with ``decay_input``, else 1).
NIR's LIF is :math:`\tau_c \dot v = (v_{leak} - v) + R I`. With ``discretization="euler"``
(default; snntorch and norse integrate NIR this way) one forward-Euler step of length
``dt`` reproduces the neurosim step exactly when

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

* NIR fires on ``v > v_threshold``; neurosim's default is ``>=`` (same spikes unless the
  membrane hits the threshold exactly).
* NIR's reset is to ``v_reset`` (hard). A subtractive or absent reset is written with
  ``v_reset = v_reset`` plus the metadata; other simulators will hard-reset.
* BatchNorm is folded into the preceding ``Conv2d``/``Linear`` using its running statistics
  (eval-mode semantics); export a trained model.
* The time average of the logits done by the zoo models is a readout, not a node: the
  graph's output is the per-step output of the last layer.

snntorch (1.0, via ``snntorch.import_from_nir``) assumes ``dt = 1e-4`` s, forward Euler,
``v_leak = 0``, one threshold per layer; it divides the threshold by ``R dt / tau`` instead
of scaling the input, resets to zero and fires on ``>``; its importer maps ``nir.Flatten``
to ``torch.nn.Flatten(start_dim, end_dim)`` on batched tensors (NIR's dims exclude the
batch, so the flatten is off by one dimension) and ``nir.IF`` to ``Leaky(beta=0.9)``.
Export with ``dt=1e-4``, ``reset="zero"``, ``v_reset=0`` for snntorch; see
``tests/test_nir.py`` for what matches.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["export_nir", "import_nir", "write_nir", "read_nir", "NIR_DT"]

#: default step (seconds) written to NIR: snntorch's importer hard-codes 1e-4 s
NIR_DT = 1e-4
_DISCRETIZATIONS = ("euler", "exact")


def _nir():
    try:
        import nir
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("NIR support needs the 'nir' package: pip install nir") from exc
    return nir


# -- export ----------------------------------------------------------------------------------
def _linearize(module):
    """Leaf modules of a sequential model, in forward order."""
    from torch import nn
    from neurosim.snn.containers import Stateful

    mods = []
    if isinstance(module, Stateful):
        return [module]
    if isinstance(module, nn.Sequential):  # includes SeqToANN
        for m in module:
            mods += _linearize(m)
        return mods
    try:
        from neurosim.models import SpikingConvNet, SpikingMLP
    except ImportError:  # pragma: no cover
        SpikingConvNet = SpikingMLP = ()
    if isinstance(module, SpikingMLP):
        return [nn.Flatten(2)] + _linearize(module.net)
    if isinstance(module, SpikingConvNet):
        return _linearize(module.features) + [module.flatten] + _linearize(module.classifier)
    return [module]


def _fold_bn(weight, bias, bn):
    """Fold an eval-mode BatchNorm into the preceding weights (output channels first)."""
    import torch

    std = torch.sqrt(bn.running_var.double() + bn.eps)
    gamma = bn.weight.detach().double() if bn.weight is not None else torch.ones_like(std)
    beta = bn.bias.detach().double() if bn.bias is not None else torch.zeros_like(std)
    s = gamma / std
    w = weight.double() * s.reshape(-1, *([1] * (weight.dim() - 1)))
    b0 = bias.double() if bias is not None else torch.zeros_like(std)
    b = (b0 - bn.running_mean.double()) * s + beta
    return w.to(weight.dtype), b.to(weight.dtype)


def _gain(spec) -> float:
    """Input gain g of the step h = beta v + (1 - beta) v_rest + g x."""
    if not spec.decay_input:
        return 1.0
    return (1.0 - float(spec.decay)) if spec.form == "snntorch" else float(spec.k)


def _tau_c(decay: float, dt: float, discretization: str, what: str) -> float:
    """Continuous time constant (s) whose discretisation has ``decay`` per step."""
    if not 0.0 <= decay < 1.0:
        raise ValueError(f"cannot export a {what} decay of {decay} per step (needs 0 <= decay < 1)")
    if discretization == "euler":
        return dt / (1.0 - decay)
    if decay == 0.0:
        raise ValueError(f"a {what} decay of 0 (tau = 1 step) has no exact continuous time constant; "
                         "use discretization='euler'")
    return -dt / math.log(decay)


def _spec_meta(spec) -> dict:
    return {
        "tau": float(spec.tau), "beta": -1.0 if spec.beta is None else float(spec.beta),
        "v_th": float(spec.v_th), "v_reset": float(spec.v_reset), "v_rest": float(spec.v_rest),
        "reset": spec.reset, "fire": ">" if spec.strict else ">=", "decay_input": bool(spec.decay_input),
        "detach_reset": bool(spec.detach_reset), "form": spec.form, "reset_delay": bool(spec.reset_delay),
        "surrogate": spec.surrogate.name, "surrogate_param": float(spec.surrogate.kernel_param),
    }


def _lif_node(spec, shape, dt, discretization):
    nir = _nir()
    beta = float(spec.decay)
    g = _gain(spec)
    meta = {"neurosim": _spec_meta(spec)}
    full = lambda v: np.full(shape, v, dtype=np.float64)  # noqa: E731
    if beta == 1.0:
        return nir.IF(r=full(g / dt), v_threshold=full(spec.v_th), v_reset=full(spec.v_reset), metadata=meta)
    tau_c = _tau_c(beta, dt, discretization, "membrane")
    return nir.LIF(tau=full(tau_c), r=full(g / (1.0 - beta)), v_leak=full(spec.v_rest),
                   v_threshold=full(spec.v_th), v_reset=full(spec.v_reset), metadata=meta)


def _cuba_node(cspec, shape, dt, discretization):
    """Current-based LIF: c_t = alpha c_{t-1} + x_t drives the LIF charge (see the module docstring)."""
    nir = _nir()
    spec = cspec.lif
    beta, alpha = float(spec.decay), float(cspec.syn_decay)
    if beta == 1.0:
        raise ValueError("a current-based neuron without membrane leak has no NIR CubaLIF form")
    meta = {"neurosim": _spec_meta(spec) | {"tau_syn": float(cspec.tau_syn),
                                            "alpha": -1.0 if cspec.alpha is None else float(cspec.alpha)}}
    full = lambda v: np.full(shape, v, dtype=np.float64)  # noqa: E731
    return nir.CubaLIF(tau_syn=full(_tau_c(alpha, dt, discretization, "synaptic current")),
                       tau_mem=full(_tau_c(beta, dt, discretization, "membrane")),
                       r=full(_gain(spec) / (1.0 - beta)), v_leak=full(spec.v_rest), v_threshold=full(spec.v_th),
                       v_reset=full(spec.v_reset), w_in=full(1.0 / (1.0 - alpha)), metadata=meta)


def export_nir(model, input_shape, *, dt: float = NIR_DT, discretization: str = "euler"):
    """Export a sequential spiking model to a ``nir.NIRGraph``.

    Parameters
    ----------
    model : ``nn.Sequential`` (possibly nested, with ``SeqToANN``) of ``Conv2d``,
        ``BatchNorm2d`` (folded), ``Linear``, ``Flatten``, ``AvgPool2d`` (``SumPool2d`` when
        ``divisor_override=1``), ``Dropout``/``Identity`` (skipped) and ``LIFLayer``; or a
        ``SpikingMLP``/``SpikingConvNet``.
    input_shape : shape of one sample at one step, e.g. ``(1, 28, 28)`` (no time, no batch).
    dt : seconds per step written to the graph (``NIR_DT`` = 1e-4 s, snntorch's value).
    discretization : ``"euler"`` (default) or ``"exact"``; see the module docstring.

    Returns
    -------
    nir.NIRGraph with nodes ``input``, ``0``, ``1``, ... , ``output`` in a chain.
    """
    import torch
    from torch import nn
    from neurosim._validation import check_choice, check_positive
    from neurosim.snn.modules import CubaLIFLayer, IFLayer, LIFLayer, ParametricLIFLayer

    nir = _nir()
    dt = check_positive("dt", dt, unit="s")
    check_choice("discretization", discretization, _DISCRETIZATIONS)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    shape = tuple(int(s) for s in input_shape)
    if not shape or any(s < 1 for s in shape):
        raise ValueError(f"input_shape must be the positive shape of one sample, e.g. (1, 28, 28); got {input_shape}")
    mods = [m for m in _linearize(model) if not isinstance(m, (nn.Dropout, nn.Identity))]
    nodes = {"input": nir.Input(input_type={"input": np.array(shape)})}
    order = []
    cur = shape
    i = 0
    while i < len(mods):
        m = mods[i]
        nxt = mods[i + 1] if i + 1 < len(mods) else None
        bn = nxt if isinstance(nxt, (nn.BatchNorm1d, nn.BatchNorm2d)) else None
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            raise ValueError("a BatchNorm must follow a Conv2d or Linear to be folded into it for NIR export")
        if isinstance(m, nn.Conv2d):
            if m.padding_mode != "zeros" or isinstance(m.padding, str):
                raise ValueError("only numeric zero padding can be exported to NIR Conv2d")
            w, b = m.weight.detach(), (m.bias.detach() if m.bias is not None else None)
            if bn is not None:
                w, b = _fold_bn(w, b, bn)
            if b is None:
                b = torch.zeros(w.shape[0], dtype=w.dtype)
            node = nir.Conv2d(input_shape=tuple(cur[-2:]), weight=w.numpy().copy(), stride=tuple(m.stride),
                              padding=tuple(m.padding), dilation=tuple(m.dilation), groups=m.groups,
                              bias=b.numpy().copy())
            with torch.no_grad():
                cur = tuple(m(torch.zeros(1, *cur)).shape[1:])
        elif isinstance(m, nn.Linear):
            w, b = m.weight.detach(), (m.bias.detach() if m.bias is not None else None)
            if bn is not None:
                w, b = _fold_bn(w, b, bn)
            if cur[-1] != m.in_features:
                raise ValueError(f"Linear expects {m.in_features} inputs but receives shape {cur}; add a Flatten")
            node = (nir.Affine(weight=w.numpy().copy(), bias=b.numpy().copy()) if b is not None
                    else nir.Linear(weight=w.numpy().copy()))
            cur = cur[:-1] + (m.out_features,)
        elif isinstance(m, nn.Flatten):
            # time-major models flatten [T, B, ...] from dim 2; NIR's dims exclude time and batch
            if 0 <= m.start_dim < 2 or 0 <= m.end_dim < 2:
                raise ValueError(f"Flatten({m.start_dim}, {m.end_dim}) would merge the time/batch dims of a "
                                 "[T, B, ...] model; use nn.Flatten(2)")
            start = m.start_dim - 2 if m.start_dim >= 0 else m.start_dim
            end = m.end_dim - 2 if m.end_dim >= 0 else m.end_dim
            node = nir.Flatten(input_type={"input": np.array(cur)}, start_dim=start, end_dim=end)
            cur = tuple(int(v) for v in node.output_type["output"])
        elif isinstance(m, nn.AvgPool2d):
            k = _pair(m.kernel_size)
            s = _pair(m.stride if m.stride is not None else m.kernel_size)
            p = _pair(m.padding)
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
            with torch.no_grad():
                cur = tuple(m(torch.zeros(1, *cur)).shape[1:])
        elif isinstance(m, CubaLIFLayer):
            node = _cuba_node(m.cuba_spec, cur, dt, discretization)
        elif isinstance(m, ParametricLIFLayer):
            # the learned time constant, frozen (spikes equal the layer's up to float rounding)
            node = _lif_node(m.spec.replace(tau=m.tau), cur, dt, discretization)
        elif isinstance(m, (LIFLayer, IFLayer)):
            node = _lif_node(m.spec, cur, dt, discretization)
        else:
            raise TypeError(f"cannot export {type(m).__name__} to NIR; supported: Conv2d, BatchNorm (folded), "
                            "Linear, Flatten, AvgPool2d, LIFLayer, IFLayer, ParametricLIFLayer, CubaLIFLayer "
                            "in a sequential stack (max-pooling and "
                            "residual/feedback models are not expressible in NIR 1.0 here)")
        name = str(len(order))
        nodes[name] = node
        order.append(name)
        i += 2 if bn is not None else 1
    nodes["output"] = nir.Output(output_type={"output": np.array(cur)})
    chain = ["input"] + order + ["output"]
    edges = list(zip(chain[:-1], chain[1:]))
    meta = {"neurosim": {"dt": float(dt), "discretization": discretization, "version": 1}}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def _pair(v):
    a = np.atleast_1d(np.asarray(v)).astype(np.int64).ravel()
    if a.size == 1:
        return (int(a[0]), int(a[0]))
    return tuple(int(x) for x in a)


# -- import ----------------------------------------------------------------------------------
def _chain(graph):
    """Node names from the input to the output of a chain-shaped graph."""
    nir = _nir()
    succ, pred = {}, {}
    for a, b in graph.edges:
        succ.setdefault(a, []).append(b)
        pred.setdefault(b, []).append(a)
    bad = [n for n in graph.nodes if len(succ.get(n, [])) > 1 or len(pred.get(n, [])) > 1]
    if bad:
        raise ValueError(f"import_nir supports chains only; nodes {bad} branch or merge")
    inputs = [n for n, v in graph.nodes.items() if isinstance(v, nir.Input)]
    if len(inputs) != 1:
        raise ValueError(f"the graph must have exactly one Input node, found {len(inputs)}")
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


def _spec_from_meta(meta, tau_nir, r_nir, v_leak, v_th, v_reset, dt, discretization, is_if=False):
    """LIFSpec from NIR fields; neurosim metadata restores what NIR cannot express."""
    from neurosim.snn.functional.lif import LIFSpec
    from neurosim.snn.surrogate import get_surrogate, SURROGATES

    if is_if:
        beta = 1.0
        g = r_nir * dt
    else:
        beta = 1.0 - dt / tau_nir if discretization == "euler" else math.exp(-dt / tau_nir)
        g = r_nir * (1.0 - beta)
    ns = meta.get("neurosim") if isinstance(meta, dict) else None
    if ns:
        name = str(ns["surrogate"])
        cls = SURROGATES.get(name)
        param = getattr(cls, "_param_name", "alpha") if cls is not None else "alpha"
        ns_beta = float(ns["beta"])
        spec = LIFSpec(tau=float(ns["tau"]), v_th=float(ns["v_th"]), v_reset=float(ns["v_reset"]),
                       v_rest=float(ns["v_rest"]), reset=str(ns["reset"]), detach_reset=bool(ns["detach_reset"]),
                       decay_input=bool(ns["decay_input"]), strict=str(ns["fire"]) == ">",
                       surrogate=get_surrogate(name, **{param: float(ns["surrogate_param"])}),
                       form=str(ns["form"]), reset_delay=bool(ns["reset_delay"]),
                       beta=None if ns_beta < 0 else ns_beta)
        # the exact discrete values are used only while the NIR fields still agree with them
        close = lambda a, b: math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)  # noqa: E731
        if (close(float(spec.decay), beta) and close(_gain(spec), g) and close(spec.v_th, v_th)
                and close(spec.v_reset, v_reset) and close(spec.v_rest, v_leak)):
            return spec
    # plain NIR: fire on '>', hard reset to v_reset
    if beta == 1.0:
        # no leak: h = v + x (snntorch form with decay 1)
        if not math.isclose(g, 1.0, rel_tol=1e-9):
            raise ValueError(f"NIR IF with R dt = {g:g} != 1 is not supported; scale the preceding weights by R dt")
        return LIFSpec(tau=1.0, v_th=v_th, v_reset=v_reset, v_rest=0.0, reset="zero", strict=True,
                       decay_input=False, form="snntorch", beta=1.0)
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"NIR LIF with tau={tau_nir} s and dt={dt} s gives decay {beta} per step; "
                         "pass the dt the graph was made for (dt >= tau is unstable under forward Euler)")
    tau_steps = 1.0 / (1.0 - beta)
    if math.isclose(g, 1.0 - beta, rel_tol=1e-6):
        return LIFSpec(tau=tau_steps, v_th=v_th, v_reset=v_reset, v_rest=v_leak, reset="zero", strict=True,
                       decay_input=True)
    if math.isclose(g, 1.0, rel_tol=1e-6):
        return LIFSpec(tau=tau_steps, v_th=v_th, v_reset=v_reset, v_rest=v_leak, reset="zero", strict=True,
                       decay_input=False)
    raise ValueError(f"NIR LIF input gain R dt / tau = {g:g} is neither 1 nor dt/tau; scale the preceding weights "
                     "(neurosim LIF layers have R = 1 or R = tau/dt)")


def _import_cuba(name, node, dt, discretization):
    """CubaLIFLayer from a NIR CubaLIF node (current gain (1 - alpha) w_in must be 1)."""
    from neurosim.snn.modules import CubaLIFLayer

    tau_syn = _uniform(f"{name}.tau_syn", node.tau_syn)
    alpha = 1.0 - dt / tau_syn if discretization == "euler" else math.exp(-dt / tau_syn)
    if not 0.0 <= alpha < 1.0:
        raise ValueError(f"NIR CubaLIF {name!r}: tau_syn={tau_syn} s with dt={dt} s gives a current decay of "
                         f"{alpha} per step; pass the dt the graph was made for")
    w_in = _uniform(f"{name}.w_in", node.w_in)
    if not math.isclose((1.0 - alpha) * w_in, 1.0, rel_tol=1e-6):
        raise ValueError(f"NIR CubaLIF {name!r}: input gain (dt/tau_syn) w_in = {(1 - alpha) * w_in:g} != 1 is not "
                         "supported; scale the preceding weights by it")
    spec = _spec_from_meta(node.metadata, _uniform(f"{name}.tau_mem", node.tau_mem), _uniform(f"{name}.r", node.r),
                           _uniform(f"{name}.v_leak", node.v_leak), _uniform(f"{name}.v_threshold", node.v_threshold),
                           _uniform(f"{name}.v_reset", node.v_reset), dt, discretization)
    ns = node.metadata.get("neurosim") if isinstance(node.metadata, dict) else None
    if ns and "tau_syn" in ns:
        ns_alpha = float(ns["alpha"])
        syn = 1.0 - 1.0 / float(ns["tau_syn"]) if ns_alpha < 0 else ns_alpha
        if math.isclose(syn, alpha, rel_tol=1e-9, abs_tol=1e-12):
            if ns_alpha >= 0:
                return CubaLIFLayer(spec=spec, alpha=ns_alpha)
            return CubaLIFLayer(spec=spec, tau_syn=float(ns["tau_syn"]))
    return CubaLIFLayer(spec=spec, tau_syn=1.0 / (1.0 - alpha))


def import_nir(graph, *, dt: float | None = None, discretization: str | None = None):
    """Build a neurosim ``nn.Sequential`` (input ``[T, B, ...]``) from a chain-shaped NIR graph.

    ``dt`` and ``discretization`` default to the values the graph's neurosim metadata
    records, else ``NIR_DT`` (1e-4 s) and ``"euler"``.
    """
    from torch import nn
    import torch
    from neurosim._validation import check_choice, check_positive
    from neurosim.snn.containers import SeqToANN
    from neurosim.snn.modules import IFLayer, LIFLayer

    nir = _nir()
    if not isinstance(graph, nir.NIRGraph):
        raise TypeError(f"graph must be a nir.NIRGraph, got {type(graph).__name__}")
    gmeta = (graph.metadata or {}).get("neurosim", {}) if isinstance(graph.metadata, dict) else {}
    if dt is None:
        dt = float(gmeta.get("dt", NIR_DT))
    dt = check_positive("dt", dt, unit="s")
    if discretization is None:
        discretization = str(gmeta.get("discretization", "euler"))
    check_choice("discretization", discretization, _DISCRETIZATIONS)
    layers = []
    for name in _chain(graph):
        node = graph.nodes[name]
        f32 = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
        if isinstance(node, (nir.Input, nir.Output)):
            continue
        if isinstance(node, nir.Affine) or isinstance(node, nir.Linear):
            w = np.asarray(node.weight)
            lin = nn.Linear(w.shape[1], w.shape[0], bias=isinstance(node, nir.Affine))
            with torch.no_grad():
                lin.weight.copy_(f32(w))
                if isinstance(node, nir.Affine):
                    lin.bias.copy_(f32(node.bias))
            layers.append(lin)
        elif isinstance(node, nir.Conv2d):
            w = np.asarray(node.weight)
            if isinstance(node.padding, str):
                raise ValueError(f"NIR Conv2d padding {node.padding!r} is not supported; use numeric padding")
            conv = nn.Conv2d(w.shape[1] * node.groups, w.shape[0], tuple(w.shape[-2:]), stride=_pair(node.stride),
                             padding=_pair(node.padding), dilation=_pair(node.dilation), groups=int(node.groups),
                             bias=True)
            with torch.no_grad():
                conv.weight.copy_(f32(w))
                conv.bias.copy_(f32(node.bias) if node.bias is not None else torch.zeros(w.shape[0]))
            layers.append(SeqToANN(conv))
        elif isinstance(node, nir.Flatten):
            start = node.start_dim + 2 if node.start_dim >= 0 else node.start_dim
            end = node.end_dim + 2 if node.end_dim >= 0 else node.end_dim
            layers.append(nn.Flatten(start, end))
        elif isinstance(node, (nir.AvgPool2d, nir.SumPool2d)):
            k, s, p = (tuple(int(v) for v in np.atleast_1d(a)) for a in (node.kernel_size, node.stride, node.padding))
            k, s, p = (a * 2 if len(a) == 1 else a for a in (k, s, p))
            pool = nn.AvgPool2d(k, s, p, divisor_override=1 if isinstance(node, nir.SumPool2d) else None)
            layers.append(SeqToANN(pool))
        elif isinstance(node, nir.LIF):
            spec = _spec_from_meta(node.metadata, _uniform(f"{name}.tau", node.tau), _uniform(f"{name}.r", node.r),
                                   _uniform(f"{name}.v_leak", node.v_leak),
                                   _uniform(f"{name}.v_threshold", node.v_threshold),
                                   _uniform(f"{name}.v_reset", node.v_reset), dt, discretization)
            layers.append(LIFLayer(spec=spec))
        elif isinstance(node, nir.IF):
            spec = _spec_from_meta(node.metadata, None, _uniform(f"{name}.r", node.r), 0.0,
                                   _uniform(f"{name}.v_threshold", node.v_threshold),
                                   _uniform(f"{name}.v_reset", node.v_reset), dt, discretization, is_if=True)
            layers.append(IFLayer(spec=spec))
        elif isinstance(node, nir.CubaLIF):
            layers.append(_import_cuba(name, node, dt, discretization))
        else:
            raise TypeError(f"cannot import NIR node {name!r} of type {type(node).__name__}; supported: Affine, "
                            "Linear, Conv2d, Flatten, AvgPool2d, SumPool2d, LIF, IF, CubaLIF")
    return nn.Sequential(*layers)


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
