"""Readouts: ridge vs least squares, CV, ANN, contrastive loss vs hand computation, three-factor and FORCE vs loops."""
from __future__ import annotations

import math

import numpy as np
import pytest

import neurosim.reservoir as R
from naive_reservoir import force_naive, ridge_naive, three_factor_naive


@pytest.fixture
def one_torch_thread():
    """Tiny batches: one thread avoids spin-waiting on a shared machine (restored afterwards)."""
    torch = pytest.importorskip("torch")
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def test_ridge_equals_augmented_lstsq():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 7))
    Y = X @ rng.standard_normal((7, 3)) + 0.5 + 0.1 * rng.standard_normal((60, 3))
    for alpha in (0.0, 0.3, 10.0):
        m = R.Ridge(alpha).fit(X, Y)
        w, b = ridge_naive(X, Y, alpha)
        assert np.allclose(m.coef_, w, atol=1e-10) and np.allclose(m.intercept_, b, atol=1e-10)
    # alpha = 0 is ordinary least squares with intercept
    w_ls = np.linalg.lstsq(np.hstack([X, np.ones((60, 1))]), Y, rcond=None)[0]
    assert np.allclose(R.Ridge(0.0).fit(X, Y).predict(X), np.hstack([X, np.ones((60, 1))]) @ w_ls, atol=1e-10)
    y1 = R.Ridge(1.0).fit(X, Y[:, 0]).predict(X)
    assert y1.shape == (60,)


def test_ridge_cv_picks_the_fold_minimum():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((50, 30))
    y = X[:, 0] + 0.5 * rng.standard_normal(50)
    alphas = [1e-6, 1.0, 30.0, 1e4]
    cv = R.RidgeCV(alphas, k=5).fit(X, y)
    # independent re-computation of the fold errors
    folds = np.array_split(np.arange(50), 5)
    mse = []
    for a in alphas:
        errs = []
        for f in folds:
            tr = np.setdiff1d(np.arange(50), f)
            w, b = ridge_naive(X[tr], y[tr, None], a)
            errs.append(np.sum((X[f] @ w + b - y[f, None]) ** 2))
        mse.append(sum(errs) / 50)
    assert np.allclose(cv.cv_mse_, mse, rtol=1e-8)
    assert cv.alpha_ == alphas[int(np.argmin(mse))]
    assert cv.alpha_ not in (1e-6, 1e4)  # 30 features, 40 samples: needs regularisation, not too much
    with pytest.raises(ValueError, match="k"):
        R.RidgeCV(k=1)
    with pytest.raises(ValueError, match="alphas"):
        R.RidgeCV(alphas=[-1.0])


def test_ann_readout_learns_separable_classes(one_torch_thread):
    pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    X = rng.standard_normal((300, 5)) + 3.0 * np.eye(3, 5)[y]
    m = R.ANNReadout(hidden=(16,), epochs=10, lr=1e-2, batch_size=64, rng=0).fit(X, y)
    assert np.mean(m.classify(X) == y) > 0.95
    m2 = R.ANNReadout(hidden=(16,), epochs=10, lr=1e-2, batch_size=64, rng=0).fit(X, y)
    assert np.array_equal(m.predict_logits(X), m2.predict_logits(X))


def test_clip_loss_matches_hand_computation():
    torch = pytest.importorskip("torch")
    from neurosim.reservoir.contrastive import clip_loss

    za = np.array([[1.0, 0.0], [0.6, 0.8]])
    zb = np.array([[0.0, 1.0], [1.0, 0.0]])
    tau = 0.5
    s = za @ zb.T / tau  # already unit vectors
    def ce(rows):
        return np.mean([-rows[i, i] + math.log(np.exp(rows[i]).sum()) for i in range(2)])
    ref = 0.5 * (ce(s) + ce(s.T))
    got = clip_loss(torch.tensor(za), torch.tensor(zb), temperature=tau).item()
    assert abs(got - ref) < 1e-12
    # normalisation: scaling the embeddings does not change the loss
    got2 = clip_loss(torch.tensor(3 * za), torch.tensor(zb), temperature=tau).item()
    assert abs(got2 - ref) < 1e-12
    with pytest.raises(ValueError, match="temperature"):
        clip_loss(torch.tensor(za), torch.tensor(zb), temperature=0.0)


def test_contrastive_heads_zero_shot_on_toy_modalities(one_torch_thread):
    pytest.importorskip("torch")
    from neurosim.reservoir.contrastive import ContrastiveHeads, sample_class_pairs

    rng = np.random.default_rng(0)
    n_cls, dim = 10, 12
    protos = rng.standard_normal((n_cls, dim))
    A_map, B_map = rng.standard_normal((dim, 20)), rng.standard_normal((dim, 15))
    def modality(mat, n):
        lab = rng.integers(0, n_cls, n)
        return (protos[lab] + 0.3 * rng.standard_normal((n, dim))) @ mat, lab
    Fa, la = modality(A_map, 600)
    Fb, lb = modality(B_map, 600)
    tr_a, tr_b = la < 8, lb < 8
    heads = ContrastiveHeads(20, 15, proj_dim=16, temperature=0.2, epochs=6, batch_size=8, pairs_per_epoch=400,
                             lr=1e-2, rng=0).fit(Fa[tr_a], la[tr_a], Fb[tr_b], lb[tr_b])
    assert heads.loss_history_[-1] < heads.loss_history_[0]
    za, zb = heads.embed(Fa[~tr_a], "a"), heads.embed(Fb[~tr_b], "b")
    top1 = R.top1_retrieval(zb, lb[~tr_b], za, la[~tr_a])
    assert top1 > 0.7  # unseen classes 8-9: chance is 0.5
    ia, ib = sample_class_pairs(la, lb, 64, rng=1, distinct_classes=8)
    assert np.array_equal(la[ia], lb[ib])
    assert all(len(set(la[ia[s:s + 8]])) == 8 for s in range(0, 64, 8))


def test_top1_retrieval_hand_example():
    q = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    g = np.array([[2.0, 0.0], [0.0, 1.0]])
    assert R.top1_retrieval(q, [0, 1, 1], g, [0, 1]) == pytest.approx(2 / 3)


def test_three_factor_equals_naive_loop():
    rng = np.random.default_rng(0)
    x = rng.random((50, 6))
    y = rng.random((50, 2))
    gate = (rng.random(50) < 0.6).astype(float)
    m = R.ThreeFactorReadout(6, 2, eta=0.05, decay=1e-3)
    z = m.train(x, y, gate)
    w_ref, z_ref = three_factor_naive(x, y, gate, 0.05, 1e-3, 2)
    assert np.allclose(z, z_ref, atol=1e-12) and np.allclose(m.W, w_ref, atol=1e-12)
    with pytest.raises(ValueError, match="n_in"):
        m.train(x[:, :5], y)
    with pytest.raises(ValueError, match="eta"):
        R.ThreeFactorReadout(3, 1, eta=0.0)
    # LMS stability: eta * ||x||^2 > 2 diverges -> a clear error instead of NaN weights
    big = R.ThreeFactorReadout(6, 2, eta=10.0)
    with pytest.raises(ValueError, match="eta"):
        big.train(np.tile(x * 10, (4, 1)), np.tile(y, (4, 1)))


def test_force_equals_naive_rls_and_converges():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 5))
    w_true = rng.standard_normal((1, 5))
    y = x @ w_true.T
    m = R.FORCEReadout(5, 1, alpha=0.1)
    z = m.train(x, y)
    w_ref, z_ref = force_naive(x, y, 0.1, 1)
    assert np.allclose(z, z_ref, atol=1e-10) and np.allclose(m.W, w_ref, atol=1e-10)
    assert np.allclose(m.W, w_true, atol=1e-3)
