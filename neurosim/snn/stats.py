r"""Activity statistics of spiking networks: firing rates, synaptic operations, energy.

The numbers every SNN paper reports, measured with forward hooks on any ``nn.Module``
(neurosim models, hand-built ``nn.Sequential`` stacks, ANN teachers).

Definitions (per input sample; a sequence of ``T`` steps counts as one sample)
------------------------------------------------------------------------------
* **Firing rate** of a spiking layer: spikes per neuron per time step,
  :math:`r = \sum_{t,i} s_{t,i} / (T N)`.
* **Synaptic operations (SOPs)** of a synaptic layer (``Linear``, ``Conv1d/2d``,
  ``ConvTranspose2d``) whose input is spikes: every input event adds its weight to each
  target it reaches, so :math:`\mathrm{SOPs} = \sum_{\text{events } j} s_j\,\mathrm{fanout}_j`.
  Computed exactly (border effects of padding/stride included) as the sum of the layer's
  output when its weights are replaced by ones and its input by the event counts ``s``.
* **Events of an input** (what decides SOPs versus MACs). A synaptic layer's input carries
  events when it is

  1. the output of a spiking layer, or any tensor, whose values are all non-negative
     integers (binary spikes; SEW-ADD sums, where a value 2 is two events): the events are
     the values; or
  2. the output of an *event relay* whose input carries events. Relays are the linear,
     weight-free operations that neuromorphic hardware folds into the next layer's synapses:
     average pooling (``AvgPool1d/2d/3d``, ``AdaptiveAvgPool1d/2d/3d``), ``Flatten``,
     ``Unflatten``, ``Identity``, ``Dropout`` in eval mode, and modules whose class sets
     ``relays_events = True`` (a multiplication by a positive constant, such as the scaler of
     a converted network). A pooled value ``k/n`` is not an event count; its events are the
     source spikes: a pool passes on the **sum** of its input events over each window (so
     each source spike reaches the next layer once per window that contains it, and the
     pool's ``1/n`` becomes part of the folded weights), shape operations pass them on
     re-arranged. Views (``reshape``, ``view``, ``flatten``) of such a tensor carry the same
     events.

  SOPs are then ``sum_j s_j fanout_j`` over the *source* events ``s_j``, with the fan-out of
  the folded synapses (pool followed by the layer). For non-overlapping windows (stride =
  kernel, e.g. ``AvgPool2d(2)``, a divisible ``AdaptiveAvgPool``) this is exactly the number
  of distinct targets of each spike; with overlapping windows a target reached through two
  windows is counted twice (an upper bound). A spiking layer fused with its pooling
  (:class:`~neurosim.snn.modules.lif.LIFAvgPool`, which outputs 2 x 2 means of its spikes) is
  counted as the neuron followed by the pool: firing rates and spike counts of the unpooled
  spikes, window sums as its events. The events are found by identity: a relay or
  synaptic layer looks its input (or the tensor it is a contiguous view of) up among the
  outputs recorded during the same forward pass; an in-place change of a recorded tensor
  voids its record. Anything else (image pixels, membrane potentials, a value that went
  through a BatchNorm or an unhooked arithmetic operation) is analog.
* **MACs**: dense multiply-accumulates of a synaptic layer (``Linear``: in x out;
  ``Conv``: C_out H_out W_out (C_in/groups) k_h k_w), padding included as is conventional.
  A synaptic layer with analog input (no events, above) — the first layer under direct
  encoding — costs MACs on every step, not SOPs.
* **ANN MACs**: the dense MACs of one time step, i.e. the cost of the equivalent ANN
  (same topology, one pass).
* **Energy**: :math:`E_{SNN} = E_{AC}\,\mathrm{SOPs} + E_{MAC}\,\mathrm{MACs}_{analog}`,
  :math:`E_{ANN} = E_{MAC}\,\mathrm{MACs}_{ANN}`. Default per-operation energies are
  45 nm CMOS, 32-bit float: add 0.9 pJ, multiply 3.7 pJ, so AC = 0.9 pJ and
  MAC = 4.6 pJ (M. Horowitz, "Computing's energy problem (and what we can do about it)",
  ISSCC 2014, Fig. 1.1.9). Neuron updates, BN (folded into weights at inference),
  pooling (folded into the next layer's synapses, above) and memory traffic are not
  counted — the usual, optimistic convention.

Usage::

    stats = measure_activity(model, x)        # one forward pass under no_grad
    stats.firing_rates, stats.total_sops, stats.energy_snn_pj, stats.table()

    with ActivityMonitor(model) as mon:       # accumulate over several batches
        for xb in loader: model(xb)
    stats = mon.result()
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Dict, Optional

import torch
from torch import nn
import torch.nn.functional as F

from neurosim._validation import check_nonnegative

__all__ = ["EnergyModel", "ENERGY_MODELS", "ActivityStats", "ActivityMonitor", "measure_activity",
           "is_spiking_module", "is_event_relay"]


@dataclass(frozen=True)
class EnergyModel:
    """Energy per operation in picojoules.

    Attributes
    ----------
    e_ac_pj : energy of one accumulate (addition), pJ.
    e_mac_pj : energy of one multiply-accumulate, pJ.
    source : where the numbers come from.
    """

    e_ac_pj: float = 0.9
    e_mac_pj: float = 4.6
    source: str = "45 nm CMOS, fp32 (Horowitz, ISSCC 2014): add 0.9 pJ, mult 3.7 pJ"

    def __post_init__(self):
        check_nonnegative("e_ac_pj", self.e_ac_pj, unit="pJ")
        check_nonnegative("e_mac_pj", self.e_mac_pj, unit="pJ")


#: presets from Horowitz (ISSCC 2014), 45 nm, 0.9 V
ENERGY_MODELS = {
    "fp32_45nm": EnergyModel(0.9, 4.6, "45 nm CMOS, fp32 (Horowitz, ISSCC 2014): add 0.9 pJ, mult 3.7 pJ"),
    "int32_45nm": EnergyModel(0.1, 3.2, "45 nm CMOS, int32 (Horowitz, ISSCC 2014): add 0.1 pJ, mult 3.1 pJ"),
    "int8_45nm": EnergyModel(0.03, 0.23, "45 nm CMOS, int8 (Horowitz, ISSCC 2014): add 0.03 pJ, mult 0.2 pJ"),
}

_SYNAPTIC = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d)


def is_spiking_module(m: nn.Module) -> bool:
    """A neurosim spiking layer: a stateful ``neurosim.snn`` module with no stateful children."""
    from neurosim.snn.containers import Stateful as base

    if not isinstance(m, base):
        return False
    return not any(isinstance(c, base) for c in m.modules() if c is not m)


@dataclass
class ActivityStats:
    """Per-sample activity of one or more forward passes (see the module docstring).

    All per-layer dicts are keyed by the module's qualified name in the model.
    """

    firing_rates: Dict[str, float] = field(default_factory=dict)
    spikes_per_sample: Dict[str, float] = field(default_factory=dict)
    neurons: Dict[str, int] = field(default_factory=dict)
    sops: Dict[str, float] = field(default_factory=dict)
    macs: Dict[str, float] = field(default_factory=dict)
    ann_macs: Dict[str, float] = field(default_factory=dict)
    timesteps: int = 1
    samples: int = 0
    energy: EnergyModel = field(default_factory=EnergyModel)

    @property
    def total_sops(self) -> float:
        return float(sum(self.sops.values()))

    @property
    def total_macs(self) -> float:
        """MACs actually spent by the SNN (analog-input layers, summed over time)."""
        return float(sum(self.macs.values()))

    @property
    def total_ann_macs(self) -> float:
        return float(sum(self.ann_macs.values()))

    @property
    def mean_firing_rate(self) -> float:
        """Spikes per neuron per step over all spiking layers (neuron-weighted)."""
        n = sum(self.neurons.values())
        if n == 0:
            return 0.0
        return float(sum(self.spikes_per_sample.values()) / (n * self.timesteps))

    @property
    def energy_snn_pj(self) -> float:
        return self.energy.e_ac_pj * self.total_sops + self.energy.e_mac_pj * self.total_macs

    @property
    def energy_ann_pj(self) -> float:
        return self.energy.e_mac_pj * self.total_ann_macs

    def as_dict(self) -> dict:
        """Plain-JSON summary."""
        return {
            "firing_rates": dict(self.firing_rates), "sops": dict(self.sops), "macs": dict(self.macs),
            "ann_macs": dict(self.ann_macs), "timesteps": self.timesteps, "samples": self.samples,
            "mean_firing_rate": self.mean_firing_rate, "total_sops": self.total_sops,
            "total_macs": self.total_macs, "total_ann_macs": self.total_ann_macs,
            "energy_snn_pj": self.energy_snn_pj, "energy_ann_pj": self.energy_ann_pj,
            "energy_source": self.energy.source,
        }

    def table(self) -> str:
        """A markdown table: one row per layer, then totals."""
        rows = ["| layer | firing rate | SOPs/sample | MACs/sample (SNN) | MACs/sample (ANN) |",
                "|---|---|---|---|---|"]
        names = list(self.firing_rates) + [n for n in self.ann_macs if n not in self.firing_rates]
        for n in names:
            fr = f"{self.firing_rates[n]:.4f}" if n in self.firing_rates else ""
            sop = f"{self.sops[n]:.3g}" if n in self.sops else ""
            mac = f"{self.macs[n]:.3g}" if n in self.macs else ""
            ann = f"{self.ann_macs[n]:.3g}" if n in self.ann_macs else ""
            rows.append(f"| {n} | {fr} | {sop} | {mac} | {ann} |")
        rows.append(f"| **total** | {self.mean_firing_rate:.4f} | {self.total_sops:.3g} | {self.total_macs:.3g} | "
                    f"{self.total_ann_macs:.3g} |")
        rows.append("")
        rows.append(f"Energy per sample: SNN {self.energy_snn_pj / 1e6:.4g} uJ, ANN {self.energy_ann_pj / 1e6:.4g} uJ "
                    f"({self.energy.source}).")
        return "\n".join(rows)


def _is_event_tensor(x: torch.Tensor) -> bool:
    if x.numel() == 0:
        return True
    if not torch.is_floating_point(x):
        return bool((x >= 0).all())
    return bool(((x >= 0) & (x == torch.round(x))).all())


_AVG_POOLS = (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)
_ADAPTIVE_AVG_POOLS = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)
_SHAPE_RELAYS = (nn.Flatten, nn.Unflatten, nn.Identity)
_DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)


def is_event_relay(m: nn.Module) -> bool:
    """A module that passes events on to the next synaptic layer (see the module docstring)."""
    if isinstance(m, _AVG_POOLS + _ADAPTIVE_AVG_POOLS + _SHAPE_RELAYS):
        return True
    if isinstance(m, _DROPOUTS):
        return not m.training
    return bool(getattr(type(m), "relays_events", False))


def _same_layout(view: torch.Tensor, base: torch.Tensor) -> bool:
    """``view`` is a reshape of all of ``base`` (same elements in the same order)."""
    return (view.numel() == base.numel() and view.storage_offset() == base.storage_offset()
            and view.is_contiguous() and base.is_contiguous())


def _fused_pool_area(m: nn.Module) -> int:
    """Window area of a spiking layer that outputs its spikes average-pooled (``LIFAvgPool``: 2 x 2), else 1."""
    from neurosim.snn.modules.lif import LIFAvgPool

    return 4 if isinstance(m, LIFAvgPool) else 1


def _adaptive_window_sizes(n_in: int, n_out: int) -> torch.Tensor:
    """Window lengths of adaptive pooling along one dim: ``[floor(i n_in / n_out), ceil((i+1) n_in / n_out))``."""
    return torch.tensor([-((-(i + 1) * n_in) // n_out) - (i * n_in) // n_out for i in range(n_out)],
                        dtype=torch.float64)


def _relay_events(m: nn.Module, e: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Events at the output ``out`` of relay ``m`` whose input carries the events ``e`` (input's shape).

    Average pooling: the sum of the events over each window (``divisor_override=1``; adaptive
    windows: the mean times the window size, rounded, since sums of counts are integers).
    Shape relays and constant scalers: the same events, laid out as ``out``.
    """
    if isinstance(m, nn.AvgPool1d):
        k, st, pad = m.kernel_size[0], m.stride[0], m.padding[0]
        return F.avg_pool2d(e.unsqueeze(-2), (1, k), (1, st), (0, pad), m.ceil_mode, m.count_include_pad,
                            divisor_override=1).squeeze(-2)
    if isinstance(m, nn.AvgPool2d):
        return F.avg_pool2d(e, m.kernel_size, m.stride, m.padding, m.ceil_mode, m.count_include_pad,
                            divisor_override=1)
    if isinstance(m, nn.AvgPool3d):
        return F.avg_pool3d(e, m.kernel_size, m.stride, m.padding, m.ceil_mode, m.count_include_pad,
                            divisor_override=1)
    if isinstance(m, _ADAPTIVE_AVG_POOLS):
        d = next(k for k, cls in enumerate(_ADAPTIVE_AVG_POOLS, 1) if isinstance(m, cls))  # pooled dims
        fn = (F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d)[d - 1]
        mean = fn(e.double(), out.shape[-d:])
        size = torch.ones((), dtype=torch.float64)
        for k in range(d):
            w = _adaptive_window_sizes(e.shape[-d + k], out.shape[-d + k])
            size = size.unsqueeze(-1) * w
        return torch.round(mean * size).to(e.dtype)
    if e.numel() != out.numel():  # pragma: no cover - a relays_events module that changes the size
        raise ValueError(f"{type(m).__name__} sets relays_events but maps {e.numel()} values to {out.numel()}")
    return e.reshape(out.shape)


def _ones_like_layer(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Output of layer ``m`` with all-ones weights and no bias on input ``x`` (fan-out counting)."""
    w = torch.ones_like(m.weight)
    if isinstance(m, nn.Linear):
        return F.linear(x, w)
    if isinstance(m, nn.Conv1d):
        return F.conv1d(x, w, None, m.stride, m.padding, m.dilation, m.groups)
    if isinstance(m, nn.Conv2d):
        if isinstance(m.padding, str):
            return F.conv2d(x, w, None, m.stride, m.padding, m.dilation, m.groups)
        if m.padding_mode != "zeros":
            x = F.pad(x, m._reversed_padding_repeated_twice, mode=m.padding_mode)
            return F.conv2d(x, w, None, m.stride, 0, m.dilation, m.groups)
        return F.conv2d(x, w, None, m.stride, m.padding, m.dilation, m.groups)
    if isinstance(m, nn.ConvTranspose2d):
        return F.conv_transpose2d(x, w, None, m.stride, m.padding, m.output_padding, m.groups, m.dilation)
    raise TypeError(f"not a synaptic layer: {type(m).__name__}")  # pragma: no cover


def _dense_macs(m: nn.Module, x: torch.Tensor, out: torch.Tensor) -> float:
    """Dense MACs of one call (all rows)."""
    if isinstance(m, nn.Linear):
        rows = x.numel() // m.in_features
        return float(rows * m.in_features * m.out_features)
    if isinstance(m, nn.ConvTranspose2d):
        # every input element meets (C_out/groups) k_h k_w weights
        k = m.weight.shape[1] * m.weight[0, 0].numel()
        return float(x.numel() * k)
    # Conv1d/Conv2d: every output element needs (C_in/groups) * prod(kernel) MACs
    return float(out.numel() * m.weight[0].numel())


class ActivityMonitor:
    """Context manager that hooks a model and accumulates activity over forward calls.

    Parameters
    ----------
    model : the network. Its input must be ``[T, B, ...]`` (spiking) or ``[B, ...]`` (ANN);
        set ``time_major=False`` for a model whose input has no time dimension.
    energy : an :class:`EnergyModel` or a key of :data:`ENERGY_MODELS`.
    spiking_types : classes whose outputs count as spikes; default: neurosim spiking layers.
    time_major : the model input is ``[T, B, ...]``. ``None`` (default): guessed per call,
        ``True`` when the model has spiking layers.
    """

    def __init__(self, model: nn.Module, energy="fp32_45nm", spiking_types=None, time_major=None):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if isinstance(energy, str):
            if energy not in ENERGY_MODELS:
                raise KeyError(f"unknown energy model {energy!r}; valid: {', '.join(ENERGY_MODELS)}")
            energy = ENERGY_MODELS[energy]
        if not isinstance(energy, EnergyModel):
            raise TypeError(f"energy must be an EnergyModel or a name, got {type(energy).__name__}")
        self.model = model
        self.energy = energy
        if spiking_types is None:
            pred = is_spiking_module
        else:
            types = tuple(spiking_types)
            pred = lambda m: isinstance(m, types)  # noqa: E731
        self._spiking = {n: m for n, m in model.named_modules() if pred(m)}
        self._synaptic = {n: m for n, m in model.named_modules() if isinstance(m, _SYNAPTIC)}
        self._relays = [m for m in model.modules()  # Dropout: a relay only in eval mode, checked per call
                        if m is not model and (is_event_relay(m) or isinstance(m, _DROPOUTS))]
        self._records: dict = {}  # id(tensor) -> (weakref, _version, events or None), one forward pass
        self.time_major = bool(self._spiking) if time_major is None else bool(time_major)
        self._handles = []
        self.reset()

    def reset(self) -> None:
        """Forget what was accumulated."""
        self._spk = {n: 0.0 for n in self._spiking}
        self._spk_elems = {n: 0 for n in self._spiking}
        self._sops = {n: 0.0 for n in self._synaptic}
        self._macs = {n: 0.0 for n in self._synaptic}
        self._dense = {n: 0.0 for n in self._synaptic}
        self._samples = 0
        self._steps = 0  # sum over calls of T * B

    # event records ----------------------------------------------------------------------
    def _record(self, t: torch.Tensor, events: Optional[torch.Tensor]) -> None:
        """Remember that ``t`` carries ``events`` (None: its own values, if they are counts).

        A reshaped view is recorded on the tensor it views (views of views share that base), so
        any further reshape of it is found through ``._base``.
        """
        base = t._base
        if base is not None and _same_layout(t, base):
            events = None if events is None else events.reshape(base.shape)
            t = base
        key = id(t)
        records = self._records

        def forget(ref, key=key):
            if records.get(key, (None,))[0] is ref:
                del records[key]

        records[key] = (weakref.ref(t, forget), t._version, events)

    def _events_of(self, x: torch.Tensor) -> Optional[torch.Tensor]:
        """The event counts carried by ``x`` (same shape), or None when ``x`` is analog."""
        for cand in (x, x._base):
            if cand is None:
                continue
            rec = self._records.get(id(cand))
            if rec is None or rec[0]() is not cand or rec[1] != cand._version:
                continue
            events = rec[2]
            if cand is not x:  # x is a view of the recorded tensor: only a reshape keeps the layout
                if not _same_layout(x, cand):
                    break
                events = cand if events is None else events
                events = events.reshape(x.shape)
            elif events is None:
                events = x
            if rec[2] is None and not _is_event_tensor(events):
                return None
            return events
        return x if _is_event_tensor(x) else None

    # hooks -------------------------------------------------------------------------------
    def _root_post(self, module, args, out):
        self._records.clear()

    def _root_pre(self, module, args):
        self._records.clear()
        if not args or not isinstance(args[0], torch.Tensor):
            return
        x = args[0]
        if self.time_major:
            if x.dim() < 2:
                raise ValueError(f"model input must be [T, B, ...] for a spiking model, got shape {tuple(x.shape)}")
            self._samples += int(x.shape[1])
            self._steps += int(x.shape[0]) * int(x.shape[1])
        else:
            self._samples += int(x.shape[0])
            self._steps += int(x.shape[0])

    def _spk_hook(self, name):
        def hook(module, args, out):
            s = out[0] if isinstance(out, (tuple, list)) else out
            n = _fused_pool_area(module)
            signed = s.is_floating_point() and bool((s < 0).any())  # -1 spikes (signed IF) are events too
            if n == 1:
                self._record(s, s.detach().abs() if signed else None)
            else:  # a fused neuron + average pool outputs window means: its events are the window sums
                with torch.no_grad():
                    self._record(s, torch.round(s.detach() * n))
            s = s.detach()
            self._spk[name] += float((s.abs() if signed else s).sum()) * n
            self._spk_elems[name] += int(s.numel()) * n
        return hook

    def _relay_hook(self, module, args, out):
        if not args or not isinstance(args[0], torch.Tensor) or not isinstance(out, torch.Tensor):
            return
        if out is args[0] or not is_event_relay(module):  # Identity: the input's record applies; Dropout in training
            return
        events = self._events_of(args[0])
        if events is not None:
            with torch.no_grad():
                self._record(out, _relay_events(module, events, out))

    def _syn_hook(self, name):
        def hook(module, args, out):
            x = args[0]
            dense = _dense_macs(module, x, out)
            self._dense[name] += dense
            events = self._events_of(x)
            if events is not None:
                with torch.no_grad():
                    self._sops[name] += float(_ones_like_layer(module, events.detach().to(module.weight.dtype)).sum())
            else:
                self._macs[name] += dense
        return hook

    def __enter__(self):
        self._handles.append(self.model.register_forward_pre_hook(self._root_pre))
        for n, m in self._spiking.items():
            self._handles.append(m.register_forward_hook(self._spk_hook(n)))
        for m in self._relays:
            self._handles.append(m.register_forward_hook(self._relay_hook))
        self._handles.append(self.model.register_forward_hook(self._root_post))
        for n, m in self._synaptic.items():
            self._handles.append(m.register_forward_hook(self._syn_hook(n)))
        return self

    def __exit__(self, *exc):
        for h in self._handles:
            h.remove()
        self._handles = []
        self._records.clear()
        return False

    def result(self) -> ActivityStats:
        """Per-sample statistics of everything seen since the last :meth:`reset`."""
        if self._samples == 0:
            raise ValueError("no forward pass was recorded; call the model inside `with ActivityMonitor(model)`")
        b = self._samples
        t = self._steps / b
        st = ActivityStats(timesteps=int(round(t)), samples=b, energy=self.energy)
        for n in self._spiking:
            if self._spk_elems[n] == 0:
                continue
            st.firing_rates[n] = self._spk[n] / self._spk_elems[n]
            st.spikes_per_sample[n] = self._spk[n] / b
            st.neurons[n] = int(round(self._spk_elems[n] / self._steps))
        for n in self._synaptic:
            if self._dense[n] == 0:
                continue
            st.sops[n] = self._sops[n] / b
            st.macs[n] = self._macs[n] / b
            st.ann_macs[n] = self._dense[n] / self._steps
        return st


def measure_activity(model: nn.Module, x: torch.Tensor, *, energy="fp32_45nm", spiking_types=None,
                     time_major: Optional[bool] = None, reset: bool = True) -> ActivityStats:
    """Run ``model(x)`` once under ``no_grad`` and return its :class:`ActivityStats`.

    With ``reset`` (default) the model's neuron states are reset before the pass
    (``neurosim.snn.reset_states``) and after it.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    mon = ActivityMonitor(model, energy=energy, spiking_types=spiking_types, time_major=time_major)
    ref = next((p for p in model.parameters() if p.is_floating_point()), None)
    if ref is not None and x.dtype != ref.dtype:
        alt = f" or convert the model with model.to({x.dtype})" if x.is_floating_point() else ""
        raise TypeError(f"x has dtype {x.dtype} but the model's parameters are {ref.dtype}; pass "
                        f"x.to({ref.dtype}){alt}")
    if mon.time_major and x.dim() < 2:
        raise ValueError(f"x must be [T, B, ...] (time first) for a spiking model, got shape {tuple(x.shape)}")
    rs = None
    if reset:
        from neurosim.snn.containers import reset_states as rs
    if rs is not None:
        rs(model)
    try:
        with torch.no_grad(), mon:
            model(x)
    except RuntimeError as exc:  # a shape torch cannot feed to the model: name x and keep the cause
        raise ValueError(f"model(x) failed for x of shape {tuple(x.shape)} ({x.dtype}): {exc}; x must be the "
                         "model's input ([T, B, ...] for a spiking model)") from exc
    finally:
        if rs is not None:
            rs(model)
    return mon.result()
