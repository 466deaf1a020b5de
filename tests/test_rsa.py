"""RDMs, dissimilarities and comparisons: identity, double loops, scipy and rsatoolbox."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.spatial.distance as ssd
import scipy.stats

import naive_rsa as naive
from neurosim.rsa import (RDM, Correlation, Cosine, Crossnobis, Euclidean, KendallTauA, Spearman,
                          argsort_ranks, average_ranks, calc_rdm, compare, get_comparison,
                          get_dissimilarity, linear_cka)


@pytest.fixture
def data():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(12, 7))
    Y = X @ rng.normal(size=(7, 9)) + 0.5 * rng.normal(size=(12, 9))
    return X, Y


# --- RDM value object -----------------------------------------------------------------------

def test_rdm_roundtrip_subset_reorder(data):
    X, _ = data
    r = calc_rdm(X, "euclidean")
    D = ssd.squareform(r.vector)
    assert np.array_equal(r.square(), D)
    assert RDM.from_square(D) == r.__class__(r.vector, "unknown")  # same vector, default name
    idx = [5, 0, 3, 7]
    assert np.allclose(r.subset(idx).square(), D[np.ix_(idx, idx)])
    order = np.random.default_rng(0).permutation(12)
    assert np.allclose(r.reorder(order).square(), D[np.ix_(order, order)])
    with pytest.raises(ValueError):
        r.vector[0] = 1.0  # read-only
    with pytest.raises(ValueError, match="n\\(n-1\\)/2"):
        RDM(np.ones(5))
    with pytest.raises(ValueError, match="indices"):
        r.subset([1, 1, 2])
    with pytest.raises(ValueError, match="order"):
        r.reorder([0, 1])
    with pytest.raises(ValueError, match="conditions"):
        RDM(np.ones(3), conditions=("a", "b"))


# --- dissimilarities vs double loops and scipy -------------------------------------------

@pytest.mark.parametrize("kind,obj,metric", [
    ("correlation", Correlation(), "correlation"),
    ("cosine", Cosine(), "cosine"),
    ("euclidean", Euclidean(squared=False, per_channel=False), "euclidean"),
])
def test_dissimilarities_match_loop_and_pdist(data, kind, obj, metric):
    X, _ = data
    v = obj(X).vector
    assert np.allclose(v, naive.rdm_loop(X, kind), atol=1e-12)
    assert np.allclose(v, ssd.pdist(X, metric), atol=1e-12)


def test_correlation_float32_close(data):
    X, _ = data
    v32 = Correlation(dtype=np.float32)(X).vector
    assert np.allclose(v32, ssd.pdist(X, "correlation"), atol=1e-5)


def test_euclidean_default_is_rsatoolbox_convention(data):
    X, _ = data
    assert np.allclose(Euclidean()(X).vector, naive.rdm_loop(X, "euclidean_rsatoolbox"), atol=1e-12)


def test_crossnobis_matches_loop():
    rng = np.random.default_rng(2)
    conds = np.repeat(np.arange(5), 4)
    folds = np.tile(np.arange(4), 5)
    X = rng.normal(size=(20, 6)) + conds[:, None]
    v = Crossnobis()(X, conds, folds).vector
    assert np.allclose(v, naive.crossnobis_loop(X, list(conds), list(folds)), atol=1e-12)
    # default folds = k-th repeat of each condition
    assert np.allclose(Crossnobis()(X, conds).vector, v, atol=1e-12)


def test_registry_errors():
    with pytest.raises(KeyError, match="correlation"):
        get_dissimilarity("nope")
    with pytest.raises(KeyError, match="spearman"):
        get_comparison("nope")
    with pytest.raises(ValueError, match="conditions"):
        Crossnobis()(np.ones((4, 3)))


# --- comparisons ---------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["spearman", "pearson", "tau-a", "cosine"])
def test_compare_identity_is_one(data, method):
    r = calc_rdm(data[0])
    assert compare(r, r, method) == pytest.approx(1.0, abs=1e-12)


def test_compare_against_scipy_and_loops(data):
    a = calc_rdm(data[0]).vector
    b = calc_rdm(data[1]).vector
    assert compare(a, b, "spearman") == pytest.approx(scipy.stats.spearmanr(a, b).statistic, abs=1e-12)
    assert compare(a, b, "pearson") == pytest.approx(scipy.stats.pearsonr(a, b).statistic, abs=1e-12)
    assert compare(a, b, "tau-a") == pytest.approx(naive.tau_a_loop(a, b), abs=1e-12)
    assert compare(a, b, Spearman(ties="argsort")) == pytest.approx(naive.spearman_argsort_literal(a, b),
                                                                    abs=1e-12)


def test_ties_argsort_variant_reproduces_published_definition():
    # hand-made ties: 3 tied values in x, 2 in y
    x = np.array([0.5, 0.1, 0.5, 0.9, 0.5, 0.2, 0.7, 0.3])
    y = np.array([0.4, 0.4, 0.8, 0.1, 0.6, 0.2, 0.9, 0.3])
    assert np.array_equal(argsort_ranks(x), np.argsort(np.argsort(x)))
    got = compare(x, y, Spearman(ties="argsort"))
    assert got == pytest.approx(naive.spearman_argsort_literal(x, y), abs=1e-15)
    # ... and differs from the average-rank value that scipy gives
    assert compare(x, y, "spearman") == pytest.approx(scipy.stats.spearmanr(x, y).statistic, abs=1e-12)
    assert abs(got - compare(x, y, "spearman")) > 1e-3
    assert np.allclose(average_ranks(x), scipy.stats.rankdata(x))


def test_tau_a_with_ties_matches_loop():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 4, 40).astype(float)
    y = rng.integers(0, 3, 40).astype(float)
    assert KendallTauA()(x, y) == pytest.approx(naive.tau_a_loop(x, y), abs=1e-12)


def test_compare_bad_input():
    with pytest.raises(ValueError, match="mismatched"):
        compare(np.ones(3), np.ones(6))
    with pytest.raises(ValueError, match="ties"):
        Spearman(ties="dense")
    with pytest.raises(ValueError, match="1-D"):
        compare(np.ones((3, 3)), np.ones(3))


def test_linear_cka(data):
    X, Y = data
    assert linear_cka(X, X) == pytest.approx(1.0)
    assert linear_cka(X, Y) == pytest.approx(naive.cka_feature_space(X, Y), abs=1e-12)
    wide = np.random.default_rng(0).normal(size=(12, 50))  # Gram path
    assert linear_cka(X, wide) == pytest.approx(naive.cka_feature_space(X, wide), abs=1e-12)
    Q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(7, 7)))
    assert linear_cka(X, 3 * X @ Q + 1) == pytest.approx(1.0)  # orthogonal + isotropic scale invariant


# --- rsatoolbox parity ------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")  # inside rsatoolbox
def test_agrees_with_rsatoolbox():
    rsatb = pytest.importorskip("rsatoolbox")
    from rsatoolbox.data import Dataset
    from rsatoolbox.rdm import calc_rdm as rcalc, compare as rcompare

    rng = np.random.default_rng(4)
    X = rng.normal(size=(10, 8))
    Y = rng.normal(size=(10, 8)) + X
    ds = Dataset(X)
    for method, ours in [("correlation", Correlation()), ("euclidean", Euclidean())]:
        assert np.allclose(ours(X).vector, rcalc(ds, method=method).get_vectors()[0], atol=1e-10, rtol=0)
    conds = np.repeat(np.arange(5), 3)
    folds = np.tile(np.arange(3), 5)
    Z = rng.normal(size=(15, 6)) + conds[:, None]
    dz = Dataset(Z, obs_descriptors={"conds": conds, "fold": folds})
    ref = rcalc(dz, method="crossnobis", descriptor="conds", cv_descriptor="fold").get_vectors()[0]
    assert np.allclose(Crossnobis()(Z, conds, folds).vector, ref, atol=1e-10, rtol=0)
    A = rng.normal(size=(6, 6))
    prec = A @ A.T + np.eye(6)  # a noise precision matrix
    ref = rcalc(dz, method="crossnobis", descriptor="conds", cv_descriptor="fold", noise=prec).get_vectors()[0]
    assert np.allclose(Crossnobis(prec)(Z, conds, folds).vector, ref, atol=1e-10, rtol=0)
    ra = rcalc(ds, method="correlation")
    rb = rcalc(Dataset(Y), method="correlation")
    a, b = Correlation()(X), Correlation()(Y)
    for ours, theirs in [("spearman", "spearman"), ("pearson", "corr"), ("tau-a", "tau-a"),
                         ("cosine", "cosine")]:
        assert compare(a, b, ours) == pytest.approx(float(rcompare(ra, rb, method=theirs)[0, 0]), abs=1e-10)


def test_cosine_rdm_zero_row_error():
    X = np.ones((4, 3))
    X[2] = 0
    with pytest.raises(ValueError, match="all-zero row"):
        Cosine()(X)
