"""MNIST and Fashion-MNIST: a reader for the IDX format, loaders and a downloader.

IDX format (LeCun et al.; big-endian)::

    bytes 0-1   0x00 0x00
    byte  2     element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
    byte  3     number of dimensions d
    4*d bytes   the sizes, uint32 big-endian each
    rest        the elements, row-major, big-endian

MNIST images are ``0x00000803`` (uint8, 3 dims: N x 28 x 28), labels ``0x00000801``
(uint8, N). Files may be gzip-compressed (``.gz``, recognised by content) or raw.

Data lives in ``<root>/<name>/`` with the official file names (``train-images-idx3-ubyte.gz``,
``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``;
the ``.gz`` suffix is optional). ``root`` is an argument or the ``NEUROSIM_DATA`` environment
variable. :func:`download_mnist` fetches the files for users.

numpy only (no torch at import time).
"""
from __future__ import annotations

import gzip
import math
import shutil
import urllib.request
import zlib
from pathlib import Path

import numpy as np

from neurosim import config
from neurosim._atomic import atomic_open
from neurosim._validation import check_choice, check_int
from neurosim.io.files import CorruptFileError, brief

__all__ = [
    "DATASETS", "SPLITS", "FILES", "URLS", "read_idx", "load_mnist", "download_mnist",
    "resolve_data_root", "load_dataset", "DATASET_CLASSES",
]

#: names accepted by :func:`load_mnist`
DATASETS = ("mnist", "fashion_mnist")
SPLITS = ("train", "test")
#: (images, labels) file names per split, without ``.gz``
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
#: default download locations (files are ``<url><file>.gz``)
URLS = {
    # yann.lecun.com often refuses downloads; the PyTorch mirror serves the same files.
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "fashion_mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
}
#: class names (Fashion-MNIST from Xiao et al. 2017)
DATASET_CLASSES = {
    "mnist": tuple(str(i) for i in range(10)),
    "fashion_mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                      "Sneaker", "Bag", "Ankle boot"),
}

_IDX_DTYPES = {
    0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    with open(path, "rb") as fh:
        head = fh.read(2)
    opener = gzip.open if head == _GZIP_MAGIC else open
    try:
        with opener(path, "rb") as fh:
            return fh.read()
    except (OSError, EOFError, zlib.error) as exc:  # truncated / corrupt gzip
        raise CorruptFileError(path, f"cannot be decompressed ({brief(exc)}); the file is corrupt, "
                                     "download it again") from None


def read_idx(path) -> np.ndarray:
    """Read one IDX file (gzip or raw) into a numpy array in native byte order.

    Raises
    ------
    FileNotFoundError
        if ``path`` does not exist.
    CorruptFileError
        (a ``ValueError``) if the file is empty, truncated, not gzip/IDX, or the magic number,
        the element type or the size does not match the format; the message names the file.
    """
    path = Path(path)
    if path.is_dir():
        raise CorruptFileError(path, "is a folder, not an IDX file")
    if not path.is_file():
        raise FileNotFoundError(f"IDX file {path} not found")
    raw = _read_bytes(path)
    if not raw:
        raise CorruptFileError(path, "is empty (0 bytes), not an IDX file; download it again")
    if len(raw) < 4:
        raise CorruptFileError(path, f"{len(raw)} bytes is too short for an IDX header (needs >= 4)")
    if raw[0] != 0 or raw[1] != 0:
        raise CorruptFileError(path, f"bad IDX magic number 0x{raw[:4].hex()} (first two bytes must be 0); "
                                     "not an IDX file")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise CorruptFileError(path, f"unknown IDX element type 0x{code:02x}; expected one of "
                               + ", ".join(f"0x{c:02x}" for c in _IDX_DTYPES))
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise CorruptFileError(path, f"truncated IDX header ({len(raw)} bytes, needs {header} for {ndim} dims)")
    shape = tuple(int(v) for v in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    expected = header + math.prod(shape) * dtype.itemsize  # Python ints: no overflow for huge headers
    if len(raw) != expected:
        raise CorruptFileError(path, f"size mismatch: header says shape {shape} of {dtype} ({expected} bytes) "
                                     f"but the file holds {len(raw)} bytes; the file is truncated or corrupt")
    arr = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def resolve_data_root(root=None) -> Path:
    """The data root: ``root`` if given, else ``$NEUROSIM_DATA``; FileNotFoundError if neither."""
    if root is None:
        env = config.data_root()
        if not env:
            raise FileNotFoundError(
                "no data folder given: pass root=/path/to/data (CLI: --data DIR) or set the NEUROSIM_DATA "
                "environment variable to a folder containing mnist/ and fashion_mnist/ "
                "(neurosim.data.mnist.download_mnist(name, root) fetches them)")
        root = env
    return Path(root).expanduser()


def _find(folder: Path, stem: str) -> Path | None:
    for cand in (folder / f"{stem}.gz", folder / stem):
        if cand.is_file():
            return cand
    return None


def load_mnist(name: str = "mnist", split: str = "train", root=None) -> tuple[np.ndarray, np.ndarray]:
    """Load MNIST or Fashion-MNIST from ``<root>/<name>/``.

    Parameters
    ----------
    name : {"mnist", "fashion_mnist"}
    split : {"train", "test"}
    root : path, optional
        Folder holding ``mnist/`` and ``fashion_mnist/``; default ``$NEUROSIM_DATA``.

    Returns
    -------
    images : uint8 array [N, 28, 28]
    labels : int64 array [N], values 0..9
    """
    check_choice("name", name, DATASETS)
    check_choice("split", split, SPLITS)
    base = resolve_data_root(root)
    folder = base / name
    how = (f"set NEUROSIM_DATA or pass root (CLI: --data) to the folder that contains {name}/, "
           f"or fetch the files with neurosim.data.mnist.download_mnist({name!r}, root)")
    if not folder.is_dir():
        raise FileNotFoundError(f"data folder {folder} not found (looked in root {base}); {how}")
    img_stem, lab_stem = FILES[split]
    img_path, lab_path = _find(folder, img_stem), _find(folder, lab_stem)
    for stem, p in ((img_stem, img_path), (lab_stem, lab_path)):
        if p is None:
            raise FileNotFoundError(f"{folder / stem}[.gz] not found; {how}")
    images = read_idx(img_path)
    labels = read_idx(lab_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise CorruptFileError(img_path, f"expected uint8 images [N, 28, 28] (magic 0x00000803), "
                                         f"got {images.dtype} {images.shape}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise CorruptFileError(lab_path, f"expected uint8 labels [N] (magic 0x00000801), "
                                         f"got {labels.dtype} {labels.shape}")
    if len(labels) != len(images):
        raise CorruptFileError(lab_path, f"holds {len(labels)} labels but {img_path.name} holds {len(images)} "
                                         f"images ({len(images)} images but {len(labels)} labels); "
                                         "a file is corrupt, download both again")
    if labels.size and labels.max() > 9:
        raise CorruptFileError(lab_path, f"label {int(labels.max())} out of range 0..9")
    return images, labels.astype(np.int64)


def download_mnist(name: str = "mnist", root=None, base_url: str | None = None, *, force: bool = False,
                   timeout: float = 60.0) -> Path:
    """Download the four IDX files of ``name`` into ``<root>/<name>/`` (gzip, official names).

    Each file is written to a temporary file in the target folder and moved into place with
    ``os.replace`` only after it parsed as a valid IDX file, so an interrupted download never
    leaves a partial file. Existing valid files are kept unless ``force``.

    Parameters
    ----------
    name : {"mnist", "fashion_mnist"}
    root : path, optional
        Data root (default ``$NEUROSIM_DATA``).
    base_url : str, optional
        Folder URL ending in ``/`` (``https://``, ``http://`` or ``file://``); default :data:`URLS`.

    Returns
    -------
    Path of the folder holding the files.
    """
    check_choice("name", name, DATASETS)
    folder = resolve_data_root(root) / name
    folder.mkdir(parents=True, exist_ok=True)
    url = base_url if base_url is not None else URLS[name]
    if not url.endswith("/"):
        url += "/"
    for split in SPLITS:
        for stem in FILES[split]:
            target = folder / f"{stem}.gz"
            if target.exists() and not force:
                try:
                    read_idx(target)  # validate what is there
                except CorruptFileError as exc:
                    raise CorruptFileError(target, f"{exc.problem}; download_mnist(..., force=True) replaces "
                                                   "it") from None
                continue
            with atomic_open(target, "wb", validate=read_idx) as out, \
                    urllib.request.urlopen(url + f"{stem}.gz", timeout=timeout) as resp:
                shutil.copyfileobj(resp, out)
    return folder


def load_dataset(name: str, split: str = "train", root=None, *, limit: int | None = None,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``load_mnist`` plus the file-free ``"embedded"`` dataset; optionally the first ``limit`` samples.

    ``"embedded"`` (see :mod:`neurosim.data.embedded`) needs no files: 6000 training and 1000 test
    images generated deterministically from ``seed``.
    """
    check_choice("name", name, DATASETS + ("embedded",))
    check_choice("split", split, SPLITS)
    if limit is not None:
        check_int("limit", limit, min_value=1)
    seed = check_int("seed", seed, min_value=0)
    if name == "embedded":
        from neurosim.data.embedded import load_embedded

        return load_embedded(split, n=limit, seed=seed)
    x, y = load_mnist(name, split, root)
    if limit is not None:
        x, y = x[:limit], y[:limit]
    return x, y
