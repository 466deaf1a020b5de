"""Allen loaders: small NWB sessions written with pynwb in the Allen layout; real arrays."""
from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest

from conftest import require_data
from corrupt import hdf5_variants
from neurosim.data.allen import (allen_session_url, download, load_allen_2p_scenes, load_allen_dg,
                                 movie_responses_from_nwb, pool_sessions)

pynwb = pytest.importorskip("pynwb")

FRAME_S = 1 / 30


def _write_session(path, spikes_by_unit, unit_channels, channel_locations, n_frames=6, n_repeats=3,
                   frame_as_str=False):
    """An Allen-style session: units.peak_channel_id -> electrodes.location; movie presentations."""
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.epoch import TimeIntervals

    nwb = NWBFile(session_description="test", identifier="t", session_start_time=datetime(2020, 1, 1, tzinfo=timezone.utc))
    dev = nwb.create_device("probeA")
    grp = nwb.create_electrode_group("probeA", description="p", location="brain", device=dev)
    for ch_id, loc in channel_locations.items():
        nwb.add_electrode(id=ch_id, location=loc, group=grp)
    nwb.add_unit_column("peak_channel_id", "peak channel")
    for st, ch in zip(spikes_by_unit, unit_channels):
        nwb.add_unit(spike_times=np.sort(st), peak_channel_id=ch)
    ti = TimeIntervals(name="natural_movie_one_presentations", description="movie frames")
    ti.add_column("frame", "frame index")
    t = 1.0
    for _ in range(n_repeats):
        for f in range(n_frames):
            ti.add_row(start_time=t, stop_time=t + FRAME_S, frame=str(float(f)) if frame_as_str else float(f))
            t += FRAME_S
        t += 0.5  # grey gap between repeats
    nwb.add_time_intervals(ti)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


def _presentation_times(n_frames=6, n_repeats=3):
    out, t = [], 1.0
    for _ in range(n_repeats):
        for f in range(n_frames):
            out.append((f, t))
            t += FRAME_S
        t += 0.5
    return out


def _spikes_for(counts_per_frame, n_frames=6, n_repeats=3):
    """Spike train with ``counts_per_frame[r][f]`` spikes inside each frame interval."""
    st = []
    for k, (f, t) in enumerate(_presentation_times(n_frames, n_repeats)):
        r = k // n_frames
        c = counts_per_frame[r][f]
        st += list(t + FRAME_S * (np.arange(c) + 0.5) / max(c, 1))
    st += [0.2, 50.0]  # outside the movie: never counted
    return np.array(st)


@pytest.mark.parametrize("frame_as_str", [False, True])
def test_movie_responses_by_area_repeat_average_filter_first_frame(tmp_path, frame_as_str):
    rng = np.random.default_rng(0)
    c0 = rng.integers(0, 4, size=(3, 6))
    c1 = rng.integers(0, 3, size=(3, 6))
    c_lgn = rng.integers(1, 3, size=(3, 6))
    silent = np.zeros((3, 6), int)
    units = [_spikes_for(c0), _spikes_for(c1), _spikes_for(c_lgn), _spikes_for(silent)]
    chans = [101, 102, 201, 101]
    path = _write_session(tmp_path / "s.nwb", units, chans, {101: "VISp", 102: "VISl", 201: "LGd"},
                          frame_as_str=frame_as_str)
    res = movie_responses_from_nwb(path, "natural_movie_one", areas=("VISp", "VISl"))
    assert res.n_repeats == 3 and res.areas == ("VISp", "VISl")
    # silent unit 3 (VISp) is dropped by the 0.5 spikes/s filter; first frame dropped
    assert res.responses["VISp"].shape == (5, 1) and res.responses["VISl"].shape == (5, 1)
    assert np.allclose(res.responses["VISp"][:, 0], c0.mean(axis=0)[1:])
    assert np.allclose(res.responses["VISl"][:, 0], c1.mean(axis=0)[1:])
    assert list(res.unit_ids["VISp"]) == [0]
    full = movie_responses_from_nwb(path, areas=None, min_rate_hz=0.0, drop_first_frame=False)
    assert set(full.areas) == {"VISp", "VISl", "LGd"} and full.responses["VISp"].shape == (6, 2)
    pooled = pool_sessions([res, res])
    assert pooled.responses["VISp"].shape == (5, 2)


def test_rate_threshold_is_spikes_per_second(tmp_path):
    # 3 repeats x 6 frames x 1/30 s = 0.6 s of movie; 1 spike -> 1.67 spikes/s
    one = np.zeros((3, 6), int)
    one[1, 2] = 1
    path = _write_session(tmp_path / "r.nwb", [_spikes_for(one)], [5], {5: "VISp"})
    assert movie_responses_from_nwb(path, min_rate_hz=1.6).responses["VISp"].shape[1] == 1
    assert movie_responses_from_nwb(path, min_rate_hz=1.7).responses["VISp"].shape[1] == 0


def test_nwb_errors(tmp_path):
    path = _write_session(tmp_path / "e.nwb", [_spikes_for(np.ones((3, 6), int))], [5], {5: "VISp"})
    with pytest.raises(ValueError, match="natural_movie_three_presentations"):
        movie_responses_from_nwb(path, "natural_movie_three")
    with pytest.raises(FileNotFoundError, match="download"):
        movie_responses_from_nwb(tmp_path / "missing.nwb")
    with pytest.raises(ValueError, match="min_rate_hz"):
        movie_responses_from_nwb(path, min_rate_hz=-1)


def test_download_file_url(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(bytes(range(256)) * 5000)
    dest = download(src.as_uri(), tmp_path / "out" / "copy.bin", chunk_bytes=1000, progress=False)
    assert dest.read_bytes() == src.read_bytes()
    assert not list((tmp_path / "out").glob("*.part"))
    src.write_bytes(b"new")
    assert download(src.as_uri(), dest, progress=False).read_bytes() != b"new"  # kept
    assert download(src.as_uri(), dest, overwrite=True, progress=False).read_bytes() == b"new"
    assert allen_session_url(715093703).endswith("session_715093703/session_715093703.nwb")
    assert allen_session_url(1).startswith("https://allen-brain-observatory.s3")


def test_real_2p_scenes():
    require_data("allen_natural_scenes_visp_2p", "all_input_scenes_118_961.npy")
    from conftest import data_root

    d = load_allen_2p_scenes(data_root())
    assert d.images.shape == (118, 31, 31) and d.responses.shape == (118, 212)
    assert d.is_test.sum() == 18 and d.unlabeled_trials.shape == (900, 212)
    test_out = np.load(data_root() / "allen_natural_scenes_visp_2p" / "Allen_test_output.npy")
    assert np.array_equal(np.sort(d.responses[d.is_test], axis=0), np.sort(test_out, axis=0))


def test_real_dg_binning():
    require_data("allen_neuropixels_dg_spyketools", "spike_times.npy")
    from conftest import data_root

    d = load_allen_dg(data_root(), bin_ms=10.0)
    root = data_root() / "allen_neuropixels_dg_spyketools"
    st, ii = np.load(root / "spike_times.npy"), np.load(root / "ii_spike_times.npy")
    assert d.counts.shape == (200, 1000, 10)
    assert d.counts.sum() == np.count_nonzero(st < 0.1)
    for tr, u in [(0, 0), (17, 333), (199, 999)]:
        ref, _ = np.histogram(st[ii[tr, u, 0]:ii[tr, u, 1]] * 1000, bins=np.arange(0, 101, 10))
        assert np.array_equal(d.counts[tr, u], ref)
    oris, means = d.condition_means()
    assert list(oris) == [0, 45, 90, 135] and means.shape == (4, 10, 1000)
    with pytest.raises(ValueError, match="multiple of bin_ms"):
        load_allen_dg(data_root(), bin_ms=30.0)


# --- corrupt and misshapen files name the file ---------------------------------------------

def _fake_dg(root):
    """A tiny spyketools folder: 4 trials x 3 units, 2 spikes per (trial, unit)."""
    d = root / "allen_neuropixels_dg_spyketools"
    d.mkdir(parents=True)
    st = np.tile([0.005, 0.095], 12)
    ii = np.arange(0, 25, 2)[:-1].reshape(4, 3, 1) + np.array([0, 2])
    np.save(d / "spike_times.npy", st)
    np.save(d / "ii_spike_times.npy", ii.astype(np.int64))
    np.save(d / "stim_label.npy", np.array([0, 45, 90, 135]))
    return d


def _fake_2p(root, n=5, side=3, units=4, seed=0):
    """A tiny 2p folder: n distinct scenes, the first n - 2 'train', the last 2 'test'."""
    rng = np.random.default_rng(seed)
    d = root / "allen_natural_scenes_visp_2p"
    d.mkdir(parents=True)
    scenes = rng.permutation(n * side * side).reshape(n, side * side).astype(np.float64)
    resp = rng.normal(size=(n, units))
    np.save(d / "all_input_scenes_118_961.npy", scenes)
    np.save(d / "Allen_train_input.npy", scenes[:n - 2][::-1])
    np.save(d / "Allen_train_output.npy", resp[:n - 2][::-1])
    np.save(d / "Allen_test_input.npy", scenes[n - 2:])
    np.save(d / "Allen_test_output.npy", resp[n - 2:])
    return d, scenes, resp


def _npy_bytes(arr):
    import io

    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


DG_CORRUPTIONS = {
    "truncated": ("spike_times.npy", lambda b: b[:len(b) - 40], "truncated or corrupt"),
    "empty": ("spike_times.npy", lambda b: b"", "empty"),
    "garbage": ("ii_spike_times.npy", lambda b: bytes(range(256)) * 4, "not a .npy file"),
    "pickled": ("stim_label.npy", lambda b: _npy_bytes(np.array([{"ori": 0}] * 4, dtype=object)), "pickled"),
    "text": ("stim_label.npy", lambda b: b"0 45 90 135\n", "not a .npy file"),
    "shape": ("ii_spike_times.npy", lambda b: _npy_bytes(np.zeros((4, 3), np.int64)), "expected 3-D"),
    "dtype": ("ii_spike_times.npy", lambda b: _npy_bytes(np.zeros((4, 3, 2))), "dtype float64"),
    "range": ("ii_spike_times.npy", lambda b: _npy_bytes(np.full((4, 3, 2), 99, np.int64)), "outside 0..24"),
    "labels": ("stim_label.npy", lambda b: _npy_bytes(np.zeros(5)), "expected (4,)"),
    "nan": ("spike_times.npy", lambda b: _npy_bytes(np.full(24, np.nan)), "non-finite"),
}


@pytest.mark.parametrize("kind", sorted(DG_CORRUPTIONS))
def test_corrupt_dg_arrays_are_named(tmp_path, kind):
    from neurosim.io import CorruptFileError

    d = _fake_dg(tmp_path)
    intact = load_allen_dg(tmp_path)  # the folder is valid before the damage: 1 spike in the first and last bin
    assert intact.counts.shape == (4, 3, 10) and np.all(intact.counts[..., [0, 9]] == 1)
    fname, damage, what = DG_CORRUPTIONS[kind]
    (d / fname).write_bytes(damage((d / fname).read_bytes()))
    with pytest.raises(CorruptFileError) as err:
        load_allen_dg(tmp_path)
    msg = str(err.value)
    assert msg.startswith(f"{d / fname}: ") and what in msg and "allow_pickle" not in msg, msg


def test_corrupt_2p_arrays_are_named(tmp_path):
    from neurosim.io import CorruptFileError

    d, scenes, resp = _fake_2p(tmp_path)
    intact = load_allen_2p_scenes(tmp_path)  # valid before the damage: scene order restored
    assert np.array_equal(intact.responses, resp) and list(intact.is_test) == [False, False, False, True, True]
    assert np.array_equal(intact.images.reshape(5, 9), scenes)
    (d / "Allen_test_output_big.npy").write_bytes(_npy_bytes(np.zeros((7, 4)))[:-5])
    with pytest.raises(CorruptFileError, match="Allen_test_output_big.npy: is truncated"):
        load_allen_2p_scenes(tmp_path)
    (d / "Allen_test_output_big.npy").unlink()
    np.save(d / "Allen_test_output.npy", np.zeros((2, 5)))  # 5 neurons where train has 4
    with pytest.raises(CorruptFileError, match=r"Allen_test_output.npy: .*expected \(2, 4\)"):
        load_allen_2p_scenes(tmp_path)
    np.save(d / "Allen_test_output.npy", np.zeros((2, 4)))
    np.save(d / "Allen_test_input.npy", scenes[:2] + 0.5)  # images that are not among the scenes
    with pytest.raises(CorruptFileError, match="Allen_test_input.npy: image 0 matches 0"):
        load_allen_2p_scenes(tmp_path)
    np.save(d / "all_input_scenes_118_961.npy", np.zeros((5, 8)))
    with pytest.raises(CorruptFileError, match="all_input_scenes_118_961.npy: .*square"):
        load_allen_2p_scenes(tmp_path)
    (d / "Allen_train_output.npy").unlink()
    np.save(d / "all_input_scenes_118_961.npy", scenes)
    with pytest.raises(FileNotFoundError, match="Allen_train_output.npy not found; allen_natural_scenes_visp_2p/"):
        load_allen_2p_scenes(tmp_path)


def test_corrupt_nwb_files_are_named(tmp_path):
    from neurosim.io import CorruptFileError

    good = _write_session(tmp_path / "good.nwb", [_spikes_for(np.ones((3, 6), int))], [5], {5: "VISp"})
    for path in hdf5_variants(good):
        with pytest.raises(CorruptFileError) as err:
            movie_responses_from_nwb(path)
        assert str(err.value).startswith(f"{path}: "), str(err.value)
    # NWB files without the tables or columns this reader needs
    with pytest.raises(ValueError, match=r"nounits.nwb: the file has no units table"):
        movie_responses_from_nwb(_write_partial(tmp_path / "nounits.nwb", units=False))
    with pytest.raises(ValueError, match=r"noframe.nwb: the natural_movie_one_presentations table has no 'frame'"):
        movie_responses_from_nwb(_write_partial(tmp_path / "noframe.nwb", frame=False))


def _write_partial(path, units=True, frame=True):
    """A valid NWB file lacking the units table or the presentations' 'frame' column."""
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.epoch import TimeIntervals

    nwb = NWBFile(session_description="t", identifier="t", session_start_time=datetime(2020, 1, 1, tzinfo=timezone.utc))
    if units:
        nwb.add_unit(spike_times=[1.0, 1.01])
    ti = TimeIntervals(name="natural_movie_one_presentations", description="movie frames")
    if frame:
        ti.add_column("frame", "frame index")
    for f in range(3):
        extra = {"frame": float(f)} if frame else {}
        ti.add_row(start_time=1.0 + f * FRAME_S, stop_time=1.0 + (f + 1) * FRAME_S, **extra)
    nwb.add_time_intervals(ti)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


def test_tsrsa_garbage_nwb_is_named_before_the_movie_file(tmp_path):
    from neurosim.commands.tsrsa import run
    from neurosim.io import CorruptFileError

    nwb = tmp_path / "session.nwb"
    nwb.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(CorruptFileError, match="session.nwb: is not an NWB file"):
        run(model="spiking_mlp", neural=str(nwb), out=tmp_path / "o")
    (tmp_path / "good").mkdir()
    good = _write_session(tmp_path / "good" / "s.nwb", [_spikes_for(np.ones((3, 6), int))], [5], {5: "VISp"})
    movie = tmp_path / "good" / "natural_movie_one.npy"
    movie.write_bytes(_npy_bytes(np.array([None] * 6, dtype=object)))
    with pytest.raises(CorruptFileError, match="natural_movie_one.npy: holds pickled Python objects"):
        run(model="spiking_mlp", neural=str(good), out=tmp_path / "o")
    np.save(movie, np.zeros((5, 8, 8)))  # 5 frames; the session presents 6
    with pytest.raises(CorruptFileError, match="natural_movie_one.npy: holds 5 frames but s.nwb presents 6"):
        run(model="spiking_mlp", neural=str(good), out=tmp_path / "o")
