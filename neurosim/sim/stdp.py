"""Pair-based STDP on a synapse group, its current weights, and the weight monitor.

Usage::

    import neurosim as ns
    net = ns.sim.Network(dt=0.1, rng=0)
    inp = net.add_poisson_group(1000, 15.0, name="inputs")
    out = net.add_lif(1, name="out")
    rule = ns.sim.STDP(w_max=0.01, A_plus=0.01, A_minus=0.0105, tau_plus=20.0, tau_minus=20.0)
    syn = net.connect(inp, out, p=1.0, weight=0.005, target="ge", plasticity=rule, name="plastic")
    mon = net.add_weight_monitor(syn, every_ms=1000.0)
    net.run(10_000.0)
    syn.weights            # current weights (one per synapse, in the order of syn.pre / syn.post)
    mon.t_ms, mon.w        # [S] sample times, [S, n] weight snapshots

The rule (equations, update order, timing) is documented in ``neurosim.kernels.stdp``; in short,
with traces that decay exactly between events::

    pre spike:   g += w (the weight before this spike's update);  A_pre <- A_pre + A_plus w_max;
                 w <- clip(w + A_post f_minus(w), 0, w_max)
    post spike:  A_post <- A_post - A_minus w_max;  w <- clip(w + A_pre f_plus(w), 0, w_max)

Names: ``tau_plus`` / ``A_plus`` are Brian2's ``taupre`` / ``dApre / gmax`` (NEST ``tau_plus`` /
``lambda``); ``tau_minus`` / ``A_minus`` are Brian2's ``taupost`` / ``-dApost / gmax`` (NEST
``tau_minus`` on the neuron / ``alpha lambda``). Both amplitudes are fractions of ``w_max``.
``pairing="all_to_all"`` (every pre/post pair: traces add up) or ``"nearest"`` (the trace is *set*
to its increment at each spike, so only the nearest spike of the other side counts; NEST
``stdp_nn_symm_synapse``): the spec shows they give opposite outcomes in the Song-Abbott
experiment, so the pairing is a behavioural parameter. ``bounds="additive"`` (``f = 1``, hard
clip) or ``"multiplicative"`` (NEST's ``mu_plus`` / ``mu_minus``: ``f_plus = ((w_max - w) /
w_max)^mu_plus``, ``f_minus = (w / w_max)^mu_minus``; ``mu = 0`` is additive, NEST's default
is 1 / 1).

Weights must lie in ``[0, w_max]`` (the sign of the target decides excitation or inhibition).
``WeightMonitor`` (``Network.add_weight_monitor``) records snapshots of the weights at times
``m dt`` that are multiples of ``every_ms`` (the weights at the start of step ``m``, after the
plasticity of every spike up to step ``m - 1``; the first sample is the initial weights, like a
``StateMonitor``). The kernel returns to Python at each sample step, so a very small
``every_ms`` slows a run.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from neurosim._validation import check_choice, check_nonnegative, check_positive
from neurosim.sim.network import SynapseGroup

__all__ = ["STDP", "STDPSynapseGroup", "WeightMonitor", "make_plastic"]

PAIRINGS = ("all_to_all", "nearest")
BOUNDS = ("additive", "multiplicative")


@dataclasses.dataclass(frozen=True)
class STDP:
    """Pair-based STDP rule (see the module docstring); times in ms, amplitudes as fractions of ``w_max``.

    Parameters
    ----------
    w_max : float
        Upper weight bound (> 0), in the units of the synapse's target; the lower bound is 0.
    tau_plus, tau_minus : float
        Decay of the presynaptic (potentiation) and postsynaptic (depression) traces, ms.
    A_plus, A_minus : float
        Potentiation and depression per pair at zero lag, as fractions of ``w_max`` (>= 0);
        the Song-Abbott / Brian2 values are 0.01 and 0.0105 (ratio 1.05).
    pairing : "all_to_all" or "nearest"
    bounds : "additive" or "multiplicative"
    mu_plus, mu_minus : float
        Exponents of the weight dependence with ``bounds="multiplicative"`` (>= 0; NEST default 1).
    """

    w_max: float
    tau_plus: float = 20.0
    tau_minus: float = 20.0
    A_plus: float = 0.01
    A_minus: float = 0.0105
    pairing: str = "all_to_all"
    bounds: str = "additive"
    mu_plus: float = 1.0
    mu_minus: float = 1.0

    def __post_init__(self):
        check_positive("w_max", self.w_max)
        check_positive("tau_plus", self.tau_plus, unit="ms")
        check_positive("tau_minus", self.tau_minus, unit="ms")
        for name in ("A_plus", "A_minus", "mu_plus", "mu_minus"):
            check_nonnegative(name, getattr(self, name))
        if not isinstance(self.pairing, str):
            raise TypeError(f"pairing must be a string ({', '.join(map(repr, PAIRINGS))}), got {self.pairing!r}")
        if not isinstance(self.bounds, str):
            raise TypeError(f"bounds must be a string ({', '.join(map(repr, BOUNDS))}), got {self.bounds!r}")
        check_choice("pairing", self.pairing, PAIRINGS)
        check_choice("bounds", self.bounds, BOUNDS)

    def coefficients(self, dt: float) -> dict:
        """The kernel's row for step ``dt`` (ms): ``dt_tau_plus = dt / tau_plus``, ``dt_tau_minus``,
        ``da_pre = A_plus w_max``, ``da_post = -A_minus w_max``, ``w_max``, and the exponents
        (``mu = 0`` for additive bounds)."""
        mult = self.bounds == "multiplicative"
        return {"dt_tau_plus": dt / self.tau_plus, "dt_tau_minus": dt / self.tau_minus,
                "da_pre": self.A_plus * self.w_max, "da_post": -self.A_minus * self.w_max, "w_max": float(self.w_max),
                "mu_plus": self.mu_plus if mult else 0.0, "mu_minus": self.mu_minus if mult else 0.0}


def make_plastic(sg, plasticity, dt: float):
    """The ``STDPSynapseGroup`` for the static group ``sg`` just made by ``Network.connect`` (validated)."""
    if not isinstance(plasticity, STDP):
        raise TypeError(f"plasticity must be an neurosim.sim.STDP rule (or None), got {type(plasticity).__name__}")
    w = np.asarray(sg.weight, dtype=np.float64)
    if w.size and (w.min() < 0 or w.max() > plasticity.w_max):
        raise ValueError(f"weight must lie in [0, w_max={plasticity.w_max:g}] for an STDP synapse group, got values in "
                         f"[{w.min():g}, {w.max():g}]; rescale the weights or raise w_max")
    return STDPSynapseGroup(sg.name, sg.pre_group, sg.post_group, sg.pre, sg.post, sg.weight, sg.delay_steps,
                            sg.channel, sg.target, plasticity=plasticity, dt=dt)


class STDPSynapseGroup(SynapseGroup):
    """A ``SynapseGroup`` with pair-based STDP (``Network.connect(..., plasticity=STDP(...))``).

    ``plasticity``: the rule; ``weights``: the current weights (settable between runs); ``weight``:
    the initial ones. The projection builder binds the group to its kernel arrays at build.
    """

    kind = "stdp"

    def __init__(self, *args, plasticity, dt):
        super().__init__(*args)
        self.plasticity = plasticity
        self.dt = float(dt)
        self._proj = None
        self._slots = None

    def _bind(self, proj, slots):
        """The group's synapses are ``proj.w[slots]`` (called by the projection builder)."""
        self._proj = proj
        self._slots = slots

    @property
    def weights(self) -> np.ndarray:
        """Current weights (a copy; float64 before the first run, the state dtype after), one per synapse."""
        if self._proj is None:
            return np.broadcast_to(np.asarray(self.weight, dtype=np.float64), (self.n_synapses,)).copy()
        return self._proj.w[self._slots]

    @weights.setter
    def weights(self, value):
        arr = np.asarray(value, dtype=np.float64)
        if arr.ndim not in (0, 1) or (arr.ndim == 1 and arr.shape != (self.n_synapses,)):
            raise ValueError(f"weights must be a scalar or have shape ({self.n_synapses},), got {arr.shape}")
        if arr.size and (not np.all(np.isfinite(arr)) or arr.min() < 0 or arr.max() > self.plasticity.w_max):
            raise ValueError(f"weights must be finite and lie in [0, w_max={self.plasticity.w_max:g}]")
        if self._proj is None:
            self.weight = arr.copy() if arr.ndim else float(arr)
            return
        self._proj.w[self._slots] = arr
        self._proj.w_sent[self._slots] = arr

    def __repr__(self):
        return (f"STDPSynapseGroup({self.name!r}, {self.pre_group.name}->{self.post_group.name}, "
                f"n={self.n_synapses}, target={self.target!r}, pairing={self.plasticity.pairing!r})")


class WeightMonitor:
    """Snapshots of the weights of one STDP synapse group every ``every`` steps (``Network.add_weight_monitor``).

    Attributes: ``t_ms`` [S] (sample times ``m dt``), ``w`` [S, n] (weights of the monitored
    synapses ``synapses``, indices into the group's synapses), ``syn`` (the group).
    """

    def __init__(self, name, syn, every, synapses):
        self.name = name
        self.syn = syn
        self.every = int(every)
        self.synapses = synapses
        self._t: list[float] = []
        self._w: list[np.ndarray] = []
        self._last = -1

    @classmethod
    def create(cls, name, syn, every_ms, synapses, dt):
        """Validate the arguments of ``Network.add_weight_monitor``."""
        if not isinstance(syn, STDPSynapseGroup):
            raise TypeError(f"syn must be a plastic synapse group (connect(..., plasticity=STDP(...))), got "
                            f"{type(syn).__name__}; static weights do not change during a run")
        every_ms = check_positive("every_ms", every_ms, unit="ms")
        every = int(round(every_ms / dt))
        if every < 1 or abs(every * dt - every_ms) > 1e-6 * max(every_ms, dt):
            raise ValueError(f"every_ms must be a whole number of steps of dt={dt} ms, got {every_ms}")
        n = syn.n_synapses
        if synapses is None:
            idx = np.arange(n)
        else:
            idx = np.atleast_1d(np.asarray(synapses))
            if idx.dtype.kind not in "iu" or idx.ndim != 1 or (idx.size and (idx.min() < 0 or idx.max() >= n)):
                raise ValueError(f"synapses must be integer indices into the group's {n} synapses, in [0, {n})")
        return cls(name, syn, every, idx.astype(np.int64))

    def next_sample_step(self, step: int) -> int:
        """The first sampling step ``>= step``."""
        return -(-step // self.every) * self.every

    def sample(self, step: int, dt: float) -> None:
        """Record the weights at the start of ``step`` if it is a sampling step not yet recorded."""
        if step % self.every or step <= self._last:
            return
        self._last = step
        self._t.append(step * dt)
        self._w.append(self.syn.weights[self.synapses])

    @property
    def t_ms(self) -> np.ndarray:
        return np.asarray(self._t, dtype=np.float64)

    @property
    def w(self) -> np.ndarray:
        """Weight snapshots [S, len(synapses)]."""
        return np.stack(self._w) if self._w else np.zeros((0, self.synapses.size))

    def __repr__(self):
        return (f"WeightMonitor({self.name!r}, syn={self.syn.name!r}, synapses={self.synapses.size}, "
                f"samples={len(self._t)})")
