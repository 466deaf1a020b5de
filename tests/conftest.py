"""Shared fixtures: the real-data folder and fast-mode flags.

Real data is read from ``NEUROSIM_DATA`` (default: ``../shared/data`` beside the repository).
Tests that need a file skip with a clear reason when it is absent.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"

os.environ.setdefault("NEUROSIM_FAST", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


def data_root() -> Path:
    return Path(os.environ.get("NEUROSIM_DATA", str(DEFAULT_DATA)))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Root of the real data (``NEUROSIM_DATA`` or ``../shared/data``); skips if absent."""
    root = data_root()
    if not root.is_dir():
        pytest.skip(f"real data folder {root} not found; set NEUROSIM_DATA to the folder with mnist/, fashion_mnist/ ...")
    return root


def require_data(*parts: str) -> Path:
    """Path to a file or folder below the data root, skipping the test when it is missing."""
    path = data_root().joinpath(*parts)
    if not path.exists():
        pytest.skip(f"data file {path} not found; set NEUROSIM_DATA (see ../shared/data/README.md)")
    return path


@pytest.fixture(autouse=True)
def _close_figures():
    """Close the pyplot figures a test leaves open (pyplot keeps them; over 20 it warns)."""
    yield
    plt = sys.modules.get("matplotlib.pyplot")  # only when the test used pyplot
    if plt is not None:
        plt.close("all")
