"""Representational similarity: RDMs, comparisons, TSRSA, noise ceilings, inference.

NumPy/SciPy only; ``neurosim.rsa.features`` (model feature extraction) imports torch lazily
and is loaded on first use (``neurosim.rsa.features`` or ``from neurosim.rsa import features``).
"""
from __future__ import annotations

import importlib

from neurosim.rsa.ceiling import (Ceiling, clip_length_scores, frame_replacement_experiment,
                                  frame_shuffle_experiment, level_of_chaos, replace_frames,
                                  shuffle_within_windows, split_half_ceiling, trial_split_half_ceiling)
from neurosim.rsa.compare import (COMPARISONS, CosineSimilarity, KendallTauA, Pearson, Spearman,
                                  argsort_ranks, average_ranks, compare, get_comparison, linear_cka)
from neurosim.rsa.dissimilarity import (DISSIMILARITIES, Correlation, Cosine, Crossnobis, Euclidean,
                                        calc_rdm, correlation_matrix, get_dissimilarity)
from neurosim.rsa.inference import bootstrap_ci, permutation_test
from neurosim.rsa.rdm import RDM
from neurosim.rsa.regression import regression_score
from neurosim.rsa.tsrsa import TSRSAResult, tsrsa, tsrsa_scores, tsrsa_vector

__all__ = [
    "RDM", "calc_rdm", "correlation_matrix", "Correlation", "Cosine", "Euclidean", "Crossnobis",
    "DISSIMILARITIES", "get_dissimilarity", "compare", "Spearman", "Pearson", "KendallTauA",
    "CosineSimilarity", "COMPARISONS", "get_comparison", "argsort_ranks", "average_ranks",
    "linear_cka", "tsrsa", "tsrsa_vector", "tsrsa_scores", "TSRSAResult", "Ceiling",
    "split_half_ceiling", "trial_split_half_ceiling", "clip_length_scores",
    "shuffle_within_windows", "level_of_chaos", "replace_frames", "frame_shuffle_experiment",
    "frame_replacement_experiment", "permutation_test", "bootstrap_ci", "regression_score",
    "features",
]


def __getattr__(name):
    if name == "features":
        mod = importlib.import_module("neurosim.rsa.features")
        globals()["features"] = mod
        return mod
    raise AttributeError(f"module 'neurosim.rsa' has no attribute {name!r}")
