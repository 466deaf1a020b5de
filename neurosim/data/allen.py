"""Allen Brain Observatory data: Neuropixels NWB sessions (pynwb, no AllenSDK) and arrays.

Neuropixels session NWB layout read here (as written by the Allen Institute's ecephys
pipeline; files at :data:`ALLEN_NEUROPIXELS_URL`):

* ``nwbfile.units``: ``spike_times`` (ragged, seconds) and ``peak_channel_id`` per unit;
* ``nwbfile.electrodes``: one row per channel, id = channel id, ``location`` = brain-area
  acronym (``"VISp"``, ``"VISl"``, ``"CA1"`` ...). A unit's area is the ``location`` of its
  peak channel (a ``location`` column on the units table, if present, is used instead);
* ``nwbfile.intervals["natural_movie_one_presentations"]`` (and ``..._three_...``): one row
  per displayed movie frame with ``start_time``, ``stop_time`` and ``frame`` (0..899 or
  0..3599; stored as numbers or strings).

Per-frame responses (paper §4.1, App. D): the spike count of each unit in every displayed
frame interval, averaged over the repeats of that frame (20 for Movie1, 10 for Movie2);
units whose mean rate over all movie presentations is below ``min_rate_hz`` (0.5 spikes/s)
are dropped; the first frame is dropped. Units of several sessions are pooled per area
(:func:`pool_sessions`).

Array data sets in ``NEUROSIM_DATA`` (see ``../shared/data/README.md``):

* ``allen_natural_scenes_visp_2p``: two-photon dF/F responses of 212 VISp neurons to the
  118 natural scenes (trial means), the scenes downsampled to 31 x 31. The train/test files
  are a random split of the 118 scenes (``np.random.seed(31)`` in the source repository's
  script); :func:`load_allen_2p_scenes` puts them back into scene order by matching images.
  ``Allen_test_output_big.npy`` holds 900 *single trials drawn at random from all 5,900*
  (118 scenes x 50 repeats) of that script, without their scene labels, so it cannot give
  per-scene repeats; it is returned as ``unlabeled_trials``.
* ``allen_neuropixels_dg_spyketools``: spike times 0-100 ms after the onset of 200
  drifting-grating trials (orientation 0/45/90/135, 50 each) for 1,000 pooled units;
  :func:`load_allen_dg` bins them ([trials, units, bins]).
"""
from __future__ import annotations

import os
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neurosim._atomic import atomic_open
from neurosim._validation import check_int, check_nonnegative, check_positive

__all__ = [
    "ALLEN_NEUROPIXELS_URL", "VISUAL_AREAS", "allen_session_url", "download", "MovieResponses",
    "movie_responses_from_nwb", "pool_sessions", "TwoPhotonScenes", "load_allen_2p_scenes",
    "DriftingGratingSpikes", "load_allen_dg", "spike_counts",
]

#: official Allen Brain Observatory Visual Coding Neuropixels session files (AWS open data)
ALLEN_NEUROPIXELS_URL = ("https://allen-brain-observatory.s3.us-west-2.amazonaws.com/"
                         "visual-coding-neuropixels/ecephys-cache/session_{session_id}/session_{session_id}.nwb")
VISUAL_AREAS = ("VISp", "VISl", "VISrl", "VISal", "VISpm", "VISam")
MOVIES = {"natural_movie_one": 900, "natural_movie_three": 3600}


def _data_dir(data_dir) -> Path:
    if data_dir is None:
        data_dir = os.environ.get("NEUROSIM_DATA") or Path(__file__).resolve().parents[2].parent / "shared" / "data"
    root = Path(data_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder {root} not found; pass data_dir or set NEUROSIM_DATA")
    return root


# --- download --------------------------------------------------------------------------------

def allen_session_url(session_id: int) -> str:
    """URL of one Neuropixels session NWB file (several GB each)."""
    check_int("session_id", session_id, min_value=0)
    return ALLEN_NEUROPIXELS_URL.format(session_id=int(session_id))


def download(url: str, dest, *, overwrite: bool = False, chunk_bytes: int = 2**20,
             progress: bool = True) -> Path:
    """Download ``url`` to ``dest`` atomically (temp file + ``os.replace``); returns the path.

    Existing files are kept unless ``overwrite``. Works for ``https://`` and ``file://`` URLs.
    """
    dest = Path(dest)
    if dest.exists() and not overwrite:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with urllib.request.urlopen(url) as resp, atomic_open(dest, "wb") as fh:
        total = resp.headers.get("Content-Length")
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=int(total) if total else None, unit="B", unit_scale=True,
                       desc=dest.name, leave=False)
        while True:
            buf = resp.read(chunk_bytes)
            if not buf:
                break
            fh.write(buf)
            if bar is not None:
                bar.update(len(buf))
        if bar is not None:
            bar.close()
    return dest


# --- Neuropixels NWB -------------------------------------------------------------------------

def spike_counts(spike_times, starts, stops) -> np.ndarray:
    """Spikes of one sorted train in each ``[start, stop)`` interval."""
    st = np.asarray(spike_times, dtype=np.float64)
    return (np.searchsorted(st, stops, side="left") - np.searchsorted(st, starts, side="left")).astype(np.int64)


@dataclass
class MovieResponses:
    """Per-frame, repeat-averaged spike counts of one session (or a pool), by area."""

    responses: dict            # area -> [frames, units] float64 mean spike counts per frame
    unit_ids: dict             # area -> unit ids (NWB units-table ids)
    movie: str
    n_repeats: int
    frame_duration_s: float
    metadata: dict = field(default_factory=dict)

    @property
    def areas(self) -> tuple:
        return tuple(self.responses)


def _unit_areas(nwb) -> np.ndarray:
    units = nwb.units
    cols = units.colnames
    if "location" in cols:
        return np.asarray(units["location"][:]).astype(str)
    if "peak_channel_id" in cols:
        if nwb.electrodes is None:
            raise ValueError("units have peak_channel_id but the file has no electrodes table")
        ch_ids = np.asarray(nwb.electrodes.id[:])
        locs = np.asarray(nwb.electrodes["location"][:]).astype(str)
        lookup = dict(zip(ch_ids.tolist(), locs.tolist()))
        peak = np.asarray(units["peak_channel_id"][:]).astype(np.int64)
        missing = [p for p in peak.tolist() if p not in lookup]
        if missing:
            raise ValueError(f"peak_channel_id(s) {missing[:5]} not in the electrodes table ids")
        return np.array([lookup[p] for p in peak.tolist()])
    if "electrodes" in cols:
        return np.array([np.asarray(units["electrodes"][i]["location"]).astype(str)[0]
                         for i in range(len(units))])
    raise ValueError("cannot find unit areas: expected units 'peak_channel_id' with electrodes "
                     "'location', or a units 'location' column")


def movie_responses_from_nwb(nwb, movie: str = "natural_movie_one", *, areas=VISUAL_AREAS,
                             min_rate_hz: float = 0.5, drop_first_frame: bool = True) -> MovieResponses:
    """Per-frame responses to a natural movie from one Neuropixels session NWB.

    Parameters
    ----------
    nwb : path or ``pynwb.NWBFile``
    movie : "natural_movie_one" or "natural_movie_three" (any ``{movie}_presentations`` table)
    areas : areas to keep (None: every area with units)
    min_rate_hz : units below this mean rate over the movie presentations are dropped
    drop_first_frame : drop frame 0 (the paper scores frames 1..T-1)
    """
    check_nonnegative("min_rate_hz", min_rate_hz, unit="spikes/s")
    if isinstance(nwb, (str, Path)):
        from pynwb import NWBHDF5IO

        path = Path(nwb)
        if not path.exists():
            raise FileNotFoundError(f"NWB file {path} not found; see neurosim.data.allen.download")
        with NWBHDF5IO(str(path), "r") as io:
            return movie_responses_from_nwb(io.read(), movie, areas=areas, min_rate_hz=min_rate_hz,
                                            drop_first_frame=drop_first_frame)
    key = f"{movie}_presentations"
    if nwb.intervals is None or key not in nwb.intervals:
        have = sorted(nwb.intervals) if nwb.intervals is not None else []
        raise ValueError(f"movie {movie!r}: no '{key}' table in the file's intervals; available: {have}")
    table = nwb.intervals[key]
    starts = np.asarray(table["start_time"][:], dtype=np.float64)
    stops = np.asarray(table["stop_time"][:], dtype=np.float64)
    frames = np.asarray(np.asarray(table["frame"][:]).astype(float)).astype(np.int64)
    n_frames = int(frames.max()) + 1
    counts_per_frame = np.bincount(frames, minlength=n_frames)
    n_rep = int(counts_per_frame.min())
    if n_rep == 0:
        raise ValueError(f"movie {movie!r}: some frames were never presented")
    total_time = float((stops - starts).sum())
    unit_area = _unit_areas(nwb)
    unit_ids = np.asarray(nwb.units.id[:])
    keep_areas = tuple(areas) if areas is not None else tuple(dict.fromkeys(unit_area.tolist()))
    responses, ids = {}, {}
    for area in keep_areas:
        idx = np.flatnonzero(unit_area == area)
        cols, kept = [], []
        for u in idx:
            c = spike_counts(nwb.units["spike_times"][int(u)], starts, stops)
            if c.sum() / total_time < min_rate_hz:
                continue
            cols.append(np.bincount(frames, weights=c, minlength=n_frames) / counts_per_frame)
            kept.append(unit_ids[u])
        R = np.stack(cols, axis=1) if cols else np.zeros((n_frames, 0))
        responses[area] = R[1:] if drop_first_frame else R
        ids[area] = np.asarray(kept)
    return MovieResponses(responses, ids, movie, n_rep, float(np.median(stops - starts)),
                          {"total_time_s": total_time, "drop_first_frame": drop_first_frame})


def pool_sessions(sessions) -> MovieResponses:
    """Concatenate the units of several sessions' :class:`MovieResponses` per area."""
    sessions = list(sessions)
    if not sessions:
        raise ValueError("sessions must contain at least one MovieResponses")
    movie = sessions[0].movie
    if any(s.movie != movie for s in sessions):
        raise ValueError("sessions must all be responses to the same movie")
    areas = list(dict.fromkeys(a for s in sessions for a in s.areas))
    resp, ids = {}, {}
    for a in areas:
        parts = [s.responses[a] for s in sessions if a in s.responses]
        if len({p.shape[0] for p in parts}) > 1:
            raise ValueError(f"mismatched frame counts for area {a!r} across sessions")
        resp[a] = np.concatenate(parts, axis=1)
        ids[a] = np.concatenate([s.unit_ids[a] for s in sessions if a in s.unit_ids])
    return MovieResponses(resp, ids, movie, min(s.n_repeats for s in sessions),
                          sessions[0].frame_duration_s, {"n_sessions": len(sessions)})


# --- arrays in NEUROSIM_DATA -----------------------------------------------------------------

@dataclass
class TwoPhotonScenes:
    """VISp two-photon responses to the 118 Allen natural scenes (scene order)."""

    images: np.ndarray            # [118, 31, 31] float64, 0..255
    responses: np.ndarray         # [118, 212] trial-mean dF/F
    is_test: np.ndarray           # [118] bool, the 18 scenes of the original test split
    unlabeled_trials: np.ndarray  # [900, 212] single trials of unknown scene (see module doc)


def load_allen_2p_scenes(data_dir=None) -> TwoPhotonScenes:
    """Load ``allen_natural_scenes_visp_2p`` and restore scene order (train + test)."""
    d = _data_dir(data_dir) / "allen_natural_scenes_visp_2p"
    if not d.is_dir():
        raise FileNotFoundError(f"{d} not found; see ../shared/data/README.md")
    scenes = np.load(d / "all_input_scenes_118_961.npy")
    n = scenes.shape[0]
    resp = np.full((n, np.load(d / "Allen_train_output.npy", mmap_mode="r").shape[1]), np.nan)
    is_test = np.zeros(n, dtype=bool)
    for split in ("train", "test"):
        inp = np.load(d / f"Allen_{split}_input.npy")
        out = np.load(d / f"Allen_{split}_output.npy")
        for row, img in enumerate(inp):
            hit = np.flatnonzero(np.all(scenes == img, axis=1))
            if hit.size != 1:
                raise ValueError(f"{split} image {row} matches {hit.size} scenes; the files are inconsistent")
            resp[hit[0]] = out[row]
            is_test[hit[0]] = split == "test"
    if np.isnan(resp).any():
        raise ValueError("some of the 118 scenes have no response in the train/test files")
    big = d / "Allen_test_output_big.npy"
    trials = np.load(big) if big.exists() else np.zeros((0, resp.shape[1]))
    side = int(round(np.sqrt(scenes.shape[1])))
    return TwoPhotonScenes(scenes.reshape(n, side, side).astype(np.float64), resp, is_test, trials)


@dataclass
class DriftingGratingSpikes:
    """Binned Neuropixels drifting-grating responses."""

    counts: np.ndarray     # [trials, units, bins] int64
    labels: np.ndarray     # [trials] orientation (degrees)
    bin_edges_ms: np.ndarray

    def condition_means(self):
        """Trial-averaged counts per orientation: ``(orientations, array [n_ori, bins, units])``."""
        oris = np.unique(self.labels)
        means = np.stack([self.counts[self.labels == o].mean(axis=0).T for o in oris])
        return oris, means


def load_allen_dg(data_dir=None, *, bin_ms: float = 10.0, t_stop_ms: float = 100.0) -> DriftingGratingSpikes:
    """Bin the spyketools drifting-grating spike times into ``[trials, units, bins]`` counts."""
    bin_ms = check_positive("bin_ms", bin_ms, unit="ms")
    t_stop_ms = check_positive("t_stop_ms", t_stop_ms, unit="ms")
    n_bins = int(round(t_stop_ms / bin_ms))
    if n_bins < 1 or abs(n_bins * bin_ms - t_stop_ms) > 1e-9 * t_stop_ms:
        raise ValueError(f"t_stop_ms ({t_stop_ms}) must be a multiple of bin_ms ({bin_ms})")
    d = _data_dir(data_dir) / "allen_neuropixels_dg_spyketools"
    if not d.is_dir():
        raise FileNotFoundError(f"{d} not found; see ../shared/data/README.md")
    st = np.load(d / "spike_times.npy")
    ii = np.load(d / "ii_spike_times.npy")
    labels = np.load(d / "stim_label.npy")
    n_tr, n_u = ii.shape[:2]
    start = ii[..., 0].ravel().astype(np.int64)
    lengths = (ii[..., 1] - ii[..., 0]).ravel().astype(np.int64)
    pair = np.repeat(np.arange(start.size), lengths)
    offs = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    t_ms = st[np.repeat(start, lengths) + offs] * 1000.0
    b = np.floor(t_ms / bin_ms).astype(np.int64)
    ok = (b >= 0) & (b < n_bins)
    counts = np.bincount(pair[ok] * n_bins + b[ok], minlength=start.size * n_bins)
    return DriftingGratingSpikes(counts.reshape(n_tr, n_u, n_bins), labels,
                                 np.arange(n_bins + 1) * bin_ms)
