"""The neuron models of the simulator: one record per model, read by ``Network`` and the flat layout.

A :class:`NeuronModel` holds what the simulator needs to know about a model besides its
kernels: the parameter class, the synapse targets (name -> input channel), the recordable
variables (name -> code of the population's recorder), the state a group exposes (``group.v``
...), and how the model's groups are packed into its kernel population layout (a
``NamedTuple`` registered in ``neurosim.kernels.network_kinds``). :data:`MODELS` lists them in
global-id order (LIF, Izhikevich, conductance LIF, AdEx, Hodgkin-Huxley, Poisson sources, spike
generators; each model's groups in creation order).

Adding a neuron model: its kernel module (``kernels/<model>.py``: population layout, passes,
registration), a record here and its entry in :data:`MODELS`, an ``add_<model>`` method of
``Network`` that validates the parameters, and tests. The flat layout, the drive, the monitors
and the network loop read the record and stay as they are.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Mapping

import numpy as np

from neurosim.kernels import adex as kadex
from neurosim.kernels import hh as khh
from neurosim.kernels import izhikevich as kizh
from neurosim.kernels import lif as klif
from neurosim.kernels import lif_cond as klifc
from neurosim.kernels import poisson_group as kpois
from neurosim.kernels import sources as ksrc
from neurosim.kernels.network_kinds import CH_EXC, CH_INH, CH_V, EmptyPopulation
from neurosim.neurons.adex import AdExParams, adex_coefficient_table
from neurosim.neurons.hh import HHParams
from neurosim.neurons.lif_cond import CondLIFParams
from neurosim.neurons.params import IzhikevichParams, LIFParams
from neurosim.sim import sources as _sources
from neurosim.sim.poisson_group import PoissonGroupParams

__all__ = ["NeuronModel", "MODELS", "LIF", "IZHIKEVICH", "LIF_COND", "ADEX", "HH", "POISSON", "SPIKE_GENERATOR",
           "model_of"]

#: fields every population layout has besides the model's own (filled by the flat layout)
COMMON_FIELDS = ("start", "groups", "rec")


@dataclasses.dataclass(frozen=True)
class NeuronModel:
    """How the simulator handles one neuron model.

    Attributes
    ----------
    name : str
        ``NeuronGroup.model``.
    params_type : type
        The parameter dataclass (``LIFParams`` ...).
    layout : type
        The kernel population layout (a registered ``NamedTuple``).
    targets : mapping
        Synapse / input target name -> input channel (``CH_EXC``, ``CH_INH``, ``CH_V``).
    variables : mapping
        Recordable variable -> recorder code of the layout (``StateMonitor`` variables).
    state : mapping
        Group attribute -> ``(layout field, row or None)``: the state ``group.<name>`` returns.
    finite : tuple of str
        Float state fields checked for NaN/inf after a run.
    fields : callable ``(groups, dt, dtype) -> dict``
        The layout's own fields (state, coefficients, constants) for ``groups`` concatenated.
    mode : callable ``(params) -> int``
        The group table's ``GROUP_MODE`` (e.g. the LIF reset code).
    direct_field : str or None
        Layout field [2, n] that takes channels 0 and 1 in direct delivery (None: never direct).
    nonneg_targets : tuple of str, or callable ``(params) -> tuple of str``
        Targets whose synaptic weights must be >= 0 (conductances); ``Network.connect``, Poisson
        inputs and ``syn.weight`` check them (:meth:`conductance_targets`).
    skip_empty : bool
        A network without groups of this model packs it as ``EmptyPopulation`` (no-op kernels), so
        it compiles none of the model's code (HH: ~30 s of first compile saved for other networks).
    """

    name: str
    params_type: type
    layout: type
    targets: Mapping[str, int]
    variables: Mapping[str, int]
    state: Mapping[str, tuple]
    finite: tuple
    fields: Callable
    mode: Callable = lambda params: 0
    direct_field: str | None = None
    nonneg_targets: tuple | Callable = ()
    skip_empty: bool = False

    def pack(self, groups, dt, dtype, *, start, table, rec):
        """The kernel layout of ``groups`` (this model's groups in id order, first id ``start``), with
        the group table ``table`` and the sample table ``rec`` (int64 [3, R])."""
        if self.skip_empty and not groups:
            return EmptyPopulation(start=start, groups=table, rec=rec)
        return self.layout(start=start, groups=table, rec=rec, **self.fields(groups, dt, dtype))

    def conductance_targets(self, params) -> tuple:
        """The targets of a group with ``params`` whose weights must be >= 0."""
        t = self.nonneg_targets
        return tuple(t(params)) if callable(t) else t

    def state_field(self, name) -> tuple:
        """``(layout field, row or None)`` of state variable ``name``; ``AttributeError`` when there is none."""
        if name not in self.state:
            raise AttributeError(f"{name} is not a state variable of {self.name} groups; they have "
                                 f"{', '.join(self.state)}")
        return self.state[name]

    def state_of(self, pop, name, lo, hi) -> np.ndarray:
        """Copy of state variable ``name`` of the population's neurons ``[lo, hi)``."""
        field, row = self.state_field(name)
        arr = getattr(pop, field)
        return (arr[lo:hi] if row is None else arr[row, lo:hi]).copy()


def _rows(groups, dtype, values: Callable, names) -> np.ndarray:
    """float [len(names), n]: row ``j`` holds ``values(group)[names[j]]`` (a scalar or [g.n]) of each group in turn."""
    out = np.zeros((len(names), sum(g.n for g in groups)), dtype=dtype)
    lo = 0
    for g in groups:
        vals = values(g)
        for j, k in enumerate(names):
            out[j, lo:lo + g.n] = np.broadcast_to(np.asarray(vals[k], dtype=np.float64), (g.n,))
        lo += g.n
    return out


def _concat(groups, value: Callable, dtype) -> np.ndarray:
    """``value(group)`` (a scalar or [g.n]) of each group in turn, as one array of ``dtype``."""
    out = np.zeros(sum(g.n for g in groups), dtype=dtype)
    lo = 0
    for g in groups:
        out[lo:lo + g.n] = np.broadcast_to(np.asarray(value(g)), (g.n,))
        lo += g.n
    return out


# ------------------------------------------------------------------------------------- LIF
def _lif_fields(groups, dt, dtype):
    def values(g):
        p = g.params
        return dict(p.coefficients(dt), v_inf=np.asarray(p.v_rest) + np.asarray(p.r) * g.i_ext, v_th=p.v_th,
                    v_reset=p.v_reset)

    coef = _rows(groups, dtype, values, klif.LIF_COEFFICIENTS)
    n = coef.shape[1]
    return dict(v=_concat(groups, lambda g: g.v0, dtype), i_syn=np.zeros((2, n), dtype=dtype),
                refr=np.zeros(n, dtype=np.int32), coef=coef,
                n_ref=_concat(groups, lambda g: g.params.n_ref(dt), np.int32))


LIF = NeuronModel(
    name="lif", params_type=LIFParams, layout=klif.LIFPopulation,
    targets={"i_syn": CH_EXC, "ge": CH_EXC, "i_e": CH_EXC, "gi": CH_INH, "i_inh": CH_INH, "i_i": CH_INH, "v": CH_V},
    variables={"v": klif.VAR_V, "i_syn": klif.VAR_I_E, "ge": klif.VAR_I_E, "gi": klif.VAR_I_I, "i_inh": klif.VAR_I_I,
               "refr": klif.VAR_REFR},
    state={"v": ("v", None), "i_syn": ("i_syn", 0)}, finite=("v", "i_syn"),
    fields=_lif_fields, mode=lambda params: klif.RESET_CODES[params.reset], direct_field="i_syn",
)


# ------------------------------------------------------------------------------ Izhikevich
def _izh_fields(groups, dt, dtype):
    def values(g):
        p = g.params
        return {"a": p.a, "b": p.b, "c": p.c, "d": p.d, "v_peak": p.v_peak, "i_ext": g.i_ext}

    c = IzhikevichParams().coefficients(dt)  # the 2003 scheme: the same for every neuron
    return dict(v=_concat(groups, lambda g: g.v0, dtype), u=_concat(groups, lambda g: g.u0, dtype),
                coef=_rows(groups, dtype, values, kizh.IZHIKEVICH_COEFFICIENTS),
                k=kizh.IzhikevichCoefficients(*(dtype.type(c[f]) for f in kizh.IzhikevichCoefficients._fields)))


IZHIKEVICH = NeuronModel(
    name="izhikevich", params_type=IzhikevichParams, layout=kizh.IzhikevichPopulation,
    targets={"i": CH_EXC, "i_syn": CH_EXC, "ge": CH_EXC, "gi": CH_INH, "i_inh": CH_INH, "v": CH_V},
    variables={"v": kizh.VAR_V, "u": kizh.VAR_U},
    state={"v": ("v", None), "u": ("u", None)}, finite=("v", "u"),
    fields=_izh_fields, mode=lambda params: kizh.ORDER_CODES[params.order],
)


# ------------------------------------------------------------------ LIF with conductance synapses
def _lif_cond_fields(groups, dt, dtype):
    def values(g):
        p = g.params
        return dict(p.coefficients(dt), v_leak=np.asarray(p.e_leak) + np.asarray(p.r) * g.i_ext, e_exc=p.e_exc,
                    e_inh=p.e_inh, v_th=p.v_th, v_reset=p.v_reset)

    coef = _rows(groups, dtype, values, klifc.COND_LIF_COEFFICIENTS)
    g0 = np.zeros((2, coef.shape[1]), dtype=dtype)
    g0[0], g0[1] = _concat(groups, lambda g: g.g0[0], dtype), _concat(groups, lambda g: g.g0[1], dtype)
    return dict(v=_concat(groups, lambda g: g.v0, dtype), g=g0, refr=np.zeros(coef.shape[1], dtype=np.int32),
                coef=coef, n_ref=_concat(groups, lambda g: g.params.n_ref(dt), np.int32),
                **dict(zip(("k_euler", "k_exp"), klifc.cond_lif_constants(dtype))))


LIF_COND = NeuronModel(
    name="lif_cond", params_type=CondLIFParams, layout=klifc.CondLIFPopulation,
    targets={"ge": CH_EXC, "gi": CH_INH, "v": CH_V},
    variables={"v": klifc.VAR_V, "ge": klifc.VAR_GE, "gi": klifc.VAR_GI, "refr": klifc.VAR_REFR},
    state={"v": ("v", None), "ge": ("g", 0), "gi": ("g", 1)}, finite=("v", "g"),
    fields=_lif_cond_fields, mode=lambda params: klifc.INTEGRATION_CODES[params.integration], direct_field="g",
    nonneg_targets=("ge", "gi"),
    skip_empty=True,
)


# ------------------------------------------------------------------ Poisson spike sources
#: sources x steps of a Poisson event chunk: bounds the event list (int32, 16 MB) and the chunk length
POISSON_CHUNK_ELEMS = 4_000_000


def _poisson_fields(groups, dt, dtype):
    n = sum(g.n for g in groups)
    rows = max(1, POISSON_CHUNK_ELEMS // max(n, 1))
    return dict(ev_ptr=np.zeros(rows + 1, dtype=np.int64), ev_id=np.zeros(rows * n, dtype=np.int32),
                row=np.zeros(1, dtype=np.int64))


POISSON = NeuronModel(
    name="poisson", params_type=PoissonGroupParams, layout=kpois.PoissonPopulation, targets={}, variables={},
    state={}, finite=(), fields=_poisson_fields,
    skip_empty=True,
)


# ------------------------------------------------------------------------------------ AdEx
def _adex_fields(groups, dt, dtype):
    coef = np.concatenate([np.zeros((len(kadex.ADEX_COEFFICIENTS), 0), dtype=dtype)]
                          + [adex_coefficient_table(g.params, g.n, dt, dtype, g.i_ext) for g in groups], axis=1)
    n = coef.shape[1]
    return dict(v=_concat(groups, lambda g: g.v0, dtype), w=_concat(groups, lambda g: g.w0, dtype),
                g=np.zeros((2, n), dtype=dtype), refr=np.zeros(n, dtype=np.int32), coef=np.ascontiguousarray(coef),
                n_ref=_concat(groups, lambda g: g.params.n_ref(dt), np.int32))


ADEX = NeuronModel(
    name="adex", params_type=AdExParams, layout=kadex.AdExPopulation,
    targets={"i_syn": CH_EXC, "ge": CH_EXC, "i_e": CH_EXC, "gi": CH_INH, "i_inh": CH_INH, "i_i": CH_INH, "v": CH_V},
    variables={"v": kadex.VAR_V, "w": kadex.VAR_W, "ge": kadex.VAR_GE, "i_syn": kadex.VAR_GE, "gi": kadex.VAR_GI,
               "i_inh": kadex.VAR_GI, "refr": kadex.VAR_REFR},
    state={"v": ("v", None), "w": ("w", None), "i_syn": ("g", 0)},
    finite=("v", "w", "g"), fields=_adex_fields,
    mode=lambda params: kadex.SYN_CONDUCTANCE if params.synapse == "conductance" else kadex.SYN_CURRENT,
    skip_empty=True,
    nonneg_targets=lambda params: ("ge", "gi", "i_syn", "i_e", "i_inh", "i_i") if params.synapse == "conductance" else (),
)


# ------------------------------------------------------------------ spike generator (sources.py)
SPIKE_GENERATOR = NeuronModel(
    name="spikegen", params_type=_sources.SpikeTimes, layout=ksrc.SpikeGeneratorPopulation, targets={}, variables={},
    state={}, finite=(), fields=_sources.spike_generator_fields,
    skip_empty=True,
)


# ------------------------------------------------------------------- Hodgkin-Huxley
def _hh_fields(groups, dt, dtype):
    coef = _rows(groups, dtype, lambda g: g.params.coefficients(dt, i_ext=g.i_ext), khh.HH_COEFFICIENTS)
    n = coef.shape[1]

    def init(key):  # the validated initial state of Network.add_hh (neurosim.neurons.hh.hh_initial_state)
        return _concat(groups, lambda g: g.init[key], dtype)

    return dict(v=init("v"), m=init("m"), h=init("h"), n=init("n"), g_syn=np.stack([init("ge"), init("gi")]),
                cross=np.zeros(n, dtype=dtype), refr=np.zeros(n, dtype=np.int32), coef=coef,
                n_ref=_concat(groups, lambda g: g.params.n_ref(dt), np.int32), dt=dtype.type(dt))


HH = NeuronModel(
    name="hh", params_type=HHParams, layout=khh.HHPopulation,
    targets={"ge": CH_EXC, "gi": CH_INH, "i": CH_V},
    variables={"v": khh.VAR_V, "m": khh.VAR_M, "h": khh.VAR_H, "n": khh.VAR_N, "n_gate": khh.VAR_N, "ge": khh.VAR_GE,
               "gi": khh.VAR_GI},
    # the potassium gate is ``group.n_gate`` (``group.n`` is the group's size); monitors accept "n" too
    state={"v": ("v", None), "m": ("m", None), "h": ("h", None), "n_gate": ("n", None), "ge": ("g_syn", 0),
           "gi": ("g_syn", 1)},
    finite=("v", "m", "h", "n", "g_syn"), fields=_hh_fields, mode=lambda params: khh.METHOD_CODES[params.method],
    skip_empty=True,
    nonneg_targets=("ge", "gi"),
)

#: model name -> record, in global-id order
MODELS: dict[str, NeuronModel] = {m.name: m for m in (LIF, IZHIKEVICH, LIF_COND, ADEX, HH, POISSON, SPIKE_GENERATOR)}


def model_of(group) -> NeuronModel:
    """The record of a ``NeuronGroup``."""
    return MODELS[group.model]
