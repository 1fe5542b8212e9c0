"""How far two readings of one sentence's alignment agree: Spearman's rank correlation.

Attention and gradient saliency (``nmt.alignment.saliency``) both give a (T_words, S_words) matrix
per sentence; ranking all T x S cells of each and correlating the ranks says whether the words that
attention weights most are also the ones the prediction depends on most (1: same order, 0: none,
-1: reversed). Ties get their average rank.
"""

from __future__ import annotations

import numpy as np

from nmt.alignment.words import Matrix, as_array


def ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of a 1-d array, ties sharing their average rank."""
    order = values.argsort(kind="stable")
    ordinal = np.empty(len(values))
    ordinal[order] = np.arange(1, len(values) + 1)
    _, group, counts = np.unique(values, return_inverse=True, return_counts=True)
    sums = np.bincount(group, weights=ordinal)
    return sums[group] / counts[group]


def spearman(first: Matrix, second: Matrix) -> float:
    """Spearman's rho between the cells of two matrices of one shape; nan when either is constant."""
    a, b = as_array(first).ravel(), as_array(second).ravel()
    if a.shape != b.shape:
        raise ValueError(f"matrices of {a.size} and {b.size} cells cannot be compared")
    ra, rb = ranks(a) - (len(a) + 1) / 2, ranks(b) - (len(b) + 1) / 2
    scale = np.sqrt((ra**2).sum() * (rb**2).sum())
    return float((ra * rb).sum() / scale) if scale > 0 else float("nan")
