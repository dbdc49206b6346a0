"""Upward (leaves → root) and downward (root → leaves) passes over a `Tree` or a `Forest`.

Every pass runs level by level over a static *level schedule* (the rows of each depth, grouped
and, in a `Forest`, padded to power-of-two buckets): for each level one gather of that level's
rows, one segment reduction of the level below into them, and one scatter of the results. The
levels are unrolled at trace time, so the total work is O(n) (plus the bucket padding) and a
forest of thousands of trees costs a few dozen fused array operations. Reductions that are
differentiable (sum, logsumexp, and max/min almost everywhere) stay differentiable. Rows outside
the schedule (padding rows of a Forest) get 0.

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
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from probtree.forest import Forest
from probtree.tree import Tree

Topology = Tree | Forest
_REDUCES = ("sum", "max", "min", "logsumexp")


class _Schedule(NamedTuple):
    parent: jax.Array  # (n,) int32, -1 at roots
    n_children: jax.Array  # (n,) int32
    level_rows: jax.Array  # (S,) rows grouped by level, padded with n
    parent_pos: jax.Array  # (S,) parent's position in the level above; int32 max if none
    sched_children: jax.Array  # (S,) number of children per schedule entry
    starts: tuple[int, ...]  # static start of each level in level_rows
    widths: tuple[int, ...]  # static width of each level
    n: int

    def level(self, a: jax.Array, d: int) -> jax.Array:
        """The level-``d`` segment of a schedule-ordered array (a static slice)."""
        return a[self.starts[d] : self.starts[d] + self.widths[d]]

    def levels(self) -> list[int]:
        return [d for d, w in enumerate(self.widths) if w > 0]


def _schedule(topo: Topology) -> _Schedule:
    if isinstance(topo, Tree):
        rows, nch = topo.levelorder, jnp.diff(topo.child_offsets)
    elif isinstance(topo, Forest):
        rows, nch = topo.level_rows, topo.n_children
    else:
        raise TypeError(f"topo: expected a Tree or a Forest, got {type(topo).__name__}")
    widths = tuple(topo.level_widths)
    starts = tuple(int(a) for a in np.cumsum((0,) + widths[:-1]))
    return _Schedule(
        topo.parent,
        nch,
        rows,
        topo.level_parent_pos,
        topo.level_n_children,
        starts,
        widths,
        topo.n_nodes,
    )


def _gather(a: jax.Array, rows: jax.Array) -> jax.Array:
    """``a[rows]`` with out-of-range rows (level padding) reading 0."""
    return a.at[rows].get(mode="fill", fill_value=0)


def _scatter(sch: _Schedule, vals: dict[int, jax.Array], struct: jax.ShapeDtypeStruct) -> jax.Array:
    """Writes per-level results (schedule order) back to node rows; padding rows get 0."""
    levels = sch.levels()
    flat = jnp.concatenate([vals[d] for d in levels], axis=0)
    rows = jnp.concatenate([sch.level(sch.level_rows, d) for d in levels])
    return jnp.zeros(struct.shape, struct.dtype).at[rows].set(flat, mode="drop")


def _check_leading(x: Any, n: int, name: str) -> None:
    for leaf in jax.tree_util.tree_leaves(x):
        shape = jnp.shape(leaf)
        if len(shape) == 0 or shape[0] != n:
            raise ValueError(
                f"{name}: expected a leading axis of {n} (one row per node), got shape {shape}"
            )


def _segment(values: jax.Array, seg: jax.Array, n: int, reduce: str) -> jax.Array:
    """Reduces ``values`` into ``n`` segments ``seg``; ids ``>= n`` are dropped."""
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
    sch = _schedule(topo)
    n = sch.n
    _check_leading(x, n, "x")
    combine = _add if combine is None else combine
    struct = _out_struct(lambda a: combine(x, a, sch.n_children), _like(x, n))
    xs = jax.tree_util.tree_map(lambda a: _gather(a, sch.level_rows), x)
    vals: dict[int, jax.Array] = {}
    below = None
    for d in reversed(sch.levels()):
        w = sch.widths[d]
        nch = sch.level(sch.sched_children, d)
        if below is None:
            agg = jnp.full((w, *struct.shape[1:]), empty, struct.dtype)
        else:
            # Children of level d are exactly level d + 1: reduce them into level-d positions.
            agg = _segment(vals[below], sch.level(sch.parent_pos, below), w, reduce)
            leaf = (nch == 0).reshape((w,) + (1,) * (agg.ndim - 1))
            agg = jnp.where(leaf, jnp.asarray(empty, agg.dtype), agg)
        x_d = jax.tree_util.tree_map(lambda a, d=d: sch.level(a, d), xs)
        vals[d] = combine(x_d, agg, nch).astype(struct.dtype)
        below = d
    return _scatter(sch, vals, struct)


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
    sch = _schedule(topo)
    parent, n_children, n = sch.parent, sch.n_children, sch.n
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
    sch = _schedule(topo)
    n = sch.n
    cand = jnp.asarray(candidates)
    if cand.ndim != 2 or cand.shape[0] != n:
        raise ValueError(f"candidates: expected shape ({n}, K), got {cand.shape}")
    if mask is not None:
        mask = jnp.asarray(mask, dtype=bool)
        if mask.shape != cand.shape:
            raise ValueError(f"mask: expected shape {cand.shape}, got {mask.shape}")
    dtype = jnp.result_type(cand, jnp.float32)
    cand_s = _gather(cand, sch.level_rows)
    mask_s = None if mask is None else _gather(mask, sch.level_rows)
    values: dict[int, jax.Array] = {}
    choices: dict[int, jax.Array] = {}
    scores: dict[int, jax.Array] = {}
    below = None
    for d in reversed(sch.levels()):
        w = sch.widths[d]
        if below is None:
            child_sum = jnp.zeros((w,), dtype)
        else:
            child_sum = jax.ops.segment_sum(values[below], sch.level(sch.parent_pos, below), w)
        s = combine(sch.level(cand_s, d), child_sum, sch.level(sch.sched_children, d))
        s = s.astype(dtype)
        if mask_s is not None:
            s = jnp.where(sch.level(mask_s, d), s, -jnp.inf)
        scores[d] = s
        choices[d] = jnp.argmax(s, axis=-1).astype(jnp.int32)
        values[d] = jnp.max(s, axis=-1)
        below = d
    value = _scatter(sch, values, jax.ShapeDtypeStruct((n,), dtype))
    choice = _scatter(sch, choices, jax.ShapeDtypeStruct((n,), jnp.int32))
    if not return_scores:
        return value, choice
    return value, choice, _scatter(sch, scores, jax.ShapeDtypeStruct(cand.shape, dtype))


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
    sch = _schedule(topo)
    n = sch.n
    _check_leading(x, n, "x")
    combine = _add_parent if combine is None else combine
    rv_shape = jnp.shape(root_value)
    guess = _like(x, n) if rv_shape == () else jax.ShapeDtypeStruct((n, *rv_shape), jnp.float32)
    struct = _out_struct(lambda pv: combine(x, pv), guess)
    root_row = jnp.broadcast_to(jnp.asarray(root_value, struct.dtype), struct.shape[1:])
    xs = jax.tree_util.tree_map(lambda a: _gather(a, sch.level_rows), x)
    vals: dict[int, jax.Array] = {}
    above = None
    for d in sch.levels():
        w = sch.widths[d]
        if above is None:
            pv = jnp.broadcast_to(root_row, (w, *struct.shape[1:]))
        else:
            pv = _gather(vals[above], sch.level(sch.parent_pos, d))
        x_d = jax.tree_util.tree_map(lambda a, d=d: sch.level(a, d), xs)
        vals[d] = combine(x_d, pv).astype(struct.dtype)
        above = d
    return _scatter(sch, vals, struct)
