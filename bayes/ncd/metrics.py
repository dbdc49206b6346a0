"""Clustering metrics for novel class discovery: Hungarian accuracy, balanced accuracy, NMI, ARI.

All metrics compare a partition ``y_pred`` with the true classes ``y_true`` and are invariant to
the names of the clusters. They run on the host (numpy + scipy's Hungarian solver) because they are
evaluation code, computed once per run on at most a few tens of thousands of labels.

References:
    Troisemaine et al., "A Practical Approach to Novel Class Discovery in Tabular Data", 2024
    (ACC as in the official ``src/utils.py``: Hungarian assignment on the contingency table).
    Vinh, Epps and Bailey, "Information Theoretic Measures for Clusterings Comparison", JMLR 2010
    (NMI with the arithmetic-mean normaliser, scikit-learn's default).
    Hubert and Arabie, "Comparing partitions", Journal of Classification 1985 (ARI).
"""

from __future__ import annotations

import numpy as np
from jax.typing import ArrayLike
from scipy.optimize import linear_sum_assignment

__all__ = [
    "contingency_table",
    "hungarian_mapping",
    "cluster_accuracy",
    "balanced_cluster_accuracy",
    "normalized_mutual_info",
    "adjusted_rand_index",
    "clustering_scores",
]


def _as_labels(y: ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of labels, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    return arr


def contingency_table(
    y_true: ArrayLike, y_pred: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counts of each (true class, predicted cluster) pair.

    Args:
        y_true: ``(n,)`` true labels (any hashable numpy dtype).
        y_pred: ``(n,)`` cluster labels.

    Returns:
        ``(table, classes, clusters)``: ``table[i, j]`` is the number of rows of class
        ``classes[i]`` put in cluster ``clusters[j]``; ``(C, K) int64``.

    Raises:
        ValueError: if the arrays are not 1-D, are empty, or differ in length.
    """
    t = _as_labels(y_true, "y_true")
    p = _as_labels(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred must have the same length, got {t.size} and {p.size}")
    classes, ti = np.unique(t, return_inverse=True)
    clusters, pi = np.unique(p, return_inverse=True)
    table = np.zeros((classes.size, clusters.size), dtype=np.int64)
    np.add.at(table, (ti.ravel(), pi.ravel()), 1)
    return table, classes, clusters


def hungarian_mapping(y_true: ArrayLike, y_pred: ArrayLike) -> dict:
    """The one-to-one cluster → class map maximising the number of matched rows.

    Clusters left without a class (when there are more clusters than classes) are absent from the
    map. Uses scipy's ``linear_sum_assignment`` on the (rectangular) contingency table, which gives
    the same optimum as the official code's square ``max - w`` matrix.
    """
    table, classes, clusters = contingency_table(y_true, y_pred)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return {clusters[c].item(): classes[r].item() for r, c in zip(rows, cols)}


def cluster_accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Clustering accuracy (ACC) under the best one-to-one matching of clusters to classes.

    ``ACC = max_m (1/n) Σ_i 1[y_true_i = m(y_pred_i)]`` over injective maps ``m``; rows in clusters
    that no class is matched to count as errors, so ``k̂ ≠ k`` is allowed.

    Example:
        >>> cluster_accuracy([0, 0, 1, 1], [5, 5, 3, 4])
        0.75
    """
    table, _, _ = contingency_table(y_true, y_pred)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / table.sum())


def balanced_cluster_accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Balanced accuracy (mean per-class recall) after the Hungarian matching.

    The matching maximises the plain accuracy (as in TabularNCD's BACC); the clusters are then
    renamed to their matched classes and each class's recall is averaged.
    """
    table, _, _ = contingency_table(y_true, y_pred)
    rows, cols = linear_sum_assignment(table, maximize=True)
    hits = np.zeros(table.shape[0])
    hits[rows] = table[rows, cols]
    return float(np.mean(hits / table.sum(axis=1)))


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def normalized_mutual_info(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """NMI with the arithmetic-mean normaliser: ``I(T; P) / ((H(T) + H(P)) / 2)``.

    Matches ``sklearn.metrics.normalized_mutual_info_score`` (default ``average_method``),
    including its conventions: 1.0 when both partitions have a single block.
    """
    table, _, _ = contingency_table(y_true, y_pred)
    if table.shape[0] == table.shape[1] == 1:
        return 1.0
    n = table.sum()
    joint = table / n
    pt = joint.sum(axis=1, keepdims=True)
    pp = joint.sum(axis=0, keepdims=True)
    nz = joint > 0
    outer = np.broadcast_to(pt, joint.shape) * np.broadcast_to(pp, joint.shape)
    mi = float((joint[nz] * np.log(joint[nz] / outer[nz])).sum())
    h = 0.5 * (_entropy(table.sum(axis=1)) + _entropy(table.sum(axis=0)))
    if mi <= 0.0 or h <= 0.0:
        return 0.0
    return float(min(mi / h, 1.0))


def adjusted_rand_index(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Adjusted Rand index (Hubert and Arabie), as ``sklearn.metrics.adjusted_rand_score``."""
    table, _, _ = contingency_table(y_true, y_pred)
    n = int(table.sum())
    comb = lambda v: v * (v - 1) / 2.0
    sum_ij = float(comb(table.astype(np.float64)).sum())
    sum_a = float(comb(table.sum(axis=1).astype(np.float64)).sum())
    sum_b = float(comb(table.sum(axis=0).astype(np.float64)).sum())
    total = comb(float(n))
    expected = sum_a * sum_b / total if total > 0 else 0.0
    max_index = 0.5 * (sum_a + sum_b)
    if max_index == expected:  # both partitions trivial (one block, or all singletons)
        return 1.0
    return float((sum_ij - expected) / (max_index - expected))


def clustering_scores(y_true: ArrayLike, y_pred: ArrayLike) -> dict[str, float]:
    """``{"acc", "bacc", "nmi", "ari"}`` for one partition (fractions in [0, 1], ARI may be < 0)."""
    return {
        "acc": cluster_accuracy(y_true, y_pred),
        "bacc": balanced_cluster_accuracy(y_true, y_pred),
        "nmi": normalized_mutual_info(y_true, y_pred),
        "ari": adjusted_rand_index(y_true, y_pred),
    }
