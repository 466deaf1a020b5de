"""Tsodyks-Markram short-term plasticity (STP) for synapse groups: ``net.connect(..., stp=TsodyksMarkram(...))``.

A synapse group with ``stp`` scales the weight of every presynaptic spike by an efficacy that
each synapse computes at the spike, event-driven and exact over the inter-spike interval
(equations, update order and timing in ``neurosim.kernels.stp``; SIMULATION.md section 5):

- ``form="tsodyks2"`` (default; NEST ``tsodyks2_synapse``, Brian2's Stimberg et al. 2018 COBA
  synapse): efficacy of spike ``n`` is ``u_n x_n`` with ``x_1 = 1``, ``u_1 = U``,
  ``x_{n+1} = 1 + (x_n - u_n x_n - 1) e^{-h/tau_rec}``, ``u_{n+1} = U + u_n (1 - U) e^{-h/tau_fac}``.
- ``form="three_state"`` (NEST ``tsodyks_synapse``, Tsodyks et al. 1998): released resources
  pass through the active state ``y`` (decaying with ``tau_psc``) before recovering; efficacy
  ``Delta = u x`` (NEST's ``weight * Delta``). Set ``tau_psc`` to the target's synaptic time
  constant, as NEST requires.

``tau_fac = 0`` (default) switches facilitation off (``u = U`` at every spike), as in NEST.
Brian's rates ``Omega_d = 1/tau_rec``, ``Omega_f = 1/tau_fac``. Every synapse starts recovered
(``x = 1``, ``y = 0``, no facilitation left). Synapses with STP form their own projection
(``neurosim.sim.synapses.SYNAPSE_KINDS["stp"]``); the others stay static, with unchanged results.

Example
-------
>>> import neurosim as ns
>>> from neurosim.sim.stp import TsodyksMarkram
>>> net = ns.sim.Network(dt=0.1, rng=0)
>>> a = net.add_lif(10, ns.neurons.LIFParams(), i_ext=1.2)
>>> b = net.add_lif(10, ns.neurons.LIFParams())
>>> syn = net.connect(a, b, p=0.5, weight=0.2, stp=TsodyksMarkram(U=0.5, tau_rec=800.0))
"""
from __future__ import annotations

import dataclasses

import numpy as np

from neurosim.kernels.network_kinds import N_CHANNELS
from neurosim.kernels.stp import FORMS, STPSynapses
from neurosim.kernels.synapse import csr_order

__all__ = ["TsodyksMarkram", "check_stp", "stp_projection", "efficacies"]


def _number(name, value, unit):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number ({unit}), got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


@dataclasses.dataclass(frozen=True)
class TsodyksMarkram:
    """Tsodyks-Markram short-term plasticity of a synapse group.

    Parameters
    ----------
    U : float in (0, 1]
        Utilisation (release probability increment; the efficacy of the first spike).
    tau_rec : float, ms
        Recovery time constant of the resources (> 0).
    tau_fac : float, ms
        Facilitation time constant (> 0), or 0 for none (default; ``u = U`` at every spike).
    form : {"tsodyks2", "three_state"}
        Two-state (Tsodyks & Markram 1997 / NEST ``tsodyks2_synapse``) or three-state
        (Tsodyks et al. 1998 / NEST ``tsodyks_synapse``) model.
    tau_psc : float, ms
        Decay of the active state ``y`` in the three-state form (> 0, != ``tau_rec``; NEST's
        default 3 ms; set it to the target's ``tau_syn``). Unused by ``"tsodyks2"``.
    """

    U: float = 0.5
    tau_rec: float = 800.0
    tau_fac: float = 0.0
    form: str = "tsodyks2"
    tau_psc: float = 3.0

    def __post_init__(self):
        for name, unit in (("U", "a fraction"), ("tau_rec", "ms"), ("tau_fac", "ms"), ("tau_psc", "ms")):
            object.__setattr__(self, name, _number(name, getattr(self, name), unit))
        if not 0.0 < self.U <= 1.0:
            raise ValueError(f"U must be in (0, 1], got {self.U}")
        if self.tau_rec <= 0:
            raise ValueError(f"tau_rec must be > 0 ms, got {self.tau_rec}")
        if self.tau_fac < 0:
            raise ValueError(f"tau_fac must be > 0 ms, or 0 for no facilitation; got {self.tau_fac}")
        if self.form not in FORMS:
            raise ValueError(f"form must be one of {', '.join(map(repr, FORMS))}; got {self.form!r}")
        if self.tau_psc <= 0:
            raise ValueError(f"tau_psc must be > 0 ms, got {self.tau_psc}")
        if self.form == "three_state" and self.tau_psc == self.tau_rec:
            raise ValueError(f"tau_psc must differ from tau_rec in the three-state form (both {self.tau_rec} ms); "
                             "change either slightly")


def check_stp(stp) -> TsodyksMarkram | None:
    """``stp`` if it is None or a ``TsodyksMarkram``, else ``TypeError``."""
    if stp is not None and not isinstance(stp, TsodyksMarkram):
        raise TypeError(f"stp must be None or TsodyksMarkram(U=..., tau_rec=..., tau_fac=..., form=...), "
                        f"got {type(stp).__name__}")
    return stp


def stp_projection(synapses, offsets: dict, n_neurons: int, dtype, *, uint16_max_n: int = 0):
    """One :class:`STPSynapses` CSR over ``synapses`` (groups with ``kind == "stp"``, each with ``.stp``)
    and its longest delay in steps; rows keep each group's synapses in order, groups in creation order."""
    N = n_neurons
    n_syn = sum(sg.n_synapses for sg in synapses)
    if N_CHANNELS * N >= 2 ** 31 or n_syn >= 2 ** 31:
        raise ValueError(f"network too large for 32-bit synapse indexing ({N} neurons, {n_syn} synapses)")
    keys = np.empty(n_syn, dtype=np.int32)
    post = np.empty(n_syn, dtype=np.int32)
    w = np.empty(n_syn, dtype=dtype)
    dsteps = np.empty(n_syn, dtype=np.int32)
    form = np.empty(n_syn, dtype=np.uint8)
    par = {k: np.empty(n_syn) for k in ("U", "tau_rec", "tau_fac", "tau_psc")}
    dt = None
    q = 0
    for sg in synapses:
        n = sg.n_synapses
        keys[q:q + n] = (sg.pre + offsets[sg.pre_group.name]) * N_CHANNELS + sg.channel
        post[q:q + n] = sg.post + offsets[sg.post_group.name]
        w[q:q + n] = sg.weight
        dsteps[q:q + n] = sg.delay_steps
        form[q:q + n] = FORMS[sg.stp.form]
        for k in par:
            par[k][q:q + n] = getattr(sg.stp, k)
        dt = sg.dt
        q += n
    indptr = np.empty(N_CHANNELS * N + 1, dtype=np.int64)
    order = np.empty(n_syn, dtype=np.int32)
    csr_order(keys, indptr, order)
    uniform = n_syn == 0 or dsteps.min() == dsteps.max()
    proj = STPSynapses(indptr=indptr, indices=post[order], weights=w[order], delays=dsteps[order],
                       delay_const=int(dsteps[0]) if n_syn and uniform else (0 if uniform else -1),
                       form=form[order], **{k: v[order] for k, v in par.items()},
                       u=np.zeros(n_syn), x=np.ones(n_syn), y=np.zeros(n_syn), last=np.full(n_syn, -1, np.int64),
                       dt=float(dt if dt is not None else 1.0))
    return proj, int(dsteps.max()) if n_syn else 0


def efficacies(spike_times_ms, stp: TsodyksMarkram) -> np.ndarray:
    """Efficacy (weight factor) of each spike of one presynaptic train ``spike_times_ms`` (ms, increasing)
    under ``stp``: the network's per-synapse update (``neurosim.kernels.stp``) applied in NumPy, for plots
    and checks (e.g. the NEST test vectors of SIMULATION.md section 5)."""
    stp = check_stp(stp)
    t = np.asarray(spike_times_ms, dtype=np.float64)
    if t.ndim != 1 or not np.all(np.isfinite(t)) or np.any(np.diff(t) < 0):
        raise ValueError("spike_times_ms must be a 1-D array of finite, non-decreasing times (ms)")
    u, x, y, last = 0.0, 1.0, 0.0, None
    out = np.empty(t.size)
    for k, tk in enumerate(t):
        h = 0.0 if last is None else tk - last
        last = tk
        u = u * np.exp(-h / stp.tau_fac) if stp.tau_fac > 0 else 0.0
        if stp.form == "tsodyks2":
            x = 1.0 + (x - 1.0) * np.exp(-h / stp.tau_rec)
        else:
            p_yy, p_zz = np.exp(-h / stp.tau_psc), np.exp(-h / stp.tau_rec)
            p_xy = ((p_zz - 1.0) * stp.tau_rec - (p_yy - 1.0) * stp.tau_psc) / (stp.tau_psc - stp.tau_rec)
            x, y = x + p_xy * y + (1.0 - p_zz) * (1.0 - x - y), y * p_yy
        u = u + stp.U * (1.0 - u)
        out[k] = r = u * x
        x -= r
        if stp.form == "three_state":
            y += r
    return out
