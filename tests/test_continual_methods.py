"""HLOP / baselines / protocols / the `continual` command (small synthetic or --limit runs)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import require_data
from neurosim.continual.baselines import EWC, GPM, Finetune, Replay, gpm_update_basis
from neurosim.continual.hlop import HLOP, SpikingMLP, hlop_sizes
from neurosim.continual.protocols import Task, load_benchmark, run_multitask, run_sequence


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny matrices: one thread avoids OpenMP oversubscription on shared cores."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _tasks(n_tasks=2, n=12, per=96, heads=False, seed=0):
    """Linearly separable 2-class tasks living in different input directions."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for k in range(n_tasks):
        w = torch.zeros(n)
        w[3 * k:3 * k + 3] = 1.0
        x = torch.randn(per, n, generator=g) * 0.3
        y = torch.randint(0, 2, (per,), generator=g)
        x = x + 2.0 * (2 * y[:, None] - 1) * w
        out.append(Task(f"t{k}", x[: per // 2 * 1 + per // 4], y[: per // 2 + per // 4], x[-per // 4:],
                        y[-per // 4:], n_classes=2, head=k if heads else 0))
    return out


def _mlp(heads=1, seed=0):
    return SpikingMLP(12, (24, 24), 2, heads=heads, timesteps=3, lif_backend="torch", rng=seed)


def test_hlop_size_schedule_matches_pmnist_protocol():
    seq = [hlop_sizes(t, (80, 200, 100), (70, 70, 70)) for t in range(10)]
    assert [s[0] for s in seq] == [80, 70, 70, 50, 50, 50, 30, 30, 30, 10]
    assert tuple(map(sum, zip(*seq))) == (470, 590, 490)


@pytest.mark.parametrize("heads", [1, 2])
def test_hlop_weight_changes_are_orthogonal_to_old_subspaces(heads):
    tasks = _tasks(heads=heads == 2)
    model = _mlp(heads)
    strat = HLOP((3, 3, 2)[: 3 if heads == 1 else 2], (2, 2, 2)[: 3 if heads == 1 else 2],
                 etas=(0.01, 0.01, 0.01)[: 3 if heads == 1 else 2], rng=0)
    snap = {}

    class Spy(type(strat)):
        pass

    strat.__class__ = Spy
    orig_end = HLOP.end_task

    def end_task(self, model, t, task, seen, **kw):
        orig_end(self, model, t, task, seen, **kw)
        snap[t] = ([l.weight.detach().clone() for l in self.layers], [l.proj_basis.clone() for l in self.layers])

    Spy.end_task = end_task
    res = run_sequence(model, strat, tasks, seed=0, batch_size=8, lr=0.1)
    assert res["R"].shape == (2, 2) and np.isfinite(res["R"][1]).all()
    (w0, q0), (w1, q1) = snap[0], snap[1]
    for a, b, q in zip(w0, w1, q0):
        assert q.shape[0] > 0
        assert (b - a).abs().max() > 1e-4                      # the layer did learn task 1
        torch.testing.assert_close((b - a) @ q.T, torch.zeros(a.shape[0], q.shape[0]), atol=2e-6, rtol=0)
    for layer in strat.layers:                                 # buffers grew: frozen + new rows
        assert layer.hebbian.n_frozen == layer.hebbian.n_neurons
        np.testing.assert_allclose(layer.proj_basis @ layer.proj_basis.T, np.eye(layer.proj_basis.shape[0]),
                                   atol=1e-5)


def test_hlop_subspace_larger_than_input_is_rejected():
    model = _mlp()
    strat = HLOP((13, 3, 2), (1, 1, 1), rng=0)
    with pytest.raises(ValueError, match="subspace size"):
        run_sequence(model, strat, _tasks(), seed=0)
    with pytest.raises(ValueError, match="sizes_first"):
        HLOP((3, 3), (1, 1)).prepare(_mlp(), [])


def test_gpm_basis_update_matches_svd_energy_rule():
    g = torch.Generator().manual_seed(0)
    R = torch.randn(40, 3, generator=g, dtype=torch.float64) @ torch.randn(3, 9, generator=g, dtype=torch.float64)
    R = R + 0.01 * torch.randn(40, 9, generator=g, dtype=torch.float64)
    B = gpm_update_basis(torch.zeros(0, 9, dtype=torch.float64), R, 0.99)
    S = np.linalg.svd(R.numpy(), compute_uv=False)
    k = int(np.searchsorted(np.cumsum(S ** 2) / np.sum(S ** 2), 0.99) + 1)
    assert B.shape == (k, 9)
    U = np.linalg.svd(R.numpy().T)[0][:, :k]
    np.testing.assert_allclose(np.abs(B.numpy() @ U), np.eye(k), atol=1e-8)   # same directions
    R2 = torch.randn(30, 9, generator=g, dtype=torch.float64)
    B2 = gpm_update_basis(B, R2, 0.9)
    assert B2.shape[0] > k
    torch.testing.assert_close(B2[:k].abs() @ B2[k:].abs().T * 0, torch.zeros(k, B2.shape[0] - k, dtype=torch.float64))
    np.testing.assert_allclose(B2 @ B2.T, np.eye(B2.shape[0]), atol=1e-10)
    np.testing.assert_allclose(np.linalg.svd(B2[:k] @ B.T, compute_uv=False), np.ones(k), atol=1e-10)  # old span kept


def test_gpm_and_ewc_and_replay_run_and_behave():
    tasks = _tasks()
    model = _mlp()
    gpm = GPM(thresholds=(0.9, 0.95, 0.95), n_samples=32)
    res = run_sequence(model, gpm, tasks, seed=0, batch_size=8)
    assert all(l.proj_basis.shape[0] > 0 for l in gpm.layers)
    ewc = EWC(lam=10.0, n_fisher=8)
    model = _mlp()
    run_sequence(model, ewc, tasks[:1], seed=0, batch_size=8)
    assert ewc.penalty(model, 1).item() == pytest.approx(0.0, abs=1e-12)   # at the anchor
    fisher, star = ewc.anchors[0]
    with torch.no_grad():
        p0 = next(model.parameters())
        p0.add_(0.1)
    want = 0.5 * 10.0 * sum(float((f * 0.01).sum()) if i == 0 else 0.0 for i, f in enumerate(fisher))
    assert ewc.penalty(model, 1).item() == pytest.approx(want, rel=1e-5)
    rep = Replay(HLOP((3, 3, 2), (2, 2, 2), etas=(0.01,) * 3, rng=0), memory_size=5)
    res = run_sequence(_mlp(), rep, tasks, seed=0, batch_size=8)
    assert rep.name == "hlop+replay" and len(rep.memory) == 2 and len(rep.memory[0][0]) == 10
    assert np.isfinite(res["R"][1]).all()
    mt = run_multitask(_mlp(), tasks, seed=0, batch_size=8)
    assert len(mt["final"]) == 2 and 0.0 <= mt["acc"] <= 1.0
    assert res["acc"] == pytest.approx(float(res["R"][-1].mean()))


def test_same_seed_same_bits():
    a = run_sequence(_mlp(seed=1), HLOP((3, 3, 2), (2, 2, 2), etas=(0.01,) * 3, rng=1), _tasks(), seed=1,
                     batch_size=8)
    b = run_sequence(_mlp(seed=1), HLOP((3, 3, 2), (2, 2, 2), etas=(0.01,) * 3, rng=1), _tasks(), seed=1,
                     batch_size=8)
    np.testing.assert_array_equal(a["R"], b["R"])


# ---------------------------------------------------------------- protocols on real data
def test_permuted_mnist_protocol():
    root = require_data("mnist").parent
    from neurosim.continual.protocols import load_images, permuted_mnist

    data = load_images("mnist", root, limit=200, test_limit=200)
    tasks = permuted_mnist(3, seed=5, data=data)
    again = permuted_mnist(3, seed=5, data=data)
    assert len(tasks) == 3 and all(t.head == 0 and t.n_classes == 10 for t in tasks)
    assert all(torch.equal(a.perm, b.perm) for a, b in zip(tasks, again))
    assert not torch.equal(tasks[0].perm, tasks[1].perm)
    x0, y0 = tasks[0].batch("train", slice(0, 200))
    x1, y1 = tasks[1].batch("train", slice(0, 200))
    assert torch.equal(y0, y1)
    torch.testing.assert_close(torch.sort(x0, 1)[0], torch.sort(x1, 1)[0])   # same pixels, other order
    raw = tasks[0].x_train * 0.3081 + 0.1307
    assert float(raw.min()) == pytest.approx(0.0, abs=1e-6) and float(raw.max()) == pytest.approx(1.0, abs=1e-6)
    assert tasks[0].x_test.shape == (200, 784)


@pytest.mark.parametrize("bench", ["split_mnist", "split_fmnist"])
def test_split_protocol(bench):
    root = require_data("mnist" if bench == "split_mnist" else "fashion_mnist").parent
    tasks = load_benchmark(bench, 5, root=root, limit=50)
    assert [t.head for t in tasks] == [0, 1, 2, 3, 4]
    assert all(set(t.y_train.tolist()) == {0, 1} and t.n_train == 50 for t in tasks)
    with pytest.raises(ValueError, match="tasks"):
        load_benchmark(bench, 6, root=root)


def test_protocol_bad_input(tmp_path):
    with pytest.raises(ValueError, match="tasks"):
        load_benchmark("pmnist", 0)
    with pytest.raises(ValueError, match="benchmark"):
        load_benchmark("cifar", 2)
    with pytest.raises(FileNotFoundError, match="benchmark data missing"):
        load_benchmark("pmnist", 2, root=tmp_path)
    with pytest.raises(ValueError, match="task count"):
        run_sequence(_mlp(), Finetune(), [])
    with pytest.raises(FloatingPointError, match="lam"):
        run_sequence(_mlp(), EWC(lam=1e30, n_fisher=4), _tasks(), seed=0, batch_size=8, lr=10.0)


# ---------------------------------------------------------------- command
def test_continual_command_writes_summary_and_figure(tmp_path):
    from neurosim.cli import main

    root = require_data("mnist").parent
    out = tmp_path / "run"
    code = main(["continual", "--method", "hlop", "--benchmark", "pmnist", "--tasks", "2", "--epochs", "1",
                 "--seed", "0", "--data", str(root), "--limit", "64", "--out", str(out)])
    assert code == 0
    s = json.loads((out / "summary.json").read_text())
    assert set(s) >= {"acc", "bwt", "R", "wall_s"}
    R = s["R"]
    assert len(R) == 2 and R[0][1] is None and s["acc"] == pytest.approx((R[1][0] + R[1][1]) / 2)
    assert (out / "R.png").stat().st_size > 1000


def test_continual_command_bad_input(tmp_path, capsys):
    from neurosim.cli import main

    assert main(["continual", "--tasks", "0", "--out", str(tmp_path / "a")]) == 2
    assert "tasks" in capsys.readouterr().err
    assert main(["continual", "--method", "sgd", "--out", str(tmp_path / "b")]) == 2
    assert "method" in capsys.readouterr().err
    # validated for every method (it exited 0 with --method finetune, where HLOP never sees it)
    assert main(["continual", "--method", "finetune", "--hlop-consolidation", "-1", "--out", str(tmp_path / "e")]) == 2
    assert "hlop_consolidation must be >= 0" in capsys.readouterr().err
    # a billion tasks: refused up front (R alone would need 8e18 bytes), not after exhausting memory
    assert main(["continual", "--method", "finetune", "--tasks", "1000000000", "--out", str(tmp_path / "f")]) == 2
    assert "tasks=1000000000" in capsys.readouterr().err
    assert main(["continual", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "c")]) == 2
    assert main(["continual", "--data", str(tmp_path), "--tasks", "2", "--out", str(tmp_path / "d")]) == 2
    assert "benchmark data missing" in capsys.readouterr().err


def test_hlop_consolidation_pass_replays_final_network_inputs():
    """The optional pass = Hebbian updates on the final network's layer inputs of the task's first images."""
    import copy

    tasks = _tasks(n_tasks=1)
    expected = {}

    class ByHand(HLOP):
        """The literal run; at its end the pass is done by hand on copies of the subspaces."""

        def end_task(self, m, t, task, seen, gen=None, batch_size=64):
            subs = [copy.deepcopy(layer.hebbian) for layer in self.layers]
            recorded = [[] for _ in self.layers]
            m.eval()
            with torch.no_grad():
                for s in range(0, 40, 16):
                    x, _ = task.batch("train", torch.arange(s, min(s + 16, 40)))
                    m(x)
                    for rec, layer in zip(recorded, self.layers):
                        rec.append(layer.pop_recorded())
            m.train()
            for _ in range(2):
                for rec, sub in zip(recorded, subs):
                    for r in rec:
                        sub.update(r)
            expected["H"] = [sub.weight.clone() for sub in subs]
            expected["plain"] = [layer.hebbian.weight.clone() for layer in self.layers]
            super().end_task(m, t, task, seen, gen, batch_size)

    kw = dict(etas=(0.01, 0.01, 0.01), rng=0)
    run_sequence(_mlp(), ByHand((3, 3, 2), (2, 2, 2), **kw), tasks, seed=0, batch_size=16)
    cons = HLOP((3, 3, 2), (2, 2, 2), consolidation_samples=40, consolidation_epochs=2, **kw)
    run_sequence(_mlp(), cons, tasks, seed=0, batch_size=16)
    for layer, H in zip(cons.layers, expected["H"]):
        torch.testing.assert_close(layer.hebbian.weight, H, rtol=1e-6, atol=1e-7)
    assert not torch.allclose(cons.layers[1].hebbian.weight, expected["plain"][1])
    with pytest.raises(ValueError, match="consolidation_samples"):
        HLOP(consolidation_samples=-1)


def test_hlop_async_hebbian_equals_sync():
    """Pipelined Hebbian updates (worker thread) give the same subspaces and weights as in-line ones."""
    tasks = _tasks(n_tasks=2)
    out = {}
    for mode in (False, True):
        model = _mlp()
        strat = HLOP((3, 3, 2), (2, 2, 2), etas=(0.01, 0.01, 0.01), rng=0, async_hebbian=mode)
        res = run_sequence(model, strat, tasks, seed=0, batch_size=16)
        out[mode] = ([p.detach().clone() for p in model.parameters()],
                     [layer.hebbian.weight.clone() for layer in strat.layers], res["R"], strat.hebbian_s)
        assert strat._pending is None and strat._restore is None  # drained and restored after each task
        assert torch.get_num_threads() == 1  # the module fixture's setting is back
    for a, b in zip(out[False][0] + out[False][1], out[True][0] + out[True][1]):
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-7)
    # R counts argmax decisions: weights within 1e-6 (the worker thread sums in another order)
    # leave every decision of these test sets unchanged (their top logits are not that close)
    np.testing.assert_array_equal(out[False][2], out[True][2])
    assert out[True][3] > 0


def test_run_sequence_per_task_learning_rates():
    tasks = _tasks(n_tasks=2)
    runs = []
    for lr in (0.1, [0.1, 0.1], [0.1, 0.02]):
        model = _mlp()
        run_sequence(model, Finetune(), tasks, seed=0, batch_size=16, lr=lr)
        runs.append([p.detach().clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(runs[0], runs[1]))
    assert not all(torch.equal(a, b) for a, b in zip(runs[0], runs[2]))
    with pytest.raises(ValueError, match="one per task"):
        run_sequence(_mlp(), Finetune(), tasks, lr=[0.1])


def test_on_task_end_sees_each_learned_model():
    """The callback runs once per task, after evaluation: R's row t is filled and matches an
    independent evaluation of the model handed to the callback (which later tasks change)."""
    from neurosim.continual.protocols import evaluate

    tasks = _tasks(n_tasks=3)
    calls = []

    def cb(t, model, R):
        assert np.isfinite(R[t, : t + 1]).all() and np.isnan(R[t, t + 1:]).all()
        calls.append((t, [evaluate(model, tasks[j]) for j in range(t + 1)],
                      [p.detach().clone() for p in model.parameters()]))

    res = run_sequence(_mlp(), Finetune(), tasks, seed=0, batch_size=8, lr=0.1, on_task_end=cb)
    assert [c[0] for c in calls] == [0, 1, 2]
    for t, accs, _ in calls:
        np.testing.assert_allclose(accs, res["R"][t, : t + 1])
    assert any((a - b).abs().max() > 0 for a, b in zip(calls[0][2], calls[2][2]))


def test_residual_damping_matrix_and_orthogonality():
    """HLOP(residual_damping): S equals (I + gamma/m P_perp C P_perp)^-1 computed in NumPy from the
    layer inputs seen by a forward hook; the damped updates of task 1 stay orthogonal to the
    frozen subspace of task 0."""
    tasks = _tasks(n_tasks=2)
    model = _mlp()
    gam = (5.0, 2.0, 0.0)
    strat = HLOP((3, 3, 2), (2, 2, 2), etas=(0.01,) * 3, rng=0, residual_damping=gam)
    seen = {0: [], 1: []}
    layers = list(model.protected_layers())
    phase = {"t": 0}

    def hook(i):
        def f(mod, inp, out):
            if mod.training and phase["t"] == 0:
                seen[i].append(inp[0].detach().reshape(-1, mod.in_features).double().numpy())
        return f

    for i in seen:
        layers[i].register_forward_hook(hook(i))
    snap = {}

    def cb(t, m, R):
        phase["t"] = t + 1
        snap[t] = ([lay.weight.detach().clone() for lay in layers], [lay.proj_basis.clone() for lay in layers],
                   [None if d is None or d.S is None else d.S.double().numpy().copy() for d in strat._damp])

    run_sequence(model, strat, tasks, seed=0, batch_size=8, lr=0.1, on_task_end=cb)
    (w0, q0, s0), (w1, _, _) = snap[0], snap[1]
    assert s0[2] is None                                       # gamma 0: no damping on that layer
    for i, g in ((0, gam[0]), (1, gam[1])):
        X = np.concatenate(seen[i])
        C = X.T @ X / X.shape[0]
        n = C.shape[0]
        Q = q0[i].double().numpy()
        Pp = np.eye(n) - Q.T @ Q
        ref = np.linalg.inv(np.eye(n) + g / (np.trace(C) / n) * Pp @ C @ Pp)
        np.testing.assert_allclose(s0[i], ref, atol=1e-5)
        assert np.abs(ref - np.eye(n)).max() > 1e-2           # it does damp something
        dw = (w1[i] - w0[i]).double()
        assert dw.abs().max() > 1e-4
        torch.testing.assert_close(dw @ q0[i].double().T, torch.zeros(dw.shape[0], Q.shape[0], dtype=torch.float64),
                                   atol=2e-6, rtol=0)


def test_residual_damping_bad_input():
    with pytest.raises(ValueError, match="one gamma per layer"):
        HLOP((3, 3, 2), (2, 2, 2), residual_damping=(1.0, 2.0))
    with pytest.raises(ValueError, match="residual_damping"):
        HLOP((3, 3, 2), (2, 2, 2), residual_damping=(1.0, -2.0, 0.0))
    from neurosim.commands.continual import parse_damping

    assert parse_damping("10,0,0", 3) == (10.0, 0.0, 0.0)
    assert parse_damping("2", 3) == (2.0, 2.0, 2.0)
    assert parse_damping("0,0,0", 3) is None and parse_damping(None, 3) is None
    with pytest.raises(ValueError, match="numbers separated by commas"):
        parse_damping("ten", 3)
