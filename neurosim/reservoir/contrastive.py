"""Contrastive projection heads for zero-shot cross-modal retrieval (torch; ALGORITHMS.md §4.3).

Two frozen encoders (e.g. two liquid-state machines) give features ``F_a`` and ``F_b`` for two
sensors. Each modality gets a projection head ``h(f) = GELU(W f + b)`` (the paper's "OneFC"),
and the heads are trained with the CLIP-style symmetric InfoNCE loss::

    s_ij = <z_a_i, z_b_j> / temperature        (z normalised to unit length if normalize=True)
    L = ( CE(s, diag) + CE(s^T, diag) ) / 2

on minibatches of positive pairs ``(a_i, b_i)`` formed from *different* samples of the same
class (``batch_size`` distinct classes per batch when possible, so off-diagonal pairs are true
negatives). Zero-shot evaluation: project held-out samples of unseen classes and score top-1
retrieval by dot product (:func:`neurosim.reservoir.metrics.top1_retrieval`).

The paper's loss code is not public (``models.py`` absent); this is the standard CLIP loss with
temperature ``tp`` (1.0 in the paper's N-MNIST/N-TIDIGITS script), Adam lr 1e-3, batch 8.
"""
from __future__ import annotations

import numpy as np
import torch

from neurosim._rng import as_generator, torch_generator
from neurosim._validation import as_float_array, check_int, check_positive, check_same_length

__all__ = ["clip_loss", "ProjectionHead", "ContrastiveHeads", "sample_class_pairs"]


def clip_loss(za, zb, temperature: float = 1.0, normalize: bool = True):
    """Symmetric InfoNCE loss of paired embeddings ``za``, ``zb`` [B, D] (row i pairs with row i)."""
    temperature = check_positive("temperature", temperature)
    if za.shape != zb.shape:
        raise ValueError(f"za and zb must have the same shape, got {tuple(za.shape)} and {tuple(zb.shape)}")
    if normalize:
        za = torch.nn.functional.normalize(za, dim=1)
        zb = torch.nn.functional.normalize(zb, dim=1)
    logits = za @ zb.T / temperature
    target = torch.arange(za.shape[0], device=za.device)
    return 0.5 * (torch.nn.functional.cross_entropy(logits, target)
                  + torch.nn.functional.cross_entropy(logits.T, target))


class ProjectionHead(torch.nn.Module):
    """One linear layer + GELU ("OneFC")."""

    def __init__(self, in_dim: int, out_dim: int = 64):
        super().__init__()
        self.linear = torch.nn.Linear(check_int("in_dim", in_dim, min_value=1),
                                      check_int("out_dim", out_dim, min_value=1))

    def forward(self, x):
        return torch.nn.functional.gelu(self.linear(x))


def sample_class_pairs(labels_a, labels_b, n_pairs: int, rng=None, distinct_classes: int | None = None):
    """Indices ``(ia, ib)`` of ``n_pairs`` positive pairs: same class, independent samples.

    With ``distinct_classes = k`` the pairs are drawn as ``n_pairs // k`` groups of ``k``
    different classes (each group is one training minibatch without false negatives).
    """
    rng = as_generator(rng)
    la, lb = np.asarray(labels_a).ravel(), np.asarray(labels_b).ravel()
    classes = np.intersect1d(np.unique(la), np.unique(lb))
    if classes.size == 0:
        raise ValueError("labels_a and labels_b share no class; cannot form positive pairs")
    by_a = {c: np.flatnonzero(la == c) for c in classes}
    by_b = {c: np.flatnonzero(lb == c) for c in classes}
    if distinct_classes is None:
        cls = rng.choice(classes, n_pairs)
    else:
        k = min(int(distinct_classes), classes.size)
        groups = -(-n_pairs // k)
        cls = np.concatenate([rng.permutation(classes)[:k] for _ in range(groups)])[:n_pairs]
    ia = np.array([rng.choice(by_a[c]) for c in cls])
    ib = np.array([rng.choice(by_b[c]) for c in cls])
    return ia, ib


class ContrastiveHeads:
    """Two projection heads trained with :func:`clip_loss` on class-matched pairs.

    Parameters
    ----------
    dim_a, dim_b : feature widths of the two modalities. proj_dim : embedding width (64).
    temperature : loss temperature (1.0 as in the paper's script). lr, epochs, batch_size :
    Adam settings; one epoch = ``pairs_per_epoch`` pairs. standardize : z-score features
    with training statistics. rng : seed or Generator.
    """

    def __init__(self, dim_a: int, dim_b: int, proj_dim: int = 64, temperature: float = 1.0, lr: float = 1e-3,
                 epochs: int = 20, batch_size: int = 8, pairs_per_epoch: int = 2000, standardize: bool = True,
                 rng=None):
        self.dim_a = check_int("dim_a", dim_a, min_value=1)
        self.dim_b = check_int("dim_b", dim_b, min_value=1)
        self.temperature = check_positive("temperature", temperature)
        self.lr = check_positive("lr", lr)
        self.epochs = check_int("epochs", epochs, min_value=1)
        self.batch_size = check_int("batch_size", batch_size, min_value=2)
        self.pairs_per_epoch = check_int("pairs_per_epoch", pairs_per_epoch, min_value=self.batch_size)
        self.standardize = bool(standardize)
        self.rng = as_generator(rng)
        gen = torch_generator(self.rng)
        self.head_a = ProjectionHead(self.dim_a, proj_dim).double()
        self.head_b = ProjectionHead(self.dim_b, proj_dim).double()
        with torch.no_grad():
            for head in (self.head_a, self.head_b):
                bound = 1.0 / np.sqrt(head.linear.in_features)
                head.linear.weight.uniform_(-bound, bound, generator=gen)
                head.linear.bias.uniform_(-bound, bound, generator=gen)
        self._gen = gen
        self.loss_history_: list[float] = []

    def _std(self, F, which):
        F = as_float_array(f"features_{which}", F, ndim=2)
        if not self.standardize:
            return F
        mu, sd = self._stats[which]
        return (F - mu) / sd

    def fit(self, Fa, la, Fb, lb):
        Fa = as_float_array("Fa", Fa, ndim=2)
        Fb = as_float_array("Fb", Fb, ndim=2)
        check_same_length(Fa=Fa, la=np.asarray(la).ravel())
        check_same_length(Fb=Fb, lb=np.asarray(lb).ravel())
        if Fa.shape[1] != self.dim_a or Fb.shape[1] != self.dim_b:
            raise ValueError(f"feature widths ({Fa.shape[1]}, {Fb.shape[1]}) != (dim_a, dim_b)=({self.dim_a}, {self.dim_b})")
        self._stats = {"a": (Fa.mean(0), Fa.std(0) + 1e-8), "b": (Fb.mean(0), Fb.std(0) + 1e-8)}
        A = torch.from_numpy(self._std(Fa, "a"))
        B = torch.from_numpy(self._std(Fb, "b"))
        opt = torch.optim.Adam(list(self.head_a.parameters()) + list(self.head_b.parameters()), lr=self.lr)
        for _ in range(self.epochs):
            ia, ib = sample_class_pairs(la, lb, self.pairs_per_epoch, self.rng, distinct_classes=self.batch_size)
            tot, nb = 0.0, 0
            for s in range(0, len(ia) - self.batch_size + 1, self.batch_size):
                opt.zero_grad()
                loss = clip_loss(self.head_a(A[ia[s:s + self.batch_size]]), self.head_b(B[ib[s:s + self.batch_size]]),
                                 self.temperature)
                loss.backward()
                opt.step()
                tot += float(loss.detach())
                nb += 1
            self.loss_history_.append(tot / max(nb, 1))
        return self

    def embed(self, F, which: str, normalize: bool = True) -> np.ndarray:
        """Embeddings [B, proj_dim] of features of modality ``which`` ("a" or "b").

        ``normalize`` returns unit vectors (the space the loss compares, so dot-product retrieval
        is cosine similarity; raw GELU outputs favour large-norm "hub" items).
        """
        if which not in ("a", "b"):
            raise ValueError(f"which must be 'a' or 'b', got {which!r}")
        head = self.head_a if which == "a" else self.head_b
        with torch.no_grad():
            z = head(torch.from_numpy(self._std(F, which)))
            if normalize:
                z = torch.nn.functional.normalize(z, dim=1)
            return z.numpy()
