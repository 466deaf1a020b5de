"""Allen loaders: small NWB sessions written with pynwb in the Allen layout; real arrays."""
from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest

from conftest import require_data
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
