"""Rooted trees as flat arrays: the `Tree` pytree and its validating builders.

A tree of ``n`` nodes is stored as index arrays (parent per node, children in CSR form, depth,
post-order and level order) with its sizes as static fields, so jit recompiles only when a size
changes. Node labels and payloads live in a side table (``labels``) that never enters traced code.

Validation happens once, at build time, in plain Python/numpy (see ``STYLE.md`` point 6): a
malformed tree (cycle, several roots, index out of range, unreachable node, empty, over the
configured limits) raises a ``ValueError`` that names the problem and a node involved.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class TreeLimits:
    """Upper bounds enforced by every builder, so that a malformed or adversarial input (e.g. a
    tree produced by a language model) cannot blow up memory.

    Attributes:
        max_nodes: most nodes a tree may have.
        max_depth: deepest level a node may sit at (the root is at depth 0).
    """

    max_nodes: int = 100_000
    max_depth: int = 1_000


DEFAULT_LIMITS = TreeLimits()


class SideTable(tuple):
    """Side table of Python metadata (per-node labels/payloads, row offsets).

    It travels with a `Tree`/`Forest` as static metadata but compares equal to any other
    `SideTable` and hashes to a constant, so it never triggers a jit recompile and need not be
    hashable. Consequence: a jitted function that *returns* a Tree/Forest hands back the side table
    seen at its first trace, so jitted code should return arrays, not trees.
    """

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SideTable)

    def __ne__(self, other: object) -> bool:
        return not isinstance(other, SideTable)

    def __hash__(self) -> int:
        return 0


Labels = SideTable


def _validate_parents(parents: np.ndarray, limits: TreeLimits) -> np.ndarray:
    """Checks a parent array and returns the depth of every node (numpy, build time)."""
    n = parents.shape[0]
    if n == 0:
        raise ValueError("parents: a tree needs at least one node, got an empty sequence")
    if n > limits.max_nodes:
        raise ValueError(f"tree has {n} nodes, more than limits.max_nodes={limits.max_nodes}")
    bad = np.flatnonzero((parents < -1) | (parents >= n))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"parents[{i}] = {int(parents[i])} is out of range: expected -1 (root) or an index "
            f"in [0, {n - 1}]"
        )
    roots = np.flatnonzero(parents == -1)
    if roots.size == 0:
        # Every node has a parent: following parents from node 0 must end in a cycle.
        raise ValueError(f"parents contain a cycle through node {_node_on_cycle(parents, 0)}")
    if roots.size > 1:
        raise ValueError(
            f"a tree has exactly one root (parent -1), got {roots.size}: nodes "
            f"{roots[:5].tolist()}{'...' if roots.size > 5 else ''}"
        )
    self_loops = np.flatnonzero(parents == np.arange(n))
    if self_loops.size:
        raise ValueError(f"parents contain a cycle through node {int(self_loops[0])} (own parent)")
    # Breadth-first from the root over the child lists gives depths; nodes never reached are on a
    # cycle or hang below one.
    depth = np.full(n, -1, dtype=np.int64)
    root = int(roots[0])
    depth[root] = 0
    order = np.argsort(parents, kind="stable")
    counts = np.bincount(parents[parents >= 0], minlength=n)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    kids = order[n - offsets[-1] :]  # nodes with a parent, grouped by parent
    frontier = np.array([root])
    d = 0
    while frontier.size:
        if d > limits.max_depth:
            raise ValueError(
                f"tree is deeper than limits.max_depth={limits.max_depth} (node "
                f"{int(frontier[0])} is at depth {d})"
            )
        nxt = np.concatenate([kids[offsets[p] : offsets[p + 1]] for p in frontier])
        d += 1
        depth[nxt] = d
        frontier = nxt
    unreached = np.flatnonzero(depth < 0)
    if unreached.size:
        i = int(unreached[0])
        raise ValueError(
            f"node {i} is unreachable from the root {root}: parents contain a cycle through node "
            f"{_node_on_cycle(parents, i)}"
        )
    return depth


def _node_on_cycle(parents: np.ndarray, start: int) -> int:
    seen: set[int] = set()
    i = start
    while i not in seen and i >= 0:
        seen.add(i)
        i = int(parents[i])
    return i


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Tree:
    """A rooted tree as flat arrays.

    The builders store numpy ``int32`` arrays (cheap to build by the thousand); they are pytree
    leaves like any array, so a jitted function receives them as device arrays.

    Attributes:
        parent: ``(n,) int32`` parent of each node; the root has ``-1``.
        child_offsets: ``(n+1,) int32`` CSR offsets: the children of ``i`` are
            ``child_index[child_offsets[i]:child_offsets[i+1]]``, in insertion order.
        child_index: ``(n-1,) int32`` children grouped by parent.
        depth: ``(n,) int32`` distance from the root.
        postorder: ``(n,) int32`` node ids, children before parents (depth-first).
        levelorder: ``(n,) int32`` node ids, breadth-first from the root (sorted by depth).
        level_pos: ``(n,) int32`` position of each node within its level in ``levelorder``.
        level_parent_pos: ``(n,) int32`` aligned with ``levelorder``: the parent's position in
            the level above (int32 max at the root).
        level_n_children: ``(n,) int32`` aligned with ``levelorder``: number of children.
        n_nodes: static number of nodes.
        max_depth: static depth of the deepest node.
        level_widths: static number of nodes at each depth (the passes' level schedule).
        labels: side table of labels (``Labels``), one per node; ignored by jit.

    Example:
        >>> t = Tree.from_nested({"label": "q", "children": [{"label": "a"}, {"label": "b"}]})
        >>> t.n_nodes, t.max_depth, t.children_of(0)
        (3, 1, [1, 2])
    """

    parent: jax.Array
    child_offsets: jax.Array
    child_index: jax.Array
    depth: jax.Array
    postorder: jax.Array
    levelorder: jax.Array
    level_pos: jax.Array
    level_parent_pos: jax.Array
    level_n_children: jax.Array
    n_nodes: int = dataclasses.field(metadata=dict(static=True))
    max_depth: int = dataclasses.field(metadata=dict(static=True))
    level_widths: tuple[int, ...] = dataclasses.field(default=(), metadata=dict(static=True))
    labels: Labels = dataclasses.field(default=Labels(), metadata=dict(static=True))

    # ------------------------------------------------------------------ builders
    @classmethod
    def from_parents(
        cls,
        parents: Sequence[int] | np.ndarray | jax.Array,
        labels: Sequence[Any] | None = None,
        *,
        limits: TreeLimits | None = None,
    ) -> Tree:
        """Builds a tree from the parent index of every node (root: ``-1``).

        Args:
            parents: ``(n,)`` integers; children keep the order of their indices.
            labels: optional label per node (defaults to the node index).
            limits: size limits (default `TreeLimits()`).

        Raises:
            ValueError: empty input, an index out of range, no or several roots, a cycle, an
                unreachable node, or more nodes / depth than ``limits`` allow.
            TypeError: non-integer parents.
        """
        limits = DEFAULT_LIMITS if limits is None else limits
        arr = np.asarray(parents)
        if arr.ndim != 1:
            raise ValueError(f"parents: expected a 1-D sequence, got shape {arr.shape}")
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"parents: expected integers, got dtype {arr.dtype}")
        arr = arr.astype(np.int64)
        depth = _validate_parents(arr, limits)
        n = arr.shape[0]
        if labels is None:
            labels = range(n)
        labels = Labels(labels)
        if len(labels) != n:
            raise ValueError(f"labels: expected {n} labels (one per node), got {len(labels)}")
        has_parent = np.flatnonzero(arr >= 0)
        order = has_parent[np.argsort(arr[has_parent], kind="stable")]
        counts = np.bincount(arr[has_parent], minlength=n)
        offsets = np.concatenate([[0], np.cumsum(counts)])
        levelorder = np.argsort(depth, kind="stable")
        widths = np.bincount(depth)
        level_pos = np.empty(n, dtype=np.int64)
        level_pos[levelorder] = np.arange(n) - np.repeat(np.cumsum(widths) - widths, widths)
        # Iterative DFS post-order (children in order, then the node).
        root = int(np.flatnonzero(arr == -1)[0])
        post = np.empty(n, dtype=np.int64)
        k = 0
        stack = [(root, False)]
        while stack:
            node, done = stack.pop()
            if done:
                post[k] = node
                k += 1
                continue
            stack.append((node, True))
            kids = order[offsets[node] : offsets[node + 1]]
            stack.extend((int(c), False) for c in kids[::-1])
        from probtree.forest import schedule_arrays

        ppos, nch = schedule_arrays(levelorder, arr, level_pos, counts)
        # numpy leaves: building is cheap (no device transfer); jit converts them on entry.
        as32 = lambda a: np.asarray(a, dtype=np.int32)
        return cls(
            parent=as32(arr),
            child_offsets=as32(offsets),
            child_index=as32(order),
            depth=as32(depth),
            postorder=as32(post),
            levelorder=as32(levelorder),
            level_pos=as32(level_pos),
            level_parent_pos=as32(ppos),
            level_n_children=as32(nch),
            n_nodes=n,
            max_depth=int(depth.max()),
            level_widths=tuple(int(w) for w in widths),
            labels=labels,
        )

    @classmethod
    def from_children(
        cls,
        mapping: Mapping[Hashable, Iterable[Hashable]],
        root: Hashable | None = None,
        *,
        limits: TreeLimits | None = None,
    ) -> Tree:
        """Builds a tree from ``{node: [children...]}``; labels are the node keys.

        Nodes are numbered breadth-first from the root. ``root`` defaults to the one node that is
        nobody's child.

        Raises:
            ValueError: no or several candidate roots, a node with two parents, a cycle, or a
                node of the mapping not reachable from the root.
        """
        limits = DEFAULT_LIMITS if limits is None else limits
        if not isinstance(mapping, Mapping):
            raise TypeError(f"mapping: expected a Mapping node -> children, got {type(mapping)}")
        if not mapping:
            raise ValueError("mapping: a tree needs at least one node, got an empty mapping")
        kids = {k: list(v) for k, v in mapping.items()}
        nodes = set(kids)
        parent_of: dict[Hashable, Hashable] = {}
        for p, cs in kids.items():
            for c in cs:
                if c in parent_of:
                    raise ValueError(
                        f"node {c!r} has two parents ({parent_of[c]!r} and {p!r}): not a tree"
                    )
                parent_of[c] = p
                nodes.add(c)
        if root is None:
            roots = [k for k in kids if k not in parent_of]
            if not roots:
                raise ValueError(
                    f"mapping contains a cycle through node {next(iter(kids))!r}: no root"
                )
            if len(roots) > 1:
                raise ValueError(f"a tree has exactly one root, got {len(roots)}: {roots[:5]!r}")
            root = roots[0]
        elif root not in nodes:
            raise ValueError(f"root {root!r} is not a node of the mapping")
        if len(nodes) > limits.max_nodes:
            raise ValueError(
                f"tree has {len(nodes)} nodes, more than limits.max_nodes={limits.max_nodes}"
            )
        index = {root: 0}
        order = [root]
        parents = [-1]
        i = 0
        while i < len(order):
            node = order[i]
            for c in kids.get(node, ()):
                if c in index:
                    raise ValueError(f"mapping contains a cycle through node {c!r}")
                index[c] = len(order)
                order.append(c)
                parents.append(i)
            i += 1
        missing = [v for v in nodes if v not in index]
        if missing:
            raise ValueError(
                f"node {missing[0]!r} is unreachable from the root {root!r} (a cycle or a "
                "second root)"
            )
        return cls.from_parents(parents, labels=order, limits=limits)

    @classmethod
    def from_nested(cls, obj: Any, *, limits: TreeLimits | None = None) -> Tree:
        """Builds a tree from nested ``{"label": x, "children": [...]}`` dicts or
        ``(label, [children])`` pairs (a bare non-container value is a leaf). Breadth-first ids.

        Raises:
            ValueError: an empty input, a malformed node, or too many nodes/too deep.
        """
        limits = DEFAULT_LIMITS if limits is None else limits

        def split(node: Any, where: str) -> tuple[Any, list[Any]]:
            if isinstance(node, Mapping):
                if "label" not in node:
                    raise ValueError(f"{where}: a dict node needs a 'label' key, got {list(node)}")
                children = node.get("children", [])
                if not isinstance(children, list | tuple):
                    raise ValueError(f"{where}: 'children' must be a list, got {type(children)}")
                return node["label"], list(children)
            if isinstance(node, tuple) and len(node) == 2 and isinstance(node[1], list | tuple):
                return node[0], list(node[1])
            return node, []

        if obj is None or (isinstance(obj, list | tuple | Mapping) and len(obj) == 0):
            raise ValueError("obj: a tree needs at least one node, got an empty value")
        labels: list[Any] = []
        parents: list[int] = []
        queue = [(obj, -1, "root", 0)]
        i = 0
        while i < len(queue):
            node, par, where, d = queue[i]
            if len(queue) > limits.max_nodes:
                raise ValueError(f"tree has more than limits.max_nodes={limits.max_nodes} nodes")
            if d > limits.max_depth:
                raise ValueError(f"tree is deeper than limits.max_depth={limits.max_depth}")
            label, children = split(node, where)
            labels.append(label)
            parents.append(par)
            queue.extend((c, i, f"{where}.children[{j}]", d + 1) for j, c in enumerate(children))
            i += 1
        return cls.from_parents(parents, labels=labels, limits=limits)

    @classmethod
    def from_networkx(
        cls, graph: Any, root: Hashable | None = None, *, limits: TreeLimits | None = None
    ) -> Tree:
        """Builds a tree from a networkx ``DiGraph`` (edges parent → child) or an undirected
        ``Graph`` (then ``root`` is required). Labels are the networkx node keys; children keep
        the graph's adjacency order.

        Raises:
            ValueError: the graph is not a tree (cycle, several roots, disconnected), or is empty.
        """
        import networkx as nx

        if not isinstance(graph, nx.Graph):
            raise TypeError(f"graph: expected a networkx graph, got {type(graph)}")
        if graph.number_of_nodes() == 0:
            raise ValueError("graph: a tree needs at least one node, got an empty graph")
        if graph.is_directed():
            mapping = {u: list(graph.successors(u)) for u in graph.nodes}
            return cls.from_children(mapping, root=root, limits=limits)
        if root is None:
            raise ValueError("root: required for an undirected graph")
        if graph.number_of_edges() != graph.number_of_nodes() - 1 or not nx.is_connected(graph):
            raise ValueError("graph: an undirected tree must be connected with n - 1 edges")
        return cls.from_children(
            {u: list(vs) for u, vs in nx.bfs_successors(graph, root)} | {root: list(graph[root])},
            root=root,
            limits=limits,
        )

    @classmethod
    def from_lark(cls, tree: Any, *, limits: TreeLimits | None = None) -> Tree:
        """Builds a tree from a lark parse tree: rule nodes are labelled by their rule name
        (``tree.data``), tokens become leaves labelled by the token itself."""
        from lark import Tree as LarkTree

        if not isinstance(tree, LarkTree):
            raise TypeError(f"tree: expected a lark.Tree, got {type(tree)}")

        def nest(node: Any) -> Any:
            if isinstance(node, LarkTree):
                return {"label": str(node.data), "children": [nest(c) for c in node.children]}
            return {"label": node, "children": []}

        return cls.from_nested(nest(tree), limits=limits)

    # ------------------------------------------------------------------ queries
    @property
    def root(self) -> int:
        """Index of the root node."""
        return int(np.asarray(self.levelorder)[0])

    @property
    def n_children(self) -> jax.Array:
        """``(n,) int32`` number of children of each node."""
        return jnp.diff(self.child_offsets)

    def children_of(self, i: int) -> list[int]:
        """The children of node ``i``, in order (Python, build time)."""
        off = np.asarray(self.child_offsets)
        return np.asarray(self.child_index)[off[i] : off[i + 1]].tolist()

    def to_networkx(self) -> Any:
        """A networkx ``DiGraph`` with edges parent → child (in child order) and each node's
        label in the ``label`` attribute; nodes are the integer ids."""
        import networkx as nx

        g = nx.DiGraph()
        labels = self.labels if len(self.labels) == self.n_nodes else range(self.n_nodes)
        for i in np.asarray(self.levelorder).tolist():
            g.add_node(i, label=labels[i])
        for i in np.asarray(self.levelorder).tolist():
            for c in self.children_of(i):
                g.add_edge(i, c)
        return g

    def __repr__(self) -> str:
        return f"Tree(n_nodes={self.n_nodes}, max_depth={self.max_depth})"
