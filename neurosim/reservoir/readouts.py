"""Offline readouts: ridge regression (closed form, k-fold CV over a grid) and a trainable ANN.

Ridge with an unpenalised bias (features and targets centred first)::

    W = (Xc^T Xc + alpha I)^{-1} Xc^T Yc,   b = mean(Y) - mean(X) W

``RidgeCV`` picks ``alpha`` from a grid by k-fold cross-validation (contiguous folds by default,
which suits time series; ``shuffle=True`` with an ``rng`` for i.i.d. samples), then refits on
all data. ``ANNReadout`` (torch, imported lazily) is an MLP trained with cross-entropy and Adam
on fixed reservoir features (the paper's ``Read_ANN``).
"""
from __future__ import annotations

import numpy as np

from neurosim._rng import as_generator, torch_generator
from neurosim._validation import as_float_array, check_int, check_nonnegative, check_positive, check_same_length

from .memory import check_fits, ridge_fit_bytes

__all__ = ["Ridge", "RidgeCV", "ANNReadout", "one_hot"]


def one_hot(labels, n_classes: int | None = None) -> np.ndarray:
    """``[B]`` integer labels -> ``[B, n_classes]`` one-hot float array."""
    labels = np.asarray(labels).astype(int).ravel()
    n_classes = int(labels.max()) + 1 if n_classes is None else check_int("n_classes", n_classes, min_value=1)
    out = np.zeros((labels.size, n_classes))
    out[np.arange(labels.size), labels] = 1.0
    return out


class Ridge:
    """Closed-form ridge regression with an unpenalised bias."""

    def __init__(self, alpha: float = 1e-6):
        self.alpha = check_nonnegative("alpha", alpha)
        self.coef_ = None
        self.intercept_ = None

    def fit(self, X, Y):
        _check_ridge_memory("Ridge.fit", X, Y)
        X = as_float_array("X", X, ndim=2)
        Y = as_float_array("Y", Y, ndim=(1, 2))
        check_same_length(X=X, Y=Y)
        self._1d = Y.ndim == 1
        Y2 = Y[:, None] if self._1d else Y
        xm, ym = X.mean(0), Y2.mean(0)
        Xc, Yc = X - xm, Y2 - ym
        with np.errstate(over="ignore", invalid="ignore"):
            A = Xc.T @ Xc
            B = Xc.T @ Yc
        if not np.all(np.isfinite(A)):
            raise ValueError(f"X is too large (|X| up to {np.max(np.abs(X)):.3g}): X^T X overflows {A.dtype}; "
                             "standardise X first")
        # alpha is added in float64 (float32 features would overflow for alpha > 3.4e38)
        A = A.astype(np.float64, copy=False)
        with np.errstate(over="ignore"):
            A[np.diag_indices_from(A)] += self.alpha
        if not np.all(np.isfinite(A)):
            raise ValueError(f"alpha={self.alpha:.3g} plus X^T X overflows float64; use a smaller alpha")
        if not np.all(np.isfinite(B)):
            raise ValueError(f"X and Y are too large together (|X| up to {np.max(np.abs(X)):.3g}, |Y| up to "
                             f"{np.max(np.abs(Y)):.3g}): X^T Y overflows {B.dtype}; standardise X and Y first")
        try:
            coef = np.linalg.solve(A, B)
        except np.linalg.LinAlgError:
            coef = np.linalg.lstsq(A, B, rcond=None)[0]
        self.coef_ = coef.astype(np.result_type(Xc, Yc), copy=False)  # float32 in, float32 out
        with np.errstate(over="ignore", invalid="ignore"):
            self.intercept_ = ym - xm @ self.coef_
        if not (np.all(np.isfinite(self.coef_)) and np.all(np.isfinite(self.intercept_))):
            self.coef_ = self.intercept_ = None
            raise ValueError("the ridge solution overflows float64 for this X and Y (ill-conditioned or badly "
                             "scaled X); standardise X or raise alpha")
        return self

    def predict(self, X) -> np.ndarray:
        if self.coef_ is None:
            raise ValueError("fit the readout before predict")
        X = as_float_array("X", X, ndim=2)
        if X.shape[1] != self.coef_.shape[0]:
            raise ValueError(f"X has {X.shape[1]} features, the readout was fit on {self.coef_.shape[0]}")
        with np.errstate(over="ignore", invalid="ignore"):
            out = X @ self.coef_ + self.intercept_
        if not np.all(np.isfinite(out)):
            raise ValueError(f"X (|X| up to {np.max(np.abs(X)):.3g}) is too large for the fitted readout: the "
                             "prediction overflows float64; scale X as the training features were")
        return out[:, 0] if self._1d else out

    def classify(self, X) -> np.ndarray:
        """Arg-max of the prediction (fit on one-hot targets)."""
        return np.argmax(self.predict(X), axis=1)


def _check_ridge_memory(what, X, Y, folds: int = 1):
    """``ValueError`` before a fit whose ``[F, F]`` normal matrix cannot fit in memory.

    ``folds`` > 1 (``RidgeCV``): each fit copies the training rows of a fold, then centres them.
    """
    shape, yshape = np.shape(X), np.shape(Y)
    if len(shape) != 2:
        return  # as_float_array names the wrong rank
    s, f = shape
    k = yshape[1] if len(yshape) == 2 else 1
    conv = getattr(X, "dtype", None) != np.float64
    rows = s if folds == 1 else 2 * (s - s // folds)  # rows copied + centred in one fit

    def need(n):
        return ridge_fit_bytes(rows, n, k) + 8 * s * n * conv

    check_fits(f"{what} on X [{s}, {f}]", need, f, name="features (X.shape[1])",
               fix="use fewer reservoir units or time windows")


def _folds(n: int, k: int, shuffle: bool, rng):
    idx = as_generator(rng).permutation(n) if shuffle else np.arange(n)
    return np.array_split(idx, k)


class RidgeCV:
    """Ridge whose ``alpha`` is chosen by k-fold cross-validation (mean squared error).

    Attributes after ``fit``: ``alpha_`` (chosen), ``cv_mse_`` [len(alphas)], ``model_`` (Ridge).
    """

    def __init__(self, alphas=(1e-8, 1e-6, 1e-4, 1e-2, 1.0), k: int = 5, shuffle: bool = False, rng=None):
        self.alphas = as_float_array("alphas", alphas, ndim=1)
        if self.alphas.size == 0 or np.any(self.alphas < 0):
            raise ValueError(f"alphas must be a non-empty list of values >= 0, got {alphas}")
        self.k = check_int("k", k, min_value=2)
        self.shuffle = bool(shuffle)
        self.rng = rng

    def fit(self, X, Y):
        _check_ridge_memory("RidgeCV.fit", X, Y, folds=self.k)
        X = as_float_array("X", X, ndim=2)
        Y = as_float_array("Y", Y, ndim=(1, 2))
        n = check_same_length(X=X, Y=Y)
        if n < self.k:
            raise ValueError(f"k={self.k} folds need at least k samples, got {n}")
        folds = _folds(n, self.k, self.shuffle, self.rng)
        mse = np.zeros(self.alphas.size)
        for test in folds:
            train = np.setdiff1d(np.arange(n), test, assume_unique=True)
            for i, a in enumerate(self.alphas):
                pred = Ridge(a).fit(X[train], Y[train]).predict(X[test])
                mse[i] += np.mean((pred - Y[test]) ** 2) * len(test) / n
        self.cv_mse_ = mse
        self.alpha_ = float(self.alphas[int(np.argmin(mse))])
        self.model_ = Ridge(self.alpha_).fit(X, Y)
        return self

    def predict(self, X):
        if not hasattr(self, "model_"):
            raise ValueError("fit the readout before predict")
        return self.model_.predict(X)

    def classify(self, X):
        return np.argmax(self.predict(X), axis=1)


class ANNReadout:
    """Trainable MLP readout (torch; the paper's ``Read_ANN``): features -> hidden -> classes.

    Parameters
    ----------
    hidden : hidden widths (empty tuple = linear softmax readout).
    lr, epochs, batch_size : Adam learning rate, passes over the data, minibatch size.
    standardize : z-score features with the training mean/std.
    rng : seed or Generator (weights init and shuffling).
    """

    def __init__(self, hidden=(200,), lr: float = 1e-3, epochs: int = 20, batch_size: int = 100,
                 standardize: bool = True, rng=None):
        self.hidden = tuple(check_int("hidden", h, min_value=1) for h in hidden)
        self.lr = check_positive("lr", lr)
        self.epochs = check_int("epochs", epochs, min_value=1)
        self.batch_size = check_int("batch_size", batch_size, min_value=1)
        self.standardize = bool(standardize)
        self.rng = as_generator(rng)
        self.net = None

    def _prep(self, X):
        X = as_float_array("X", X, ndim=2)
        return (X - self.mu_) / self.sd_ if self.standardize else X

    def fit(self, X, y, n_classes: int | None = None):
        import torch

        X = as_float_array("X", X, ndim=2)
        y = np.asarray(y).astype(np.int64).ravel()
        check_same_length(X=X, y=y)
        n_classes = int(y.max()) + 1 if n_classes is None else n_classes
        self.mu_ = X.mean(0)
        self.sd_ = X.std(0) + 1e-8
        Xs = self._prep(X)
        gen = torch_generator(self.rng)
        layers, width = [], X.shape[1]
        for h in self.hidden:
            layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
            width = h
        layers.append(torch.nn.Linear(width, n_classes))
        self.net = torch.nn.Sequential(*layers).double()
        with torch.no_grad():  # PyTorch's default Linear init, drawn from our generator
            for m in self.net:
                if isinstance(m, torch.nn.Linear):
                    bound = 1.0 / np.sqrt(m.in_features)
                    m.weight.uniform_(-bound, bound, generator=gen)
                    m.bias.uniform_(-bound, bound, generator=gen)
        opt = torch.optim.Adam(self.net.parameters(), lr=self.lr)
        Xt, yt = torch.from_numpy(Xs), torch.from_numpy(y)
        self.loss_history_ = []
        for _ in range(self.epochs):
            perm = torch.randperm(len(yt), generator=gen)
            tot = 0.0
            for s in range(0, len(yt), self.batch_size):
                idx = perm[s:s + self.batch_size]
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(self.net(Xt[idx]), yt[idx])
                loss.backward()
                opt.step()
                tot += float(loss.detach()) * len(idx)
            self.loss_history_.append(tot / len(yt))
        return self

    def predict_logits(self, X) -> np.ndarray:
        import torch

        if self.net is None:
            raise ValueError("fit the readout before predict")
        with torch.no_grad():
            return self.net(torch.from_numpy(self._prep(X))).numpy()

    def classify(self, X) -> np.ndarray:
        return np.argmax(self.predict_logits(X), axis=1)
