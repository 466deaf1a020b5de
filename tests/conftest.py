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


def train_mlp_file(path: Path, data, images: int, epochs: int) -> Path:
    """A small ReLU MLP (784-32-10), trained with Adam (lr 3e-3, batch 100, order drawn from seed 0)
    for ``epochs`` on the first ``images`` MNIST training images of ``data``, saved at ``path`` as
    ``neurosim train`` writes it (the ANN that the conversion CLI tests convert)."""
    import torch
    import torch.nn.functional as F

    from neurosim.distill import load_tensors
    from neurosim.models import build_model, input_config, save_model

    cfg = {**input_config("mlp"), "hidden": (32,)}
    net = build_model("mlp", seed=0, **cfg)
    x, y = load_tensors("mnist", "train", data, images)
    x = x.float() / 255
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for s in range(0, len(x), 100):
            j = perm[s:s + 100]
            opt.zero_grad()
            F.cross_entropy(net(x[j]), y[j]).backward()
            opt.step()
    save_model(path, net.eval(), "mlp", cfg, dataset="mnist", input_size=28)
    return path
