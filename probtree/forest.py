"""Many trees packed into one set of arrays: the `Forest` pytree.

Trees are concatenated (node ``j`` of tree ``t`` sits at row ``offsets[t] + j``), parent indices
are shifted to global rows, and the arrays are padded to bucketed sizes (node count, tree count
and depth rounded up to the next power of two) so that jit recompiles only when a bucket changes.
Padding rows are isolated roots with ``node_mask = False`` and ``tree_id = n_trees`` (one past the
last real tree); they never influence a real node in any pass.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from probtree.tree import SideTable, Tree


def bucket_size(n: int, minimum: int = 8, steps: int = 1) -> int:
    """The size bucket of ``n``, at least ``minimum``.

    With ``steps=1`` the next power of two; with ``steps=s`` each octave ``[2^k, 2^(k+1))`` is
    split into ``s`` equal buckets (``s`` a power of two), so padding wastes at most ``1/s``.
    """
    if n < 0:
        raise ValueError(f"n: expected a non-negative size, got {n}")
    if n <= minimum:
        return minimum
    top = 1 << (n - 1).bit_length()  # next power of two >= n
    step = max(1, top // (2 * steps))
    return max(minimum, -(-n // step) * step)


# Rows and level segments are bucketed in eighths of an octave (at most 12.5% padding).
_STEPS = 8


NO_PARENT = np.iinfo(np.int32).max


def schedule_arrays(
    level_rows: np.ndarray, parent: np.ndarray, level_pos: np.ndarray, n_children: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Parent position (in the level above) and child count for each level-schedule entry."""
    n = parent.shape[0]
    valid = level_rows < n
    rows = np.where(valid, level_rows, 0)
    par = np.where(valid, parent[rows], -1)
    has = par >= 0
    ppos = np.where(has, level_pos[np.where(has, par, 0)], NO_PARENT).astype(np.int32)
    nch = np.where(valid, n_children[rows], 0).astype(np.int32)
    return ppos, nch


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Forest:
    """A batch of rooted trees in one set of (padded) arrays.

    It exposes the same topology fields as `Tree` (``parent``, ``depth``, ``n_nodes``,
    ``max_depth``), so every pass in `probtree.passes` runs on a whole forest at once.

    Attributes:
        parent: ``(N,) int32`` global parent row; ``-1`` at roots and padding.
        depth: ``(N,) int32`` depth within its tree (0 on padding).
        n_children: ``(N,) int32`` number of children.
        tree_id: ``(N,) int32`` which tree a row belongs to (``n_trees`` on padding).
        node_mask: ``(N,) bool`` True on real nodes.
        level_rows: ``(sum(level_widths),) int32`` the level schedule: rows grouped by depth,
            level ``d`` in its own segment of ``level_widths[d]`` entries, padded with ``N``.
        level_pos: ``(N,) int32`` position of each row within its level's segment.
        level_parent_pos: ``(S,) int32`` aligned with ``level_rows``: the parent's position in
            the level above (int32 max at roots and padding, so segment ops drop them).
        level_n_children: ``(S,) int32`` aligned with ``level_rows``: number of children.
        roots: ``(T,) int32`` root row of each tree slot, T = bucketed tree count (slots past
            the real trees point at row 0 and are to be ignored).
        n_nodes: static padded row count N (a bucket).
        n_tree_slots: static padded tree count T (a bucket).
        max_depth: static (bucketed) depth bound.
        level_widths: static (bucketed) width of each level's segment in ``level_rows``.
        meta: side table ``(n_trees, offsets, labels)``, not hashed by jit (see `SideTable`):
            read it through the ``n_trees``, ``offsets`` and ``labels`` properties.

    Example:
        >>> f = Forest.from_trees([Tree.from_parents([-1, 0, 0]), Tree.from_parents([-1, 0])])
        >>> f.n_trees, f.n_nodes, f.offsets
        (2, 8, (0, 3, 5))
    """

    parent: jax.Array
    depth: jax.Array
    n_children: jax.Array
    tree_id: jax.Array
    node_mask: jax.Array
    level_rows: jax.Array
    level_pos: jax.Array
    level_parent_pos: jax.Array
    level_n_children: jax.Array
    roots: jax.Array
    n_nodes: int = dataclasses.field(metadata=dict(static=True))
    n_tree_slots: int = dataclasses.field(metadata=dict(static=True))
    max_depth: int = dataclasses.field(metadata=dict(static=True))
    level_widths: tuple[int, ...] = dataclasses.field(default=(), metadata=dict(static=True))
    meta: SideTable = dataclasses.field(default=SideTable(), metadata=dict(static=True))

    @property
    def n_trees(self) -> int:
        """Number of real trees."""
        return self.meta[0]

    @property
    def offsets(self) -> tuple[int, ...]:
        """Start row of each real tree, plus the real row count at the end."""
        return self.meta[1]

    @property
    def labels(self) -> tuple[tuple, ...]:
        """Per tree, that tree's label side table."""
        return self.meta[2]

    @classmethod
    def from_trees(cls, trees: Sequence[Tree], *, bucket: bool = True) -> Forest:
        """Packs trees into a forest.

        Args:
            trees: the trees (at least one).
            bucket: pad rows and depth to power-of-two buckets (default). With ``False`` the
                arrays have exactly the real sizes (one compile per distinct forest shape).

        Raises:
            ValueError: no trees. TypeError: an element that is not a `Tree`.
        """
        trees = list(trees)
        if not trees:
            raise ValueError("trees: expected at least one Tree, got an empty sequence")
        for i, t in enumerate(trees):
            if not isinstance(t, Tree):
                raise TypeError(f"trees[{i}]: expected a Tree, got {type(t).__name__}")
        sizes = np.array([t.n_nodes for t in trees], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        total = int(offsets[-1])
        depth_real = max(t.max_depth for t in trees)
        n_rows = bucket_size(total, steps=_STEPS) if bucket else total
        max_depth = bucket_size(depth_real + 1, minimum=4) - 1 if bucket else depth_real
        parent = np.full(n_rows, -1, dtype=np.int32)
        depth = np.zeros(n_rows, dtype=np.int32)
        tree_id = np.full(n_rows, len(trees), dtype=np.int32)
        n_children = np.zeros(n_rows, dtype=np.int32)
        n_slots = bucket_size(len(trees), minimum=1) if bucket else len(trees)
        roots = np.zeros(n_slots, dtype=np.int32)
        for i, t in enumerate(trees):
            lo, hi = offsets[i], offsets[i + 1]
            p = np.asarray(t.parent)
            parent[lo:hi] = np.where(p >= 0, p + lo, -1)
            depth[lo:hi] = np.asarray(t.depth)
            n_children[lo:hi] = np.diff(np.asarray(t.child_offsets))
            tree_id[lo:hi] = i
            roots[i] = lo + t.root
        node_mask = np.arange(n_rows) < total
        # Level schedule: real rows grouped by depth, each level padded to a bucket (with N).
        real_depth = depth[:total]
        counts = np.bincount(real_depth, minlength=max_depth + 1)
        widths = [bucket_size(int(c), steps=_STEPS) if (bucket and c) else int(c) for c in counts]
        by_depth = np.argsort(real_depth, kind="stable")
        level_rows = np.full(sum(widths), n_rows, dtype=np.int32)
        level_pos = np.zeros(n_rows, dtype=np.int32)
        start, lo = 0, 0
        for c, w in zip(counts, widths, strict=True):
            rows = by_depth[lo : lo + c]
            level_rows[start : start + c] = rows
            level_pos[rows] = np.arange(c)
            start, lo = start + w, lo + c
        level_parent_pos, level_n_children = schedule_arrays(
            level_rows, parent, level_pos, n_children
        )
        return cls(
            parent=jnp.asarray(parent),
            depth=jnp.asarray(depth),
            n_children=jnp.asarray(n_children),
            tree_id=jnp.asarray(tree_id),
            node_mask=jnp.asarray(node_mask),
            level_rows=jnp.asarray(level_rows),
            level_pos=jnp.asarray(level_pos),
            level_parent_pos=jnp.asarray(level_parent_pos),
            level_n_children=jnp.asarray(level_n_children),
            roots=jnp.asarray(roots),
            n_nodes=n_rows,
            n_tree_slots=n_slots,
            max_depth=max_depth,
            level_widths=tuple(widths),
            meta=SideTable(
                (len(trees), tuple(int(o) for o in offsets), tuple(tuple(t.labels) for t in trees))
            ),
        )

    @property
    def n_real_nodes(self) -> int:
        """Number of real (non-padding) rows."""
        return self.offsets[-1]

    def tree_slice(self, t: int) -> slice:
        """Rows of tree ``t`` in the packed arrays."""
        if not 0 <= t < self.n_trees:
            raise ValueError(f"t: expected a tree index in [0, {self.n_trees - 1}], got {t}")
        return slice(self.offsets[t], self.offsets[t + 1])

    def pack(self, per_tree: Sequence[Any], fill: float | int | bool = 0) -> jax.Array:
        """Concatenates one array per tree (leading axis = that tree's node count) into an
        ``(N, ...)`` array, padding rows set to ``fill``.

        Raises:
            ValueError: wrong number of arrays, or an array whose length is not its tree's size.
        """
        if len(per_tree) != self.n_trees:
            raise ValueError(f"per_tree: expected {self.n_trees} arrays, got {len(per_tree)}")
        arrays = [np.asarray(a) for a in per_tree]
        for t, a in enumerate(arrays):
            want = self.offsets[t + 1] - self.offsets[t]
            if a.ndim == 0 or a.shape[0] != want:
                raise ValueError(
                    f"per_tree[{t}]: expected leading axis {want} (the tree's node count), got "
                    f"shape {a.shape}"
                )
        trailing = arrays[0].shape[1:]
        for t, a in enumerate(arrays):
            if a.shape[1:] != trailing:
                raise ValueError(
                    f"per_tree[{t}]: trailing shape {a.shape[1:]} differs from {trailing}"
                )
        dtype = np.result_type(*arrays)
        out = np.full((self.n_nodes, *trailing), fill, dtype=dtype)
        out[: self.n_real_nodes] = np.concatenate(arrays, axis=0)
        return jnp.asarray(out)

    def unpack(self, arr: jax.Array | np.ndarray) -> list[np.ndarray]:
        """Splits an ``(N, ...)`` array back into one numpy array per tree (padding dropped)."""
        a = np.asarray(arr)
        if a.shape[0] != self.n_nodes:
            raise ValueError(f"arr: expected leading axis {self.n_nodes}, got shape {a.shape}")
        return [a[self.offsets[t] : self.offsets[t + 1]] for t in range(self.n_trees)]

    def __repr__(self) -> str:
        return (
            f"Forest(n_trees={self.n_trees}, n_real_nodes={self.n_real_nodes}, "
            f"n_nodes={self.n_nodes}, max_depth={self.max_depth})"
        )
