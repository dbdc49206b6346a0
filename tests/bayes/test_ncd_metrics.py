"""Clustering metrics against brute force and scikit-learn."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn import metrics as skm

from bayes.ncd.metrics import (
    adjusted_rand_index,
    balanced_cluster_accuracy,
    cluster_accuracy,
    hungarian_mapping,
    normalized_mutual_info,
)


def _brute_force_acc(y_true, y_pred):
    classes, clusters = np.unique(y_true), np.unique(y_pred)
    size = max(len(classes), len(clusters))
    padded = list(classes) + [None] * (size - len(classes))
    best = 0
    for perm in itertools.permutations(padded, len(clusters)):
        mapping = dict(zip(clusters, perm))
        best = max(best, sum(mapping[p] == t for t, p in zip(y_true, y_pred)))
    return best / len(y_true)


@pytest.mark.parametrize("seed", range(12))
def test_accuracy_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n_classes, n_clusters = rng.integers(1, 5), rng.integers(1, 6)  # k̂ != k allowed
    y_true = rng.integers(0, n_classes, 25)
    y_pred = rng.integers(0, n_clusters, 25) * 7 + 3  # arbitrary cluster names
    assert cluster_accuracy(y_true, y_pred) == pytest.approx(
        _brute_force_acc(y_true, y_pred), abs=1e-12
    )


def test_accuracy_examples_and_mapping():
    assert cluster_accuracy([0, 0, 1, 1], [1, 1, 0, 0]) == 1.0
    assert cluster_accuracy([0, 0, 1, 1], [5, 5, 3, 4]) == 0.75
    assert hungarian_mapping([0, 0, 1, 1], [9, 9, 4, 4]) == {9: 0, 4: 1}


@pytest.mark.parametrize("seed", range(6))
def test_nmi_ari_balanced_match_sklearn(seed):
    rng = np.random.default_rng(100 + seed)
    y_true = rng.integers(0, 4, 60)
    y_pred = np.where(rng.random(60) < 0.6, y_true, rng.integers(0, 5, 60))
    assert normalized_mutual_info(y_true, y_pred) == pytest.approx(
        skm.normalized_mutual_info_score(y_true, y_pred), abs=1e-10
    )
    assert adjusted_rand_index(y_true, y_pred) == pytest.approx(
        skm.adjusted_rand_score(y_true, y_pred), abs=1e-10
    )
    mapping = hungarian_mapping(y_true, y_pred)
    renamed = np.array([mapping.get(p, -1) for p in y_pred])
    recalls = [np.mean(renamed[y_true == c] == c) for c in range(4)]
    assert balanced_cluster_accuracy(y_true, y_pred) == pytest.approx(np.mean(recalls), abs=1e-12)


def test_degenerate_partitions_match_sklearn():
    one = np.zeros(10, int)
    split = np.arange(10) % 2
    for a, b in [(one, one), (one, split), (split, one), (np.arange(10), np.arange(10))]:
        assert normalized_mutual_info(a, b) == pytest.approx(
            skm.normalized_mutual_info_score(a, b), abs=1e-12
        )
        assert adjusted_rand_index(a, b) == pytest.approx(skm.adjusted_rand_score(a, b), abs=1e-12)


def test_bad_input():
    with pytest.raises(ValueError, match="same length"):
        cluster_accuracy([0, 1], [0])
    with pytest.raises(ValueError, match="1-D"):
        cluster_accuracy(np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="empty"):
        normalized_mutual_info([], [])
