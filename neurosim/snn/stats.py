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
  An input counts as spikes when all its values are non-negative integers (binary spikes,
  or SEW-ADD sums where a value 2 is two events).
* **MACs**: dense multiply-accumulates of a synaptic layer (``Linear``: in x out;
  ``Conv``: C_out H_out W_out (C_in/groups) k_h k_w), padding included as is conventional.
  A synaptic layer with analog (non-integer) input — the first layer under direct encoding —
  costs MACs on every step, not SOPs.
* **ANN MACs**: the dense MACs of one time step, i.e. the cost of the equivalent ANN
  (same topology, one pass).
* **Energy**: :math:`E_{SNN} = E_{AC}\,\mathrm{SOPs} + E_{MAC}\,\mathrm{MACs}_{analog}`,
  :math:`E_{ANN} = E_{MAC}\,\mathrm{MACs}_{ANN}`. Default per-operation energies are
  45 nm CMOS, 32-bit float: add 0.9 pJ, multiply 3.7 pJ, so AC = 0.9 pJ and
  MAC = 4.6 pJ (M. Horowitz, "Computing's energy problem (and what we can do about it)",
  ISSCC 2014, Fig. 1.1.9). Neuron updates, BN (folded into weights at inference),
  pooling and memory traffic are not counted — the usual, optimistic convention.

Usage::

    stats = measure_activity(model, x)        # one forward pass under no_grad
    stats.firing_rates, stats.total_sops, stats.energy_snn_pj, stats.table()

    with ActivityMonitor(model) as mon:       # accumulate over several batches
        for xb in loader: model(xb)
    stats = mon.result()
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional

import torch
from torch import nn
import torch.nn.functional as F

from neurosim._validation import check_nonnegative

__all__ = ["EnergyModel", "ENERGY_MODELS", "ActivityStats", "ActivityMonitor", "measure_activity",
           "is_spiking_module"]


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

    # hooks -------------------------------------------------------------------------------
    def _root_pre(self, module, args):
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
            s = s.detach()
            self._spk[name] += float(s.sum())
            self._spk_elems[name] += int(s.numel())
        return hook

    def _syn_hook(self, name):
        def hook(module, args, out):
            x = args[0].detach()
            dense = _dense_macs(module, x, out)
            self._dense[name] += dense
            if _is_event_tensor(x):
                with torch.no_grad():
                    self._sops[name] += float(_ones_like_layer(module, x.to(module.weight.dtype)).sum())
            else:
                self._macs[name] += dense
        return hook

    def __enter__(self):
        self._handles.append(self.model.register_forward_pre_hook(self._root_pre))
        for n, m in self._spiking.items():
            self._handles.append(m.register_forward_hook(self._spk_hook(n)))
        for n, m in self._synaptic.items():
            self._handles.append(m.register_forward_hook(self._syn_hook(n)))
        return self

    def __exit__(self, *exc):
        for h in self._handles:
            h.remove()
        self._handles = []
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
