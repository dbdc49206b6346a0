"""Hidden-known-class cross-validation: the splitter never touches novel classes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bayes.ncd.tuning import cross_validate, fold_labels, hidden_class_folds, sample_params, tune


@given(n_known=st.integers(2, 9), n_folds=st.integers(2, 9), seed=st.integers(0, 1000))
@settings(max_examples=40, deadline=None)
def test_partition_folds_cover_known_classes_disjointly(n_known, n_folds, seed):
    known = list(range(10, 10 + n_known))
    if n_folds > n_known:
        with pytest.raises(ValueError, match="n_folds"):
            hidden_class_folds(known, n_folds=n_folds, seed=seed)
        return
    folds = hidden_class_folds(known, n_folds=n_folds, seed=seed)
    flat = [c for f in folds for c in f]
    assert sorted(flat) == known and len(folds) == n_folds
    assert all(len(f) >= 1 for f in folds)


@given(n_known=st.integers(3, 8), seed=st.integers(0, 1000), data=st.data())
@settings(max_examples=40, deadline=None)
def test_combination_folds_are_distinct_and_known_only(n_known, seed, data):
    known = list(range(n_known))
    r = data.draw(st.integers(1, n_known - 1))
    n_folds = data.draw(st.integers(1, min(6, math.comb(n_known, r))))
    folds = hidden_class_folds(known, n_folds=n_folds, n_hidden=r, mode="combinations", seed=seed)
    assert len(set(folds)) == n_folds
    assert all(len(f) == r and set(f) <= set(known) for f in folds)


def test_too_many_combinations_requested():
    with pytest.raises(ValueError, match="combinations"):
        hidden_class_folds([0, 1, 2], n_folds=4, n_hidden=1, mode="combinations")


def test_fold_labels_never_leak_novel_rows():
    y = np.array([0, 1, 2, 3, -1, -1, 2, 0, -1, 3])
    for hidden in hidden_class_folds([0, 1, 2, 3], n_folds=2, seed=3):
        y_fold, mask = fold_labels(y, hidden)
        assert np.all(y_fold[y == -1] == -1)  # novel rows stay unlabelled
        assert not np.any(mask[y == -1])  # and are never scored
        assert np.all(y_fold[mask] == -1)  # hidden rows lose their labels
        kept = sorted(set(range(4)) - set(hidden))
        np.testing.assert_array_equal(np.unique(y_fold[y_fold >= 0]), np.arange(len(kept)))
    with pytest.raises(ValueError, match="not known"):
        fold_labels(y, [7])


def test_sample_params_respects_space():
    rng = np.random.default_rng(0)
    space = {"lr": ("loguniform", 1e-4, 1e-2), "n": ("int", 2, 4), "c": ["a", "b"]}
    for _ in range(50):
        p = sample_params(rng, space)
        assert 1e-4 <= p["lr"] <= 1e-2 and p["n"] in (2, 3, 4) and p["c"] in ("a", "b")
    with pytest.raises(ValueError, match="unknown kind"):
        sample_params(rng, {"x": ("normal", 0, 1)})


def test_cross_validation_scores_hidden_classes(key):
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=10.0, size=(6, 3))
    x = np.concatenate([c + rng.normal(size=(20, 3)) for c in centers]).astype(np.float32)
    y_true = np.repeat(np.arange(6), 20)
    y = np.where(y_true < 4, y_true, -1)
    folds = hidden_class_folds([0, 1, 2, 3], n_folds=2, seed=0)
    mean, scores, ks = cross_validate(key, "ncd-kmeans", x, y, folds, {})
    assert mean >= 0.99 and ks == [2, 2]
    res = tune(key, "kmeans", x, y, n_folds=2)  # empty search space: one trial
    assert len(res.trials) == 1 and res.score >= 0.99
