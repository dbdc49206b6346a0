"""Tree and Forest builders: round trips through networkx, validation errors, packing."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lark import Lark

from probtree import Forest, Tree, TreeLimits


@st.composite
def parent_arrays(draw, max_nodes: int = 40) -> list[int]:
    """Random rooted trees as parent arrays with shuffled node ids."""
    n = draw(st.integers(1, max_nodes))
    attach = [draw(st.integers(0, i - 1)) for i in range(1, n)]
    perm = draw(st.permutations(range(n)))
    parents = [-1] * n
    for i, p in enumerate(attach, start=1):
        parents[perm[i]] = perm[p]
    return parents


def _edges(t: Tree) -> set[tuple[object, object]]:
    g = t.to_networkx()
    return {(g.nodes[u]["label"], g.nodes[v]["label"]) for u, v in g.edges}


@settings(max_examples=60, deadline=None)
@given(parent_arrays())
def test_from_parents_matches_networkx(parents: list[int]) -> None:
    t = Tree.from_parents(parents)
    g = nx.DiGraph([(p, i) for i, p in enumerate(parents) if p >= 0])
    g.add_nodes_from(range(len(parents)))
    root = parents.index(-1)
    assert t.root == root
    assert nx.is_arborescence(t.to_networkx())
    assert set(t.to_networkx().edges) == set(g.edges)
    depth = nx.shortest_path_length(g, root)
    np.testing.assert_array_equal(np.asarray(t.depth), [depth[i] for i in range(len(parents))])
    assert t.max_depth == max(depth.values())
    # post-order: every node after all its descendants; level order: by non-decreasing depth.
    pos = {int(v): k for k, v in enumerate(np.asarray(t.postorder))}
    assert all(pos[c] < pos[p] for p, c in g.edges)
    assert list(np.asarray(t.postorder)) == list(nx.dfs_postorder_nodes(t.to_networkx(), root))
    lv = np.asarray(t.depth)[np.asarray(t.levelorder)]
    assert np.all(np.diff(lv) >= 0)
    for i in range(len(parents)):
        assert t.children_of(i) == sorted(g.successors(i))
    out_deg = [g.out_degree(i) for i in range(t.n_nodes)]
    np.testing.assert_array_equal(np.asarray(t.n_children), out_deg)


@settings(max_examples=40, deadline=None)
@given(parent_arrays())
def test_builders_round_trip(parents: list[int]) -> None:
    t = Tree.from_parents(parents, labels=[f"n{i}" for i in range(len(parents))])
    edges = _edges(t)
    # networkx -> Tree (labels become the networkx node keys)
    relabelled = nx.relabel_nodes(t.to_networkx(), {i: f"n{i}" for i in range(t.n_nodes)})
    assert _edges(Tree.from_networkx(relabelled)) == edges
    # children mapping
    mapping = {f"n{i}": [f"n{c}" for c in t.children_of(i)] for i in range(t.n_nodes)}
    t2 = Tree.from_children(mapping)
    assert _edges(t2) == edges and t2.n_nodes == t.n_nodes
    # nested dicts
    def nest(i: int) -> dict:
        return {"label": f"n{i}", "children": [nest(c) for c in t.children_of(i)]}

    t3 = Tree.from_nested(nest(t.root))
    assert _edges(t3) == edges and set(t3.labels) == set(t.labels)
    # undirected networkx with an explicit root
    und = relabelled.to_undirected()
    assert _edges(Tree.from_networkx(und, root=f"n{t.root}")) == edges


def test_from_nested_pairs_and_leaves() -> None:
    t = Tree.from_nested(("q", [("a", ["x", "y"]), "b"]))
    assert list(t.labels) == ["q", "a", "b", "x", "y"]
    assert t.children_of(0) == [1, 2] and t.children_of(1) == [3, 4]


def test_from_lark() -> None:
    parser = Lark("start: pair+\npair: WORD \"=\" WORD\n%import common.WORD\n%ignore \" \"")
    t = Tree.from_lark(parser.parse("a=b c=d"))
    assert t.labels[0] == "start" and t.n_nodes == 7 and t.max_depth == 2
    assert [t.labels[c] for c in t.children_of(0)] == ["pair", "pair"]
    assert [str(t.labels[c]) for c in t.children_of(1)] == ["a", "b"]


@pytest.mark.parametrize(
    ("parents", "message"),
    [
        ([], "at least one node"),
        ([-1, 0, 5], r"parents\[2\] = 5 is out of range"),
        ([-1, 0, -3], r"parents\[2\] = -3 is out of range"),
        ([-1, -1, 0], "exactly one root"),
        ([1, 2, 0], "cycle through node"),
        ([-1, 2, 1], "unreachable from the root 0: parents contain a cycle through node"),
        ([-1, 1], "cycle through node 1"),
    ],
)
def test_malformed_parents(parents: list[int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Tree.from_parents(parents)


def test_malformed_other_builders() -> None:
    with pytest.raises(TypeError, match="expected integers"):
        Tree.from_parents([-1.0, 0.5])
    with pytest.raises(ValueError, match="labels: expected 2"):
        Tree.from_parents([-1, 0], labels=["a"])
    with pytest.raises(ValueError, match="two parents"):
        Tree.from_children({"a": ["b", "c"], "d": ["c"]})
    with pytest.raises(ValueError, match="cycle"):
        Tree.from_children({"a": ["b"], "b": ["a"]})
    with pytest.raises(ValueError, match="exactly one root"):
        Tree.from_children({"a": ["b"], "c": ["d"]})
    with pytest.raises(ValueError, match="empty"):
        Tree.from_children({})
    with pytest.raises(ValueError, match="'label' key"):
        Tree.from_nested({"children": []})
    with pytest.raises(ValueError, match="empty"):
        Tree.from_networkx(nx.DiGraph())
    with pytest.raises(ValueError, match="root: required"):
        Tree.from_networkx(nx.path_graph(3))
    with pytest.raises(ValueError, match="n - 1 edges"):
        Tree.from_networkx(nx.cycle_graph(3), root=0)


def test_limits() -> None:
    chain = [-1] + list(range(9))
    with pytest.raises(ValueError, match="max_nodes=5"):
        Tree.from_parents(chain, limits=TreeLimits(max_nodes=5))
    with pytest.raises(ValueError, match="max_depth=3"):
        Tree.from_parents(chain, limits=TreeLimits(max_depth=3))
    deep: dict = {"label": 0}
    node = deep
    for i in range(1, 20):
        node["children"] = [{"label": i}]
        node = node["children"][0]
    with pytest.raises(ValueError, match="max_depth=5"):
        Tree.from_nested(deep, limits=TreeLimits(max_depth=5))
    wide = {"label": "r", "children": [{"label": i} for i in range(50)]}
    with pytest.raises(ValueError, match="max_nodes=10"):
        Tree.from_nested(wide, limits=TreeLimits(max_nodes=10))


def test_forest_packing() -> None:
    trees = [Tree.from_parents([-1, 0, 0]), Tree.from_parents([1, -1]), Tree.from_parents([-1])]
    f = Forest.from_trees(trees)
    assert (f.n_trees, f.n_real_nodes, f.n_nodes, f.offsets) == (3, 6, 8, (0, 3, 5, 6))
    np.testing.assert_array_equal(np.asarray(f.parent), [-1, 0, 0, 4, -1, -1, -1, -1])
    np.testing.assert_array_equal(np.asarray(f.roots)[:3], [0, 4, 5])
    np.testing.assert_array_equal(np.asarray(f.tree_id), [0, 0, 0, 1, 1, 2, 3, 3])
    np.testing.assert_array_equal(np.asarray(f.node_mask), [1, 1, 1, 1, 1, 1, 0, 0])
    packed = f.pack([np.array([1, 2, 3]), np.array([4, 5]), np.array([6])], fill=-1)
    np.testing.assert_array_equal(np.asarray(packed), [1, 2, 3, 4, 5, 6, -1, -1])
    assert [a.tolist() for a in f.unpack(packed)] == [[1, 2, 3], [4, 5], [6]]
    assert f.tree_slice(1) == slice(3, 5)
    with pytest.raises(ValueError, match="expected 3 arrays"):
        f.pack([np.zeros(3)])
    with pytest.raises(ValueError, match=r"per_tree\[1\]: expected leading axis 2"):
        f.pack([np.zeros(3), np.zeros(3), np.zeros(1)])
    with pytest.raises(ValueError, match="at least one Tree"):
        Forest.from_trees([])
    with pytest.raises(TypeError, match=r"trees\[0\]"):
        Forest.from_trees([[-1, 0]])
    exact = Forest.from_trees(trees, bucket=False)
    assert exact.n_nodes == 6 and exact.max_depth == 1
