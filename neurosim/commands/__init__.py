"""Implementations behind the ``neurosim`` command line, one module per command.

Each module exposes ``run(...) -> dict`` (the command; writes ``out/summary.json``) and
``demo_stage(out_dir, *, data_dir, fast, seed) -> StageResult`` (its stage of
``neurosim demo``). ``neurosim.cli`` only parses arguments, maps errors to exit code 2 and
Ctrl-C to exit code 130, and stages the output folder (:class:`neurosim._atomic.StagedDir`).

A command interrupted by Ctrl-C says what it kept by raising :class:`Interrupted` (a
``KeyboardInterrupt``) with a description of its last checkpoint; the command line prints it.

Each command-line option is declared once, on the parameter of ``run`` it sets: its annotation
``Annotated[type, Option("--flag", help=...)]`` (or :class:`Argument`) gives the flags, the help
text and the type the command line parses, and the parameter's default is the option's default.
``neurosim.cli`` builds every subcommand from these signatures; ``run`` parameters without such
metadata (``model_cfg``, ``progress``, ...) are for Python callers only. The commands that run
torch models (``train``, ``distill``, ``continual``, ``tsrsa``, ``demo``) take ``--device``
(:data:`DEVICE_HELP`) and ``--amp`` (:data:`AMP_HELP`), resolved by :func:`resolve_device`
(:mod:`neurosim.snn.device`). Commands stay thin: they validate options, call the library
(``neurosim.models``, ``neurosim.distill``, ``neurosim.continual``, ``neurosim.sim``,
``neurosim.rsa`` ...) and write the outputs.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from neurosim._atomic import atomic_open

__all__ = ["StageResult", "Interrupted", "Option", "Argument", "write_json", "ensure_out_dir", "check_data_dir", "OUT_HELP",
           "RESUME_HELP", "CKPT_HELP", "REPORT_HELP", "DEVICE_HELP", "AMP_HELP", "resolve_device"]

RESUME_HELP = ("continue the interrupted run in OUT.partial, else the finished run in OUT; with no checkpoint in "
               "either: say so and start from scratch (summary.json records \"resumed\": false)")
OUT_HELP = "output folder (the run writes OUT.partial, which replaces OUT only when the run succeeds)"
REPORT_HELP = "report folder (the demo writes OUT.partial, which replaces OUT only when the demo succeeds)"
CKPT_HELP = "also checkpoint after every this many batches (0: only at the end of each epoch / task)"
DEVICE_HELP = ("where torch runs: cpu, cuda (cuda:N) or auto (cuda when torch.cuda.is_available(), else cpu); "
               "checkpoints written on one device resume on any other")
AMP_HELP = ("mixed precision: none (float32, the default; results reproduce), bf16 (torch.autocast to bfloat16 on "
            "CUDA or the CPU) or fp16 (autocast to float16 with a GradScaler; CUDA only)")


@dataclass(frozen=True)
class Option:
    """Command-line metadata of a ``run`` parameter: ``Annotated[int, Option("--epochs")] = 1``.

    ``flags``: the option's names (``"--timesteps", "-T"``; a boolean ``"--resume/--no-resume"``);
    ``help``: its line in ``--help``. The default is the parameter's.
    """

    flags: tuple
    help: str | None = None

    def __init__(self, *flags: str, help: str | None = None):  # noqa: A002 - typer's name
        if not flags or not all(isinstance(f, str) and f.startswith("-") for f in flags):
            raise ValueError(f"Option needs its flags, e.g. Option('--epochs'); got {flags!r}")
        object.__setattr__(self, "flags", tuple(flags))
        object.__setattr__(self, "help", help)


@dataclass(frozen=True)
class Argument:
    """Command-line metadata of a positional ``run`` parameter (``neurosim simulate NETWORK``).

    ``choices``: the accepted values (shown as ``<a|b|c>`` and checked by the command line), or
    None for any string.
    """

    help: str | None = None
    choices: tuple | None = None


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


def check_data_dir(data, holds: str) -> None:
    """``--data`` must be a folder (None: the loaders use ``$NEUROSIM_DATA``); ``holds`` says what it
    should contain, e.g. ``"mnist/"``."""
    if data is not None and not Path(data).is_dir():
        raise FileNotFoundError(f"--data {data} is not a directory; point it at the folder that contains {holds}")


def resolve_device(device: str, amp: str):
    """``(torch.device, Precision)`` of the ``--device`` and ``--amp`` options (``ValueError`` naming
    the option and the fix, e.g. ``--device cuda`` without a CUDA device: use ``--device cpu``)."""
    from neurosim.snn.device import Precision, resolve_device as resolve

    dev = resolve(device, flag="--device")
    return dev, Precision.of(amp, dev, flag="--amp")


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
