"""Benchmark tasks for reservoirs (numpy; inputs time first).

NARMA-10 (Atiya & Parlos 2000), ``u_t ~ U(0, 0.5)``::

    y_{t+1} = 0.3 y_t + 0.05 y_t sum_{i=0}^{9} y_{t-i} + 1.5 u_{t-9} u_t + 0.1

Mackey-Glass delay differential equation (tau = 17 gives mild chaos)::

    dx/dt = beta x(t - tau) / (1 + x(t - tau)^n) - gamma x(t),   beta 0.2, gamma 0.1, n 10

integrated with forward Euler at step ``dt`` (history ``x(t) = x0`` for ``t <= 0``) and sampled
every ``sample_every`` time units. Prediction task: from ``x(t)`` predict ``x(t + horizon)``.

Memory-capacity input: i.i.d. ``U(-1, 1)`` (see :func:`neurosim.reservoir.metrics.memory_capacity`).

Timing/probability task (template for ALGORITHMS.md §6; the paper's paradigm is described only
in its abstract): each trial of ``trial_len`` steps starts with a brief cue on one of
``n_cues`` input channels (event *identity*); with probability ``p[cue]`` an outcome follows at
latency ``latency[cue]`` (event *when*). The readout for cue ``k`` is taught the realised
outcome (a Gaussian bump of width ``width`` at the latency, zero if omitted), so its expected
output is ``p[cue] * bump`` (amplitude proportional to probability). The attention gate is 1
from the cue until the end of the trial's response window, else 0. ``change_at`` switches to a
second (latency, probability) setting mid-run, without any reset.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurosim._rng import as_generator
from neurosim._validation import available_memory, check_int, check_memory, check_number, check_positive

__all__ = ["narma10", "narma", "mackey_glass", "memory_task_input", "TimingTask", "timing_task"]


def narma(u, order: int = 10) -> np.ndarray:
    """NARMA series of ``order`` driven by ``u`` [T] (order 10 = NARMA-10 coefficients)."""
    u = np.asarray(u, dtype=float).ravel()
    order = check_int("order", order, min_value=1)
    y = np.zeros_like(u)
    s = 0.0  # running sum y_t + ... + y_{t-order+1}
    for t in range(u.size - 1):
        s += y[t] - (y[t - order] if t >= order else 0.0)
        y[t + 1] = 0.3 * y[t] + 0.05 * y[t] * s + 1.5 * (u[t - order + 1] if t >= order - 1 else 0.0) * u[t] + 0.1
    return y


def narma10(n_steps: int, rng=None) -> tuple[np.ndarray, np.ndarray]:
    """Input ``u`` [T] ~ U(0, 0.5) and NARMA-10 target ``y`` [T]."""
    n_steps = check_int("n_steps", n_steps, min_value=1)
    u = as_generator(rng).uniform(0.0, 0.5, n_steps)
    return u, narma(u, 10)


def mackey_glass(n_samples: int, tau: float = 17.0, beta: float = 0.2, gamma: float = 0.1, n: float = 10.0,
                 dt: float = 0.1, sample_every: float = 1.0, x0: float = 1.2, discard: int = 0) -> np.ndarray:
    """Mackey-Glass series [n_samples] (Euler, step ``dt``), after ``discard`` initial samples."""
    n_samples = check_int("n_samples", n_samples, min_value=1)
    discard = check_int("discard", discard, min_value=0)
    for name, v in (("tau", tau), ("beta", beta), ("gamma", gamma), ("n", n), ("dt", dt),
                    ("sample_every", sample_every), ("x0", x0)):
        check_positive(name, v)
    if gamma * dt >= 1.0:
        raise ValueError(f"gamma * dt must be < 1 for the forward-Euler integration to stay positive and stable, "
                         f"got gamma={gamma}, dt={dt}; lower dt")
    # the series (with its tau history) in float64; sizes checked as floats before int()
    steps = (n_samples + discard) * (sample_every / dt) + tau / dt
    budget = 0.8 * available_memory()
    if not 8.0 * (steps + 1) <= budget:
        raise ValueError(f"mackey_glass(n_samples={n_samples}, discard={discard}, tau={tau}, "
                         f"sample_every={sample_every}, dt={dt}) needs {steps:.3g} Euler steps "
                         f"({8 * steps:.3g} bytes) but about {budget:.3g} bytes are available; "
                         "lower n_samples, discard or tau, or raise dt")
    lag = int(round(tau / dt))
    every = int(round(sample_every / dt))
    if (lag < 1 or every < 1 or abs(every * dt - sample_every) > 1e-9 * max(1.0, sample_every)
            or abs(lag * dt - tau) > 1e-9 * max(1.0, tau)):
        raise ValueError(f"tau ({tau}) and sample_every ({sample_every}) must be multiples of dt ({dt})")
    total = (n_samples + discard) * every
    x = np.empty(total + lag + 1)
    x[:lag + 1] = x0
    with np.errstate(over="ignore", invalid="ignore"):  # a huge x^n gives x / inf = 0: checked below
        for i in range(lag, lag + total):
            xd = x[i - lag]
            x[i + 1] = x[i] + dt * (beta * xd / (1.0 + xd ** n) - gamma * x[i])
    samples = x[lag::every][: n_samples + discard][discard:]
    if not np.all(np.isfinite(samples)):
        raise ValueError(f"the Mackey-Glass series overflows float64 for beta={beta}, gamma={gamma}, n={n}, x0={x0}; "
                         "use smaller beta or x0 (or a larger n)")
    return samples


def memory_task_input(n_steps: int, rng=None) -> np.ndarray:
    """i.i.d. ``U(-1, 1)`` scalar input [T] for memory capacity."""
    return as_generator(rng).uniform(-1.0, 1.0, check_int("n_steps", n_steps, min_value=1))


@dataclass
class TimingTask:
    """Arrays of a timing/probability run (see module docstring)."""

    inputs: np.ndarray      # [T, n_cues] cue pulses
    targets: np.ndarray     # [T, n_cues] realised outcomes (teaching signal)
    expected: np.ndarray    # [T, n_cues] p * bump (what an ideal predictor outputs)
    gate: np.ndarray        # [T] attention gate
    trial_start: np.ndarray  # [n_trials] first step of each trial
    cue: np.ndarray         # [n_trials] cue identity
    phase: np.ndarray       # [n_trials] 0 before the change, 1 after


def _per_cue(name: str, value, n_cues: int, *, integer: bool = False) -> np.ndarray:
    """``value`` (a number or one per cue) as a finite [n_cues] array; integers for latencies."""
    try:
        a = np.asarray(value)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise TypeError(f"{name} must be a number or a sequence of {n_cues} numbers, "
                        f"got {type(value).__name__}") from exc
    if a.dtype.kind not in "iuf" or a.ndim > 1:
        raise TypeError(f"{name} must be a number or a sequence of {n_cues} numbers (one per cue), got {value!r}")
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if a.ndim == 1 and a.size not in (1, n_cues):
        raise ValueError(f"{name} must be a number or {n_cues} numbers (n_cues={n_cues}), got {a.size}")
    if integer:
        if a.dtype.kind == "f" and np.any(np.abs(a) >= 2.0 ** 62):
            raise ValueError(f"{name} is far too large for a latency in steps, got {value!r}")
        if a.dtype.kind == "f" and np.any(a != np.round(a)):
            raise ValueError(f"{name} must be whole time steps (1 ms), got {value!r}")
        a = a.astype(np.int64)
    else:
        a = a.astype(np.float64)
    return np.broadcast_to(a, (n_cues,))


def timing_task(n_trials: int, *, n_cues: int = 2, trial_len: int = 400, cue_len: int = 10,
                cue_amp: float = 1.0, latency=(100, 200), prob=(1.0, 0.5), latency_after=None,
                prob_after=None, change_at: int | None = None, width: float = 10.0,
                window: int | None = None, rng=None) -> TimingTask:
    """Build a timing/probability run of ``n_trials`` trials (time step = 1 ms)."""
    n_trials = check_int("n_trials", n_trials, min_value=1)
    n_cues = check_int("n_cues", n_cues, min_value=1)
    trial_len = check_int("trial_len", trial_len, min_value=2)
    cue_len = check_int("cue_len", cue_len, min_value=1)
    cue_amp = check_number("cue_amp", cue_amp)
    width = check_positive("width", width)
    lat = [_per_cue("latency", latency, n_cues, integer=True)]
    pr = [_per_cue("prob", prob, n_cues)]
    lat.append(lat[0] if latency_after is None else _per_cue("latency_after", latency_after, n_cues, integer=True))
    pr.append(pr[0] if prob_after is None else _per_cue("prob_after", prob_after, n_cues))
    for name, lt in zip(("latency", "latency_after"), lat):
        if np.any(lt < 0) or np.any(lt >= trial_len):
            raise ValueError(f"{name} must lie in [0, trial_len={trial_len}), got {lt}")
    for name, p in zip(("prob", "prob_after"), pr):
        if np.any(p < 0) or np.any(p > 1):
            raise ValueError(f"{name} must lie in [0, 1], got {p}")
    change_at = n_trials if change_at is None else check_int("change_at", change_at, min_value=0)
    window = trial_len if window is None else check_int("window", window, min_value=1)
    T = n_trials * trial_len
    # inputs, targets, expected [T, n_cues] float64 + gate [T] + the bump temporaries
    check_memory("n_trials", n_trials, 8 * trial_len * (3 * n_cues + 1),
                 f"a timing task of {n_trials} trials x {trial_len} steps")
    rng = as_generator(rng)
    inputs = np.zeros((T, n_cues))
    targets = np.zeros((T, n_cues))
    expected = np.zeros((T, n_cues))
    gate = np.zeros(T)
    cues = rng.integers(0, n_cues, n_trials)
    occur = rng.random(n_trials)
    tt = np.arange(trial_len)
    for i in range(n_trials):
        ph = int(i >= change_at)
        s, k = i * trial_len, cues[i]
        inputs[s:s + cue_len, k] = cue_amp
        bump = np.exp(-0.5 * ((tt - lat[ph][k]) / width) ** 2)
        expected[s:s + trial_len, k] = pr[ph][k] * bump
        if occur[i] < pr[ph][k]:
            targets[s:s + trial_len, k] = bump
        gate[s:s + min(window, trial_len)] = 1.0
    return TimingTask(inputs, targets, expected, gate, np.arange(n_trials) * trial_len, cues,
                      (np.arange(n_trials) >= change_at).astype(int))
