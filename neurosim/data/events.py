"""Event-camera data: the N-MNIST ``.bin`` reader, event-to-frame binning and a simulated
event camera that records static images moved in saccades (the way N-MNIST was made).

N-MNIST binary format (Orchard et al. 2015; 5 bytes per event, as read by ``tonic``)::

    byte 0: x (0-33)   byte 1: y (0-33)   byte 2: polarity << 7 | timestamp bits 22-16
    byte 3: timestamp bits 15-8            byte 4: timestamp bits 7-0     (microseconds)

An event with ``y == 240`` is a timestamp-overflow marker: every later timestamp is increased by
8192 us (2**13, the value ``tonic`` uses); markers are not events. Polarity 1 = ON (brighter).

Events are numpy structured arrays with fields ``x`` (int16), ``y`` (int16), ``t`` (int64, us)
and ``p`` (int8, 0/1): :data:`EVENT_DTYPE`.

Simulated camera (DVS principle, Lichtsteiner et al. 2008): every pixel keeps a reference
log intensity ``L_ref``; at each time step the image (shifted with bilinear interpolation along
the saccade path) gives ``L = log(I + eps)``; while ``|L - L_ref| >= threshold`` the pixel emits
an event of polarity ``sign(L - L_ref)`` and moves ``L_ref`` one threshold toward ``L``.
N-MNIST moved the sensor in three saccades along an isosceles triangle, ~100 ms each (34x34
sensor, 28x28 digits); the defaults follow that.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neurosim._rng import as_generator
from neurosim._validation import (check_choice, check_int, check_memory, check_nonnegative, check_number,
                                  check_positive)
from neurosim.io.files import CorruptFileError

__all__ = [
    "EVENT_DTYPE", "NMNIST_SENSOR", "decode_nmnist", "read_nmnist", "encode_nmnist", "events_to_frames",
    "center_crop", "SaccadeCamera",
]

EVENT_DTYPE = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", np.int8)])
NMNIST_SENSOR = (34, 34)  # (height, width)
_OVERFLOW_Y = 240
_OVERFLOW_US = 8192


def _sensor(sensor_size) -> tuple[int, int]:
    """(height, width) of a sensor, each an int >= 1."""
    try:
        h, w = sensor_size
    except (TypeError, ValueError):
        raise TypeError(f"sensor_size must be (height, width), got {sensor_size!r}") from None
    return check_int("sensor_size", h, min_value=1), check_int("sensor_size", w, min_value=1)


def _nmnist_sensor(sensor_size) -> tuple[int, int]:
    """(height, width) checked against what N-MNIST bytes can hold."""
    h, w = _sensor(sensor_size)
    if h > _OVERFLOW_Y or w > 256:
        raise ValueError(f"sensor_size (h, w)={(h, w)} cannot be encoded in N-MNIST bytes: "
                         f"h must be <= {_OVERFLOW_Y} (y == {_OVERFLOW_Y} marks an overflow) and w <= 256")
    return h, w


def decode_nmnist(raw: bytes | np.ndarray, sensor_size=NMNIST_SENSOR) -> np.ndarray:
    """Decode N-MNIST bytes into an event array (see module docstring), validating the format.

    Parameters
    ----------
    raw : the bytes of a recording (``bytes`` or a uint8 array).
    sensor_size : (height, width) of the sensor; every event must satisfy ``x < width`` and
        ``y < height`` (34 x 34 for N-MNIST; at most 240 x 256, since ``y == 240`` is the
        overflow marker and coordinates are one byte).

    Raises
    ------
    ValueError
        the length is not a multiple of 5 bytes, an event lies outside the sensor, or the
        timestamps (after overflow markers) decrease; the message gives the first bad event.
        Polarity is one bit, so every value is valid.
    """
    h, w = _nmnist_sensor(sensor_size)
    r = np.frombuffer(raw, dtype=np.uint8) if isinstance(raw, (bytes, bytearray)) else np.asarray(raw, np.uint8)
    if r.size % 5:
        raise ValueError(f"N-MNIST data must be a multiple of 5 bytes, got {r.size} ({r.size // 5} events and "
                         f"{r.size % 5} bytes left over); the file is truncated or not N-MNIST")
    r = r.reshape(-1, 5).astype(np.int64)
    ts = ((r[:, 2] & 0x7F) << 16) | (r[:, 3] << 8) | r[:, 4]
    overflow = r[:, 1] == _OVERFLOW_Y
    ts = ts + _OVERFLOW_US * np.cumsum(overflow)
    keep = ~overflow
    bad = np.flatnonzero(keep & ((r[:, 0] >= w) | (r[:, 1] >= h)))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{bad.size} of {int(keep.sum())} events lie outside the {h}x{w} sensor (first: event {i}, "
                         f"bytes {5 * i}-{5 * i + 4}, x={r[i, 0]}, y={r[i, 1]}; x must be < {w}, y < {h}); "
                         "not an N-MNIST recording of this sensor_size")
    t_ev = ts[keep]
    back = np.flatnonzero(np.diff(t_ev) < 0)
    if back.size:
        j = int(np.flatnonzero(keep)[back[0] + 1])
        raise ValueError(f"timestamps decrease at event {j} (bytes {5 * j}-{5 * j + 4}: {t_ev[back[0]]} us -> "
                         f"{t_ev[back[0] + 1]} us; {back.size} decreases in all); N-MNIST timestamps never decrease, "
                         "so the data is corrupt or not N-MNIST")
    ev = np.empty(t_ev.size, dtype=EVENT_DTYPE)
    ev["x"] = r[keep, 0]
    ev["y"] = r[keep, 1]
    ev["t"] = t_ev
    ev["p"] = r[keep, 2] >> 7
    return ev


def read_nmnist(path, sensor_size=NMNIST_SENSOR) -> np.ndarray:
    """Read one N-MNIST ``.bin`` recording into an event array.

    The bytes are validated as in :func:`decode_nmnist` (multiple of 5 bytes, events inside the
    ``sensor_size`` = (height, width) sensor, non-decreasing timestamps); a recording must
    also hold at least one event, and a file of zero bytes only (an unfinished download or
    copy) is refused.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    CorruptFileError
        (a ``ValueError``) the file is empty, truncated or not N-MNIST; the message names it.
    """
    sensor_size = _nmnist_sensor(sensor_size)
    path = Path(path)
    if path.is_dir():
        raise CorruptFileError(path, "is a folder, not an N-MNIST .bin recording")
    if not path.is_file():
        raise FileNotFoundError(f"N-MNIST file {path} not found")
    raw = path.read_bytes()
    if not raw:
        raise CorruptFileError(path, "is empty (0 bytes); an N-MNIST recording holds at least one event")
    if not any(raw):
        raise CorruptFileError(path, f"holds only zero bytes ({len(raw)}); a zero-filled file is an unfinished "
                               "download or copy, not a recording (it would decode as identical events at "
                               "x=0, y=0, t=0); fetch the file again")
    try:
        ev = decode_nmnist(raw, sensor_size)
    except ValueError as exc:
        raise CorruptFileError(path, str(exc)) from None
    if ev.size == 0:
        raise CorruptFileError(path, f"holds only {len(raw) // 5} timestamp-overflow markers and no events")
    return ev


def encode_nmnist(events) -> bytes:
    """Inverse of :func:`decode_nmnist` for timestamps < 2**23 us (no overflow markers)."""
    ev = np.asarray(events)
    t = ev["t"].astype(np.int64)
    if ev.size and (t.min() < 0 or t.max() >= 2 ** 23):
        raise ValueError("timestamps must lie in [0, 2**23) us to be encoded without overflow markers")
    out = np.empty((ev.size, 5), np.uint8)
    out[:, 0] = ev["x"]
    out[:, 1] = ev["y"]
    out[:, 2] = ((ev["p"].astype(np.int64) & 1) << 7) | ((t >> 16) & 0x7F)
    out[:, 3] = (t >> 8) & 0xFF
    out[:, 4] = t & 0xFF
    return out.tobytes()


def _as_events(events, sensor_size) -> np.ndarray:
    """``events`` as a 1-D structured array with fields x, y, t, p inside the (h, w) sensor, p in {0, 1}."""
    ev = np.asarray(events)
    names = ev.dtype.names or ()
    missing = [f for f in ("x", "y", "t", "p") if f not in names]
    if missing:
        raise TypeError(f"events must be a structured array with fields x, y, t, p (EVENT_DTYPE), got dtype "
                        f"{ev.dtype} (missing {', '.join(missing)}); read them with read_nmnist or build "
                        "np.zeros(n, dtype=EVENT_DTYPE)")
    if ev.ndim != 1:
        raise ValueError(f"events must be a 1-D array of events, got shape {ev.shape}")
    for f in ("x", "y", "t", "p"):
        if ev.dtype[f].kind not in "iuf" or (ev.dtype[f].kind == "f" and ev.size and
                                              not np.all(np.isfinite(ev[f]))):
            raise ValueError(f"events field {f!r} must hold finite numbers, got dtype {ev.dtype[f]}")
    h, w = sensor_size
    if ev.size:
        out = (ev["x"] < 0) | (ev["x"] >= w) | (ev["y"] < 0) | (ev["y"] >= h)
        if np.any(out):
            i = int(np.flatnonzero(out)[0])
            raise ValueError(f"events: {int(out.sum())} event(s) fall outside sensor_size (h, w)={(h, w)} (first: "
                             f"event {i}, x={ev['x'][i]}, y={ev['y'][i]}; x must lie in [0, {w}), y in [0, {h}))")
        bad_p = (ev["p"] != 0) & (ev["p"] != 1)
        if np.any(bad_p):
            i = int(np.flatnonzero(bad_p)[0])
            raise ValueError(f"events: polarity p must be 0 (OFF) or 1 (ON), got p={ev['p'][i]} at event {i}")
    return ev


def events_to_frames(events, sensor_size=NMNIST_SENSOR, n_bins: int | None = None, bin_us: float | None = None,
                     t_start: float | None = None, t_end: float | None = None, polarity: str = "split",
                     binarize: bool = False) -> np.ndarray:
    """Count events in time bins: ``[T, P, H, W]`` float32.

    Give either ``n_bins`` (equal bins over ``[t_start, t_end]``, default first/last event)
    or ``bin_us``. ``polarity``: "split" (P = 2: OFF, ON), "merge" (P = 1, both), "on"/"off"
    (P = 1). ``binarize`` maps counts > 0 to 1.
    """
    h, w = _sensor(sensor_size)
    ev = _as_events(events, (h, w))
    check_choice("polarity", polarity, ("split", "merge", "on", "off"))
    if t_start is not None:
        t_start = check_number("t_start", t_start)
    if t_end is not None:
        t_end = check_number("t_end", t_end)
    if (n_bins is None) == (bin_us is None):
        raise ValueError("give exactly one of n_bins or bin_us")
    t0 = float(ev["t"].min()) if t_start is None and ev.size else float(t_start or 0.0)
    t1 = float(ev["t"].max()) + 1.0 if t_end is None and ev.size else float(t_end if t_end is not None else t0 + 1.0)
    if t1 <= t0:
        raise ValueError(f"t_end must be > t_start, got {t1} <= {t0}")
    if n_bins is not None:
        n_bins = check_int("n_bins", n_bins, min_value=1)
        width = (t1 - t0) / n_bins
    else:
        width = check_positive("bin_us", bin_us, unit="us")
        n_bins = int(np.ceil((t1 - t0) / width))
    n_pol = 2 if polarity == "split" else 1
    check_memory("n_bins" if bin_us is None else "bin_us", n_bins * n_pol * h * w, 4.0,
                 f"{n_bins} frames of {n_pol} x {h} x {w} float32")
    frames = np.zeros((n_bins, n_pol, h, w), np.float32)
    if ev.size == 0:
        return frames
    sel = (ev["t"] >= t0) & (ev["t"] < t1)
    if polarity == "on":
        sel &= ev["p"] == 1
    elif polarity == "off":
        sel &= ev["p"] == 0
    e = ev[sel]
    b = np.minimum(((e["t"] - t0) / width).astype(np.int64), n_bins - 1)
    c = e["p"].astype(np.int64) if polarity == "split" else np.zeros(e.size, np.int64)
    np.add.at(frames, (b, c, e["y"].astype(np.int64), e["x"].astype(np.int64)), 1.0)
    if binarize:
        frames = (frames > 0).astype(np.float32)
    return frames


def center_crop(frames, size: int) -> np.ndarray:
    """Central ``size x size`` crop of the last two axes."""
    size = check_int("size", size, min_value=1)
    a = np.asarray(frames)
    h, w = a.shape[-2:]
    if size > min(h, w):
        raise ValueError(f"size must be <= the frame size {min(h, w)}, got {size}")
    y0, x0 = (h - size) // 2, (w - size) // 2
    return a[..., y0:y0 + size, x0:x0 + size]


@dataclass(frozen=True)
class SaccadeCamera:
    """Simulated event camera viewing a static image moved in saccades.

    Parameters
    ----------
    sensor_size : (height, width) of the sensor (34, 34 for N-MNIST).
    threshold : log-intensity contrast threshold C (> 0).
    eps : offset in ``log(I + eps)`` (intensities in [0, 1]).
    n_saccades : number of straight saccades along the closed triangle path (1-3).
    saccade_ms : duration of one saccade (ms).
    amplitude : side of the triangle in pixels.
    dt_us : simulation step (us); event times are jittered uniformly within the step.
    noise_rate_hz : background (shot-noise) event rate per pixel (Hz).
    """

    sensor_size: tuple = NMNIST_SENSOR
    threshold: float = 0.35
    eps: float = 0.1
    n_saccades: int = 3
    saccade_ms: float = 100.0
    amplitude: float = 3.0
    dt_us: float = 1000.0
    noise_rate_hz: float = 0.0

    def __post_init__(self):
        for s in self.sensor_size:
            check_int("sensor_size", s, min_value=1)
        check_positive("threshold", self.threshold)
        check_positive("eps", self.eps)
        check_int("n_saccades", self.n_saccades, min_value=1, max_value=3)
        check_positive("saccade_ms", self.saccade_ms, unit="ms")
        check_nonnegative("amplitude", self.amplitude)
        check_positive("dt_us", self.dt_us, unit="us")
        check_nonnegative("noise_rate_hz", self.noise_rate_hz, unit="Hz")

    @property
    def n_steps(self) -> int:
        return int(round(self.n_saccades * self.saccade_ms * 1000.0 / self.dt_us))

    def path(self) -> np.ndarray:
        """Offsets (dy, dx) in pixels at every step [n_steps + 1, 2]: a closed isosceles triangle."""
        a = self.amplitude
        verts = np.array([[0.0, 0.0], [a, a / 2], [0.0, a], [0.0, 0.0]])
        per = self.n_steps / self.n_saccades
        s = np.arange(self.n_steps + 1) / per
        k = np.minimum(s.astype(int), self.n_saccades - 1)
        f = (s - k)[:, None]
        return verts[k] * (1 - f) + verts[k + 1] * f

    def _place(self, images) -> np.ndarray:
        h, w = self.sensor_size
        b, ih, iw = images.shape
        pad = int(np.ceil(self.amplitude)) + 2
        canvas = np.zeros((b, h + 2 * pad, w + 2 * pad))
        y0 = pad + (h - ih - int(np.ceil(self.amplitude))) // 2
        x0 = pad + (w - iw - int(np.ceil(self.amplitude))) // 2
        if y0 < 0 or x0 < 0:
            raise ValueError(f"images {ih}x{iw} do not fit the sensor {h}x{w} with amplitude {self.amplitude}")
        canvas[:, y0:y0 + ih, x0:x0 + iw] = images
        return canvas, pad

    def _render(self, canvas, pad, dy, dx):
        h, w = self.sensor_size
        iy, ix = int(np.floor(dy)), int(np.floor(dx))
        fy, fx = dy - iy, dx - ix
        # the sensor looks at canvas[pad - dy + ..]: moving the image by (dy, dx)
        def win(oy, ox):
            y, x = pad - iy - oy, pad - ix - ox
            return canvas[:, y:y + h, x:x + w]
        return ((1 - fy) * (1 - fx) * win(0, 0) + fy * (1 - fx) * win(1, 0)
                + (1 - fy) * fx * win(0, 1) + fy * fx * win(1, 1))

    def simulate(self, images, rng=None) -> list[np.ndarray]:
        """Events of each image ``images`` [B, h, w] (uint8 0-255 or float 0-1): list of arrays."""
        imgs = np.asarray(images)
        if imgs.ndim == 2:
            imgs = imgs[None]
        if imgs.ndim != 3:
            raise ValueError(f"images must have shape [B, h, w] or [h, w], got {imgs.shape}")
        imgs = imgs.astype(np.float64) / 255.0 if imgs.dtype == np.uint8 else imgs.astype(np.float64)
        rng = as_generator(rng)
        r_jit, r_noise = rng.spawn(2)
        canvas, pad = self._place(imgs)
        path = self.path()
        lref = np.log(self._render(canvas, pad, *path[0]) + self.eps)
        parts = []
        c = self.threshold
        p_noise = self.noise_rate_hz * self.dt_us * 1e-6
        for step in range(1, len(path)):
            lcur = np.log(self._render(canvas, pad, *path[step]) + self.eps)
            d = lcur - lref
            n_ev = np.floor(np.abs(d) / c).astype(np.int64)
            lref += np.sign(d) * n_ev * c
            if p_noise > 0:
                n_ev = n_ev + (r_noise.random(n_ev.shape) < p_noise)
            bi, yi, xi = np.nonzero(n_ev)
            if bi.size == 0:
                continue
            pol = (d[bi, yi, xi] > 0).astype(np.int8)
            reps = n_ev[bi, yi, xi]
            bi, yi, xi, pol = (np.repeat(a, reps) for a in (bi, yi, xi, pol))
            t = ((step - 1) * self.dt_us + r_jit.random(bi.size) * self.dt_us).astype(np.int64)
            parts.append((bi, yi, xi, t, pol))
        if parts:
            bi, yi, xi, t, pol = (np.concatenate(a) for a in zip(*parts))
        else:
            bi = yi = xi = t = pol = np.zeros(0, np.int64)
        order = np.lexsort((t, bi))  # by sample, then time (stable)
        ev = np.empty(bi.size, EVENT_DTYPE)
        ev["x"], ev["y"], ev["t"], ev["p"] = xi[order], yi[order], t[order], pol[order]
        bounds = np.searchsorted(bi[order], np.arange(len(imgs) + 1))
        return [ev[bounds[i]:bounds[i + 1]].copy() for i in range(len(imgs))]

    def frames(self, images, n_bins: int, rng=None, polarity: str = "split", binarize: bool = False) -> np.ndarray:
        """Simulate and bin: ``[B, n_bins, P, H, W]`` over the whole recording."""
        evs = self.simulate(images, rng)
        t_end = self.n_steps * self.dt_us
        return np.stack([events_to_frames(e, self.sensor_size, n_bins=n_bins, t_start=0.0, t_end=t_end,
                                          polarity=polarity, binarize=binarize) for e in evs])
