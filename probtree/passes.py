"""Upward (leaves → root) and downward (root → leaves) passes over a `Tree` or a `Forest`.

Every pass runs level by level: a ``lax.fori_loop`` over the (static) depth levels, each level a
set of segment reductions over *all* nodes at once, with only the nodes of the current level
updated. The work is O(n · depth) but fully vectorised, so a forest of thousands of trees costs
one short loop of a few dozen fused array operations; reductions that are differentiable (sum,
logsumexp, and max/min almost everywhere) stay differentiable.

``combine`` functions are static arguments of the jitted passes: pass a module-level function (or
another hashable callable), not a fresh lambda per call, or every call recompiles.

References:
    Pearl, *Probabilistic Reasoning in Intelligent Systems* (1988), ch. 4 (upward/downward message
    passing on trees); Blelloch, *Prefix sums and their applications* (1990) (level-synchronous
    tree contraction as segment operations).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from probtree.forest import Forest
from probtree.tree import Tree

Topology = Tree | Forest
_REDUCES = ("sum", "max", "min", "logsumexp")


def _topology(topo: Topology) -> tuple[jax.Array, jax.Array, jax.Array, int, int]:
    if isinstance(topo, Tree):
        return topo.parent, topo.depth, jnp.diff(topo.child_offsets), topo.n_nodes, topo.max_depth
    if isinstance(topo, Forest):
        return topo.parent, topo.depth, topo.n_children, topo.n_nodes, topo.max_depth
    raise TypeError(f"topo: expected a Tree or a Forest, got {type(topo).__name__}")


def _check_leading(x: Any, n: int, name: str) -> None:
    for leaf in jax.tree_util.tree_leaves(x):
        shape = jnp.shape(leaf)
        if len(shape) == 0 or shape[0] != n:
            raise ValueError(
                f"{name}: expected a leading axis of {n} (one row per node), got shape {shape}"
            )


def _where_level(mask: jax.Array, new: Any, old: Any) -> Any:
    def pick(a: jax.Array, b: jax.Array) -> jax.Array:
        m = mask.reshape(mask.shape + (1,) * (a.ndim - 1))
        return jnp.where(m, a, b)

    return jax.tree_util.tree_map(pick, new, old)


def _segment(values: jax.Array, seg: jax.Array, n: int, reduce: str) -> jax.Array:
    """Reduces ``values`` (n, ...) into parents ``seg`` (n,) with id ``n`` meaning "no parent"."""
    if reduce == "sum":
        return jax.ops.segment_sum(values, seg, n + 1)[:n]
    if reduce == "max":
        return jax.ops.segment_max(values, seg, n + 1)[:n]
    if reduce == "min":
        return jax.ops.segment_min(values, seg, n + 1)[:n]
    # logsumexp, stable and -inf safe.
    m = jax.ops.segment_max(values, seg, n + 1)
    m_safe = jnp.where(jnp.isfinite(m), m, 0.0)
    s = jax.ops.segment_sum(jnp.exp(values - m_safe[seg]), seg, n + 1)
    return (m_safe + jnp.log(s))[:n]


def _add(x: jax.Array, agg: jax.Array, n_children: jax.Array) -> jax.Array:
    del n_children
    return x + agg


def _add_parent(x: jax.Array, parent_value: jax.Array) -> jax.Array:
    return x + parent_value


def _like(x: Any, n: int) -> jax.ShapeDtypeStruct:
    if isinstance(x, jax.Array | jnp.ndarray) or hasattr(x, "shape"):
        return jax.ShapeDtypeStruct(jnp.shape(x), jnp.result_type(x, jnp.float32))
    return jax.ShapeDtypeStruct((n,), jnp.float32)


def _out_struct(fn: Callable[[Any], Any], guess: jax.ShapeDtypeStruct) -> jax.ShapeDtypeStruct:
    """Shape of a pass's per-node value: the fixed point of ``fn`` on shapes (two tries)."""
    for _ in range(2):
        out = jax.eval_shape(fn, guess)
        if not isinstance(out, jax.ShapeDtypeStruct):
            raise TypeError("combine: expected it to return one array, got a pytree")
        if out.shape == guess.shape and out.dtype == guess.dtype:
            return out
        guess = out
    return guess


@partial(jax.jit, static_argnames=("reduce", "combine", "empty"))
def upward(
    topo: Topology,
    x: Any,
    reduce: str = "sum",
    combine: Callable[[Any, jax.Array, jax.Array], jax.Array] | None = None,
    empty: float = 0.0,
) -> jax.Array:
    """Leaves-to-root pass: ``out[i] = combine(x[i], agg[i], n_children[i])``.

    ``agg[i]`` reduces the children's ``out`` with ``reduce``; at a leaf it is ``empty``.

    Args:
        topo: a `Tree` or a `Forest`.
        x: per-node input, an array or pytree of arrays with leading axis ``n_nodes``.
        reduce: ``"sum"``, ``"max"``, ``"min"`` or ``"logsumexp"``.
        combine: ``(x, agg, n_children) -> out`` on whole arrays (all nodes at once); default
            ``x + agg``. Must be hashable (a module-level function).
        empty: value of ``agg`` at leaves.

    Returns:
        ``(n_nodes, ...)`` the per-node results.

    Example:
        >>> t = Tree.from_parents([-1, 0, 0, 1])
        >>> upward(t, jnp.ones(4)).tolist()  # subtree sizes
        [4.0, 2.0, 1.0, 1.0]

    Raises:
        ValueError: unknown ``reduce`` or an input without one row per node.
    """
    if reduce not in _REDUCES:
        raise ValueError(f"reduce: expected one of {_REDUCES}, got {reduce!r}")
    parent, depth, n_children, n, max_depth = _topology(topo)
    _check_leading(x, n, "x")
    combine = _add if combine is None else combine
    seg = jnp.where(parent >= 0, parent, n)
    is_leaf = n_children == 0
    struct = _out_struct(lambda a: combine(x, a, n_children), _like(x, n))

    def level(i: int, out: jax.Array) -> jax.Array:
        d = max_depth - i
        agg = _segment(out, seg, n, reduce)
        leaf_mask = is_leaf.reshape(is_leaf.shape + (1,) * (agg.ndim - 1))
        agg = jnp.where(leaf_mask, jnp.asarray(empty, agg.dtype), agg)
        return _where_level(depth == d, combine(x, agg, n_children).astype(struct.dtype), out)

    out0 = jnp.zeros(struct.shape, struct.dtype)
    return jax.lax.fori_loop(0, max_depth + 1, level, out0)


@partial(jax.jit, static_argnames=("combine",))
def upward_argmax(
    topo: Topology,
    x: ArrayLike,
    combine: Callable[[Any, jax.Array, jax.Array], jax.Array] | None = None,
) -> tuple[jax.Array, jax.Array]:
    """`upward` with ``reduce="max"`` that also returns which child won.

    Args:
        topo: a `Tree` or a `Forest`.
        x: ``(n_nodes,)`` per-node input.
        combine: as in `upward` (at leaves ``agg`` is 0).

    Returns:
        ``(out, best_child)``: ``(n,)`` values and ``(n,) int32`` the child whose ``out`` is the
        maximum (lowest index on ties; ``-1`` at leaves).
    """
    parent, _, n_children, n, _ = _topology(topo)
    x = jnp.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"x: expected shape (n_nodes,), got {x.shape}")
    out = upward(topo, x, reduce="max", combine=combine)
    seg = jnp.where(parent >= 0, parent, n)
    best = jax.ops.segment_max(out, seg, n + 1)[:n]
    is_best = (parent >= 0) & (out == best[jnp.clip(parent, 0)])
    ids = jnp.arange(n, dtype=jnp.int32)
    child = jax.ops.segment_min(jnp.where(is_best, ids, n), seg, n + 1)[:n]
    child = jnp.where((n_children > 0) & (child < n), child, -1).astype(jnp.int32)
    return out, child


@partial(jax.jit, static_argnames=("combine", "return_scores"))
def upward_select(
    topo: Topology,
    candidates: ArrayLike,
    combine: Callable[[jax.Array, jax.Array, jax.Array], jax.Array],
    mask: ArrayLike | None = None,
    return_scores: bool = False,
) -> tuple[jax.Array, ...]:
    """Argmax-select over per-node candidates, leaves to root.

    At each node the candidates' scores are ``combine(candidates, child_sum, n_children)``, where
    ``child_sum[i]`` is the sum of the children's selected values; the node's value is the best
    score and its choice the winning candidate (lowest index on ties, so order candidates by
    preference). ProbTree's selection (closed-book, open-book, child-aggregating) is one call.

    Args:
        topo: a `Tree` or a `Forest`.
        candidates: ``(n, K)`` raw candidate scores.
        combine: ``(candidates (n,K), child_sum (n,), n_children (n,)) -> (n,K)``; hashable.
        mask: optional ``(n, K) bool``; False removes a candidate (score ``-inf``).
        return_scores: also return the final ``(n, K)`` combined scores.

    Returns:
        ``(value (n,), choice (n,) int32)`` and, with ``return_scores``, the ``(n, K)`` scores.
    """
    parent, depth, n_children, n, max_depth = _topology(topo)
    cand = jnp.asarray(candidates)
    if cand.ndim != 2 or cand.shape[0] != n:
        raise ValueError(f"candidates: expected shape ({n}, K), got {cand.shape}")
    if mask is not None:
        mask = jnp.asarray(mask, dtype=bool)
        if mask.shape != cand.shape:
            raise ValueError(f"mask: expected shape {cand.shape}, got {mask.shape}")
    seg = jnp.where(parent >= 0, parent, n)

    def scores_of(value: jax.Array) -> jax.Array:
        child_sum = jax.ops.segment_sum(value, seg, n + 1)[:n]
        s = combine(cand, child_sum, n_children)
        return s if mask is None else jnp.where(mask, s, -jnp.inf)

    def level(i: int, value: jax.Array) -> jax.Array:
        d = max_depth - i
        return jnp.where(depth == d, jnp.max(scores_of(value), axis=-1), value)

    dtype = jnp.result_type(cand, jnp.float32)
    value = jax.lax.fori_loop(0, max_depth + 1, level, jnp.zeros((n,), dtype))
    scores = scores_of(value)
    choice = jnp.argmax(scores, axis=-1).astype(jnp.int32)
    return (value, choice, scores) if return_scores else (value, choice)


@partial(jax.jit, static_argnames=("combine",))
def downward(
    topo: Topology,
    x: Any,
    combine: Callable[[Any, jax.Array], jax.Array] | None = None,
    root_value: ArrayLike = 0.0,
) -> jax.Array:
    """Root-to-leaves pass: ``out[i] = combine(x[i], out[parent[i]])``.

    Args:
        topo: a `Tree` or a `Forest`.
        x: per-node input, array or pytree with leading axis ``n_nodes``.
        combine: ``(x, parent_value) -> out`` on whole arrays; default ``x + parent_value``.
        root_value: the parent value seen by roots (broadcast to one node's value shape). For a
            pytree ``x`` whose per-node value is not a scalar, give it the per-node shape.

    Returns:
        ``(n_nodes, ...)`` per-node results.

    Example:
        >>> t = Tree.from_parents([-1, 0, 0, 1])
        >>> downward(t, jnp.ones(4)).tolist()  # depth + 1
        [1.0, 2.0, 2.0, 3.0]
    """
    parent, depth, _, n, max_depth = _topology(topo)
    _check_leading(x, n, "x")
    combine = _add_parent if combine is None else combine
    rv_shape = jnp.shape(root_value)
    guess = _like(x, n) if rv_shape == () else jax.ShapeDtypeStruct((n, *rv_shape), jnp.float32)
    struct = _out_struct(lambda pv: combine(x, pv), guess)
    root_row = jnp.broadcast_to(jnp.asarray(root_value, struct.dtype), struct.shape[1:])
    is_root = parent < 0
    safe_parent = jnp.clip(parent, 0)

    def level(d: int, out: jax.Array) -> jax.Array:
        r = is_root.reshape(is_root.shape + (1,) * (out.ndim - 1))
        pv = jnp.where(r, root_row[None], out[safe_parent])
        return _where_level(depth == d, combine(x, pv).astype(struct.dtype), out)

    out0 = jnp.zeros(struct.shape, struct.dtype)
    return jax.lax.fori_loop(0, max_depth + 1, level, out0)
