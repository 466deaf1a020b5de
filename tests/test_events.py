"""N-MNIST reader (real sample), frame binning, simulated saccade camera."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import require_data
from neurosim.data.events import (EVENT_DTYPE, SaccadeCamera, center_crop, decode_nmnist, encode_nmnist,
                                  events_to_frames, read_nmnist)


def test_read_real_nmnist_sample():
    path = require_data("nmnist_tonic_samples", "sample_nmnist.bin")
    ev = read_nmnist(path)
    raw = np.fromfile(path, dtype=np.uint8)
    assert ev.dtype == EVENT_DTYPE
    assert len(ev) == raw.size // 5 - int(np.sum(raw[1::5] == 240))
    assert ev["x"].min() >= 0 and ev["x"].max() <= 33 and ev["y"].min() >= 0 and ev["y"].max() <= 33
    assert np.all(np.diff(ev["t"]) >= 0)  # monotone timestamps
    assert 250_000 < ev["t"][-1] - ev["t"][0] < 350_000  # three 100 ms saccades
    assert set(np.unique(ev["p"])) == {0, 1}
    assert 0.3 < ev["p"].mean() < 0.7
    # independent decode of the first event from its five bytes
    b = raw[:5].astype(int)
    assert (ev["x"][0], ev["y"][0], ev["p"][0]) == (b[0], b[1], b[2] >> 7)
    assert ev["t"][0] == ((b[2] & 127) << 16) + (b[3] << 8) + b[4]
    frames = events_to_frames(ev, n_bins=3)
    assert frames.sum() == len(ev) and frames.shape == (3, 2, 34, 34)
    assert np.all(frames.sum(axis=(1, 2, 3)) > 0.2 * len(ev))  # all three saccades carry events


def test_overflow_marker_adds_8192_us():
    ev = np.zeros(3, EVENT_DTYPE)
    ev["x"], ev["y"], ev["t"], ev["p"] = [1, 2, 3], [4, 5, 6], [10, 20, 30], [1, 0, 1]
    raw = bytearray(encode_nmnist(ev))
    marker = bytes([0, 240, 0, 0, 0])
    raw = bytes(raw[:5]) + marker + bytes(raw[5:])
    out = decode_nmnist(raw)
    assert len(out) == 3
    assert list(out["t"]) == [10, 20 + 8192, 30 + 8192]
    assert np.array_equal(decode_nmnist(encode_nmnist(ev)), ev)
    with pytest.raises(ValueError, match="multiple of 5"):
        decode_nmnist(b"\x00" * 7)


def _events(x, y, t, p=None):
    ev = np.zeros(len(x), EVENT_DTYPE)
    ev["x"], ev["y"], ev["t"], ev["p"] = x, y, t, p if p is not None else [1] * len(x)
    return ev


def test_read_nmnist_rejects_what_the_format_forbids(tmp_path):
    """Random bytes, empty files, partial events, decreasing timestamps: CorruptFileError naming the file."""
    from neurosim.io import CorruptFileError

    good = encode_nmnist(_events([0, 33, 5], [0, 33, 7], [10, 20, 20]))
    cases = {
        "random.bin": (bytes(np.random.default_rng(7).integers(0, 256, 5000, dtype=np.uint8)), "outside the 34x34"),
        "empty.bin": (b"", "empty"),
        "partial.bin": (good + b"\x01\x02", "multiple of 5"),
        "x_out.bin": (good + encode_nmnist(_events([34], [0], [30])), "x=34"),
        "y_out.bin": (good + encode_nmnist(_events([0], [200], [30])), "y=200"),
        "backwards.bin": (good + encode_nmnist(_events([1], [1], [19])), "timestamps decrease at event 3"),
        "only_markers.bin": (bytes([0, 240, 0, 0, 0]) * 3, "no events"),
    }
    for name, (data, what) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(CorruptFileError) as err:
            read_nmnist(tmp_path / name)
        msg = str(err.value)
        assert msg.startswith(f"{tmp_path / name}: ") and what in msg, msg
    (tmp_path / "ok.bin").write_bytes(good)
    assert list(read_nmnist(tmp_path / "ok.bin")["x"]) == [0, 33, 5]
    # an overflow marker (+8192 us) makes a smaller raw timestamp later in time: valid
    (tmp_path / "wrap.bin").write_bytes(good + bytes([0, 240, 0, 0, 0]) + encode_nmnist(_events([1], [1], [5])))
    assert list(read_nmnist(tmp_path / "wrap.bin")["t"]) == [10, 20, 20, 5 + 8192]
    with pytest.raises(FileNotFoundError, match="missing.bin"):
        read_nmnist(tmp_path / "missing.bin")


def test_read_nmnist_sensor_size(tmp_path):
    from neurosim.io import CorruptFileError

    path = tmp_path / "dvs128.bin"
    path.write_bytes(encode_nmnist(_events([0, 127, 100], [0, 90, 127], [1, 2, 3])))
    ev = read_nmnist(path, sensor_size=(128, 128))
    assert list(ev["x"]) == [0, 127, 100] and list(ev["y"]) == [0, 90, 127]
    with pytest.raises(CorruptFileError, match="2 of 3 events lie outside the 34x34 sensor"):
        read_nmnist(path)
    with pytest.raises(ValueError, match="outside the 100x128 sensor"):
        decode_nmnist(path.read_bytes(), sensor_size=(100, 128))
    with pytest.raises(ValueError, match="sensor_size"):
        read_nmnist(path, sensor_size=(241, 10))
    real = require_data("nmnist_tonic_samples", "sample_nmnist.bin")
    assert len(read_nmnist(real, sensor_size=(34, 34))) == len(read_nmnist(real))
    cut = tmp_path / "cut.bin"
    cut.write_bytes(real.read_bytes()[:-3])  # a truncated real recording
    with pytest.raises(CorruptFileError, match="cut.bin: N-MNIST data must be a multiple of 5 bytes"):
        read_nmnist(cut)


def test_events_to_frames_counts():
    ev = np.zeros(4, EVENT_DTYPE)
    ev["x"], ev["y"], ev["t"], ev["p"] = [0, 0, 1, 2], [0, 0, 1, 2], [0, 5, 10, 19], [1, 1, 0, 1]
    f = events_to_frames(ev, (3, 3), n_bins=2, t_start=0, t_end=20)
    assert f[0, 1, 0, 0] == 2 and f[1, 0, 1, 1] == 1 and f[1, 1, 2, 2] == 1 and f.sum() == 4
    m = events_to_frames(ev, (3, 3), bin_us=10, t_start=0, t_end=20, polarity="merge", binarize=True)
    assert m.shape == (2, 1, 3, 3) and m[0, 0, 0, 0] == 1
    assert center_crop(np.zeros((2, 34, 34)), 16).shape == (2, 16, 16)
    with pytest.raises(ValueError, match="n_bins"):
        events_to_frames(ev, (3, 3))
    with pytest.raises(ValueError, match="polarity"):
        events_to_frames(ev, (3, 3), n_bins=1, polarity="both")


def test_saccade_camera_log_threshold_and_format():
    cam = SaccadeCamera(threshold=0.3, amplitude=2.0, saccade_ms=20, dt_us=1000)
    # a blank image produces no events; a single edge moving produces events near the edge
    assert len(cam.simulate(np.zeros((28, 28)), rng=0)[0]) == 0
    img = np.zeros((28, 28))
    img[:, 14:] = 1.0
    ev = cam.simulate(img, rng=0)[0]
    assert len(ev) > 0 and np.all(np.diff(ev["t"]) >= 0)
    assert ev["t"].max() < cam.n_steps * cam.dt_us
    assert set(np.unique(ev["p"])) <= {0, 1} and len(np.unique(ev["p"])) == 2  # there and back: ON and OFF
    # total events at a pixel crossed once by the full edge ~ |log(1+eps) - log(eps)| / threshold
    n_expected = np.log((1 + cam.eps) / cam.eps) / cam.threshold
    per_pixel = np.bincount(ev["y"] * 34 + ev["x"], minlength=34 * 34).reshape(34, 34)
    assert per_pixel.max() <= 2 * np.ceil(n_expected) * 2  # ON then OFF along the closed path
    assert per_pixel[:, :10].sum() == 0  # far from the edge: silent
    # same seed, same events; frames have the right shape
    assert np.array_equal(cam.simulate(img, rng=3)[0], cam.simulate(img, rng=3)[0])
    fr = cam.frames(np.stack([img, img]), n_bins=5, rng=0)
    assert fr.shape == (2, 5, 2, 34, 34)
    with pytest.raises(ValueError, match="threshold"):
        SaccadeCamera(threshold=0.0)


def test_read_nmnist_refuses_a_zero_filled_file(tmp_path):
    """100 zero bytes decode as 20 identical events at x=0, y=0, t=0: an unfinished copy, not a recording."""
    from neurosim.io import CorruptFileError

    path = tmp_path / "00001.bin"
    path.write_bytes(bytes(100))
    with pytest.raises(CorruptFileError, match="zero bytes") as err:
        read_nmnist(path)
    assert str(err.value).startswith(f"{path}: ")
    assert decode_nmnist(bytes(10)).size == 2  # the decoder itself stays literal (two events)


def test_events_to_frames_validates_events():
    """Events outside the sensor, polarity not 0/1 and plain arrays are errors naming ``events``; the
    checks happen before any binning (independent count: np.histogram of the on/off times)."""
    ev = np.zeros(3, EVENT_DTYPE)
    ev["x"], ev["y"], ev["t"], ev["p"] = [0, 1, 2], [2, 1, 0], [0, 4, 9], [0, 1, 1]
    for field, value, word in (("x", 3, "outside sensor_size"), ("y", -1, "outside sensor_size"),
                               ("p", 3, "polarity p must be 0")):
        bad = ev.copy()
        bad[field][1] = value
        with pytest.raises(ValueError, match=word) as err:
            events_to_frames(bad, (3, 3), n_bins=2)
        assert "events" in str(err.value)
    with pytest.raises(TypeError, match="events must be a structured array"):
        events_to_frames(np.ones((10, 4)), (3, 3), n_bins=2)
    with pytest.raises(ValueError, match="1-D"):
        events_to_frames(ev.reshape(3, 1), (3, 3), n_bins=2)
    with pytest.raises(TypeError, match="sensor_size"):
        events_to_frames(ev, 3, n_bins=2)
    with pytest.raises(TypeError, match="t_start"):
        events_to_frames(ev, (3, 3), n_bins=2, t_start="0")
    f = events_to_frames(ev, (3, 3), n_bins=2, t_start=0, t_end=10)
    on, _ = np.histogram(ev["t"][ev["p"] == 1], bins=2, range=(0, 10))
    off, _ = np.histogram(ev["t"][ev["p"] == 0], bins=2, range=(0, 10))
    assert list(f[:, 1].sum((1, 2))) == list(on) and list(f[:, 0].sum((1, 2))) == list(off)
