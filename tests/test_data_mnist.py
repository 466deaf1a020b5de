"""IDX reader, MNIST/Fashion-MNIST loaders, the downloader (file:// URL) and the embedded dataset."""
from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from conftest import require_data
from neurosim.data.embedded import load_embedded, make_digits
from neurosim.data.mnist import download_mnist, load_dataset, load_mnist, read_idx

_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B,
          np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}


def idx_bytes(arr: np.ndarray) -> bytes:
    """Independent IDX writer (struct, big-endian) used as the reference."""
    code = _CODES[arr.dtype]
    head = bytes([0, 0, code, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape)
    return head + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def write_idx(path, arr, gz=True):
    data = idx_bytes(arr)
    if gz:
        with gzip.open(path, "wb") as fh:
            fh.write(data)
    else:
        path.write_bytes(data)


def make_fake(root, name="mnist", n_train=7, n_test=3, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, n, (fi, fl) in (("train", n_train, ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")),
                               ("test", n_test, ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"))):
        x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, size=n).astype(np.uint8)
        suffix = ".gz" if gz else ""
        write_idx(folder / (fi + suffix), x, gz)
        write_idx(folder / (fl + suffix), y, gz)
        out[split] = (x, y)
    return out


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_roundtrip(tmp_path, dtype, gz):
    arr = (np.arange(2 * 3 * 5) - 7).astype(dtype).reshape(2, 3, 5)
    if dtype == np.uint8:
        arr = np.arange(30, dtype=np.uint8).reshape(2, 3, 5)
    write_idx(tmp_path / "a", arr, gz)
    got = read_idx(tmp_path / "a")
    assert got.dtype == np.dtype(dtype) and got.shape == arr.shape
    np.testing.assert_array_equal(got, arr)


def test_read_idx_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        read_idx(tmp_path / "nope")
    (tmp_path / "magic").write_bytes(b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(ValueError, match="magic"):
        read_idx(tmp_path / "magic")
    (tmp_path / "type").write_bytes(b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(ValueError, match="element type"):
        read_idx(tmp_path / "type")
    (tmp_path / "short").write_bytes(b"\x00\x00\x08\x01" + struct.pack(">I", 5) + b"\x00\x01")
    with pytest.raises(ValueError, match="size mismatch"):
        read_idx(tmp_path / "short")
    (tmp_path / "hdr").write_bytes(b"\x00\x00\x08\x03\x00")
    with pytest.raises(ValueError, match="truncated IDX header"):
        read_idx(tmp_path / "hdr")
    (tmp_path / "badgz").write_bytes(gzip.compress(b"\x00" * 100)[:15])
    with pytest.raises(ValueError, match="corrupt"):
        read_idx(tmp_path / "badgz")


def test_corrupt_idx_files_are_named(tmp_path):
    """Every unreadable IDX file gives a CorruptFileError (a ValueError) whose message names it."""
    from neurosim.io import CorruptFileError

    labels = np.arange(200, dtype=np.uint8) % 10
    gz = gzip.compress(idx_bytes(labels))
    flipped = bytearray(gz)
    for k in range(12, 40):  # damage the deflate stream itself: zlib.error, not an OSError
        flipped[k] ^= 0xFF
    images = idx_bytes(np.zeros((2, 28, 28), np.uint8))
    cases = {
        "empty": b"",
        "garbage.gz": bytes(np.random.default_rng(1).integers(0, 256, 300, dtype=np.uint8)),
        "text": b"0,1,2,3\n",
        "flipped.gz": bytes(flipped),
        "truncated.gz": gz[:len(gz) // 2],
        "truncated_raw": images[:-7],
        "huge_header": b"\x00\x00\x08\x04" + struct.pack(">4I", *[2**32 - 1] * 4) + b"\x00" * 16,
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(CorruptFileError) as err:
            read_idx(path)
        assert str(path) in str(err.value) and "\n" not in str(err.value), (name, str(err.value))
    (tmp_path / "folder").mkdir()
    with pytest.raises(CorruptFileError, match="folder"):
        read_idx(tmp_path / "folder")


def test_load_mnist_names_the_bad_file(tmp_path):
    from neurosim.io import CorruptFileError

    folder = tmp_path / "mnist"
    folder.mkdir()
    write_idx(folder / "train-images-idx3-ubyte.gz", np.zeros((3, 28, 28), np.uint8))
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros(2, np.uint8))
    with pytest.raises(CorruptFileError) as err:
        load_mnist("mnist", "train", root=tmp_path)
    msg = str(err.value)
    assert str(folder / "train-labels-idx1-ubyte.gz") in msg and "train-images-idx3-ubyte.gz" in msg
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros((3, 1), np.uint8))  # wrong dims
    with pytest.raises(CorruptFileError, match="train-labels-idx1-ubyte.gz: expected uint8 labels"):
        load_mnist("mnist", "train", root=tmp_path)


def test_truncated_real_mnist_file_is_named(tmp_path):
    from neurosim.io import CorruptFileError

    src = require_data("mnist", "t10k-labels-idx1-ubyte.gz")
    folder = tmp_path / "mnist"
    folder.mkdir()
    raw = src.read_bytes()
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(raw[:len(raw) // 2])
    (folder / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((10000, 28, 28), np.uint8)))
    with pytest.raises(CorruptFileError, match="t10k-labels-idx1-ubyte.gz: cannot be decompressed"):
        load_mnist("mnist", "test", root=tmp_path)


@pytest.mark.parametrize("gz", [True, False])
def test_load_mnist_from_root_and_env(tmp_path, monkeypatch, gz):
    ref = make_fake(tmp_path, "fashion_mnist", gz=gz)
    x, y = load_mnist("fashion_mnist", "train", root=tmp_path)
    assert x.dtype == np.uint8 and x.shape == (7, 28, 28) and y.dtype == np.int64
    np.testing.assert_array_equal(x, ref["train"][0])
    np.testing.assert_array_equal(y, ref["train"][1])
    monkeypatch.setenv("NEUROSIM_DATA", str(tmp_path))
    xt, yt = load_mnist("fashion_mnist", "test")
    np.testing.assert_array_equal(xt, ref["test"][0])
    np.testing.assert_array_equal(yt, ref["test"][1])
    xl, yl = load_dataset("fashion_mnist", "train", limit=4)
    np.testing.assert_array_equal(xl, ref["train"][0][:4])


def test_load_mnist_errors(tmp_path, monkeypatch):
    monkeypatch.delenv("NEUROSIM_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="NEUROSIM_DATA"):
        load_mnist("mnist", "train")
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "mnist")) as err:
        load_mnist("mnist", "train", root=tmp_path)
    assert "NEUROSIM_DATA" in str(err.value) and "download_mnist" in str(err.value)
    with pytest.raises(ValueError, match="name"):
        load_mnist("cifar", "train", root=tmp_path)
    with pytest.raises(ValueError, match="split"):
        load_mnist("mnist", "val", root=tmp_path)
    (tmp_path / "mnist").mkdir()
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        load_mnist("mnist", "train", root=tmp_path)
    # count mismatch between images and labels
    write_idx(tmp_path / "mnist" / "train-images-idx3-ubyte.gz", np.zeros((3, 28, 28), np.uint8))
    write_idx(tmp_path / "mnist" / "train-labels-idx1-ubyte.gz", np.zeros(2, np.uint8))
    with pytest.raises(ValueError, match="3 images but 2 labels"):
        load_mnist("mnist", "train", root=tmp_path)
    write_idx(tmp_path / "mnist" / "train-images-idx3-ubyte.gz", np.zeros((2, 27, 28), np.uint8))
    with pytest.raises(ValueError, match=r"\[N, 28, 28\]"):
        load_mnist("mnist", "train", root=tmp_path)
    with pytest.raises(ValueError, match="limit"):
        load_dataset("mnist", "train", root=tmp_path, limit=0)


def test_download_from_file_url(tmp_path):
    src = tmp_path / "mirror"
    ref = make_fake(src, "mnist")
    dest = tmp_path / "data"
    folder = download_mnist("mnist", dest, base_url=(src / "mnist").as_uri() + "/")
    assert folder == dest / "mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"])
    x, y = load_mnist("mnist", "test", root=dest)
    np.testing.assert_array_equal(x, ref["test"][0])
    np.testing.assert_array_equal(y, ref["test"][1])
    # a second call keeps the files (no error, nothing re-fetched even if the source vanished)
    download_mnist("mnist", dest, base_url=(tmp_path / "gone").as_uri() + "/")


def test_download_names_a_corrupt_existing_file(tmp_path):
    from neurosim.io import CorruptFileError

    src = tmp_path / "mirror"
    ref = make_fake(src, "mnist")
    dest = tmp_path / "data"
    url = (src / "mnist").as_uri() + "/"
    download_mnist("mnist", dest, base_url=url)
    bad = dest / "mnist" / "t10k-labels-idx1-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:-6])
    with pytest.raises(CorruptFileError, match=r"t10k-labels-idx1-ubyte.gz: .*force=True"):
        download_mnist("mnist", dest, base_url=url)
    download_mnist("mnist", dest, base_url=url, force=True)
    np.testing.assert_array_equal(load_mnist("mnist", "test", root=dest)[1], ref["test"][1])


def test_download_corrupt_source_leaves_nothing(tmp_path):
    src = tmp_path / "mirror" / "mnist"
    make_fake(tmp_path / "mirror", "mnist")
    (src / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x03garbage"))
    dest = tmp_path / "data"
    with pytest.raises(ValueError):
        download_mnist("mnist", dest, base_url=src.as_uri() + "/")
    names = sorted(p.name for p in (dest / "mnist").iterdir())
    assert "t10k-images-idx3-ubyte.gz" not in names
    assert not any(n.endswith(".part") for n in names)


def test_real_mnist_and_fashion():
    root = require_data("mnist").parent
    require_data("fashion_mnist")
    x, y = load_mnist("mnist", "test", root)
    assert x.shape == (10000, 28, 28)
    # the first MNIST test labels (LeCun et al. file order)
    assert y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    _, ytr = load_mnist("mnist", "train", root)
    # published MNIST training class counts
    assert np.bincount(ytr).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    xf, yf = load_mnist("fashion_mnist", "train", root)
    assert xf.shape == (60000, 28, 28) and np.bincount(yf).tolist() == [6000] * 10
    assert yf[0] == 9  # first Fashion-MNIST training image is an ankle boot


def test_embedded_deterministic_and_balanced():
    x1, y1 = make_digits(50, 3)
    x2, y2 = make_digits(50, np.random.default_rng(3))
    assert x1.dtype == np.uint8 and x1.shape == (50, 28, 28) and y1.dtype == np.int64
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    x3, _ = make_digits(50, 4)
    assert not np.array_equal(x1, x3)
    assert np.bincount(y1, minlength=10).tolist() == [5] * 10
    xtr, _ = load_embedded("train", n=20)
    xte, _ = load_embedded("test", n=20)
    assert not np.array_equal(xtr, xte)
    with pytest.raises(ValueError, match="n"):
        make_digits(-1)
    with pytest.raises(ValueError, match="split"):
        load_embedded("val")


def test_embedded_learnable_not_trivial():
    x, y = load_embedded("train", n=1000)
    xt, yt = load_embedded("test", n=300)
    X, Xt = x.reshape(len(x), -1) / 255.0, xt.reshape(len(xt), -1) / 255.0
    cent = np.stack([X[y == c].mean(0) for c in range(10)])
    acc = (((Xt[:, None] - cent[None]) ** 2).sum(-1).argmin(1) == yt).mean()
    # a nearest-centroid classifier is far above chance (0.1) but far from perfect
    assert 0.5 < acc < 0.95, acc


@pytest.mark.parametrize("kw, exc, name", [
    (dict(jitter=None), TypeError, "jitter"), (dict(jitter=True), TypeError, "jitter"),
    (dict(jitter=float("inf")), ValueError, "jitter"), (dict(jitter=-0.1), ValueError, "jitter"),
    (dict(noise={"a": 1}), TypeError, "noise"), (dict(noise=True), TypeError, "noise"),
    (dict(noise=float("nan")), ValueError, "noise")])
def test_make_digits_validates_jitter_and_noise(kw, exc, name):
    with pytest.raises(exc, match=name):
        make_digits(3, 0, **kw)


@pytest.mark.parametrize("seed, exc", [(-7, ValueError), (object(), TypeError), (1.5, TypeError), ("0", TypeError)])
def test_load_dataset_validates_seed(seed, exc):
    """A negative seed failed inside numpy's SeedSequence, an object() inside int(): both unnamed."""
    with pytest.raises(exc, match="seed"):
        load_dataset("embedded", "test", limit=3, seed=seed)
    with pytest.raises(exc, match="seed"):
        load_embedded("test", n=3, seed=seed)
    x, y = load_dataset("embedded", "test", limit=3, seed=7)  # valid seeds unchanged
    assert np.array_equal(x, load_embedded("test", n=3, seed=7)[0])
