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

import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neurosim import config
from neurosim._atomic import atomic_open
from neurosim._validation import check_int, check_nonnegative, check_positive
from neurosim.io.files import CorruptFileError, brief, load_npy

__all__ = [
    "ALLEN_NEUROPIXELS_URL", "VISUAL_AREAS", "allen_session_url", "download", "MovieResponses",
    "movie_responses_from_nwb", "check_nwb_file", "pool_sessions", "TwoPhotonScenes", "load_allen_2p_scenes",
    "DriftingGratingSpikes", "load_allen_dg", "spike_counts",
]

#: official Allen Brain Observatory Visual Coding Neuropixels session files (AWS open data)
ALLEN_NEUROPIXELS_URL = ("https://allen-brain-observatory.s3.us-west-2.amazonaws.com/"
                         "visual-coding-neuropixels/ecephys-cache/session_{session_id}/session_{session_id}.nwb")
VISUAL_AREAS = ("VISp", "VISl", "VISrl", "VISal", "VISpm", "VISam")
MOVIES = {"natural_movie_one": 900, "natural_movie_three": 3600}


def _data_dir(data_dir) -> Path:
    if data_dir is None:
        data_dir = config.data_root() or Path(__file__).resolve().parents[2].parent / "shared" / "data"
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


def _where(nwb) -> str:
    """Prefix naming the file an ``NWBFile`` was read from ('' for one built in memory)."""
    src = getattr(nwb, "container_source", None)
    return f"{src}: " if src else ""


def _column(table, col: str, where: str, table_name: str):
    """Column ``col`` of an NWB table; ValueError naming the file, table and column if absent."""
    cols = tuple(getattr(table, "colnames", ()))
    if col not in cols:
        raise ValueError(f"{where}the {table_name} table has no {col!r} column (columns: {', '.join(cols) or 'none'}); "
                         "not an Allen Neuropixels session file")
    return table[col]


def _unit_areas(nwb) -> np.ndarray:
    where = _where(nwb)
    units = nwb.units
    cols = units.colnames
    if "location" in cols:
        return np.asarray(units["location"][:]).astype(str)
    if "peak_channel_id" in cols:
        if nwb.electrodes is None:
            raise ValueError(f"{where}units have peak_channel_id but the file has no electrodes table")
        ch_ids = np.asarray(nwb.electrodes.id[:])
        locs = np.asarray(_column(nwb.electrodes, "location", where, "electrodes")[:]).astype(str)
        lookup = dict(zip(ch_ids.tolist(), locs.tolist()))
        peak = np.asarray(units["peak_channel_id"][:]).astype(np.int64)
        missing = [p for p in peak.tolist() if p not in lookup]
        if missing:
            raise ValueError(f"{where}peak_channel_id(s) {missing[:5]} not in the electrodes table ids")
        return np.array([lookup[p] for p in peak.tolist()])
    if "electrodes" in cols:
        return np.array([np.asarray(units["electrodes"][i]["location"]).astype(str)[0]
                         for i in range(len(units))])
    raise ValueError(f"{where}cannot find unit areas: expected units 'peak_channel_id' with electrodes "
                     "'location', or a units 'location' column")


def check_nwb_file(path) -> Path:
    """Check cheaply that ``path`` is an NWB file (HDF5 signature, ``nwb_version`` attribute).

    Raises ``FileNotFoundError`` if it does not exist and
    :class:`~neurosim.io.CorruptFileError` if it is empty, not HDF5, damaged or plain HDF5.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NWB file {path} not found; see neurosim.data.allen.download")
    if not h5py.is_hdf5(str(path)):
        size = path.stat().st_size
        raise CorruptFileError(path, "is empty (0 bytes), not an NWB file" if size == 0 else
                               "is not an NWB file (no HDF5 signature); download it again")
    try:
        with h5py.File(path, "r") as f:
            is_nwb = "nwb_version" in f.attrs
    except (OSError, RuntimeError, KeyError) as exc:  # truncated or damaged HDF5
        raise CorruptFileError(path, f"is a damaged or truncated HDF5 file ({brief(exc)}); download it again") from None
    if not is_nwb:
        raise CorruptFileError(path, "is an HDF5 file but not NWB (no 'nwb_version' attribute)")
    return path


def _read_nwb(path: Path, fn):
    """Open ``path`` with pynwb and return ``fn(nwbfile)``; unreadable files raise CorruptFileError."""
    from pynwb import NWBHDF5IO

    check_nwb_file(path)
    io = None
    try:
        io = NWBHDF5IO(str(path), "r")
        nwbfile = io.read()
    except Exception as exc:  # noqa: BLE001 - pynwb/hdmf/h5py raise many types for a damaged file
        if io is not None:
            io.close()
        raise CorruptFileError(path, f"cannot be read as NWB ({type(exc).__name__}: {brief(exc)}); "
                                     "the file is truncated or damaged: download it again") from None
    with io:
        try:
            return fn(nwbfile)
        except ValueError as exc:
            if str(exc).startswith(f"{path}:"):  # ours, already naming the file
                raise
            raise CorruptFileError(path, f"holds unreadable data ({type(exc).__name__}: {brief(exc)})") from None
        except (OSError, RuntimeError, KeyError, TypeError, AttributeError, IndexError) as exc:  # lazy reads
            raise CorruptFileError(path, f"is damaged: reading its data failed ({type(exc).__name__}: "
                                         f"{brief(exc)}); download it again") from None


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

    Raises
    ------
    FileNotFoundError
        ``nwb`` is a path that does not exist.
    CorruptFileError
        (``ValueError``) the file is not readable NWB (empty, garbage, truncated, plain HDF5).
    ValueError
        a table or column this reader needs is missing or inconsistent; the message names the
        file, the table and the column.
    """
    check_nonnegative("min_rate_hz", min_rate_hz, unit="spikes/s")
    if isinstance(nwb, (str, Path)):
        return _read_nwb(Path(nwb), lambda f: movie_responses_from_nwb(f, movie, areas=areas, min_rate_hz=min_rate_hz,
                                                                    drop_first_frame=drop_first_frame))
    where = _where(nwb)
    key = f"{movie}_presentations"
    if nwb.intervals is None or key not in nwb.intervals:
        have = sorted(nwb.intervals) if nwb.intervals is not None else []
        raise ValueError(f"{where}movie {movie!r}: no '{key}' table in the file's intervals; available: {have}")
    if nwb.units is None:
        raise ValueError(f"{where}the file has no units table; not an Allen Neuropixels session file")
    table = nwb.intervals[key]
    starts = np.asarray(_column(table, "start_time", where, key)[:], dtype=np.float64)
    stops = np.asarray(_column(table, "stop_time", where, key)[:], dtype=np.float64)
    try:
        frames_f = np.asarray(np.asarray(_column(table, "frame", where, key)[:]).astype(float))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}{key}: 'frame' values are not numbers ({brief(exc)})") from None
    if frames_f.size == 0:
        raise ValueError(f"{where}{key} has no rows")
    if (not np.all(np.isfinite(frames_f)) or np.any(frames_f < 0) or np.any(frames_f != np.round(frames_f))
            or not np.all(np.isfinite(starts)) or np.any(stops <= starts)):
        raise ValueError(f"{where}{key}: frames must be integers >= 0 and each stop_time > start_time")
    frames = frames_f.astype(np.int64)
    spike_col = _column(nwb.units, "spike_times", where, "units")
    n_frames = int(frames.max()) + 1
    counts_per_frame = np.bincount(frames, minlength=n_frames)
    n_rep = int(counts_per_frame.min())
    if n_rep == 0:
        raise ValueError(f"{where}movie {movie!r}: some frames were never presented")
    total_time = float((stops - starts).sum())
    unit_area = _unit_areas(nwb)
    unit_ids = np.asarray(nwb.units.id[:])
    keep_areas = tuple(areas) if areas is not None else tuple(dict.fromkeys(unit_area.tolist()))
    responses, ids = {}, {}
    for area in keep_areas:
        idx = np.flatnonzero(unit_area == area)
        cols, kept = [], []
        for u in idx:
            st = np.asarray(spike_col[int(u)], dtype=np.float64)
            if st.size and not np.all(np.diff(st) >= 0):
                raise ValueError(f"{where}spike_times of unit {unit_ids[u]} are not sorted")
            c = spike_counts(st, starts, stops)
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


_2P_FOLDER = "allen_natural_scenes_visp_2p"
_2P_LAYOUT = (f"{_2P_FOLDER}/ must hold all_input_scenes_118_961.npy [scenes, pixels], "
              "Allen_{train,test}_input.npy [images, pixels], Allen_{train,test}_output.npy [images, neurons] "
              "(and optionally Allen_test_output_big.npy [trials, neurons]); see ../shared/data/README.md")


def load_allen_2p_scenes(data_dir=None) -> TwoPhotonScenes:
    """Load ``allen_natural_scenes_visp_2p`` and restore scene order (train + test).

    Raises ``FileNotFoundError`` for a missing folder or file (naming the expected layout) and
    :class:`~neurosim.io.CorruptFileError` for an unreadable, pickled or misshapen array.
    """
    d = _data_dir(data_dir) / _2P_FOLDER
    if not d.is_dir():
        raise FileNotFoundError(f"{d} not found; {_2P_LAYOUT}")

    def arr(fname, what, shape):
        return load_npy(d / fname, what=what, ndim=len(shape), shape=shape, finite=True, layout=_2P_LAYOUT)

    scenes = arr("all_input_scenes_118_961.npy", "scene images [scenes, pixels]", (None, None))
    n, n_px = scenes.shape
    side = int(round(np.sqrt(n_px)))
    if n < 1 or side * side != n_px:
        raise CorruptFileError(d / "all_input_scenes_118_961.npy",
                               f"holds {n} scenes of {n_px} pixels; expected >= 1 square image (side x side pixels)")
    resp, is_test, n_units = None, np.zeros(n, dtype=bool), None
    for split in ("train", "test"):
        inp = arr(f"Allen_{split}_input.npy", f"{split} images [images, pixels]", (None, n_px))
        out = arr(f"Allen_{split}_output.npy", f"{split} responses [images, neurons]", (inp.shape[0], n_units))
        n_units = out.shape[1]
        if resp is None:
            resp = np.full((n, n_units), np.nan)
        for row, img in enumerate(inp):
            hit = np.flatnonzero(np.all(scenes == img, axis=1))
            if hit.size != 1:
                raise CorruptFileError(d / f"Allen_{split}_input.npy",
                                       f"image {row} matches {hit.size} of the scenes in all_input_scenes_118_961.npy "
                                       "(expected exactly 1); the files are inconsistent")
            resp[hit[0]] = out[row]
            is_test[hit[0]] = split == "test"
    if np.isnan(resp).any():
        raise CorruptFileError(d, f"{int(np.isnan(resp).any(axis=1).sum())} of the {n} scenes have no response in "
                                  "Allen_train/test_*.npy; the files are inconsistent")
    big = d / "Allen_test_output_big.npy"
    trials = (arr("Allen_test_output_big.npy", "single-trial responses [trials, neurons]", (None, n_units))
              if big.exists() else np.zeros((0, n_units)))
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


_DG_FOLDER = "allen_neuropixels_dg_spyketools"
_DG_LAYOUT = (f"{_DG_FOLDER}/ must hold spike_times.npy [spikes] (s), ii_spike_times.npy [trials, units, 2] "
              "and stim_label.npy [trials]; see ../shared/data/README.md")


def load_allen_dg(data_dir=None, *, bin_ms: float = 10.0, t_stop_ms: float = 100.0) -> DriftingGratingSpikes:
    """Bin the spyketools drifting-grating spike times into ``[trials, units, bins]`` counts."""
    bin_ms = check_positive("bin_ms", bin_ms, unit="ms")
    t_stop_ms = check_positive("t_stop_ms", t_stop_ms, unit="ms")
    n_bins = int(round(t_stop_ms / bin_ms))
    if n_bins < 1 or abs(n_bins * bin_ms - t_stop_ms) > 1e-9 * t_stop_ms:
        raise ValueError(f"t_stop_ms ({t_stop_ms}) must be a multiple of bin_ms ({bin_ms})")
    d = _data_dir(data_dir) / _DG_FOLDER
    if not d.is_dir():
        raise FileNotFoundError(f"{d} not found; {_DG_LAYOUT}")
    st = load_npy(d / "spike_times.npy", what="spike times [spikes] (s)", ndim=1, kinds="f", finite=True,
                  layout=_DG_LAYOUT)
    ii = load_npy(d / "ii_spike_times.npy", what="spike-time slices [trials, units, 2]", ndim=3,
                  shape=(None, None, 2), kinds="iu", layout=_DG_LAYOUT)
    labels = load_npy(d / "stim_label.npy", what="orientation labels [trials]", ndim=1, shape=(ii.shape[0],),
                      finite=True, layout=_DG_LAYOUT)
    if ii.size and (ii.min() < 0 or ii.max() > st.size or np.any(ii[..., 1] < ii[..., 0])):
        raise CorruptFileError(d / "ii_spike_times.npy", f"holds [start, stop) slices outside 0..{st.size} "
                                                          "(the length of spike_times.npy) or with stop < start")
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
