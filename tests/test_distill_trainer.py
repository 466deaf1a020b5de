"""Trainer: exact resume, seeding, hooks, state resets, frozen teacher, input validation."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from neurosim.distill import Trainer, make_objective
from neurosim.distill.distributed import epoch_permutation, shard_bounds


class LeakyState(nn.Module):
    """A stateful (leaky-integrator) nonlinearity standing in for a LIF layer: v <- 0.5 v + x."""

    def __init__(self):
        super().__init__()
        self.v = None
        self.resets = 0

    def forward(self, x):  # x [T, B, ...]
        out = []
        for t in range(x.shape[0]):
            self.v = x[t] if self.v is None else 0.5 * self.v + x[t]
            out.append(torch.tanh(self.v))
        return torch.stack(out)

    def reset_state(self):
        self.v = None
        self.resets += 1


class TinySNN(nn.Module):
    """[T, B, 1, 8, 8] -> conv 1->4 -> LeakyState ('act1') -> avgpool -> linear -> logits [T, B, K]."""

    def __init__(self, num_classes=3, channels=4):
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 3, padding=1)
        self.act1 = LeakyState()
        self.pool = nn.AvgPool2d(2)
        self.fc = nn.Linear(channels * 16, num_classes)

    def forward(self, x):
        t, b = x.shape[:2]
        h = self.conv1(x.reshape(t * b, *x.shape[2:])).reshape(t, b, -1, 8, 8)
        h = self.act1(h)
        h = self.pool(h.reshape(t * b, -1, 8, 8)).reshape(t, b, -1)
        return self.fc(h)

    def reset_states(self):
        self.act1.reset_state()


class TinyTeacher(nn.Module):
    def __init__(self, num_classes=3, channels=6):
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.pool = nn.AvgPool2d(2)
        self.fc = nn.Linear(channels * 16, num_classes)

    def forward(self, x):
        return self.fc(self.pool(self.relu1(self.conv1(x))).flatten(1))


def toy_data(n=40, seed=0, k=3):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, k, (n,), generator=g)
    x = torch.rand(n, 1, 8, 8, generator=g) * 0.5
    for c in range(k):  # class-dependent bright quadrant: learnable
        sel = y == c
        x[sel, 0, (c % 2) * 4:(c % 2) * 4 + 4, (c // 2) * 4:(c // 2) * 4 + 4] += 0.5
    return (x * 255).to(torch.uint8), y


def build(recipe="bkd+wsld", seed=0, **kw):
    torch.manual_seed(seed)
    student, teacher = TinySNN(), TinyTeacher()
    obj = make_objective(recipe, student_channels=4, teacher_channels=6, feature_layers=("act1", "relu1"),
                         alpha=0.05)
    return student, teacher, obj


def params(trainer):
    return [p.detach().clone() for p in trainer._step.parameters()]


def run(out, epochs, resume=False, recipe="bkd+wsld", data=None, seed=0, **kw):
    student, teacher, obj = build(recipe)
    tr = Trainer(student, obj, teacher=teacher, epochs=epochs, batch_size=11, timesteps=3, seed=seed,
                 out_dir=out, resume=resume, progress=False, lr=1e-2, **kw)
    data = data or toy_data()
    tr.fit(data, val=toy_data(12, seed=1))
    return tr


def test_resume_equals_uninterrupted(tmp_path):
    straight = run(tmp_path / "a", 2)
    run(tmp_path / "b", 1)
    resumed = run(tmp_path / "b", 2, resume=True)
    for p, q in zip(params(straight), params(resumed)):
        assert torch.equal(p, q)
    for k in ("train_loss", "train_bkd", "train_wsld", "val_acc"):
        assert [h[k] for h in straight.history] == [h[k] for h in resumed.history]
    lines = (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(s)["epoch"] for s in lines] == [1, 2]


def test_interrupt_mid_epoch_then_resume(tmp_path):
    straight = run(tmp_path / "a", 2)
    student, teacher, obj = build()
    calls = {"n": 0}
    orig = obj.forward

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] == 6:  # second batch of epoch 2 (4 batches per epoch)
            raise KeyboardInterrupt
        return orig(*a, **k)

    obj.forward = flaky
    tr = Trainer(student, obj, teacher=teacher, epochs=2, batch_size=11, timesteps=3, out_dir=tmp_path / "c",
                 progress=False, lr=1e-2)
    with pytest.raises(KeyboardInterrupt):
        tr.fit(toy_data(), val=toy_data(12, seed=1))
    assert json.loads((tmp_path / "c" / "metrics.jsonl").read_text())["epoch"] == 1
    resumed = run(tmp_path / "c", 2, resume=True)
    for p, q in zip(params(straight), params(resumed)):
        assert torch.equal(p, q)


def test_same_seed_same_bits_other_seed_differs(tmp_path):
    a, b = run(None, 1), run(None, 1)
    c = run(None, 1, seed=5)
    assert all(torch.equal(p, q) for p, q in zip(params(a), params(b)))
    assert not all(torch.equal(p, q) for p, q in zip(params(a), params(c)))


def test_checkpoint_contents_and_config_mismatch(tmp_path):
    run(tmp_path, 1)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 1
    assert {"student", "objective", "optimizer", "scheduler", "mask_generator", "torch_rng", "numpy_rng",
            "history"} <= set(state)
    assert any(k.startswith("features.restore") for k in state["objective"])
    with pytest.raises(ValueError, match="seed"):
        run(tmp_path, 2, resume=True, seed=3)


def test_load_state_dict_names_the_checkpoint_file(tmp_path):
    """A resume from a bad checkpoint raises CorruptFileError naming the file: not a dict, another
    format, other settings, another student, optimizer state of other parameters."""
    from neurosim.io import CorruptFileError

    run(tmp_path, 1)
    ckpt = tmp_path / "checkpoint.pt"
    good = torch.load(ckpt, weights_only=True)
    student, teacher, obj = build()
    tr = Trainer(student, obj, teacher=teacher, epochs=2, batch_size=11, timesteps=3, progress=False)
    other_student = {k: v for k, v in good.items()}
    other_student["student"] = nn.Linear(3, 2).state_dict()
    short_opt = {k: v for k, v in good.items()}
    short_opt["optimizer"] = torch.optim.Adam([nn.Parameter(torch.zeros(2))]).state_dict()
    cases = {"not a dict": ([1, 2], "not a Trainer checkpoint"),
             "other format": ({**good, "format": "neurosim.model/1"}, "not a Trainer checkpoint"),
             "other settings": ({**good, "config": {**good["config"], "seed": 9}}, "seed"),
             "other student": (other_student, "the student"),
             "other optimizer": (short_opt, "optimizer")}
    for label, (state, word) in cases.items():
        with pytest.raises(CorruptFileError, match=word) as info:
            tr.load_state_dict(state, path=ckpt)
        assert str(ckpt) in str(info.value), label
        with pytest.raises(ValueError, match=word):  # without a path: a plain ValueError, same reason
            tr.load_state_dict(state)
    tr.load_state_dict(good, path=ckpt)  # the real checkpoint still loads
    assert tr.epoch == 1


def test_resets_teacher_frozen_and_learning(tmp_path):
    student, teacher, obj = build("kd")
    t0 = [p.detach().clone() for p in teacher.parameters()]
    tr = Trainer(student, obj, teacher=teacher, epochs=6, batch_size=10, timesteps=2, progress=False, lr=3e-2)
    hist = tr.fit(toy_data(40))
    # one reset per training batch (4 per epoch) + the compatibility probe
    assert student.act1.resets == 6 * 4 + 1
    assert all(torch.equal(p, q) for p, q in zip(t0, teacher.parameters()))
    assert not any(p.requires_grad for p in teacher.parameters())
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    assert tr.evaluate(*toy_data(30, seed=2))["acc"] > 0.6


def test_scheduler_and_custom_optimizer():
    student, _, _ = build("none")
    tr = Trainer(student, None, epochs=2, batch_size=20, timesteps=2, progress=False,
                 optimizer=lambda ps: torch.optim.SGD(ps, lr=0.1),
                 scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, 1, gamma=0.5))
    hist = tr.fit(toy_data(40))
    assert [h["lr"] for h in hist] == [0.1, 0.05]


def test_bad_inputs():
    student, teacher, obj = build()
    with pytest.raises(ValueError, match="teacher"):
        Trainer(student, obj, progress=False)
    bad = make_objective("bkd", student_channels=4, teacher_channels=6, feature_layers=("act9", "relu1"))
    with pytest.raises(ValueError, match="available layer names: .*act1"):
        Trainer(student, bad, teacher=teacher, progress=False)
    bad_t = make_objective("bkd", student_channels=4, teacher_channels=6, feature_layers=("act1", "nope"))
    with pytest.raises(ValueError, match="teacher feature layer 'nope'"):
        Trainer(student, bad_t, teacher=teacher, progress=False)
    tr = Trainer(TinySNN(num_classes=3), make_objective("kd"), teacher=TinyTeacher(num_classes=5), timesteps=2,
                 progress=False)
    with pytest.raises(ValueError, match="classes"):
        tr.fit(toy_data(10))
    with pytest.raises(ValueError, match="batch_size"):
        Trainer(student, None, batch_size=0)
    with pytest.raises(ValueError, match="timesteps"):
        Trainer(student, None, timesteps=0)


def test_sharding_helpers():
    for n in (1, 7, 11, 12):
        for w in (1, 2, 3):
            if n < w:
                continue
            bounds = [shard_bounds(n, r, w) for r in range(w)]
            assert bounds[0][0] == 0 and bounds[-1][1] == n
            assert all(b[1] == c[0] for b, c in zip(bounds, bounds[1:]))
            assert all(hi > lo for lo, hi in bounds)
    p0, p1 = epoch_permutation(50, 0, 0), epoch_permutation(50, 0, 1)
    assert sorted(p0.tolist()) == list(range(50)) and not torch.equal(p0, p1)
    assert torch.equal(p0, epoch_permutation(50, 0, 0))
    with pytest.raises(ValueError, match="rank"):
        shard_bounds(4, 2, 2)


class BNNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)
        self.fc = nn.Linear(3 * 64, 3)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x))).flatten(1))


def test_precise_bn_statistics_and_no_effect_on_training():
    data = toy_data(40)
    runs = []
    for pbn in (0, 40):
        torch.manual_seed(0)
        m = BNNet()
        tr = Trainer(m, None, epochs=2, batch_size=10, progress=False, precise_bn=pbn, eval_batch_size=64)
        tr.fit(data)
        runs.append(m)
    a, b = runs
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    # precise BN = exact mean / unbiased variance of the BN input over the 40 training samples
    with torch.no_grad():
        h = b.conv(data[0].float() / 255)
    torch.testing.assert_close(b.bn.running_mean, h.mean((0, 2, 3)))
    torch.testing.assert_close(b.bn.running_var, h.var((0, 2, 3), unbiased=True))
    assert not torch.allclose(a.bn.running_var, b.bn.running_var)
    assert b.bn.momentum == 0.1
    with pytest.raises(ValueError, match="precise_bn"):
        Trainer(BNNet(), None, precise_bn=-1)


def test_cosine_lr_schedule_matches_torch_and_resumes(tmp_path):
    """Per-step cosine lr = torch's CosineAnnealingLR(T_max = all steps) stepped per batch; exact resume."""
    seen = []
    student, teacher, obj = build()
    tr = Trainer(student, obj, teacher=teacher, epochs=2, batch_size=11, timesteps=3, progress=False, lr=1e-2,
                 lr_schedule="cosine")
    orig = tr.optimizer.step

    def spy(*a, **k):
        seen.append(tr.optimizer.param_groups[0]["lr"])
        return orig(*a, **k)

    tr.optimizer.step = spy
    tr.fit(toy_data())
    ref_opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(ref_opt, T_max=8)  # 2 epochs x 4 batches of 40
    ref = []
    for _ in range(8):
        ref.append(ref_opt.param_groups[0]["lr"])
        ref_opt.step()
        sched.step()
    assert seen == pytest.approx(ref, rel=1e-12, abs=1e-15)
    straight = run(tmp_path / "a", 2, lr_schedule="cosine")
    student, teacher, obj = build()
    calls = {"n": 0}
    orig_fwd = obj.forward

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] == 7:  # third batch of epoch 2
            raise KeyboardInterrupt
        return orig_fwd(*a, **k)

    obj.forward = flaky
    tr = Trainer(student, obj, teacher=teacher, epochs=2, batch_size=11, timesteps=3, out_dir=tmp_path / "b",
                 progress=False, lr=1e-2, lr_schedule="cosine")
    with pytest.raises(KeyboardInterrupt):
        tr.fit(toy_data(), val=toy_data(12, seed=1))
    resumed = run(tmp_path / "b", 2, resume=True, lr_schedule="cosine")
    assert all(torch.equal(p, q) for p, q in zip(params(straight), params(resumed)))
    constant = run(None, 2)
    assert not all(torch.equal(p, q) for p, q in zip(params(straight), params(constant)))
    for kw in ({}, {"epochs": 3}):  # other schedule, other length: not a continuation
        with pytest.raises(ValueError, match="lr_schedule"):
            run(tmp_path / "b", kw.get("epochs", 2), resume=True, lr_schedule="cosine" if kw else "constant")
    with pytest.raises(ValueError, match="lr_schedule must be one of"):
        run(None, 1, lr_schedule="linear")
