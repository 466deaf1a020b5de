"""Atomic writes of files and of whole output folders.

:func:`atomic_open` writes a file to a temp file beside it, then ``os.replace``-s it over the
target: an interrupted write (crash, Ctrl-C, failed validation) leaves the previous file intact
and no partial file behind. The temp file is created with mode ``0o666`` minus the umask, like
any ``open(path, "w")``, so the result has the same permissions as the figures written beside it.

:class:`StagedDir` does the same for a folder: a run writes into the sibling ``OUT.partial`` and
only a successful run replaces ``OUT`` with it (rename the old folder aside, rename the staging
folder to ``OUT``, delete the old one). A failing or interrupted run leaves every byte of ``OUT``
as it was; a resumable run keeps its checkpoints in ``OUT.partial`` for ``--resume``.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import threading
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_open", "StagedDir", "deferred_sigint", "final_path", "PARTIAL_SUFFIX", "CHECKPOINT_NAME"]

#: suffix of the staging sibling of an output folder (``OUT`` -> ``OUT.partial``)
PARTIAL_SUFFIX = ".partial"
#: file name that marks a resumable state inside an output folder (at most two levels down)
CHECKPOINT_NAME = "checkpoint.pt"
_PREVIOUS_SUFFIX = ".previous"


def _create_temp(folder: Path, name: str):
    """``(fd, path)`` of a new file ``.name.<random>.tmp`` in ``folder`` (mode 0o666 minus the umask)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        tmp = folder / f".{name}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(tmp, flags, 0o666), str(tmp)
        except FileExistsError:  # pragma: no cover - 32 random bits
            continue


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
    fd, tmp = _create_temp(path.parent, path.name)
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


@contextmanager
def deferred_sigint():
    """Hold Ctrl-C back while the block runs (main thread only); returns whether one arrived.

    Yields a list that receives the signal numbers that arrived; the caller decides what to do
    with them after the block (the block itself is never cut in half).
    """
    got: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield got
        return
    prev = signal.getsignal(signal.SIGINT)
    if prev is signal.SIG_IGN or prev is None:
        yield got
        return
    signal.signal(signal.SIGINT, lambda signum, frame: got.append(signum))
    try:
        yield got
    finally:
        signal.signal(signal.SIGINT, prev)


def has_checkpoint(folder) -> bool:
    """True when ``folder`` holds a ``checkpoint.pt`` at its top level or one folder down."""
    folder = Path(folder)
    if not folder.is_dir():
        return False
    if (folder / CHECKPOINT_NAME).is_file():
        return True
    return any((sub / CHECKPOINT_NAME).is_file() for sub in folder.iterdir() if sub.is_dir())


def _is_output_folder(folder: Path) -> bool:
    """Empty, or written by a neurosim command (a ``summary.json`` or a checkpoint in it)."""
    return not any(folder.iterdir()) or (folder / "summary.json").is_file() or has_checkpoint(folder)


def _sibling(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def final_path(path) -> Path:
    """The folder a staging folder ``OUT.partial`` becomes on success (``OUT``); other paths unchanged."""
    path = Path(path)
    return path.with_name(path.name[: -len(PARTIAL_SUFFIX)]) if path.name.endswith(PARTIAL_SUFFIX) else path


class StagedDir:
    """An output folder that a run replaces only when it succeeds.

    Parameters
    ----------
    out : path of the output folder ``OUT`` (need not exist; must not be a file).
    resume : continue an earlier run: from ``OUT.partial`` if it exists (an interrupted or
        failed run), else from a copy of ``OUT`` if that holds a ``checkpoint.pt``; with neither,
        the run starts from scratch and :attr:`resume_from` is None.
    resumable : the command can resume (it writes checkpoints): an interrupted or failed run
        keeps ``OUT.partial`` when a checkpoint is in it; other commands' staging folders are
        always removed.

    Use :meth:`open` (returns the folder to write into), then :meth:`commit` on success or
    :meth:`abort` on failure. ``OUT`` is refused when it is a non-empty folder that no neurosim
    command wrote (no ``summary.json``, no checkpoint), since a successful run replaces it whole,
    and when it contains the current working folder.
    """

    def __init__(self, out, *, resume: bool = False, resumable: bool = False):
        self.out = Path(out)
        plain = os.path.abspath(self.out)
        self.final = Path(os.path.realpath(plain))  # a symlinked OUT: stage beside the folder it points to
        if self.final.name == "":
            raise ValueError(f"--out {out} names the root folder; choose a folder for the results")
        self.partial = _sibling(self.final, PARTIAL_SUFFIX)
        # the folder handed to the command, written as the user wrote --out (relative stays relative)
        self.path = _sibling(self.out, PARTIAL_SUFFIX) if (self.out.name and plain == str(self.final)) \
            else self.partial
        self.resume = bool(resume)
        self.resumable = bool(resumable)
        self.resume_from: str | None = None  # "partial", "out" or None
        self.discarded = False  # a fresh run removed an interrupted run's checkpoints

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Raise ValueError when ``OUT`` cannot be used (see the class docstring)."""
        out, final = self.out, self.final
        if final.exists() and not final.is_dir():
            raise ValueError(f"--out {out} exists and is not a directory; choose another path")
        if self.partial.exists() and not self.partial.is_dir():
            raise ValueError(f"{self.path} exists and is not a directory; remove it or choose another --out")
        cwd = Path(os.getcwd())
        if cwd == final or final in cwd.parents:
            raise ValueError(f"--out {out} contains the current folder; a successful run replaces --out "
                             "whole, so choose a folder outside the one you are in")
        if final.is_dir() and not _is_output_folder(final):
            raise ValueError(f"--out {out} is a non-empty folder that holds no summary.json or checkpoint, so "
                             "neurosim did not write it; a successful run replaces --out whole, so choose a "
                             "new or empty folder")

    # ------------------------------------------------------------------ life cycle
    def open(self) -> Path:
        """Prepare ``OUT.partial`` and return it (as the user's ``out`` was written: relative stays relative)."""
        self._recover()
        self.validate()
        if self.resume and self.resumable and has_checkpoint(self.partial):
            self.resume_from = "partial"
        elif self.resume and self.resumable and has_checkpoint(self.final):
            if self.partial.exists():
                shutil.rmtree(self.partial)
            shutil.copytree(self.final, self.partial, symlinks=True)
            self.resume_from = "out"
        else:
            if self.partial.exists():
                self.discarded = self.resumable and has_checkpoint(self.partial)
                shutil.rmtree(self.partial)
            self.partial.mkdir(parents=True)
        return self.path

    def commit(self) -> None:
        """Replace ``OUT`` by the staging folder (Ctrl-C is held back for these few renames)."""
        self._relocate_json()
        previous = _sibling(self.final, _PREVIOUS_SUFFIX)
        with deferred_sigint():
            if previous.exists():
                shutil.rmtree(previous)
            if self.final.exists():
                os.rename(self.final, previous)
            os.rename(self.partial, self.final)
            shutil.rmtree(previous, ignore_errors=True)

    def abort(self) -> bool:
        """After a failure: keep ``OUT.partial`` if the run is resumable and holds a checkpoint
        (returns True), else remove it. ``OUT`` is never touched."""
        with deferred_sigint():
            if self.resumable and has_checkpoint(self.partial):
                return True
            shutil.rmtree(self.partial, ignore_errors=True)
            return False

    def relocate(self, obj):
        """``obj`` (nested dicts/lists of plain values) with paths inside the staging folder
        rewritten to their final place in ``OUT``."""
        prefixes = [(str(self.path), str(self.out)), (str(self.partial), str(self.final))]

        def fix(v):
            if isinstance(v, dict):
                return {k: fix(x) for k, x in v.items()}
            if isinstance(v, (list, tuple)):
                return type(v)(fix(x) for x in v)
            if isinstance(v, (str, Path)):
                s = str(v)
                for old, new in prefixes:
                    if s == old or s.startswith(old + os.sep):
                        s = new + s[len(old):]
                        return type(v)(s) if isinstance(v, Path) else s
            return v

        return fix(obj)

    # ------------------------------------------------------------------ helpers
    def _relocate_json(self) -> None:
        """Summaries written by the run name their files inside the staging folder: point them at ``OUT``."""
        for path in sorted(self.partial.rglob("*.json")):
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            fixed = self.relocate(data)
            if fixed != data:
                with atomic_open(path, "w") as fh:
                    json.dump(fixed, fh, indent=2, sort_keys=True)
                    fh.write("\n")

    def _recover(self) -> None:
        """Finish a commit that was cut between its renames (power loss, SIGKILL)."""
        previous = _sibling(self.final, _PREVIOUS_SUFFIX)
        if previous.is_dir():
            if self.final.exists():
                shutil.rmtree(previous, ignore_errors=True)
            else:  # cut after moving OUT aside: put it back (the staging folder is still there)
                os.rename(previous, self.final)
