"""Graph: Laplacian, components and kNN against networkx / brute force."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probtree import Graph


@st.composite
def random_graphs(draw):
    n = draw(st.integers(2, 25))
    m = draw(st.integers(0, 3 * n))
    edges = [
        (draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1)), draw(st.floats(0.1, 3.0)))
        for _ in range(m)
    ]
    g = nx.Graph()
    g.add_nodes_from(range(n))
    for u, v, w in edges:
        if u != v:
            g.add_edge(u, v, weight=w)
    return g


@settings(max_examples=40, deadline=None)
@given(random_graphs())
def test_laplacian_and_components_match_networkx(g: nx.Graph) -> None:
    ours = Graph.from_networkx(g)
    want = nx.normalized_laplacian_matrix(g, nodelist=range(g.number_of_nodes())).toarray()
    np.testing.assert_allclose(np.asarray(ours.normalized_laplacian_dense()), want, atol=1e-6)
    np.testing.assert_allclose(
        np.asarray(ours.to_dense()), nx.to_numpy_array(g, nodelist=range(len(g))), atol=1e-6
    )
    labels = np.asarray(ours.connected_components())
    for comp in nx.connected_components(g):
        comp = sorted(comp)
        assert set(labels[comp].tolist()) == {comp[0]}
    deg = dict(g.degree(weight="weight"))
    want_deg = [deg[i] for i in range(len(g))]
    np.testing.assert_allclose(np.asarray(ours.degree()), want_deg, atol=1e-5)
    v = np.random.default_rng(0).normal(size=(len(g), 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(ours.normalized_laplacian_matvec(v)), want @ v, atol=1e-5)


def test_round_trips() -> None:
    a = np.array([[0, 2, 0], [2, 0, 1], [0, 1, 0]], np.float32)
    g = Graph.from_dense(a)
    np.testing.assert_allclose(np.asarray(g.to_dense()), a)
    np.testing.assert_allclose(g.to_scipy().toarray(), a)
    back = Graph.from_networkx(g.to_networkx())
    np.testing.assert_allclose(np.asarray(back.to_dense()), a)
    sym = Graph.from_edges([0, 1, 1], [1, 2, 2], [1.0, 0.5, 0.5], n_nodes=3, symmetric=True)
    np.testing.assert_allclose(np.asarray(sym.to_dense()), [[0, 1, 0], [1, 0, 1], [0, 1, 0]])


def test_knn_matches_brute_force() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 3)).astype(np.float32)
    k = 4
    d = np.linalg.norm(x[:, None] - x[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    nn = np.argsort(d, axis=1)[:, :k]
    g = Graph.knn(x, k, symmetric=False, block=16)
    dense = np.asarray(g.to_dense())
    for i in range(60):
        assert set(np.flatnonzero(dense[i])) == set(nn[i].tolist())
        np.testing.assert_allclose(dense[i, nn[i]], d[i, nn[i]], rtol=1e-4, atol=1e-4)
    gs = Graph.knn(x, k)
    ds = np.asarray(gs.to_dense())
    np.testing.assert_allclose(ds, ds.T, atol=1e-6)
    assert (ds > 0).sum() >= 60 * k
    gauss = gs.with_weights(np.exp(-np.asarray(gs.weights) ** 2))
    assert float(gauss.weights.max()) <= 1.0


def test_bad_graph_inputs() -> None:
    with pytest.raises(ValueError, match=r"receivers\[0\] = 5 is out of range"):
        Graph.from_edges([0], [5], n_nodes=3)
    with pytest.raises(ValueError, match="lengths differ"):
        Graph.from_edges([0, 1], [1], n_nodes=3)
    with pytest.raises(ValueError, match="n_nodes: expected a positive int"):
        Graph.from_edges([], [], n_nodes=0)
    with pytest.raises(ValueError, match="square matrix"):
        Graph.from_dense(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="k: expected an int in"):
        Graph.knn(np.zeros((5, 2)), 5)
    with pytest.raises(ValueError, match="finite"):
        Graph.from_edges([0], [1], [np.nan], n_nodes=2)
