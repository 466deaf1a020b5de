"""``neurosim continual`` checkpoints and ``resume``: an interrupted run, resumed, ends exactly
where the uninterrupted run ends (``torch.equal`` on every weight and buffer, identical ``R``).

The reference is the same code run without interruption (bit equality: both sides are the same
computation). Runs are tiny (3 permuted-digit tasks of 48 embedded images, a 784-24-24-10 MLP,
T = 2, HLOP subspaces of 8/8/4 + 4 neurons per task) and in-process; Ctrl-C is emulated by a
``KeyboardInterrupt`` raised from inside the training loop (the subprocess tests in
``test_interrupt.py`` send real SIGINTs).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from neurosim.commands import Interrupted  # noqa: E402
from neurosim.commands import continual as cmd  # noqa: E402

SMALL = dict(benchmark="pmnist", tasks=3, epochs=1, seed=3, limit=48, embedded=True, hidden=(24, 24), timesteps=2,
             batch_size=8, checkpoint_every=2, quiet=True, progress=False)


@pytest.fixture(autouse=True)
def small_subspaces(monkeypatch):
    """PMNIST's HLOP sizes (80/200/100 + 70 per task) need wide layers; these tests need speed."""
    from neurosim.continual import hlop

    monkeypatch.setattr(hlop, "PMNIST_SIZES_FIRST", (8, 8, 4))
    monkeypatch.setattr(hlop, "PMNIST_SIZES_INC", (4, 4, 4))


def _run(out, method, **kw):
    return cmd.run(method=method, out=out, **{**SMALL, **kw})


def _state(out):
    return torch.load(out / "checkpoint.pt", weights_only=True)


def _interrupting_build(monkeypatch, *, forward_calls=None, begin_task=None):
    """Make ``build`` return a model that raises KeyboardInterrupt on its ``forward_calls``-th
    training forward, or a strategy that raises when ``begin_task`` reaches task ``begin_task``."""
    real = cmd.build
    count = {"n": 0}

    def build(*a, **k):
        model, strategy = real(*a, **k)
        if forward_calls is not None:
            fwd = model.forward

            def forward(*fa, **fk):
                if model.training:
                    count["n"] += 1
                    if count["n"] == forward_calls:
                        raise KeyboardInterrupt
                return fwd(*fa, **fk)

            model.forward = forward
        if begin_task is not None:
            begin = strategy.begin_task

            def begin_hook(m, t, task):
                if t == begin_task:
                    raise KeyboardInterrupt
                return begin(m, t, task)

            strategy.begin_task = begin_hook
        return model, strategy

    monkeypatch.setattr(cmd, "build", build)


def _assert_same_end(ref_out, out):
    ref, got = _state(ref_out), _state(out)
    assert set(ref["model"]) == set(got["model"])
    for k, v in ref["model"].items():
        assert torch.equal(v, got["model"][k]), k
    a = json.loads((ref_out / "summary.json").read_text())
    b = json.loads((out / "summary.json").read_text())
    assert a["R"] == b["R"] and a["acc"] == b["acc"] and a["bwt"] == b["bwt"]
    assert not a["resumed"] and b["resumed"]
    return ref, got


@pytest.mark.parametrize("method,kw", [
    ("hlop", {"hlop_damping": "1,0,0"}),  # Hebbian subspaces, HLOP rng, damping matrices, async worker
    ("hlop+replay", {}),                   # replay memory around HLOP
    ("ewc", {}),                           # Fisher anchors
    ("multitask", {}),                     # joint training: epoch plan redrawn from the saved generator
])
def test_interrupted_mid_task_resumes_exactly(tmp_path, monkeypatch, method, kw):
    ref = tmp_path / "ref"
    _run(ref, method, **kw)
    out = tmp_path / "cut"
    # 6 batches per task (48 / 8): call 10 is batch 4 of task 2 (multitask: batch 10 of 18);
    # the last checkpoint is the one after batch 2 of that task (every 2 batches)
    with monkeypatch.context() as m:
        _interrupting_build(m, forward_calls=10)
        with pytest.raises(Interrupted) as info:
            _run(out, method, **kw)
    if method == "multitask":
        assert info.value.kept == "checkpoint at epoch 1, batch 8 of 18"
    else:
        assert info.value.kept == "checkpoint at task 2 of 3, batch 2"
    assert not (out / "summary.json").exists()
    _run(out, method, resume=True, **kw)
    _assert_same_end(ref, out)
    if method != "multitask":
        assert np.array_equal(np.load(ref / "R.npy"), np.load(out / "R.npy"), equal_nan=True)


def test_interrupted_between_tasks_resumes_exactly(tmp_path, monkeypatch):
    ref = tmp_path / "ref"
    _run(ref, "hlop")
    out = tmp_path / "cut"
    with monkeypatch.context() as m:
        _interrupting_build(m, begin_task=2)
        with pytest.raises(Interrupted) as info:
            _run(out, "hlop")
    assert info.value.kept == "checkpoint after task 2 of 3"
    st = _state(out)
    assert st["task"] == 2 and st["position"] is None and np.isnan(st["R"][2].numpy()).all()
    _run(out, "hlop", resume=True)
    _, got = _assert_same_end(ref, out)
    assert got["task"] == 3
    log = (out / "log.txt").read_text()
    assert "resumed from the checkpoint after task 2 of 3" in log and log.count("task 0:") == 1


def test_resume_refuses_other_settings_and_starts_fresh_without_checkpoint(tmp_path):
    out = tmp_path / "run"
    s = _run(out, "finetune", resume=True)  # nothing to resume: a fresh run, recorded as such
    assert s["resumed"] is False
    with pytest.raises(ValueError, match="seed=3 there, 4 now"):
        _run(out, "finetune", resume=True, seed=4)
    with pytest.raises(ValueError, match="method"):
        _run(out, "ewc", resume=True)


def test_strategy_state_round_trip_is_loadable_safely(tmp_path):
    """The checkpoint holds only tensors and plain values: ``weights_only=True`` loads it."""
    _run(tmp_path, "hlop+replay", tasks=2)
    st = _state(tmp_path)
    assert st["format"] == "neurosim.continual.sequence/1" and st["kind"] == "sequence"
    assert len(st["strategy"]["memory"]) == 2 and st["strategy"]["base"]["rng"]["bit_generator"] == "PCG64"
    assert any(k.endswith("hebbian.weight") for k in st["model"])
