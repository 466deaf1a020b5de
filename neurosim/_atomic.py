"""Atomic file writes: write to a temp file in the target folder, then ``os.replace``.

An interrupted write (crash, Ctrl-C, failed validation) leaves the previous file intact and
no partial file behind.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_open"]


@contextmanager
def atomic_open(path, mode: str = "wb", *, fsync: bool = False, validate=None):
    """Open a temp file beside ``path``; on clean exit it replaces ``path``.

    Parameters
    ----------
    path : destination file (its folder must exist).
    mode : ``"wb"`` or ``"w"``.
    fsync : flush the data to disk before the rename (checkpoints).
    validate : optional callable run on the temp file's path after it is closed and before the
        rename; an exception aborts the write.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        if validate is not None:
            validate(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
