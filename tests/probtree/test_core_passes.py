"""Passes against plain recursive Python and networkx; jit invariance; compile counts."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_core_tree import parent_arrays

from probtree import Forest, Tree, downward, upward, upward_argmax, upward_select
from probtree.reference import downward_python, upward_python, upward_select_python

ATOL = 1e-6
RTOL = 1e-5


def _mul_add(x, agg, n_children):
    return 0.5 * x + agg


def _py_mul_add(x, agg, k):
    return 0.5 * x + agg


def _probtree_like(cand, child_sum, n_children):
    # Candidate 2 aggregates the children like ProbTree's child-aggregating answer.
    ca = (cand[:, 2] + child_sum) / (n_children + 2)
    ca = jnp.where(n_children > 0, ca, -jnp.inf)
    return cand.at[:, 2].set(ca)


def _py_probtree_like(cand, child_sum, k):
    ca = (cand[2] + child_sum) / (k + 2) if k > 0 else -math.inf
    return [cand[0], cand[1], ca]


def _scale_parent(x, parent_value):
    return x + 0.9 * parent_value


@st.composite
def trees_and_values(draw, max_nodes: int = 30):
    parents = draw(parent_arrays(max_nodes))
    n = len(parents)
    x = draw(st.lists(st.floats(-3, 3, width=32, allow_subnormal=False), min_size=n, max_size=n))
    return parents, np.asarray(x, np.float32)


@settings(max_examples=25, deadline=None)
@given(trees_and_values(), st.sampled_from(["sum", "max", "min", "logsumexp"]))
def test_upward_matches_recursive_python(data, reduce: str) -> None:
    parents, x = data
    t = Tree.from_parents(parents)
    got = np.asarray(upward(t, jnp.asarray(x), reduce=reduce, combine=_mul_add))
    want = upward_python(parents, x.tolist(), reduce=reduce, combine=_py_mul_add)
    np.testing.assert_allclose(got, want, atol=ATOL * 10, rtol=RTOL)


@settings(max_examples=20, deadline=None)
@given(trees_and_values())
def test_downward_and_select_match_python(data) -> None:
    parents, x = data
    t = Tree.from_parents(parents)
    got = np.asarray(downward(t, jnp.asarray(x), combine=_scale_parent, root_value=1.0))
    want = downward_python(parents, x.tolist(), combine=lambda a, p: a + 0.9 * p, root_value=1.0)
    np.testing.assert_allclose(got, want, atol=ATOL * 10, rtol=RTOL)
    cand = np.stack([x, x[::-1].copy(), np.roll(x, 1)], axis=1)
    value, choice, scores = upward_select(
        t, jnp.asarray(cand), _probtree_like, return_scores=True
    )
    v_ref, c_ref = upward_select_python(parents, cand.tolist(), _py_probtree_like)
    np.testing.assert_allclose(np.asarray(value), v_ref, atol=ATOL * 10, rtol=RTOL)
    # Choices must agree wherever the winner is not a float32-vs-float64 near-tie.
    top2 = np.sort(np.asarray(scores), axis=1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > 1e-4
    np.testing.assert_array_equal(np.asarray(choice)[clear], np.asarray(c_ref)[clear])


@settings(max_examples=20, deadline=None)
@given(parent_arrays())
def test_passes_match_networkx_traversals(parents: list[int]) -> None:
    t = Tree.from_parents(parents)
    g = t.to_networkx()
    n = t.n_nodes
    sizes = np.asarray(upward(t, jnp.ones(n)))
    np.testing.assert_allclose(sizes, [len(nx.descendants(g, i)) + 1 for i in range(n)], atol=ATOL)
    height = np.asarray(upward(t, jnp.zeros(n), reduce="max", combine=_height))
    want_h = [max(nx.shortest_path_length(g, i).values()) for i in range(n)]
    np.testing.assert_allclose(height, want_h, atol=ATOL)
    depth = np.asarray(downward(t, jnp.ones(n), root_value=-1.0))
    want_d = nx.shortest_path_length(g, t.root)
    np.testing.assert_allclose(depth, [want_d[i] for i in range(n)], atol=ATOL)


def _height(x, agg, n_children):
    return jnp.where(n_children > 0, agg + 1.0, x)


def test_forest_pass_equals_per_tree_passes() -> None:
    rng = np.random.default_rng(0)
    trees, xs = [], []
    for _ in range(25):
        n = int(rng.integers(1, 20))
        parents = [-1] + [int(rng.integers(0, i)) for i in range(1, n)]
        trees.append(Tree.from_parents(parents))
        xs.append(rng.normal(size=n).astype(np.float32))
    f = Forest.from_trees(trees)
    x = f.pack(xs)
    up = f.unpack(upward(f, x, reduce="logsumexp"))
    down = f.unpack(downward(f, x))
    arg, best = upward_argmax(f, x)
    rows = zip(trees, xs, up, down, f.unpack(arg), f.unpack(best), strict=True)
    for k, (t, xi, u, d, a, b) in enumerate(rows):
        np.testing.assert_allclose(u, upward(t, jnp.asarray(xi), reduce="logsumexp"), atol=1e-5)
        np.testing.assert_allclose(d, downward(t, jnp.asarray(xi)), atol=1e-5)
        a_t, b_t = upward_argmax(t, jnp.asarray(xi))
        np.testing.assert_allclose(a, a_t, atol=1e-5)
        # Forest rows are offset: map the winner back to local ids.
        off = f.offsets[k]
        np.testing.assert_array_equal(np.where(b >= 0, b - off, -1), b_t)


def test_upward_argmax_picks_best_child() -> None:
    t = Tree.from_parents([-1, 0, 0, 0, 1, 1])
    out, best = upward_argmax(t, jnp.array([0.0, 1.0, 5.0, 5.0, 2.0, -1.0]))
    # node 1: max(2, -1) + 1 = 3; root: max(3, 5, 5) = 5, tie -> lowest child id 2.
    np.testing.assert_allclose(np.asarray(out), [5, 3, 5, 5, 2, -1], atol=ATOL)
    np.testing.assert_array_equal(np.asarray(best), [2, 4, -1, -1, -1, -1])


def test_same_with_and_without_jit() -> None:
    t = Tree.from_parents([-1, 0, 0, 1, 1, 2, 5])
    x = jnp.linspace(-1.0, 2.0, 7)
    cand = jnp.stack([x, -x, x * 2], axis=1)
    jitted = (
        upward(t, x, reduce="logsumexp"),
        downward(t, x, combine=_scale_parent),
        upward_select(t, cand, _probtree_like),
    )
    with jax.disable_jit():
        eager = (
            upward(t, x, reduce="logsumexp"),
            downward(t, x, combine=_scale_parent),
            upward_select(t, cand, _probtree_like),
        )
    leaves = jax.tree_util.tree_leaves
    for a, b in zip(leaves(jitted), leaves(eager), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=ATOL)


def test_same_bucket_does_not_recompile() -> None:
    f1 = Forest.from_trees([Tree.from_parents([-1, 0, 0]), Tree.from_parents([-1, 0])])
    f2 = Forest.from_trees([Tree.from_parents([-1, 0, 0, 0]), Tree.from_parents([-1])])
    sizes = lambda f: (f.n_nodes, f.max_depth, f.n_tree_slots, f.level_widths)
    assert sizes(f1) == sizes(f2)
    upward(f1, jnp.ones(f1.n_nodes), reduce="max")
    before = upward._cache_size()
    out = upward(f2, jnp.ones(f2.n_nodes), reduce="max")
    assert upward._cache_size() == before
    np.testing.assert_allclose(np.asarray(out)[:5], [2, 1, 1, 1, 1], atol=ATOL)  # path lengths
    # A bigger bucket compiles once more.
    f3 = Forest.from_trees([Tree.from_parents([-1] + [0] * 20)])
    upward(f3, jnp.ones(f3.n_nodes), reduce="max")
    assert upward._cache_size() == before + 1


def test_pytree_input_and_gradients() -> None:
    t = Tree.from_parents([-1, 0, 0, 1])
    # A pytree x: the posterior-predictive style downward pass of an HDP-like hierarchy.
    counts = jnp.array([[3.0, 1.0], [0.0, 2.0], [1.0, 1.0], [4.0, 0.0]])
    alpha = jnp.array([1.0, 2.0, 0.5, 1.0])

    out = downward(t, (counts, alpha), combine=_dp_predictive, root_value=jnp.array([0.5, 0.5]))
    p0 = (counts[0] + 1.0 * 0.5) / (4.0 + 1.0)
    p1 = (counts[1] + 2.0 * p0) / (2.0 + 2.0)
    np.testing.assert_allclose(np.asarray(out[1]), np.asarray(p1), atol=ATOL)
    np.testing.assert_allclose(np.asarray(out.sum(axis=1)), np.ones(4), atol=ATOL)
    g = jax.grad(lambda v: upward(t, v, reduce="logsumexp")[0])(jnp.arange(4.0))
    # d root / d x_i is the softmax weight of the path through i; gradients sum over leaves.
    assert g[0] == pytest.approx(1.0, abs=ATOL)
    assert float(g[2] + g[1]) == pytest.approx(1.0, abs=1e-5)


def _dp_predictive(x, parent_value):
    counts, alpha = x
    return (counts + alpha[:, None] * parent_value) / (counts.sum(1) + alpha)[:, None]


def test_bad_inputs() -> None:
    t = Tree.from_parents([-1, 0])
    with pytest.raises(ValueError, match="reduce: expected one of"):
        upward(t, jnp.ones(2), reduce="mean")
    with pytest.raises(ValueError, match="leading axis of 2"):
        upward(t, jnp.ones(3))
    with pytest.raises(ValueError, match=r"candidates: expected shape \(2, K\)"):
        upward_select(t, jnp.ones(2), _probtree_like)
    with pytest.raises(TypeError, match="Tree or a Forest"):
        upward([-1, 0], jnp.ones(2))


def test_sharded_forest_pass_on_four_devices(multi_device) -> None:
    out = multi_device(
        """
        import jax, jax.numpy as jnp, numpy as np
        from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
        from probtree import Forest, Tree, upward
        assert jax.device_count() == 4
        rng = np.random.default_rng(0)
        trees = [Tree.from_parents([-1] + [int(rng.integers(0, i)) for i in range(1, 9)])
                 for _ in range(30)]
        f = Forest.from_trees(trees)
        x = jnp.asarray(rng.normal(size=f.n_nodes), jnp.float32)
        mesh = Mesh(np.array(jax.devices()), ("d",))
        xs = jax.device_put(x, NamedSharding(mesh, P("d")))
        got = upward(f, xs, reduce="logsumexp")
        want = upward(f, x, reduce="logsumexp")
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-5)
        print("ok", len(xs.sharding.device_set))
        """
    )
    assert out.strip() == "ok 4"
