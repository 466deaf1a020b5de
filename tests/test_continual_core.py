"""Hebbian subspace neurons, projection layers and ACC/BWT (no data files needed)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from neurosim.continual.hebbian import HebbianParams, HebbianSubspace, orthonormal_basis, principal_angles
from neurosim.continual.metrics import average_accuracy, backward_transfer, forgetting
from neurosim.continual.projection import ProjConv2d, ProjLinear, orthogonal_complement, project_rows
from naive_continual import naive_acc_bwt, naive_hebbian, naive_project


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny matrices: one thread avoids OpenMP oversubscription on shared cores."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _data(n=32, k=4, N=1000, seed=0):
    rng = np.random.default_rng(seed)
    U = np.linalg.qr(rng.standard_normal((n, n)))[0]
    s = np.r_[[3.0, 2.5, 2.0, 1.6], 0.3 * np.ones(n - k)]
    X = (rng.standard_normal((N, n)) * s) @ U.T
    return X, np.linalg.svd(X, full_matrices=False)[2]


# ---------------------------------------------------------------- Hebbian rule
@pytest.mark.parametrize("backend,dtype", [("numba", torch.float64), ("numba", torch.float32),
                                           ("torch", torch.float32)])
def test_hebbian_converges_to_principal_subspace(dtype, backend):
    X, Vt = _data()
    h = HebbianSubspace(32, HebbianParams(eta=0.1), backend=backend, dtype=dtype)
    h.add_neurons(4, rng=0)
    assert principal_angles(h.weight.numpy(), Vt[:4]).max() > 1.0  # random start is far away
    for _ in range(30):
        h.update(torch.from_numpy(X))
    W = h.weight.double().numpy()
    assert principal_angles(W, Vt[:4]).max() < 0.05
    assert np.abs(W @ W.T - np.eye(4)).max() < 1e-3  # Oja's rule also orthonormalises the rows


def test_frozen_rows_fixed_and_new_rows_learn_the_complement():
    X, Vt = _data(seed=1)
    h = HebbianSubspace(32, HebbianParams(eta=0.05), dtype=torch.float64)
    h.add_neurons(2, rng=1)
    for _ in range(60):
        h.update(torch.from_numpy(X))
    h.consolidate()
    old = h.weight.clone()
    h.add_neurons(2, rng=2)
    assert h.n_neurons == 4 and h.n_frozen == 2
    for _ in range(60):
        h.update(torch.from_numpy(X))
    assert torch.equal(h.weight[:2], old)
    assert principal_angles(h.weight[2:].numpy(), Vt[2:4]).max() < 0.05


def test_orthonormal_rows_consolidation_keeps_span_and_deflates():
    """consolidate(orthonormal_rows=True): frozen rows become an orthonormal basis of the same
    span; with drifted (non-orthonormal) old rows the new rows still find the next principal
    directions (SVD of the data)."""
    X, Vt = _data(seed=4)
    h = HebbianSubspace(32, HebbianParams(eta=0.05), dtype=torch.float64)
    h.add_neurons(2, rng=1)
    for _ in range(60):
        h.update(torch.from_numpy(X))
    with torch.no_grad():  # simulate drift: same span, rows far from orthonormal
        h.weight.copy_(torch.tensor([[1.0, 0.6], [0.0, 0.5]], dtype=torch.float64) @ h.weight)
    before = h.weight.clone().numpy()
    h.consolidate(orthonormal_rows=True)
    W = h.weight.numpy()
    assert h.n_frozen == 2 and np.abs(W @ W.T - np.eye(2)).max() < 1e-12
    assert principal_angles(W, before).max() < 1e-6 and torch.equal(h.weight, h.basis)
    h.add_neurons(2, rng=2)
    for _ in range(60):
        h.update(torch.from_numpy(X))
    assert principal_angles(h.weight[2:].numpy(), Vt[2:4]).max() < 0.05
    assert np.allclose(h.weight[:2].numpy(), W)


def test_torch_backend_equals_naive_with_quantisation():
    rng = np.random.default_rng(3)
    X = 5 * rng.standard_normal((16, 10))
    p = HebbianParams(eta=0.01, spiking=True, spiking_steps=40.0)
    h = HebbianSubspace(10, p, backend="torch", dtype=torch.float64)
    h.add_neurons(3, rng=0)
    h.consolidate()
    h.add_neurons(3, rng=1)
    H0, M0 = h.weight.numpy().copy(), h.momentum.numpy().copy()
    h.update(torch.from_numpy(X))
    Hn, _ = naive_hebbian(H0, M0, X, 3, eta=0.01, quant_steps=40.0)
    np.testing.assert_allclose(h.weight.numpy(), Hn, atol=1e-10)


def test_orthogonal_init_is_seeded_and_buffers_grow_without_touching_parameters():
    a, b = HebbianSubspace(20), HebbianSubspace(20)
    a.add_neurons(5, rng=7)
    b.add_neurons(5, rng=7)
    assert torch.equal(a.weight, b.weight)
    np.testing.assert_allclose(a.weight.double() @ a.weight.double().T, np.eye(5), atol=1e-6)
    layer = ProjLinear(20, 3, bias=False)
    h = layer.attach_hebbian()
    opt = torch.optim.SGD(layer.parameters(), lr=0.1)
    ids = [id(p) for g in opt.param_groups for p in g["params"]]
    h.add_neurons(4, rng=0)
    h.consolidate()
    h.add_neurons(6, rng=1)
    assert [id(p) for p in layer.parameters()] == ids  # growth re-creates no Parameter
    assert "hebbian.weight" in layer.state_dict() and layer.hebbian.weight.shape == (10, 20)
    fresh = ProjLinear(20, 3, bias=False)
    fresh.attach_hebbian()
    fresh.load_state_dict(layer.state_dict())
    assert torch.equal(fresh.hebbian.weight, layer.hebbian.weight) and fresh.hebbian.n_frozen == 4


def test_hebbian_validation():
    h = HebbianSubspace(6)
    with pytest.raises(ValueError, match="exceeds the input dimension"):
        h.add_neurons(7)
    h.add_neurons(4)
    with pytest.raises(ValueError, match="subspace size"):
        h.add_neurons(3)
    with pytest.raises(ValueError, match="in_features"):
        h.update(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="eta"):
        HebbianParams(eta=-1.0)
    with pytest.raises(ValueError, match="momentum"):
        HebbianParams(momentum=1.0)
    with pytest.raises(ValueError, match="iterations"):
        HebbianParams(iterations=-1)
    with pytest.raises(ValueError, match="iterations"):  # 0 iterations would learn nothing, silently
        HebbianParams(iterations=0)
    with pytest.raises(ValueError, match="eta"):  # likewise eta = 0
        HebbianParams(eta=0.0)
    with pytest.raises(ValueError, match="backend"):
        HebbianSubspace(6, backend="cuda")


# ---------------------------------------------------------------- projection
def _basis(n, r, seed=0, drift=0.2):
    """Drifted (non-orthonormal) Hebbian-like rows and their orthonormal basis."""
    g = torch.Generator().manual_seed(seed)
    H = torch.linalg.qr(torch.randn(n, r, generator=g, dtype=torch.float64))[0].T
    H = H + drift * torch.randn(r, n, generator=g, dtype=torch.float64) / n ** 0.5
    return H, orthonormal_basis(H)


def test_projection_is_idempotent_and_removes_the_row_space():
    H, Q = _basis(12, 4)
    x = torch.randn(9, 12, dtype=torch.float64)
    p = project_rows(x, Q)
    torch.testing.assert_close(project_rows(p, Q), p)
    torch.testing.assert_close(p @ H.T, torch.zeros(9, 4, dtype=torch.float64), atol=1e-12, rtol=0)
    np.testing.assert_allclose(p.numpy(), naive_project(x.numpy(), H.numpy()), atol=1e-12)
    # the raw drifted rows are not a projection: x - HᵀHx is not idempotent
    raw = x - (x @ H.T) @ H
    assert (raw - (raw - (raw @ H.T) @ H)).abs().max() > 1e-3


@pytest.mark.parametrize("r", [5, 11])  # 11 of 15: "auto" projects with the 4-row complement
@pytest.mark.parametrize("mode", ["input", "grad", "auto"])
def test_linear_projected_gradient_routes_equal_and_orthogonal(mode, r):
    torch.manual_seed(0)
    _, Q = _basis(15, r)
    ref = ProjLinear(15, 7, bias=True, dtype=torch.float64)
    lay = ProjLinear(15, 7, bias=True, mode=mode, dtype=torch.float64)
    lay.load_state_dict(ref.state_dict())
    lay.set_basis(Q)
    lay.projection = True
    x = torch.randn(4, 6, 15, dtype=torch.float64, requires_grad=True)  # [T, B, n] multi-step input
    x2 = x.detach().clone().requires_grad_(True)
    (lay(x) ** 2).sum().backward()
    (ref(x2) ** 2).sum().backward()
    gw = lay.weight.grad
    assert lay._complement().shape[0] == (15 - r if 15 - r < r else 0)
    torch.testing.assert_close(gw @ Q.T, torch.zeros(7, r, dtype=torch.float64), atol=1e-12, rtol=0)
    P = torch.eye(15, dtype=torch.float64) - Q.T @ Q
    torch.testing.assert_close(gw, ref.weight.grad @ P)          # = δᵀ(x − QᵀQx)
    torch.testing.assert_close(x.grad, x2.grad)                  # error propagation unchanged
    torch.testing.assert_close(lay.bias.grad, ref.bias.grad)
    assert torch.autograd.gradcheck(lambda a: lay(a), (x[:1, :2].detach().clone().requires_grad_(True),))


@pytest.mark.parametrize("rows, out", [(3, 9), (24, 5)])  # map on the inputs / on the gradient
def test_linear_grad_map_multiplies_the_projected_gradient(rows, out):
    """grad_map M commuting with the projection: grad_W = δᵀ(x − QᵀQx) M on both internal routes."""
    torch.manual_seed(1)
    _, Q = _basis(15, 5)
    P = torch.eye(15, dtype=torch.float64) - Q.T @ Q
    A = torch.randn(15, 15, dtype=torch.float64)
    M = torch.linalg.inv(torch.eye(15, dtype=torch.float64) + P @ (A @ A.T) @ P)  # commutes with P
    ref = ProjLinear(15, out, bias=False, dtype=torch.float64)
    lay = ProjLinear(15, out, bias=False, dtype=torch.float64)
    lay.load_state_dict(ref.state_dict())
    for m in (ref, lay):
        m.set_basis(Q)
        m.projection = True
    lay.grad_map = M
    x = torch.randn(rows, 15, dtype=torch.float64)
    (lay(x) ** 2).sum().backward()
    (ref(x) ** 2).sum().backward()
    torch.testing.assert_close(lay.weight.grad, ref.weight.grad @ M)
    torch.testing.assert_close(lay.weight.grad @ Q.T, torch.zeros(out, 5, dtype=torch.float64), atol=1e-12, rtol=0)


def test_orthogonal_complement_completes_the_basis_and_follows_set_basis():
    _, Q = _basis(20, 13, seed=4)
    C = orthogonal_complement(Q)
    assert C.shape == (7, 20)
    full = torch.cat([Q, C])
    torch.testing.assert_close(full @ full.T, torch.eye(20, dtype=torch.float64), atol=1e-12, rtol=0)
    x = torch.randn(6, 20, dtype=torch.float64)
    torch.testing.assert_close((x @ C.T) @ C, project_rows(x, Q), atol=1e-12, rtol=0)
    lay = ProjLinear(20, 3, dtype=torch.float64)
    lay.set_basis(Q)
    torch.testing.assert_close(lay._complement().abs().sum(), C.abs().sum())
    lay.set_basis(Q[:4])  # the cache follows the new basis (4 of 20: no complement)
    assert lay._complement().shape[0] == 0


def test_conv_projected_gradient_routes_equal_and_orthogonal():
    torch.manual_seed(1)
    n = 3 * 3 * 3
    _, Q = _basis(n, 6)
    grads = {}
    ref = ProjConv2d(3, 5, 3, padding=1, stride=2, dtype=torch.float64)
    x = torch.randn(2, 4, 3, 7, 7, dtype=torch.float64)  # [T, B, C, H, W]
    for mode in ("input", "grad"):
        lay = ProjConv2d(3, 5, 3, padding=1, stride=2, mode=mode, dtype=torch.float64)
        lay.load_state_dict(ref.state_dict())
        lay.set_basis(Q)
        lay.projection = True
        xi = x.clone().requires_grad_(True)
        lay(xi).pow(2).sum().backward()
        grads[mode] = (lay.weight.grad.reshape(5, n), xi.grad)
    xr = x.clone().requires_grad_(True)
    ref(xr).pow(2).sum().backward()
    P = torch.eye(n, dtype=torch.float64) - Q.T @ Q
    for g, gx in grads.values():
        torch.testing.assert_close(g, ref.weight.grad.reshape(5, n) @ P)
        torch.testing.assert_close(g @ Q.T, torch.zeros(5, 6, dtype=torch.float64), atol=1e-12, rtol=0)
        torch.testing.assert_close(gx, xr.grad)
    torch.testing.assert_close(grads["input"][0], grads["grad"][0])


def test_trace_gradient_is_projected_ottt_style():
    torch.manual_seed(2)
    _, Q = _basis(10, 3)
    lay = ProjLinear(10, 4, bias=False, dtype=torch.float64)
    lay.set_basis(Q)
    lay.projection = True
    s = (torch.rand(5, 10, dtype=torch.float64) < 0.3).double()
    a = torch.rand(5, 10, dtype=torch.float64)                    # presynaptic traces
    out = lay(s, trace=a)
    torch.testing.assert_close(out, s @ lay.weight.T)            # forward uses the spikes
    g = torch.randn(5, 4, dtype=torch.float64)
    out.backward(g)
    P = torch.eye(10, dtype=torch.float64) - Q.T @ Q
    torch.testing.assert_close(lay.weight.grad, g.T @ a @ P)     # gradient from the projected trace
    with pytest.raises(ValueError, match="trace"):
        lay(s, trace=a[:2])


def test_response_to_protected_inputs_unchanged_after_training_new_task():
    torch.manual_seed(3)
    n = 20
    lay = ProjLinear(n, 6, bias=False, dtype=torch.float64)
    h = lay.attach_hebbian(HebbianParams(eta=0.05))
    lay.hebbian.to(torch.float64)
    X_old, Vt = _data(n=n, k=4, N=500, seed=4)
    h.weight = h.weight.double()
    h.momentum = h.momentum.double()
    h.add_neurons(4, rng=0)
    for _ in range(60):
        h.update(torch.from_numpy(X_old))
    h.consolidate()
    lay.set_basis(h.basis)
    lay.projection = True
    probe = torch.randn(8, 4, dtype=torch.float64) @ h.basis   # inputs inside the frozen subspace
    before = lay(probe).detach().clone()
    opt = torch.optim.SGD(lay.parameters(), lr=0.1)
    target = torch.randn(6, n, dtype=torch.float64)
    for _ in range(50):                                        # a "new task": regress another map
        x = torch.randn(32, n, dtype=torch.float64)
        opt.zero_grad()
        ((lay(x) - x @ target.T) ** 2).mean().backward()
        opt.step()
    after = lay(probe).detach()
    moved = (lay.weight.detach() @ torch.randn(n, 3, dtype=torch.float64)).abs().max()
    assert moved > 0.1
    torch.testing.assert_close(after, before, atol=1e-10, rtol=0)


def test_set_basis_validation():
    lay = ProjLinear(5, 2)
    with pytest.raises(ValueError, match="basis"):
        lay.set_basis(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="mode"):
        ProjLinear(5, 2, mode="weights")


@pytest.mark.parametrize("kw, exc, name", [
    (dict(in_features=2.0), TypeError, "in_features"), (dict(in_features=float("inf")), TypeError, "in_features"),
    (dict(in_features=0), ValueError, "in_features"), (dict(out_features={"a": 1}), TypeError, "out_features"),
    (dict(out_features=True), TypeError, "out_features"), (dict(out_features=10 ** 12), ValueError, "out_features")])
def test_proj_linear_sizes_are_checked(kw, exc, name):
    """Sizes used to fail inside torch.empty (unnamed) or try to allocate 20 TB."""
    args = {"in_features": 5, "out_features": 4, **kw}
    with pytest.raises(exc, match=name):
        ProjLinear(args["in_features"], args["out_features"])


def test_proj_conv_sizes_are_checked():
    with pytest.raises(TypeError, match="in_channels"):
        ProjConv2d(2.0, 3, 3)
    with pytest.raises(ValueError, match="out_channels"):
        ProjConv2d(2, 10 ** 9, 10 ** 3)
    with pytest.raises(ValueError, match="kernel_size"):
        ProjConv2d(2, 3, 0)


@pytest.mark.parametrize("projection", [False, True])
def test_proj_layers_check_x(projection):
    """Inputs of another dtype, non-tensors, NaN/inf and wrong widths: errors naming x (or trace),
    with or without an active basis; a valid input still equals F.linear."""
    lay = ProjLinear(5, 3)
    conv = ProjConv2d(2, 3, 3, padding=1)
    if projection:
        lay.set_basis(torch.eye(5)[:2])
        conv.set_basis(torch.eye(18)[:2])
        lay.projection = conv.projection = True
    x = torch.rand(4, 5)
    bad_x = {"float64": (x.double(), TypeError), "complex": (x.to(torch.complex64), TypeError),
             "list": ([[0.5] * 5], TypeError), "int": (x.long(), TypeError),
             "inf": (x.clone().index_fill_(1, torch.tensor([2]), float("-inf")), ValueError),
             "nan": (torch.full((2, 5), float("nan")), ValueError), "width": (torch.rand(4, 6), ValueError)}
    for label, (bad, exc) in bad_x.items():
        with pytest.raises(exc, match=r"\bx\b"):
            lay(bad)
    with pytest.raises(ValueError, match="trace"):
        lay(x, trace=torch.full_like(x, float("inf")))
    with pytest.raises(TypeError, match=r"\bx\b"):
        conv(torch.rand(1, 2, 5, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="in_channels"):
        conv(torch.rand(1, 3, 5, 5))
    torch.testing.assert_close(lay(x), x @ lay.weight.T + lay.bias, rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------- metrics
def test_acc_bwt_on_hand_made_matrix():
    R = np.array([[0.9, np.nan, np.nan],
                  [0.8, 0.95, np.nan],
                  [0.7, 0.9, 0.97]])
    assert average_accuracy(R) == pytest.approx((0.7 + 0.9 + 0.97) / 3)
    assert backward_transfer(R) == pytest.approx(((0.7 - 0.9) + (0.9 - 0.95)) / 2)
    assert forgetting(R) == pytest.approx(((0.9 - 0.7) + (0.95 - 0.9)) / 2)
    Rf = np.nan_to_num(R)
    acc, bwt = naive_acc_bwt(Rf)
    assert (average_accuracy(Rf), backward_transfer(Rf)) == pytest.approx((acc, bwt))
    assert backward_transfer([[0.5]]) == 0.0


def test_metric_validation():
    with pytest.raises(ValueError, match="square"):
        average_accuracy(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="at least one task"):
        backward_transfer(np.zeros((0, 0)))
    with pytest.raises(ValueError, match="diagonal"):
        backward_transfer([[0.5, 0.1], [np.nan, 0.4]])
    for bad in (np.inf, -np.inf):  # inf is never an accuracy, even above the diagonal (NaN marks "unmeasured")
        with pytest.raises(ValueError, match=r"R contains inf \(first at R\[0, 1\]"):
            average_accuracy([[0.5, bad], [0.3, 0.4]])
    assert average_accuracy([[0.5, np.nan], [0.3, 0.4]]) == pytest.approx(0.35)
