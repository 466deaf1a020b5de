"""TSRSA, ceilings, control experiments, inference and the regression metric."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

import naive_rsa as naive
from neurosim.rsa import (bootstrap_ci, clip_length_scores, correlation_matrix,
                          frame_replacement_experiment, frame_shuffle_experiment, level_of_chaos,
                          permutation_test, regression_score, replace_frames, shuffle_within_windows,
                          split_half_ceiling, trial_split_half_ceiling, tsrsa, tsrsa_scores, tsrsa_vector)


def _pair(T=20, N=15, M=18, seed=0):
    rng = np.random.default_rng(seed)
    latent = np.cumsum(rng.normal(size=(T, 4)), axis=0)
    X = latent @ rng.normal(size=(4, N)) + 0.3 * rng.normal(size=(T, N))
    Y = latent @ rng.normal(size=(4, M)) + 0.5 * rng.normal(size=(T, M))
    return X, Y


def test_tsrsa_matches_paper_loop_and_scipy():
    X, Y = _pair()
    assert tsrsa(X, Y) == pytest.approx(naive.tsrsa_loop(X, Y), abs=1e-12)
    iu = np.triu_indices(20, 1)
    ref = scipy.stats.spearmanr(np.corrcoef(X)[iu], np.corrcoef(Y)[iu]).statistic
    assert tsrsa(X, Y, ties="average") == pytest.approx(ref, abs=1e-12)
    assert tsrsa(X, X) == pytest.approx(1.0)


def test_tsrsa_vector_is_row_major_upper_triangle():
    X, _ = _pair(T=6)
    C = np.corrcoef(X)
    assert np.allclose(tsrsa_vector(X), 1 - C[np.triu_indices(6, 1)], atol=1e-14)


def test_invariances_and_documented_per_unit_sensitivity():
    X, Y = _pair()
    s = tsrsa(X, Y)
    perm = np.random.default_rng(1).permutation(X.shape[1])
    assert tsrsa(X[:, perm], Y) == pytest.approx(s, abs=1e-12)
    assert tsrsa(3.7 * X - 11.0, Y) == pytest.approx(s, abs=1e-12)  # one affine map for all units
    # per-unit scaling changes the score (documented: no z-scoring, as in the paper)
    scale = np.ones(X.shape[1])
    scale[0] = 25.0
    assert abs(tsrsa(X * scale, Y) - s) > 1e-3
    # a per-unit offset changes it too
    off = np.zeros(X.shape[1])
    off[:3] = 50.0
    assert abs(tsrsa(X + off, Y) - s) > 1e-3


def test_chunked_equals_unchunked(tmp_path):
    rng = np.random.default_rng(5)
    X = rng.poisson(2.0, size=(30, 1000)).astype(np.float32)
    C = correlation_matrix(X.astype(np.float64))
    mm = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float32, shape=X.shape)
    mm[:] = X
    mm.flush()
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    assert np.allclose(correlation_matrix(mm, chunk_size=128), C, atol=2e-6)
    assert np.allclose(correlation_matrix(mm, chunk_size=128, dtype=np.float64), C, atol=1e-12)
    it = (X[:, a:a + 97] for a in range(0, 1000, 97))
    assert np.allclose(correlation_matrix(it, dtype=np.float64), C, atol=1e-12)
    it = (X[:, a:a + 97] for a in range(0, 1000, 97))
    assert np.allclose(correlation_matrix(it), C, atol=2e-6)
    Y = rng.normal(size=(30, 40))
    assert tsrsa(iter([X[:, :500], X[:, 500:]]), Y, dtype=np.float64) == pytest.approx(tsrsa(X, Y), abs=1e-12)


def test_bad_inputs():
    X, Y = _pair()
    with pytest.raises(ValueError, match="mismatched frame counts"):
        tsrsa(X, Y[:-1])
    with pytest.raises(ValueError, match="at least 3 frames"):
        tsrsa(X[:2], Y[:2])
    Xn = X.copy()
    Xn[4, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        tsrsa(Xn, Y)
    Xc = X.copy()
    Xc[[3, 7]] = 1.0
    with pytest.raises(ValueError, match="constant.*3, 7"):
        tsrsa(Xc, Y)
    with pytest.raises(ValueError, match="constant_rows"):
        tsrsa(X, Y, constant_rows="zero")
    with pytest.raises(ValueError, match="ties"):
        tsrsa(X, Y, ties="min")
    with pytest.raises(ValueError, match="mismatched frame counts"):
        correlation_matrix(iter([X[:, :5], X[:-1, 5:]]))


def test_constant_rows_omit_drops_their_pairs():
    X, Y = _pair()
    Xc = X.copy()
    Xc[5] = 2.0
    keep = np.array([t for t in range(20) if t != 5])
    assert tsrsa(Xc, Y, constant_rows="omit") == pytest.approx(tsrsa(X[keep], Y[keep]), abs=1e-12)


def test_tsrsa_scores_layers_by_areas():
    X, Y = _pair()
    X2, Y2 = _pair(seed=3)
    res = tsrsa_scores({"l1": X, "l2": X2}, {"VISp": Y, "VISl": Y2})
    ref = np.array([[tsrsa(a, b) for b in (Y, Y2)] for a in (X, X2)])
    assert np.allclose(res.matrix, ref, atol=1e-12)
    assert res.score == pytest.approx(ref.max(axis=0).mean())
    assert res.best_layers["VISl"] == ("l1", "l2")[int(ref[:, 1].argmax())]
    d = res.to_dict()
    assert d["scores"]["l2"]["VISp"] == pytest.approx(ref[1, 0])
    with pytest.raises(ValueError, match="mismatched frame counts"):
        tsrsa_scores({"l1": X[:-1]}, {"VISp": Y})


def test_split_half_ceiling_reproducible_and_correct():
    _, Y = _pair(M=40)
    c1 = split_half_ceiling(Y, n_splits=5, rng=2023)
    c2 = split_half_ceiling(Y, n_splits=5, rng=2023)
    assert np.array_equal(c1.values, c2.values)
    gen = np.random.default_rng(2023)
    ref = []
    for _ in range(5):
        p = gen.permutation(40)
        ref.append(naive.tsrsa_loop(Y[:, np.sort(p[:20])], Y[:, np.sort(p[20:])]))
    assert np.allclose(c1.values, ref, atol=1e-12)
    assert c1.sem == pytest.approx(np.std(ref) / np.sqrt(5))
    with pytest.raises(ValueError, match="4 units"):
        split_half_ceiling(Y[:, :3])


def test_trial_split_half_ceiling():
    rng = np.random.default_rng(0)
    signal = rng.normal(size=(15, 1, 30))
    Y = signal + 0.1 * rng.normal(size=(15, 8, 30))
    c = trial_split_half_ceiling(Y, n_splits=4, rng=1)
    assert c.mean > 0.9 and np.array_equal(c.values, trial_split_half_ceiling(Y, n_splits=4, rng=1).values)
    noise_only = rng.normal(size=(15, 8, 30))
    assert abs(trial_split_half_ceiling(noise_only, n_splits=4, rng=1).mean) < 0.3
    with pytest.raises(ValueError, match="frames, trials, units"):
        trial_split_half_ceiling(Y[0])


def test_clip_length_scores():
    X, Y = _pair(T=40)
    res = clip_length_scores(X, Y, 10, n_clips=5, rng=7)
    starts = np.random.default_rng(7).choice(31, 5, replace=False)
    ref = [tsrsa(X[s:s + 10], Y[s:s + 10]) for s in starts]
    assert np.allclose(res.values, ref)
    with pytest.raises(ValueError, match="clip_len"):
        clip_length_scores(X, Y, 41)


def test_shuffle_windows_and_chaos():
    p = shuffle_within_windows(23, 5, rng=0)
    assert np.array_equal(np.sort(p), np.arange(23))
    for a in range(0, 23, 5):
        assert set(p[a:a + 5]) == set(range(a, min(a + 5, 23)))
    assert level_of_chaos(np.arange(10)) == 0.0
    assert level_of_chaos(np.arange(10)[::-1]) == pytest.approx(2.0)
    assert level_of_chaos(p) == pytest.approx(1 - scipy.stats.spearmanr(p, np.arange(23)).statistic)
    assert np.array_equal(shuffle_within_windows(23, 1, rng=0), np.arange(23))


def test_replace_frames():
    movie = np.random.default_rng(0).random((20, 4, 4))
    new, idx = replace_frames(movie, 5, kind="black", rng=0)
    assert idx.size == 4 and all(a <= i < a + 5 for a, i in zip(range(0, 20, 5), idx))
    assert np.all(new[idx] == movie.min())
    mask = np.ones(20, bool)
    mask[idx] = False
    assert np.array_equal(new[mask], movie[mask])
    with pytest.raises(ValueError, match="kind"):
        replace_frames(movie, 5, kind=np.zeros((3, 3)))


def test_shuffle_and_replacement_experiments_with_a_memoryless_model():
    # a frame-wise (memoryless) "model": shuffling with aligned neural rows leaves its score intact
    rng = np.random.default_rng(0)
    movie = np.cumsum(rng.normal(size=(30, 12)), axis=0)
    W = rng.normal(size=(12, 25))

    def model(m):
        return {"relu": np.maximum(m @ W, 0) + 1e-3 * np.arange(25)}

    Y = np.tanh(movie @ rng.normal(size=(12, 20)))
    out = frame_shuffle_experiment(model, movie, Y, [1, 5], n_trials=2, rng=0)
    assert out["chaos"][0].max() == 0 and out["chaos"][1].min() > 0
    assert np.allclose(out["score"][0], out["baseline"])
    rep = frame_replacement_experiment(model, movie, Y, [3], n_trials=2, rng=0)
    assert rep["score"].shape == (1, 2) and np.all(rep["score"] < rep["baseline"])


def test_permutation_and_bootstrap():
    X, Y = _pair(T=15)
    res = permutation_test(X, Y, n_permutations=50, rng=0)
    assert res["score"] == pytest.approx(tsrsa(X, Y))
    assert res["p_value"] == pytest.approx(1 / 51)  # strongly related: never beaten
    again = permutation_test(X, Y, n_permutations=50, rng=0)
    assert np.array_equal(res["null"], again["null"])
    rnd = np.random.default_rng(9).normal(size=Y.shape)
    assert permutation_test(rnd, Y, n_permutations=50, rng=0)["p_value"] > 0.05
    ci = bootstrap_ci(X, Y, n_boot=20, rng=0)
    assert ci["low"] <= ci["high"] and np.array_equal(ci["boot"], bootstrap_ci(X, Y, n_boot=20, rng=0)["boot"])
    ci_u = bootstrap_ci(X, Y, n_boot=5, over="units", rng=0)
    assert ci_u["boot"].shape == (5,)
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci(X, Y, confidence=1.0)
    # 3 conditions: many draws hold one distinct condition (no pair to rank) -> skipped as NaN
    small = bootstrap_ci(X[:3], Y[:3], n_boot=40, rng=0)
    assert np.isnan(small["boot"]).any() and np.isfinite(small["low"]) and small["low"] <= small["high"]


def test_regression_matches_sklearn_pipeline():
    pytest.importorskip("sklearn")
    from sklearn.decomposition import PCA
    from sklearn.linear_model import Ridge
    from sklearn.metrics import r2_score

    X, Y = _pair(T=50, N=60, M=10)
    got = regression_score(X, Y, n_components=8, same_data=True)
    Z = PCA(8).fit_transform(X)
    ref = r2_score(Y, Ridge(alpha=1.0).fit(Z, Y).predict(Z))
    assert got["r2"] == pytest.approx(ref, abs=1e-10)
    held = regression_score(X, Y, n_components=8, n_folds=5)
    # held-out fold 0 by hand
    Xtr, Ytr, Xte, Yte = X[10:], Y[10:], X[:10], Y[:10]
    pca = PCA(8).fit(Xtr)
    pred = Ridge(alpha=1.0).fit(pca.transform(Xtr), Ytr).predict(pca.transform(Xte))
    f0 = r2_score(Yte, pred, multioutput="raw_values")
    assert held["r2"] < got["r2"]
    assert np.isfinite(held["r2"]) and held["r2_per_unit"].shape == (10,)
    # recompute fold 0 through the public function on the same split
    from neurosim.rsa.regression import _fit_predict, r2_per_unit
    assert np.allclose(r2_per_unit(Yte, _fit_predict(Xtr, Ytr, Xte, 8, 1.0)), f0, atol=1e-10)
    with pytest.raises(ValueError, match="alpha"):
        regression_score(X, Y, alpha=-1)
