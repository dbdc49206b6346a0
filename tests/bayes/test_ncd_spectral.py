"""Spectral clustering (dense and sparse kNN paths) and NCD spectral clustering."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from bayes.ncd.metrics import cluster_accuracy
from bayes.ncd.spectral import (
    mst_sigma,
    ncd_spectral_clustering,
    select_spectral_params,
    spectral_clustering,
    spectral_embedding,
)
from probtree import Graph


def _blobs(seed=0, n_per=30, n_centers=5, d=3, scale=8.0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=scale, size=(n_centers, d))
    x = np.concatenate([c + rng.normal(size=(n_per, d)) for c in centers]).astype(np.float32)
    return x, np.repeat(np.arange(n_centers), n_per)


def test_mst_sigma_matches_networkx_mst():
    x, _ = _blobs(n_per=8)
    g = nx.Graph()
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            g.add_edge(i, j, weight=float(np.sum((x[i] - x[j]) ** 2)))
    max_edge = max(w for _, _, w in nx.minimum_spanning_tree(g).edges(data="weight"))
    expected = np.sqrt(-max_edge / np.log(0.3))
    assert mst_sigma(x, 0.3) == pytest.approx(expected, rel=1e-5)
    # a kNN graph containing the MST gives the same bandwidth
    assert mst_sigma(None, 0.3, graph=Graph.knn(x, 15)) == pytest.approx(expected, rel=1e-4)
    # duplicate rows do not break the MST (the official code drops zero-distance edges)
    assert np.isfinite(mst_sigma(np.concatenate([x, x[:3]]), 0.3))
    with pytest.raises(ValueError, match="min_dist"):
        mst_sigma(x, 1.5)


def test_dense_embedding_matches_numpy_eigh():
    x, _ = _blobs(n_per=10)
    emb = spectral_embedding(x, 4, min_dist=0.4)
    d2 = np.sum((x[:, None] - x[None]) ** 2, axis=2).astype(np.float64)
    a = np.exp(-d2 / (2 * emb.sigma**2))
    np.fill_diagonal(a, 0)
    deg = a.sum(1)
    lap = np.eye(len(x)) - a / np.sqrt(deg)[:, None] / np.sqrt(deg)[None, :]
    vals, vecs = np.linalg.eigh(lap)
    np.testing.assert_allclose(np.asarray(emb.eigenvalues), vals[1:5], atol=1e-5)
    # same subspace (eigenvectors are defined up to sign / rotation in degenerate spaces)
    proj = vecs[:, 1:5].T @ np.asarray(emb.embedding, np.float64)
    np.testing.assert_allclose(np.abs(np.linalg.svd(proj, compute_uv=False)), 1.0, atol=1e-3)


def test_knn_lobpcg_matches_dense_eigh_of_same_graph():
    x, _ = _blobs()  # same shapes as the clustering test below: one LOBPCG compile
    emb = spectral_embedding(x, 5, min_dist=0.3, method="knn", n_neighbors=10)
    graph = Graph.knn(x, 10)
    g = graph.with_weights(np.exp(-(np.asarray(graph.weights) ** 2) / (2 * emb.sigma**2)))
    vals = np.linalg.eigvalsh(np.asarray(g.normalized_laplacian_dense(), np.float64))
    np.testing.assert_allclose(np.asarray(emb.eigenvalues), vals[1:6], atol=2e-3)


@pytest.mark.parametrize("method", ["dense", "knn"])
def test_spectral_clustering_recovers_blobs(key, method):
    x, y = _blobs()
    labels = spectral_clustering(key, x, 5, min_dist=0.3, method=method, n_neighbors=10)
    assert cluster_accuracy(y, np.asarray(labels)) >= 0.97


def test_ncd_spectral_recovers_planted_novel_classes(key):
    x, y = _blobs(seed=1)
    known = y < 3
    md, nc, scores = select_spectral_params(
        key, x[known], y[known], x[~known], min_dists=(0.1, 0.5), n_components=(3, 6), n_init=3
    )
    assert scores.shape == (2, 2) and scores.max() >= 0.97
    labels = ncd_spectral_clustering(key, x[known], x[~known], 2, min_dist=md, n_components=nc)
    assert cluster_accuracy(y[~known], np.asarray(labels)) >= 0.97


def test_spectral_bad_input():
    x, _ = _blobs(n_per=4)
    with pytest.raises(ValueError, match="n_components"):
        spectral_embedding(x, 100)
    with pytest.raises(ValueError, match="method"):
        spectral_embedding(x, 2, method="sparse")
    with pytest.raises(ValueError, match="LOBPCG"):
        spectral_embedding(x, 8, method="knn", n_neighbors=5)
