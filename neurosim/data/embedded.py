"""An embedded digit-like dataset that needs no files (for ``neurosim demo`` and tests).

Ten classes of 28x28 uint8 "handwritten" digits drawn procedurally. Each class is a set of
strokes (polylines, in a unit box with y pointing down). For every sample:

1. every control point is jittered by N(0, ``jitter``) (shape variation between "writers");
2. a random affine map is applied: rotation U(-15, 15) deg, scale U(0.75, 1.05) per axis,
   shear U(-0.25, 0.25), translation U(-2.5, 2.5) px, then the box is mapped to pixels 4..24;
3. the strokes are rendered anti-aliased: intensity = clip(w + 0.5 - d, 0, 1) where d is the
   distance (px) from the pixel centre to the nearest segment and w ~ U(0.7, 1.6) px the
   half-width; the peak brightness is U(0.75, 1);
4. Gaussian pixel noise (sd 0.06) and a few salt pixels are added, and the result is
   quantised to uint8.

Given a seed the images are bit-for-bit deterministic (numpy ``Generator`` only). The task is
learnable (a small ConvNet reaches well above 90 %) but not trivial: 4/9, 1/7, 3/8 and 5/6
overlap under the deformations.
"""
from __future__ import annotations

import numpy as np

from neurosim._rng import as_generator
from neurosim._validation import check_choice, check_int, check_memory, check_nonnegative

__all__ = ["make_digits", "load_embedded", "STROKES", "N_TRAIN", "N_TEST"]

N_TRAIN = 6000
N_TEST = 1000


def _arc(cx, cy, rx, ry, a0, a1, n=9):
    t = np.deg2rad(np.linspace(a0, a1, n))
    return [(cx + rx * np.cos(x), cy + ry * np.sin(x)) for x in t]


#: stroke polylines per class, coordinates in [0, 1]^2 with y down (angles: 0 = right, 90 = down)
STROKES: dict[int, list[list[tuple[float, float]]]] = {
    0: [_arc(0.5, 0.5, 0.32, 0.45, 0, 360, 17)],
    1: [[(0.35, 0.22), (0.55, 0.05), (0.55, 0.95)]],
    2: [_arc(0.5, 0.3, 0.3, 0.25, 180, 380, 9) + [(0.2, 0.95), (0.85, 0.95)]],
    3: [_arc(0.45, 0.28, 0.3, 0.23, 200, 450, 9), _arc(0.45, 0.72, 0.33, 0.23, 270, 520, 9)],
    4: [[(0.6, 0.05), (0.15, 0.65), (0.9, 0.65)], [(0.65, 0.35), (0.65, 0.95)]],
    5: [[(0.8, 0.05), (0.25, 0.05), (0.22, 0.45)] + _arc(0.48, 0.68, 0.32, 0.27, 235, 500, 9)[1:]],
    6: [[(0.7, 0.05), (0.35, 0.35)] + _arc(0.5, 0.7, 0.3, 0.25, 200, 560, 13)[:]],
    7: [[(0.15, 0.05), (0.85, 0.05), (0.4, 0.95)], [(0.35, 0.5), (0.75, 0.5)]],
    8: [_arc(0.5, 0.27, 0.25, 0.22, 0, 360, 13), _arc(0.5, 0.72, 0.31, 0.23, 0, 360, 13)],
    9: [_arc(0.5, 0.3, 0.28, 0.24, 0, 360, 13), [(0.78, 0.3), (0.7, 0.95)]],
}


def _padded() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Control points of all classes padded to one array.

    Returns points [10, P, 2], segment index pairs [10, S, 2] (short classes repeat their last
    segment, which does not change a minimum distance) and the number of points per class.
    """
    pts, segs = [], []
    for c in range(10):
        p, s = [], []
        for line in STROKES[c]:
            start = len(p)
            p.extend(line)
            s.extend((start + i, start + i + 1) for i in range(len(line) - 1))
        pts.append(p)
        segs.append(s)
    n_p = max(map(len, pts))
    n_s = max(map(len, segs))
    P = np.zeros((10, n_p, 2))
    S = np.zeros((10, n_s, 2), dtype=np.int64)
    for c in range(10):
        P[c, :len(pts[c])] = pts[c]
        S[c] = segs[c] + [segs[c][-1]] * (n_s - len(segs[c]))
    return P, S, np.array([len(p) for p in pts])


_PTS, _SEGS, _NPTS = _padded()


def _render(a: np.ndarray, b: np.ndarray, half_width: np.ndarray, size: int) -> np.ndarray:
    """Anti-aliased strokes: segment ends a, b [B, S, 2] (pixels), half-widths [B] -> [B, size, size]."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    px = xx.ravel()[None, :, None]  # [1, P, 1]
    py = yy.ravel()[None, :, None]
    ax, ay = a[..., 0][:, None, :], a[..., 1][:, None, :]  # [B, 1, S]
    dx, dy = (b[..., 0] - a[..., 0])[:, None, :], (b[..., 1] - a[..., 1])[:, None, :]
    denom = np.maximum(dx * dx + dy * dy, 1e-12)
    t = np.clip(((px - ax) * dx + (py - ay) * dy) / denom, 0.0, 1.0)  # [B, P, S]
    ex = px - (ax + t * dx)
    ey = py - (ay + t * dy)
    d = np.sqrt((ex * ex + ey * ey).min(-1))  # [B, P]
    img = np.clip(half_width[:, None] + 0.5 - d, 0.0, 1.0)
    return img.reshape(-1, size, size)


def make_digits(n: int, rng=0, *, size: int = 28, jitter: float = 0.04,
                noise: float = 0.06) -> tuple[np.ndarray, np.ndarray]:
    """Generate ``n`` digit-like images with balanced labels in a shuffled order.

    Parameters
    ----------
    n : int
        Number of samples.
    rng : int or numpy.random.Generator
        Seed; the same seed gives the same bits.
    size : int
        Image side in pixels (>= 12).
    jitter : float
        Standard deviation of the control-point jitter, in units of the glyph box.
    noise : float
        Standard deviation of the additive pixel noise (intensity in [0, 1]).

    Returns
    -------
    images : uint8 [n, size, size]
    labels : int64 [n]
    """
    n = check_int("n", n, min_value=0)
    size = check_int("size", size, min_value=12)
    jitter = check_nonnegative("jitter", jitter)
    noise = check_nonnegative("noise", noise)
    # per pixel: three float64 noise draws up front and the uint8 image (rendering goes in chunks)
    check_memory("n", n * size * size, 25.0, f"{n} digit images of {size} x {size} with their noise")
    g = as_generator(rng)
    labels = np.arange(n, dtype=np.int64) % 10
    g.shuffle(labels)
    # all per-sample random draws up front, in a fixed order
    pts = _PTS[labels] + g.normal(0.0, jitter, size=(n,) + _PTS.shape[1:])
    ang = np.deg2rad(g.uniform(-15, 15, size=n))
    sx, sy = g.uniform(0.75, 1.05, size=(2, n))
    sh = g.uniform(-0.25, 0.25, size=n)
    shift_px = g.uniform(-2.5, 2.5, size=(n, 2))
    half_width = g.uniform(0.7, 1.6, size=n)
    peak = g.uniform(0.75, 1.0, size=n)
    pix_noise = g.normal(0.0, noise, size=(n, size, size))
    salt_u = g.random((n, size, size))
    salt_v = g.uniform(0.3, 1.0, size=(n, size, size))

    margin = size / 7.0
    span = size - 2 * margin
    cos, sin = np.cos(ang), np.sin(ang)
    # m = R(ang) @ [[sx, sh], [0, sy]]
    m = np.empty((n, 2, 2))
    m[:, 0, 0] = cos * sx
    m[:, 0, 1] = cos * sh - sin * sy
    m[:, 1, 0] = sin * sx
    m[:, 1, 1] = sin * sh + cos * sy
    q = np.einsum("npk,njk->npj", pts - 0.5, m) + 0.5 + shift_px[:, None, :] / span
    q = margin + q * span
    segs = _SEGS[labels]  # [n, S, 2]
    a = np.take_along_axis(q, segs[..., 0:1].repeat(2, -1), axis=1)
    b = np.take_along_axis(q, segs[..., 1:2].repeat(2, -1), axis=1)
    images = np.empty((n, size, size), dtype=np.uint8)
    chunk = 256
    for s in range(0, n, chunk):
        sl = slice(s, s + chunk)
        img = _render(a[sl], b[sl], half_width[sl], size) * peak[sl, None, None]
        img = img + pix_noise[sl]
        salt = salt_u[sl] < 0.005
        img = np.where(salt, salt_v[sl], img)
        images[sl] = np.round(np.clip(img, 0.0, 1.0) * 255.0).astype(np.uint8)
    return images, labels


def load_embedded(split: str = "train", n: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The embedded dataset: ``train`` (default 6000 samples) or ``test`` (1000), disjoint streams.

    ``n`` overrides the number of samples. The data depend on ``(split, n, seed)``: pass the
    same three to get the same bits (a smaller ``n`` is not a prefix of a larger one).
    """
    check_choice("split", split, ("train", "test"))
    n = (N_TRAIN if split == "train" else N_TEST) if n is None else check_int("n", n, min_value=1)
    seed = check_int("seed", seed, min_value=0)
    ss = np.random.SeedSequence([seed, 0 if split == "train" else 1, 0x6E5])
    return make_digits(n, np.random.default_rng(ss))
