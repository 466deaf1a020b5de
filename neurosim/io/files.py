"""Reading files safely: one error class for unreadable files and a checked ``.npy`` loader.

Every reader in :mod:`neurosim.io` and :mod:`neurosim.data` reports a file that exists but
cannot be used (empty, truncated, garbage, another format, wrong shape or dtype, another
model's weights) as :class:`CorruptFileError`, a ``ValueError`` whose one-line message starts
with the path and says what is wrong (the command line prints it as ``error: ...``, exit 2).
A file that is absent raises ``FileNotFoundError`` naming it and the expected layout.

Nothing here unpickles: ``.npy`` files are read with ``allow_pickle=False`` and checkpoints
with ``torch.load(weights_only=True)``; the messages never suggest otherwise. numpy only.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["CorruptFileError", "existing_file", "brief", "load_npy", "NPY_MAGIC"]

#: first six bytes of every ``.npy`` file (numpy's format specification)
NPY_MAGIC = b"\x93NUMPY"
_KIND_NAMES = {"b": "bool", "i": "signed integer", "u": "unsigned integer", "f": "floating point"}


class CorruptFileError(ValueError):
    """A file that exists but cannot be read as what it should be.

    Parameters
    ----------
    path : path of the file (kept as ``.path``).
    problem : what is wrong with it and, where useful, how to fix it (kept as ``.problem``).

    The message is ``"<path>: <problem>"`` on one line.
    """

    def __init__(self, path, problem: str):
        self.path = Path(path)
        self.problem = " ".join(str(problem).split())
        super().__init__(f"{self.path}: {self.problem}")

    def __reduce__(self):  # picklable across processes (multiprocessing, pytest-xdist)
        return type(self), (self.path, self.problem)


def brief(exc: BaseException, limit: int = 160) -> str:
    """The first non-empty line of ``exc``'s message, shortened, for quoting inside another message."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


def existing_file(path, what: str = "file", layout: str = "") -> Path:
    """``path`` as a ``Path`` if it is a regular file.

    Raises ``FileNotFoundError`` (naming ``what``, the path and ``layout``, the expected folder
    layout) when it does not exist, and :class:`CorruptFileError` when it is a folder.
    """
    path = Path(path)
    if path.is_dir():
        raise CorruptFileError(path, f"is a folder, not a {what}" + (f"; {layout}" if layout else ""))
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} not found" + (f"; {layout}" if layout else ""))
    return path


def load_npy(path, *, what: str = "array", ndim: int | None = None, shape: tuple | None = None,
             kinds: str = "biuf", finite: bool = False, mmap_mode: str | None = None,
             layout: str = "") -> np.ndarray:
    """Load a ``.npy`` array without unpickling and check it, naming the file on any problem.

    Parameters
    ----------
    path : the ``.npy`` file.
    what : what the array holds, for messages (``"spike times"``).
    ndim : required number of dimensions (None: any).
    shape : required shape; ``None`` entries match any size (checked after ``ndim``).
    kinds : allowed dtype kinds (numpy ``dtype.kind`` letters; default numbers and bools).
    finite : require every element to be finite (floating arrays).
    mmap_mode : passed to ``np.load`` (``"r"`` reads only the header and maps the data).
    layout : the expected folder layout, quoted when the file is missing.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    CorruptFileError
        empty, truncated, not ``.npy``, pickled objects, or wrong ndim/shape/dtype/values.
    """
    path = existing_file(path, f"{what} file", layout)
    with open(path, "rb") as fh:
        head = fh.read(len(NPY_MAGIC))
    if not head:
        raise CorruptFileError(path, f"is empty (0 bytes); expected a .npy file holding the {what}")
    if head != NPY_MAGIC:
        raise CorruptFileError(path, f"is not a .npy file (it starts with {head!r}, not {NPY_MAGIC!r}); "
                                     f"expected the {what} saved with numpy.save")
    try:
        arr = np.load(path, allow_pickle=False, mmap_mode=mmap_mode)
    except ValueError as exc:
        text = str(exc)
        if "bject" in text or "pickle" in text:  # "Object arrays cannot be loaded ..." / "Python objects"
            raise CorruptFileError(path, f"holds pickled Python objects (dtype=object), which neurosim does not "
                                         f"load; expected a numeric array of {what}") from None
        raise CorruptFileError(path, f"is truncated or corrupt ({brief(exc)})") from None
    except Exception as exc:  # noqa: BLE001 - EOFError, OSError, tokenize errors in a damaged header ...
        raise CorruptFileError(path, f"is truncated or corrupt ({type(exc).__name__}: {brief(exc)})") from None
    if arr.dtype.kind not in kinds or arr.dtype.names is not None:
        want = ", ".join(_KIND_NAMES.get(k, k) for k in kinds)
        raise CorruptFileError(path, f"holds {what} of dtype {arr.dtype}; expected {want}")
    if ndim is not None and arr.ndim != ndim:
        raise CorruptFileError(path, f"holds {what} of shape {arr.shape} ({arr.ndim}-D); expected {ndim}-D"
                               + (f" {_shape_text(shape)}" if shape is not None else ""))
    if shape is not None and any(s is not None and s != a for s, a in zip(shape, arr.shape)):
        raise CorruptFileError(path, f"holds {what} of shape {arr.shape}; expected {_shape_text(shape)}")
    if finite and arr.dtype.kind == "f":
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        if bad:
            raise CorruptFileError(path, f"holds {bad} non-finite value(s) (NaN or inf) in the {what}")
    return arr


def _shape_text(shape) -> str:
    inner = ", ".join("N" if s is None else str(s) for s in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"
