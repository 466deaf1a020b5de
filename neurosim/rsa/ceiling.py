"""Noise ceilings and the TSRSA control experiments (paper §4.1, §4.3, Fig. 3).

* Unit split-half ceiling (``similarity_split_half_neuron.py``): for each area, ``n_splits``
  random splits of the *units* into two halves; ceiling = TSRSA(half 1, half 2); report the
  mean and SEM = std / sqrt(n_splits) (``np.std``, ddof = 0). Default 100 splits, seed 2023.
  Paper values: Movie1 0.821 +- 0.006, Movie2 0.616 +- 0.009.
* Trial split-half ceiling: with repeats ``Y[frames, trials, units]``, split the *trials*
  into two random halves, average each half over trials, TSRSA between the halves.
* Clip length: ``n_clips`` random contiguous clips of ``clip_len`` frames (start indices
  drawn without replacement from ``0..T-L``), TSRSA on each clip, mean over clips.
* Frame shuffle (dynamic information): frames permuted within consecutive windows of ``w``
  frames; the model sees the shuffled movie, the neural rows are re-indexed with the same
  permutation so frame identity stays aligned. "Level of chaos" = 1 - Spearman(permutation,
  identity).
* Frame replacement (static information): in every window of ``w`` frames one random frame
  is replaced by noise (Gaussian, uniform), black, or a given image; ratio = 1 / w.

Randomness only through ``rng`` (int seed or ``numpy.random.Generator``); same seed, same
splits. (The paper used numpy's legacy global state seeded with 2023; the splits here come
from ``default_rng(2023)`` and are therefore different draws of the same procedure.)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from neurosim._rng import as_generator
from neurosim._validation import as_float_array, check_choice, check_finite, check_int, check_memory
from neurosim.rsa._checks import response_matrix, same_rows
from neurosim.rsa.tsrsa import rank_vector, tsrsa, tsrsa_vector, _score_ranked

__all__ = [
    "Ceiling", "split_half_ceiling", "trial_split_half_ceiling", "clip_length_scores",
    "shuffle_within_windows", "level_of_chaos", "replace_frames", "frame_shuffle_experiment",
    "frame_replacement_experiment",
]


@dataclass(frozen=True)
class Ceiling:
    """Mean and SEM of split-half scores (``values`` keeps every split)."""

    mean: float
    sem: float
    values: np.ndarray

    def to_dict(self) -> dict:
        return {"mean": self.mean, "sem": self.sem, "n_splits": int(self.values.size)}


def _split_score(a, b, what: str, **kw) -> float:
    """TSRSA of two halves; an error names ``Y`` and the split (the halves are not the caller's X, Y)."""
    try:
        return tsrsa(a, b, **kw)
    except ValueError as exc:
        msg = str(exc).replace("the RDM of X", "half 1").replace("the RDM of Y", "half 2")
        msg = msg.replace("X has", "half 1 has").replace("Y has", "half 2 has")
        raise ValueError(f"Y: {what}: {msg}") from None


def _summary(values) -> Ceiling:
    v = np.asarray(values, dtype=np.float64)
    return Ceiling(float(v.mean()), float(v.std() / np.sqrt(v.size)), v)


def split_half_ceiling(Y, *, n_splits: int = 100, rng=2023, ties: str = "argsort",
                       constant_rows: str = "raise") -> Ceiling:
    """Unit split-half noise ceiling of one area's responses ``Y`` [frames, units]."""
    Y = response_matrix("Y", Y)
    check_int("n_splits", n_splits, min_value=1)
    M = Y.shape[1]
    if M < 4:
        raise ValueError(f"Y needs at least 4 units to split into halves of >= 2, got {M}")
    gen = as_generator(rng)
    vals = []
    for k in range(n_splits):
        perm = gen.permutation(M)
        h1, h2 = np.sort(perm[: M // 2]), np.sort(perm[M // 2:])
        vals.append(_split_score(Y[:, h1], Y[:, h2], f"unit split {k} ({h1.size} vs {h2.size} units)",
                                 ties=ties, constant_rows=constant_rows))
    return _summary(vals)


def trial_split_half_ceiling(Y, *, n_splits: int = 100, rng=2023, ties: str = "argsort",
                             constant_rows: str = "raise") -> Ceiling:
    """Trial split-half ceiling from repeats ``Y`` [frames, trials, units]."""
    Y = as_float_array("Y", Y, dtype=np.float64)
    if Y.ndim != 3:
        raise ValueError(f"Y must have shape [frames, trials, units] for a trial split, got {Y.shape}")
    check_int("n_splits", n_splits, min_value=1)
    R = Y.shape[1]
    if R < 2:
        raise ValueError(f"Y needs at least 2 trials (axis 1) for a trial split, got {R}")
    response_matrix("Y", Y[:, 0])  # frames and units: the checks of a [frames, units] matrix
    gen = as_generator(rng)
    vals = []
    for k in range(n_splits):
        perm = gen.permutation(R)
        a = Y[:, perm[: R // 2]].mean(axis=1)
        b = Y[:, perm[R // 2:]].mean(axis=1)
        vals.append(_split_score(a, b, f"trial split {k}", ties=ties, constant_rows=constant_rows))
    return _summary(vals)


def clip_length_scores(X, Y, clip_len: int, *, n_clips: int = 10, rng=2023, ties: str = "argsort",
                       constant_rows: str = "raise") -> Ceiling:
    """TSRSA on ``n_clips`` random contiguous clips of ``clip_len`` frames (mean, SEM, values)."""
    X = response_matrix("X", X)
    Y = response_matrix("Y", Y)
    T = same_rows(X=X, Y=Y)
    check_int("clip_len", clip_len, min_value=3, max_value=T)
    check_int("n_clips", n_clips, min_value=1, max_value=T - clip_len + 1)
    starts = as_generator(rng).choice(T - clip_len + 1, n_clips, replace=False)
    vals = [tsrsa(X[s:s + clip_len], Y[s:s + clip_len], ties=ties, constant_rows=constant_rows)
            for s in starts]
    return _summary(vals)


def shuffle_within_windows(n_frames: int, window: int, rng=None) -> np.ndarray:
    """A permutation of ``0..n_frames-1`` shuffling frames only within consecutive windows."""
    check_int("n_frames", n_frames, min_value=1)
    check_int("window", window, min_value=1)
    check_memory("n_frames", n_frames, 16, "the permutation")
    gen = as_generator(rng)
    perm = np.arange(n_frames)
    for a in range(0, n_frames, window):
        perm[a:a + window] = gen.permutation(perm[a:a + window])
    return perm


def level_of_chaos(perm) -> float:
    """``1 - Spearman(perm, identity)``: 0 for the original order, up to 2 when reversed."""
    perm = np.asarray(perm)
    n = perm.size
    if n < 2 or not np.array_equal(np.sort(perm), np.arange(n)):
        raise ValueError("perm must be a permutation of 0..n-1 with n >= 2")
    d = perm.astype(np.float64) - np.arange(n)
    return float(6.0 * np.dot(d, d) / (float(n) ** 3 - n))


_NOISE = ("gaussian", "uniform", "black")


def replace_frames(movie, window: int, *, kind="gaussian", rng=None):
    """Replace one random frame per window of ``window`` frames.

    ``kind``: ``"gaussian"`` (mean and std of the movie), ``"uniform"`` (movie min..max),
    ``"black"`` (the movie minimum) or an array of one frame's shape (a static image).
    Returns ``(new_movie, replaced_indices)``; the input is not modified.
    """
    movie = np.asarray(movie)
    if movie.dtype.kind not in "biuf":
        raise TypeError(f"movie must be a numeric array [frames, ...], got dtype {movie.dtype}")
    if movie.ndim < 1 or movie.shape[0] < 1:
        raise ValueError(f"movie must have at least one frame (axis 0), got shape {movie.shape}")
    check_finite("movie", movie)
    check_int("window", window, min_value=1)
    gen = as_generator(rng)
    out = np.array(movie, dtype=np.float64 if movie.dtype.kind != "f" else movie.dtype, copy=True)
    idx = []
    for a in range(0, movie.shape[0], window):
        idx.append(a + int(gen.integers(0, min(window, movie.shape[0] - a))))
    idx = np.asarray(idx)
    shape = (idx.size,) + movie.shape[1:]
    if isinstance(kind, str):
        check_choice("kind", kind, _NOISE)
        if kind == "gaussian":
            out[idx] = gen.normal(movie.mean(), movie.std(), size=shape)
        elif kind == "uniform":
            out[idx] = gen.uniform(movie.min(), movie.max(), size=shape)
        else:
            out[idx] = movie.min()
    else:
        img = np.asarray(kind)
        if img.shape != movie.shape[1:]:
            raise ValueError(f"kind image must have the frame shape {movie.shape[1:]}, got {img.shape}")
        out[idx] = img
    return out, idx


def _features_dict(feats):
    return feats if isinstance(feats, dict) else {"features": feats}


def _best_score(feats, ranked_neural, drop_first, layers=None, constant_rows="raise"):
    scores = {}
    for name, X in _features_dict(feats).items():
        if layers is not None and name not in layers:
            continue
        X = X[1:] if drop_first else X
        rx = rank_vector(tsrsa_vector(X, name=f"features[{name!r}]", constant_rows=constant_rows),
                         ranked_neural.ties)
        scores[name] = _score_ranked(rx, ranked_neural)
    return max(scores.values()), scores


def frame_shuffle_experiment(feature_fn: Callable, movie, Y, windows, *, n_trials: int = 10, rng=2023,
                             drop_first: bool = True, ties: str = "argsort", constant_rows: str = "raise") -> dict:
    """Score drop when frames are shuffled within windows.

    ``feature_fn(movie) -> array [T, N]`` or ``{layer: array}`` (the model run on the movie);
    ``Y`` [T, M] neural responses to the *original* movie. For each window size and trial the
    movie is permuted, the model re-run, and ``Y`` re-indexed by the same permutation (then
    the first frame dropped when ``drop_first``). The best layer score is kept.
    ``constant_rows="omit"`` skips the pairs of silent model frames (see :func:`tsrsa`).
    Returns ``{"window", "chaos", "score"}`` arrays [n_windows, n_trials] plus ``"baseline"``.
    """
    movie = np.asarray(movie)
    Y = response_matrix("Y", Y)
    same_rows(movie=movie, Y=Y)
    check_int("n_trials", n_trials, min_value=1)
    gen = as_generator(rng)
    T = movie.shape[0]
    base, _ = _best_score(feature_fn(movie), rank_vector(tsrsa_vector(Y[1:] if drop_first else Y), ties),
                          drop_first, None, constant_rows)
    windows = [check_int("windows", int(w), min_value=1) for w in windows]
    chaos = np.empty((len(windows), n_trials))
    score = np.empty_like(chaos)
    for i, w in enumerate(windows):
        for k in range(n_trials):
            perm = shuffle_within_windows(T, w, gen)
            Yp = Y[perm][1:] if drop_first else Y[perm]
            chaos[i, k] = level_of_chaos(perm)
            score[i, k], _ = _best_score(feature_fn(movie[perm]), rank_vector(tsrsa_vector(Yp), ties),
                                         drop_first, None, constant_rows)
    return {"window": np.asarray(windows), "chaos": chaos, "score": score, "baseline": base}


def frame_replacement_experiment(feature_fn: Callable, movie, Y, windows, *, n_trials: int = 10,
                                 kind="gaussian", rng=2023, drop_first: bool = True,
                                 ties: str = "argsort", layers=None, constant_rows: str = "raise") -> dict:
    """Score when one frame per window is replaced (``kind`` as in :func:`replace_frames`).

    ``layers``: restrict to these layer names (the paper's ``--best-layer``).
    Returns ``{"window", "ratio", "score"}`` ([n_windows, n_trials] scores) and ``"baseline"``.
    """
    movie = np.asarray(movie)
    Y = response_matrix("Y", Y)
    same_rows(movie=movie, Y=Y)
    check_int("n_trials", n_trials, min_value=1)
    gen = as_generator(rng)
    ranked = rank_vector(tsrsa_vector(Y[1:] if drop_first else Y), ties)
    base, _ = _best_score(feature_fn(movie), ranked, drop_first, layers, constant_rows)
    windows = [check_int("windows", int(w), min_value=1) for w in windows]
    score = np.empty((len(windows), n_trials))
    for i, w in enumerate(windows):
        for k in range(n_trials):
            new, _ = replace_frames(movie, w, kind=kind, rng=gen)
            score[i, k], _ = _best_score(feature_fn(new), ranked, drop_first, layers, constant_rows)
    return {"window": np.asarray(windows), "ratio": 1.0 / np.asarray(windows, dtype=float),
            "score": score, "baseline": base}
