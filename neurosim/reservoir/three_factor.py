"""Online readouts: error-modulated, attention-gated three-factor Hebbian rule and FORCE (RLS).

Three-factor rule (template of ALGORITHMS.md §6; Yamada & Chao give no equations, so this is
the documented template, not the paper's rule)::

    z_k(t)   = sum_j w_kj x_j(t)                 (readout of presynaptic traces x)
    e_k(t)   = y_k(t) - z_k(t)                   (third factor: prediction error, neuromodulator)
    dw_kj    = eta * g_att(t) * e_k(t) * x_j(t) - lambda * w_kj * [g_att(t) != 0]

factor 1 = presynaptic trace ``x_j``, factor 2 = the postsynaptic error term at readout ``k``
(``e_k`` = target minus readout activity), third factor = the attention/neuromodulatory gate
``g_att`` (1 during attended windows). The rule is local and never needs a reset, so it
re-calibrates when timing or probabilities change.

FORCE (Sussillo & Abbott 2009) recursive least squares, ``P(0) = I / alpha``::

    k = P x;  c = 1 / (1 + x^T k);  P <- P - c k k^T;  w <- w - c (z - y) k^T

``P`` shrinks as data accumulates, so after a change FORCE adapts slowly unless ``reset_p()``
is called (the comparison in the experiment runs both without reset).
"""
from __future__ import annotations

import numpy as np

from neurosim._validation import as_float_array, check_int, check_nonnegative, check_positive, check_same_length
from neurosim.kernels.reservoir import force_train, three_factor_train

from .memory import check_fits

__all__ = ["ThreeFactorReadout", "FORCEReadout"]


def _prep(x, y, gate, n_in, n_out):
    x = as_float_array("x", x, ndim=2, dtype=np.float64)
    y = as_float_array("y", y, ndim=2, dtype=np.float64)
    check_same_length(x=x, y=y)
    if x.shape[1] != n_in:
        raise ValueError(f"x has {x.shape[1]} features, the readout expects n_in={n_in}")
    if y.shape[1] != n_out:
        raise ValueError(f"y has {y.shape[1]} outputs, the readout expects n_out={n_out}")
    gate = np.ones(len(x)) if gate is None else as_float_array("gate", gate, ndim=1, dtype=np.float64)
    check_same_length(x=x, gate=gate)
    return x, y, gate


def _check_diverged(w, name, fix):
    if not np.all(np.isfinite(w)):
        raise ValueError(f"online readout diverged (non-finite weights): {fix} ({name})")


class ThreeFactorReadout:
    """Linear readout ``z = W x`` trained online by the gated three-factor rule.

    Parameters
    ----------
    n_in, n_out : sizes (>= 1). eta : learning rate (> 0); like LMS it is stable only for
        ``eta < 2 / ||x||^2`` (``train`` raises ValueError if the weights diverge).
    decay : weight decay ``lambda`` (>= 0).
    """

    def __init__(self, n_in: int, n_out: int, eta: float = 1e-3, decay: float = 0.0):
        self.n_in = check_int("n_in", n_in, min_value=1)
        self.n_out = check_int("n_out", n_out, min_value=1)
        self.eta = check_positive("eta", eta)
        self.decay = check_nonnegative("decay", decay)
        check_fits(f"ThreeFactorReadout weights [{self.n_out}, {self.n_in}]", lambda n: 8 * self.n_out * n,
                   self.n_in, name="n_in")
        self.W = np.zeros((self.n_out, self.n_in))

    def predict(self, x) -> np.ndarray:
        x = as_float_array("x", x, ndim=2)
        return x @ self.W.T

    def train(self, x, y, gate=None) -> np.ndarray:
        """Online pass; returns the outputs ``z`` [T, n_out] (each computed before its update)."""
        x, y, gate = _prep(x, y, gate, self.n_in, self.n_out)
        z = np.empty((len(x), self.n_out))
        three_factor_train(x, y, gate, self.W, self.eta, self.decay, z)
        _check_diverged(self.W, "eta", f"lower eta below 2 / max ||x||^2 = {2.0 / max(np.max(np.sum(x * x, 1)), 1e-300):.3g}")
        return z


class FORCEReadout:
    """Linear readout trained online by recursive least squares (FORCE).

    Parameters
    ----------
    n_in, n_out : sizes (>= 1). alpha : ``P(0) = I / alpha`` (> 0; small alpha = fast learning).
    """

    def __init__(self, n_in: int, n_out: int, alpha: float = 1.0):
        self.n_in = check_int("n_in", n_in, min_value=1)
        self.n_out = check_int("n_out", n_out, min_value=1)
        self.alpha = check_positive("alpha", alpha)
        # P = eye(n_in) / alpha: 16 n_in^2 bytes while it is built, 8 n_in^2 kept
        check_fits(f"FORCEReadout inverse correlation matrix P [{self.n_in}, {self.n_in}]",
                   lambda n: 16 * n * n + 8 * self.n_out * n, self.n_in, name="n_in")
        self.W = np.zeros((self.n_out, self.n_in))
        self.reset_p()

    def reset_p(self):
        """Explicit reset of the inverse correlation matrix (what FORCE needs after a change)."""
        self.P = np.eye(self.n_in) / self.alpha
        return self

    def predict(self, x) -> np.ndarray:
        return as_float_array("x", x, ndim=2) @ self.W.T

    def train(self, x, y, gate=None) -> np.ndarray:
        x, y, gate = _prep(x, y, gate, self.n_in, self.n_out)
        z = np.empty((len(x), self.n_out))
        force_train(x, y, gate, self.W, self.P, z)
        _check_diverged(self.W, "alpha", "increase alpha or scale the features down")
        return z
