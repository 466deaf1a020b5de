"""``neurosim tsrsa``: compare model layers with mouse visual cortex (RSA / TSRSA).

Neural data sets (``--neural``):

* ``allen_2p_scenes``: two-photon VISp responses (212 neurons) to the 118 Allen natural
  scenes. Each 31 x 31 scene is upsampled to the model's input and shown as a static image
  (repeated ``steps`` = 4 time steps, state reset between images, features averaged over
  steps). Conditions = the 118 scenes; score = Spearman (argsort ranks) between the
  correlation RDMs, exactly the TSRSA computation with scenes in place of frames (the
  paper's Table 6 protocol). Ceiling: unit split-halves (100 splits, seed 2023).
* ``allen_dg``: Neuropixels drifting-grating responses (1,000 pooled units, 0-100 ms after
  onset, 10 ms bins) vs the model driven by generated gratings (orientations 0/45/90/135,
  0.04 cycles/degree, 2 Hz, one 10 ms frame per model step, continuous within a trial, reset
  between orientations). Conditions = orientation x time bin (40). Ceilings: unit and trial
  split-halves. Baseline: time since onset alone (|bin_i - bin_j|) already scores ~0.77,
  because the onset transient dominates this RDM; ``summary["baselines"]`` reports it (and
  the raw-pixel score for image/movie data sets).
* a path to an Allen Neuropixels session NWB: natural_movie_one responses per area; the
  movie frames are read from ``natural_movie_one.npy`` ([900, H, W], grey) beside the NWB
  file (the NWB session files do not contain the movie).

Frames (conditions) where a layer or a split half is constant (e.g. a silent spiking layer
at the first time step) are omitted from that comparison (``constant_rows="omit"``).

``--model`` is read by :func:`neurosim.models.load_model`: a registry name (an untrained
model, seeded by ``--seed``; its BatchNorm statistics are re-estimated on the stimuli with
:func:`neurosim.snn.recalibrate_batchnorm`, since an untrained SNN is otherwise silent),
``NAME@CHECKPOINT`` or a checkpoint holding ``model_name`` (weights under
``model_state``/``state_dict``/``student``/``model``, options under ``model_cfg``): the
``model.pt`` files that ``neurosim train`` and ``neurosim distill`` write are of this kind
(:func:`neurosim.models.save_model`) and also carry the training ``input_size``, at which the
stimuli are then shown (models that fix no size see 64 x 64 frames).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, List, Optional

import numpy as np

from neurosim.commands import (AMP_HELP, DEVICE_HELP, OUT_HELP, Option, StageResult, ensure_out_dir, resolve_device,
                               write_json)

__all__ = ["run", "demo_stage", "NEURAL_SETS"]

NEURAL_SETS = ("allen_2p_scenes", "allen_dg")
DG_ORIENTATIONS = (0, 45, 90, 135)


def _first_conv_channels(model, cfg=None) -> int:
    from torch import nn

    shape = getattr(model, "in_shape", None)  # MLPs: the sample shape (C, H, W) they were built for
    if shape is None and cfg is not None:  # an MLP converted to IF neurons: its options say it
        shape = cfg.get("in_shape")
    if shape is not None and len(shape) == 3:
        return int(shape[0])
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            return m.in_channels
    return 3


def load_model(spec: str, seed: int = 0, **cfg):
    """``(name, model, trained)`` of :func:`neurosim.models.load_model` (kept for existing callers).

    Deprecated: use :func:`neurosim.models.load_model`, whose :class:`~neurosim.models.LoadedModel`
    record also carries the input size. For the callers of this older form the model still gets
    ``_tsrsa_input_size`` and ``_tsrsa_trained``; nothing in neurosim reads them.
    """
    from neurosim.models import load_model as load

    rec = load(spec, seed, **cfg)
    rec.model._tsrsa_input_size = _stimulus_size(rec)
    rec.model._tsrsa_trained = rec.trained
    return rec.name, rec.model, rec.trained


#: side length of the frames shown to models that fix no input size
DEFAULT_STIMULUS_SIZE = 64


def _stimulus_size(rec) -> int:
    if rec.input_size is not None:
        return rec.input_size
    shape = getattr(rec.model, "in_shape", None)  # MLPs built for square images (C, S, S)
    if shape is not None and len(shape) == 3 and shape[1] == shape[2]:
        return int(shape[1])
    return DEFAULT_STIMULUS_SIZE


def _input_mismatch(spec: str, rec, exc: RuntimeError) -> ValueError:
    """The error for a model whose forward pass refused the stimuli (another input shape)."""
    from neurosim.io.files import brief

    c, s = _first_conv_channels(rec.model, rec.cfg), _stimulus_size(rec)
    return ValueError(f"--model {spec}: the model does not take the stimuli tsrsa shows it, images of shape "
                      f"({c}, {s}, {s}) [C, H, W] ({brief(exc)}); use a model built for square grey or RGB images "
                      "(in_shape=(C, S, S) for an MLP, or a convolutional model)")


def _recalibrate(model, x, steps: int = 1) -> None:
    """BatchNorm statistics of an untrained ``model`` from stimuli ``x`` [n, C, H, W]: one pass,
    as one sequence of ``n`` frames (``steps == 1``) or each image repeated ``steps`` times."""
    import torch

    from neurosim.snn import recalibrate_batchnorm

    xt = torch.as_tensor(x)
    recalibrate_batchnorm(model, xt.unsqueeze(1) if steps == 1 else xt.unsqueeze(0).expand(steps, *xt.shape))


def _scene_features(rec, images, layers, steps=4):
    """Each scene an image repeated ``steps`` times (state reset between images)."""
    from neurosim.data.stimuli import to_model_input
    from neurosim.rsa.features import extract_features

    size = _stimulus_size(rec)
    x = to_model_input(images, size=(size, size), channels=_first_conv_channels(rec.model, rec.cfg), scale=255.0)
    if not rec.trained:
        _recalibrate(rec.model, x, steps=steps)
    return extract_features(rec.model, x, layers, mode="static", steps=steps, batch_size=16)


def _dg_movie(rec, n_bins, bin_ms, tf_hz=2.0):
    from neurosim.data.stimuli import drifting_grating, to_model_input

    size = _stimulus_size(rec)
    movies = [drifting_grating(n_bins, size=(size, size), direction_deg=o, spatial_freq_cpd=0.04,
                               temporal_freq_hz=tf_hz, frame_rate_hz=1000.0 / bin_ms)
              for o in DG_ORIENTATIONS]
    return [to_model_input(m, channels=_first_conv_channels(rec.model, rec.cfg)) for m in movies]


def _dg_features(rec, layers, n_bins, bin_ms):
    """One continuous run per orientation (reset between them), one model step per bin."""
    from neurosim.rsa.features import extract_features

    movies = _dg_movie(rec, n_bins, bin_ms)
    if not rec.trained:
        _recalibrate(rec.model, np.concatenate(movies))
    parts = [extract_features(rec.model, m, layers, mode="continuous", chunk=n_bins) for m in movies]
    return {l: np.concatenate([p[l] for p in parts]) for l in layers}


def _movie_features(rec, frames, layers):
    """The movie as one continuous run, one model step per frame; the first frame dropped."""
    from neurosim.data.stimuli import to_model_input
    from neurosim.rsa.features import extract_features

    size = _stimulus_size(rec)
    x = to_model_input(frames, size=(size, size), channels=_first_conv_channels(rec.model, rec.cfg),
                       scale=255.0 if frames.max() > 1.5 else 1.0)
    if not rec.trained:
        _recalibrate(rec.model, x)
    return {l: f[1:] for l, f in extract_features(rec.model, x, layers, mode="continuous", chunk=16).items()}


def _neural(neural, data):
    """Return (areas: {name: [conditions, units]}, trials or None, description, stimulus kind)."""
    if neural == "allen_2p_scenes":
        from neurosim.data.allen import load_allen_2p_scenes

        d = load_allen_2p_scenes(data)
        return {"VISp": d.responses}, None, "Allen 2p VISp, 118 natural scenes, 212 neurons", d.images
    if neural == "allen_dg":
        from neurosim.data.allen import load_allen_dg

        d = load_allen_dg(data, bin_ms=10.0, t_stop_ms=100.0)
        oris, means = d.condition_means()
        if tuple(int(o) for o in oris) != DG_ORIENTATIONS:
            raise ValueError(f"expected orientations {DG_ORIENTATIONS}, found {tuple(oris)}")
        n_tr = min(int((d.labels == o).sum()) for o in oris)
        trials = np.concatenate([d.counts[d.labels == o][:n_tr].transpose(2, 0, 1) for o in oris])
        Y = means.reshape(-1, means.shape[-1])
        return ({"neuropixels_dg": Y}, trials,
                "Allen Neuropixels drifting gratings, 1000 units, 4 orientations x 10 bins of 10 ms", None)
    path = Path(neural)
    if path.suffix != ".nwb":
        raise ValueError(f"--neural must be one of {', '.join(NEURAL_SETS)} or a path to an .nwb file, got {neural!r}")
    if not path.exists():
        raise FileNotFoundError(f"--neural {path} not found")
    from neurosim.data.allen import check_nwb_file, movie_responses_from_nwb
    from neurosim.io.files import CorruptFileError, load_npy

    check_nwb_file(path)  # cheap: a garbage file is reported as such, before the frames are looked for
    frames_path = path.parent / "natural_movie_one.npy"
    if not frames_path.exists():
        raise FileNotFoundError(f"movie frames {frames_path} not found: save natural_movie_one as a "
                                "[900, H, W] grey .npy beside the NWB file")
    frames = load_npy(frames_path, what="natural_movie_one frames [frames, H, W]", ndim=3, finite=True)
    res = movie_responses_from_nwb(path, "natural_movie_one")
    n_resp = next(iter(res.responses.values())).shape[0] if res.responses else None
    if n_resp is not None and frames.shape[0] != n_resp + 1:
        raise CorruptFileError(frames_path, f"holds {frames.shape[0]} frames but {path.name} presents "
                                            f"{n_resp + 1} frames of natural_movie_one")
    areas = {a: r for a, r in res.responses.items() if r.shape[1] >= 4}
    if not areas:
        raise ValueError(f"{path}: no visual area with >= 4 units above 0.5 spikes/s")
    return areas, None, f"NWB {path.name}, natural_movie_one", frames


def _features(rec, neural, stim, layers) -> dict:
    """The model's features of each layer for the stimuli of ``neural``."""
    if neural == "allen_2p_scenes":
        return _scene_features(rec, stim, layers)
    if neural == "allen_dg":
        return _dg_features(rec, layers, 10, 10.0)
    return _movie_features(rec, stim, layers)


def _best_layer_stats(res, feats, areas, constant, n_permutations: int, seed: int) -> dict:
    """Permutation p-value and 95 % bootstrap interval (over conditions) of each area's best layer."""
    from neurosim.rsa.inference import bootstrap_ci, permutation_test

    out = {}
    if n_permutations < 1:
        return out
    for a, Y in areas.items():
        layer = res.best_layers[a]
        pt = permutation_test(feats[layer], Y, n_permutations=n_permutations, rng=seed, constant_rows=constant)
        ci = bootstrap_ci(feats[layer], Y, n_boot=n_permutations, rng=seed, constant_rows=constant)
        out[a] = {"layer": layer, "score": float(pt["score"]), "p_value": pt["p_value"],
                  "n_permutations": n_permutations, "ci95": [ci["low"], ci["high"]]}
    return out


def _baselines(neural, areas, stim) -> dict:
    """Reference scores a model should beat: raw pixels (images/movies) or, for the gratings,
    time since onset alone (dissimilarity |bin_i - bin_j|, Spearman with average ranks)."""
    from neurosim.rsa import compare, tsrsa
    from neurosim.rsa.tsrsa import tsrsa_vector

    out = {}
    for a, Y in areas.items():
        if neural == "allen_dg":
            n_bins = Y.shape[0] // len(DG_ORIENTATIONS)
            b = np.tile(np.arange(n_bins), len(DG_ORIENTATIONS)).astype(float)
            iu = np.triu_indices(b.size, 1)
            dt = np.abs(b[:, None] - b[None, :])[iu]
            out[a] = {"time_since_onset": compare(dt, tsrsa_vector(Y, constant_rows="omit"), "spearman")}
        elif stim is not None:
            px = np.asarray(stim, dtype=np.float64).reshape(stim.shape[0], -1)
            px = px[1:] if px.shape[0] == Y.shape[0] + 1 else px
            out[a] = {"pixels": tsrsa(px, Y, constant_rows="omit")}
    return out


def run(model: Annotated[str, Option("--model", help="model name or checkpoint path")] = "lorafb_snet18",
        neural: Annotated[str, Option("--neural", help="allen_2p_scenes, allen_dg or an NWB path")] = "allen_2p_scenes",
        layers: Annotated[Optional[List[str]], Option("--layers", help="layer names (repeat the option)")] = None,
        seed: Annotated[int, Option("--seed")] = 0,
        data: Annotated[Optional[Path], Option("--data")] = None,
        out: Annotated[Path, Option("--out", help=OUT_HELP)] = Path("neurosim-out/tsrsa"), *,
        device: Annotated[str, Option("--device", help=DEVICE_HELP)] = "auto",
        amp: Annotated[str, Option("--amp", help=AMP_HELP)] = "none",
        n_splits: int = 100, model_cfg: dict | None = None, n_permutations: int = 1000) -> dict:
    """Score model layers against a neural data set; writes summary.json and figures into ``out``.

    ``device``/``amp``: where and in which precision the model runs (:mod:`neurosim.snn.device`;
    the features are float32 either way).
    """
    from neurosim.models import load_model as load_model_record
    from neurosim.plot.rsa import plot_score_heatmap
    from neurosim.rsa import split_half_ceiling, trial_split_half_ceiling, tsrsa_scores

    dev, precision = resolve_device(device, amp)
    out = ensure_out_dir(out)
    t0 = time.perf_counter()
    rec = load_model_record(model, seed, **(model_cfg or {}))
    rec.model.to(dev)
    name, trained = rec.name, rec.trained
    layers = list(layers) if layers else list(getattr(rec.model, "feature_layers", ()))
    if not layers:
        raise ValueError(f"model {name!r} declares no feature_layers; pass --layers")
    shape = getattr(rec.model, "in_shape", None)
    if shape is not None and (len(shape) != 3 or shape[1] != shape[2]):
        raise ValueError(f"--model {model}: the model takes samples of shape {tuple(shape)}, but tsrsa shows it "
                         "square images [C, S, S]; use an MLP built with in_shape=(C, S, S) or a convolutional model")
    areas, trials, desc, stim = _neural(neural, data)
    constant = "omit"
    try:
        with precision.autocast():
            feats = _features(rec, neural, stim, layers)
    except RuntimeError as exc:  # the model's forward pass: matrix/conv shapes that do not fit the stimuli
        if not any(w in str(exc) for w in ("shape", "size", "channels", "dimension")):
            raise
        raise _input_mismatch(model, rec, exc) from None
    dead = [l for l, f in feats.items() if np.all(f == f.flat[0])]
    for l in dead:
        feats.pop(l)
    if not feats:
        raise ValueError(f"every selected layer of {name!r} is silent/constant on this stimulus; "
                         "try other --layers or a trained checkpoint")
    res = tsrsa_scores(feats, areas, constant_rows=constant)
    ceilings = {a: split_half_ceiling(Y, n_splits=n_splits, rng=2023, constant_rows=constant).to_dict()
                for a, Y in areas.items()}
    summary = {
        "model": name, "trained": trained, "neural": neural, "neural_description": desc,
        "n_conditions": int(next(iter(areas.values())).shape[0]),
        "layers_skipped_constant": dead, **res.to_dict(), "ceiling": ceilings, "device": str(dev),
        "amp": precision.amp,
    }
    if trials is not None:
        summary["trial_ceiling"] = {a: trial_split_half_ceiling(trials, n_splits=n_splits, rng=2023,
                                                                constant_rows=constant).to_dict() for a in areas}
    summary["best_layer_stats"] = _best_layer_stats(res, feats, areas, constant, n_permutations, seed)
    summary["baselines"] = _baselines(neural, areas, stim)
    cm = float(np.mean([c["mean"] for c in ceilings.values()]))
    summary["ceiling_mean"] = cm
    summary["percent_of_ceiling"] = 100.0 * res.score / cm if cm > 0 else None
    summary["seed"] = seed
    fig = out / "tsrsa_heatmap.png"
    plot_score_heatmap(res, path=fig, title=f"{name} vs {Path(str(neural)).name}")
    summary["figures"] = [str(fig)]
    summary["wall_s"] = round(time.perf_counter() - t0, 2)
    write_json(out / "summary.json", summary)
    return summary


# --- demo stage ----------------------------------------------------------------------------

def demo_stage(stage_dir, *, data_dir=None, fast: bool = False, seed: int = 0, progress: bool = False,
               device: str = "cpu", amp: str = "none") -> StageResult:
    """TSRSA of a small spiking ConvNet vs synthetic (or, with data, real 2p VISp) responses.

    ``progress`` is accepted for the demo's interface; this stage takes about a second.
    ``device``/``amp``: as in :func:`run`.
    """
    dev, precision = resolve_device(device, amp)
    with precision.autocast():
        return _demo_stage(stage_dir, data_dir=data_dir, fast=fast, seed=seed, device=dev)


def _demo_stage(stage_dir, *, data_dir, fast: bool, seed: int, device) -> StageResult:
    import matplotlib

    matplotlib.use("Agg")
    from neurosim.data.stimuli import drifting_grating, to_model_input
    from neurosim.data.synthetic import synthetic_cortex
    from neurosim.models import load_model as load_model_record
    from neurosim.plot.rsa import plot_layer_scores, plot_rdm, plot_score_heatmap, plot_tsrsa_curves
    from neurosim.rsa import (calc_rdm, clip_length_scores, split_half_ceiling, trial_split_half_ceiling,
                              tsrsa_scores)
    from neurosim.rsa.features import extract_features

    stage_dir = ensure_out_dir(stage_dir)
    cfg = {"in_channels": 1, "input_size": 32, "channels": (8, 16), "hidden": (32,)}
    net = load_model_record("spiking_convnet", seed, **cfg).model.to(device)
    layers = list(net.feature_layers)
    rng = np.random.default_rng(seed)
    figures = []
    if data_dir is not None and (Path(data_dir) / "allen_natural_scenes_visp_2p").is_dir():
        from neurosim.data.allen import load_allen_2p_scenes

        d = load_allen_2p_scenes(data_dir)
        x = to_model_input(d.images, size=(32, 32), channels=1, scale=255.0)
        _recalibrate(net, x, steps=2 if fast else 4)
        feats = extract_features(net, x, layers, mode="static", steps=2 if fast else 4)
        areas = {"VISp": d.responses}
        source = "Allen 2p VISp natural scenes (118 scenes x 212 neurons)"
        trial_ceiling = None
    else:
        n_frames = 60 if fast else 120
        movie = np.concatenate([drifting_grating(n_frames // 4, size=(32, 32), direction_deg=o,
                                                 temporal_freq_hz=4.0, frame_rate_hz=30.0, deg_per_pixel=2.0)
                                for o in (0, 45, 90, 135)])
        counts = synthetic_cortex(movie, 120, 8, rng)
        x = to_model_input(movie, channels=1)
        _recalibrate(net, x)
        feats = extract_features(net, x, layers, mode="continuous", chunk=16)
        feats = {l: f[1:] for l, f in feats.items()}
        counts = counts[1:]
        areas = {"synthetic_V1": counts.mean(axis=1)}
        source = f"synthetic LN-Poisson population (120 units, 8 repeats) driven by a {n_frames}-frame grating movie"
        trial_ceiling = trial_split_half_ceiling(counts, n_splits=10 if fast else 50, rng=2023)
    feats = {l: f for l, f in feats.items() if not np.all(f == f.flat[0])}
    res = tsrsa_scores(feats, areas, constant_rows="omit")
    area = next(iter(areas))
    ceil = split_half_ceiling(areas[area], n_splits=10 if fast else 100, rng=2023, constant_rows="omit")
    if len(res.areas) == 1:  # one value per layer: bars (a one-column heat map hides the numbers)
        plot_layer_scores(res, area, ceiling=(ceil.mean, ceil.sem), path=stage_dir / "tsrsa_scores.png",
                          title="spiking ConvNet (untrained), score per layer")
        figures.append(str(stage_dir / "tsrsa_scores.png"))
    else:
        plot_score_heatmap(res, path=stage_dir / "tsrsa_heatmap.png", title="spiking ConvNet (untrained)")
        figures.append(str(stage_dir / "tsrsa_heatmap.png"))
    plot_rdm(calc_rdm(areas[area]), rank=True, path=stage_dir / "neural_rdm.png", title=f"{area} RDM")
    figures.append(str(stage_dir / "neural_rdm.png"))
    best = res.best_layers[area]
    T = areas[area].shape[0]
    if trial_ceiling is not None:  # a movie: score vs clip length (paper Fig. 3C)
        lens = [L for L in ((20, 40) if fast else (10, 20, 40, 80)) if L < T]
        clips = [clip_length_scores(feats[best], areas[area], L, n_clips=3 if fast else 10, rng=2023,
                                    constant_rows="omit")
                 for L in lens]
        plot_tsrsa_curves(lens, {best: [c.mean for c in clips]}, errors={best: [c.sem for c in clips]},
                          ceiling=(ceil.mean, ceil.sem), xlabel="clip length (frames)",
                          path=stage_dir / "clip_length.png", title="TSRSA vs clip length")
        figures.append(str(stage_dir / "clip_length.png"))
    metrics = {"score": res.score, "best_layer": best, "ceiling_mean": ceil.mean, "ceiling_sem": ceil.sem,
               "n_conditions": T}
    if trial_ceiling is not None:
        metrics["trial_ceiling_mean"] = trial_ceiling.mean
    text = (f"TSRSA (Spearman of frame-by-frame correlation RDMs, argsort ranks) between an untrained "
            f"spiking ConvNet and {source}. Best layer `{best}` scores {res.score:.3f}; the unit "
            f"split-half noise ceiling is {ceil.mean:.3f} +- {ceil.sem:.3f}.")
    write_json(stage_dir / "summary.json", {**metrics, **res.to_dict()})
    return StageResult("tsrsa", metrics, figures, text)
