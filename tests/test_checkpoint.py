"""Atomic checkpoints: round trip, no temp files left, an interrupted write keeps the old file."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from neurosim.io import checkpoint as ck


def test_roundtrip_with_rng_states(tmp_path):
    g = np.random.default_rng(5)
    g.random(3)
    state = {"w": torch.arange(6.0).reshape(2, 3), "epoch": 3, "np": g.bit_generator.state,
             "torch_rng": torch.get_rng_state(), "nested": {"a": [1, 2.5, "x"]}}
    path = ck.save_checkpoint(tmp_path / "sub" / "ckpt.pt", state)
    got = ck.load_checkpoint(path)
    assert torch.equal(got["w"], state["w"]) and got["epoch"] == 3
    assert torch.equal(got["torch_rng"], state["torch_rng"])
    assert got["nested"] == {"a": [1, 2.5, "x"]}
    g2 = np.random.default_rng()
    g2.bit_generator.state = got["np"]
    np.testing.assert_array_equal(g2.random(4), g.random(4))
    assert [p.name for p in path.parent.iterdir()] == ["ckpt.pt"]


def test_failed_write_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    ck.save_checkpoint(path, {"v": torch.tensor([1.0])})

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        ck.save_checkpoint(path, {"v": torch.tensor([2.0])})
    monkeypatch.undo()
    assert torch.equal(ck.load_checkpoint(path)["v"], torch.tensor([1.0]))
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


def test_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        ck.load_checkpoint(tmp_path / "nope.pt")
