"""Implementations behind the ``neurosim`` command line, one module per command.

Each module exposes ``run(...) -> dict`` (the command; writes ``out/summary.json``) and
``demo_stage(out_dir, *, data_dir, fast, seed) -> StageResult`` (its stage of
``neurosim demo``). ``neurosim.cli`` only parses arguments, maps errors to exit code 2 and
Ctrl-C to exit code 130, and stages the output folder (:class:`neurosim._atomic.StagedDir`).

A command interrupted by Ctrl-C says what it kept by raising :class:`Interrupted` (a
``KeyboardInterrupt``) with a description of its last checkpoint; the command line prints it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from neurosim._atomic import atomic_open

__all__ = ["StageResult", "Interrupted", "write_json", "ensure_out_dir"]


@dataclass
class StageResult:
    """What one demo stage reports: numbers, figure files and a markdown paragraph."""

    name: str
    metrics: dict
    figures: list[str] = field(default_factory=list)
    text: str = ""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped a command; ``kept`` describes the checkpoint it left (None: none).

    ``kept`` reads like ``"checkpoint after epoch 1, batch 120 of 469"``; commands build it from
    their own state (e.g. :attr:`neurosim.distill.Trainer.saved_at`), never by parsing text.
    """

    def __init__(self, kept: str | None = None):
        super().__init__(kept or "")
        self.kept = kept


def ensure_out_dir(out) -> Path:
    """Create ``out`` (and parents); error clearly if it is a file."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} exists and is not a directory; choose another path")
    out.mkdir(parents=True, exist_ok=True)
    return out


def write_json(path, obj) -> None:
    """Write JSON atomically (temp file + ``os.replace``)."""
    with atomic_open(path, "w") as fh:
        json.dump(obj, fh, indent=2, sort_keys=True, default=_json_default)
        fh.write("\n")


def _json_default(o):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
