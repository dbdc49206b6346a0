"""k-means, NCD k-means and k estimation against scikit-learn and planted clusters."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.cluster import KMeans

from bayes.ncd.estimate_k import estimate_k, estimate_k_kmacc, partition_scores
from bayes.ncd.kmeans import _runs, class_means, kmeans, kmeans_predict, kmeans_sweep, ncd_kmeans
from bayes.ncd.metrics import cluster_accuracy


def _blobs(seed=0, n_per=40, n_centers=6, d=4, scale=8.0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=scale, size=(n_centers, d))
    x = np.concatenate([c + rng.normal(size=(n_per, d)) for c in centers]).astype(np.float32)
    return x, np.repeat(np.arange(n_centers), n_per)


def test_kmeans_matches_sklearn_inertia(key):
    x, y = _blobs(scale=3.0)
    res = kmeans(key, x, 6, n_init=8)
    sk = KMeans(6, n_init=10, random_state=0).fit(x)
    assert float(res.inertia) == pytest.approx(sk.inertia_, rel=1e-3)
    assert cluster_accuracy(sk.labels_, np.asarray(res.labels)) == pytest.approx(1.0, abs=0.01)
    # labels are the nearest centroids
    np.testing.assert_array_equal(np.asarray(kmeans_predict(res.centroids, x)), res.labels)


def test_kmeans_does_not_recompile(key):
    x, _ = _blobs(seed=1)
    kmeans(key, x, 6, n_init=8)
    size = _runs._cache_size()
    kmeans(jax.random.fold_in(key, 1), x + 1.0, 6, n_init=8)
    assert _runs._cache_size() == size


def test_sweep_matches_single_runs(key):
    x, _ = _blobs(seed=2, scale=3.0)
    ks = np.array([2, 4, 6])
    _, labels, inertia = kmeans_sweep(key, x, ks, n_init=8)
    for i, k in enumerate(ks):
        sk = KMeans(int(k), n_init=10, random_state=0).fit(x)
        assert float(inertia[i]) == pytest.approx(sk.inertia_, rel=2e-2)
        assert int(np.max(labels[i])) < k


def test_ncd_kmeans_recovers_planted_novel_clusters(key):
    x, y = _blobs(seed=3)
    known = y < 3
    cents, classes = class_means(x[known], y[known])
    np.testing.assert_array_equal(classes, [0, 1, 2])
    res = ncd_kmeans(key, x[~known], 3, cents)
    assert cluster_accuracy(y[~known], np.asarray(res.labels)) >= 0.99
    # only novel centroids are returned; each sits on a novel blob, not a known one
    d_known = np.linalg.norm(np.asarray(res.centroids)[:, None] - np.asarray(cents)[None], axis=2)
    assert d_known.min() > 3.0
    # the textbook k-means++ variant also works
    res2 = ncd_kmeans(key, x[~known], 3, cents, power=2.0, inertia="squared")
    assert cluster_accuracy(y[~known], np.asarray(res2.labels)) >= 0.99


def test_kmeans_bad_input(key):
    x, _ = _blobs()
    with pytest.raises(ValueError, match="k must be"):
        kmeans(key, x, 0)
    with pytest.raises(ValueError, match="finite"):
        kmeans(key, np.full((4, 2), np.nan), 2)
    with pytest.raises(ValueError, match="inertia"):
        kmeans(key, x, 2, inertia="l1")
    with pytest.raises(ValueError, match="columns"):
        ncd_kmeans(key, x, 2, np.zeros((2, 3)))


def test_partition_scores_match_sklearn():
    x, y = _blobs(seed=4, n_per=20, scale=3.0)
    rng = np.random.default_rng(0)
    labels = np.stack([y, rng.integers(0, 6, y.size), np.where(y < 3, y, 3)])
    got = partition_scores(x, labels, 6, ("silhouette", "calinski_harabasz", "davies_bouldin"))
    for i, lab in enumerate(labels):
        assert got["silhouette"][i] == pytest.approx(skm.silhouette_score(x, lab), abs=1e-4)
        assert got["calinski_harabasz"][i] == pytest.approx(
            skm.calinski_harabasz_score(x, lab), rel=1e-3
        )
        assert got["davies_bouldin"][i] == pytest.approx(skm.davies_bouldin_score(x, lab), rel=1e-3)


def test_estimate_k_finds_planted_number(key):
    x, _ = _blobs(seed=5, n_per=25, n_centers=4, scale=10.0)
    est = estimate_k(
        key,
        x,
        np.arange(2, 9),
        n_init=4,
        n_repeats=2,
        indices=("silhouette", "calinski_harabasz", "davies_bouldin", "dunn"),
    )
    assert est.k == 4
    assert est.scores["dunn"].shape == (7,)
    with pytest.raises(ValueError, match="index"):
        estimate_k(key, x, index="gap")


def test_estimate_k_kmacc_finds_planted_novel_count(key):
    x, y = _blobs(seed=7, n_per=30, n_centers=7, scale=12.0)
    known = y < 4
    est = estimate_k_kmacc(key, x[known], y[known] + 10, x[~known], np.arange(1, 7), n_init=4)
    assert est.index == "km_acc"
    assert est.k == 3
    acc = dict(zip(est.ks.tolist(), est.scores["km_acc"].tolist(), strict=True))
    assert acc[3] == pytest.approx(1.0, abs=1e-6)
    # one cluster per novel blob too few: novel blobs steal clusters from known classes
    assert acc[1] < 0.9
    with pytest.raises(ValueError, match="y_known"):
        estimate_k_kmacc(key, x[known], y[known][:-1], x[~known])
    with pytest.raises(ValueError, match="at least 2 classes"):
        estimate_k_kmacc(key, x[known], np.zeros(known.sum()), x[~known])
    with pytest.raises(ValueError, match="same width"):
        estimate_k_kmacc(key, x[known], y[known], x[~known][:, :2])
