"""Sparse weighted graphs in CSR form: the `Graph` pytree.

Edges are stored sorted by sender (``indptr``/``indices``, with the sender of every edge kept in
``senders`` for segment operations). Builders run at build time in numpy; the operators
(degree, matrix-vector products, the normalised Laplacian, connected components) are jit-friendly
array code, so a spectral method can run an iterative eigensolver on a kNN graph of tens of
thousands of points without forming an N×N matrix.

References:
    von Luxburg, *A tutorial on spectral clustering*, Statistics and Computing 17 (2007) §3
    (normalised Laplacian L_sym = I - D^{-1/2} W D^{-1/2}).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Graph:
    """A sparse directed weighted graph (an undirected graph stores both directions).

    Attributes:
        indptr: ``(n+1,) int32`` CSR row offsets.
        indices: ``(nnz,) int32`` receiver of each edge, grouped by sender.
        weights: ``(nnz,)`` float edge weights.
        senders: ``(nnz,) int32`` sender of each edge (the CSR row, expanded).
        n_nodes: static node count.

    Example:
        >>> g = Graph.from_edges([0, 1], [1, 2], n_nodes=3, symmetric=True)
        >>> g.degree().tolist()
        [1.0, 2.0, 1.0]
    """

    indptr: jax.Array
    indices: jax.Array
    weights: jax.Array
    senders: jax.Array
    n_nodes: int = dataclasses.field(metadata=dict(static=True))

    # ------------------------------------------------------------------ builders
    @classmethod
    def from_edges(
        cls,
        senders: ArrayLike,
        receivers: ArrayLike,
        weights: ArrayLike | None = None,
        *,
        n_nodes: int,
        symmetric: bool = False,
    ) -> Graph:
        """Builds a graph from an edge list.

        Args:
            senders, receivers: ``(m,)`` node indices in ``[0, n_nodes)``.
            weights: ``(m,)`` edge weights (default 1).
            n_nodes: number of nodes.
            symmetric: also add every reverse edge (an undirected graph). Duplicate edges are
                summed.

        Raises:
            ValueError: mismatched lengths, an index out of range, non-positive ``n_nodes``,
                or non-finite weights.
        """
        if not isinstance(n_nodes, int | np.integer) or n_nodes <= 0:
            raise ValueError(f"n_nodes: expected a positive int, got {n_nodes!r}")
        s = np.asarray(senders, dtype=np.int64).ravel()
        r = np.asarray(receivers, dtype=np.int64).ravel()
        if s.shape != r.shape:
            raise ValueError(f"senders/receivers: lengths differ ({s.size} vs {r.size})")
        w = np.ones(s.shape, np.float32) if weights is None else np.asarray(weights, np.float32)
        if w.shape != s.shape:
            raise ValueError(f"weights: expected shape {s.shape}, got {w.shape}")
        if not np.all(np.isfinite(w)):
            raise ValueError("weights: expected finite values")
        for name, a in (("senders", s), ("receivers", r)):
            bad = np.flatnonzero((a < 0) | (a >= n_nodes))
            if bad.size:
                raise ValueError(
                    f"{name}[{bad[0]}] = {a[bad[0]]} is out of range [0, {n_nodes - 1}]"
                )
        if symmetric:
            s, r, w = np.concatenate([s, r]), np.concatenate([r, s]), np.concatenate([w, w])
        # Sort by (sender, receiver) and merge duplicates.
        key = s * n_nodes + r
        uniq, inv = np.unique(key, return_inverse=True)
        w = np.bincount(inv, weights=w, minlength=uniq.size).astype(np.float32)
        if symmetric:
            # A self-loop was added twice by the mirroring; keep its weight once.
            loops = (uniq // n_nodes) == (uniq % n_nodes)
            w[loops] /= 2
        s, r = uniq // n_nodes, uniq % n_nodes
        indptr = np.concatenate([[0], np.cumsum(np.bincount(s, minlength=n_nodes))])
        return cls(
            indptr=jnp.asarray(indptr, jnp.int32),
            indices=jnp.asarray(r, jnp.int32),
            weights=jnp.asarray(w),
            senders=jnp.asarray(s, jnp.int32),
            n_nodes=int(n_nodes),
        )

    @classmethod
    def from_dense(cls, adjacency: ArrayLike) -> Graph:
        """Builds a graph from a dense ``(n, n)`` weight matrix (zeros are non-edges)."""
        a = np.asarray(adjacency, dtype=np.float32)
        if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] == 0:
            raise ValueError(f"adjacency: expected a non-empty square matrix, got {a.shape}")
        s, r = np.nonzero(a)
        return cls.from_edges(s, r, a[s, r], n_nodes=a.shape[0])

    @classmethod
    def knn(cls, points: ArrayLike, k: int, *, symmetric: bool = True, block: int = 2048) -> Graph:
        """k-nearest-neighbour graph over points, weights = Euclidean distances.

        The search runs blockwise in JAX (``block`` query rows at a time), so memory is
        ``O(block · n)``, not ``O(n²)``. With ``symmetric`` an edge exists if either endpoint is
        among the other's k nearest (the union), stored in both directions with the distance as
        weight. Apply a kernel with `with_weights`.

        Raises:
            ValueError: ``points`` not 2-D, or ``k`` not in ``[1, n-1]``.
        """
        x = jnp.asarray(points, dtype=jnp.float32)
        if x.ndim != 2 or x.shape[0] < 2:
            raise ValueError(f"points: expected shape (n >= 2, d), got {x.shape}")
        n = x.shape[0]
        if not isinstance(k, int | np.integer) or not 1 <= k <= n - 1:
            raise ValueError(f"k: expected an int in [1, {n - 1}], got {k!r}")
        sq = jnp.sum(x * x, axis=1)
        nbrs, dists = [], []
        for lo in range(0, n, block):
            q = x[lo : lo + block]
            idx, dist = _knn_block(q, x, sq, jnp.arange(lo, lo + q.shape[0]), int(k))
            nbrs.append(np.asarray(idx))
            dists.append(np.asarray(dist))
        r = np.concatenate(nbrs).ravel()
        d = np.concatenate(dists).ravel()
        s = np.repeat(np.arange(n), k)
        if symmetric:
            # Union of both directions; duplicates (mutual neighbours) keep one distance.
            s, r, d = np.concatenate([s, r]), np.concatenate([r, s]), np.concatenate([d, d])
            key = s * n + r
            _, first = np.unique(key, return_index=True)
            s, r, d = s[first], r[first], d[first]
        return cls.from_edges(s, r, np.maximum(d, 0.0), n_nodes=n)

    @classmethod
    def from_networkx(cls, graph: Any, weight: str = "weight") -> Graph:
        """Builds a graph from networkx (nodes relabelled 0..n-1 in ``graph.nodes`` order;
        an undirected graph gets both directions)."""
        import networkx as nx

        if not isinstance(graph, nx.Graph):
            raise TypeError(f"graph: expected a networkx graph, got {type(graph)}")
        nodes = list(graph.nodes)
        if not nodes:
            raise ValueError("graph: expected at least one node")
        index = {v: i for i, v in enumerate(nodes)}
        edges = list(graph.edges(data=weight, default=1.0))
        s = [index[u] for u, _, _ in edges]
        r = [index[v] for _, v, _ in edges]
        w = [float(x) for _, _, x in edges]
        return cls.from_edges(s, r, w, n_nodes=len(nodes), symmetric=not graph.is_directed())

    def with_weights(self, weights: ArrayLike) -> Graph:
        """The same edges with new ``(nnz,)`` weights (e.g. a Gaussian kernel of distances)."""
        w = jnp.asarray(weights)
        if w.shape != self.weights.shape:
            raise ValueError(f"weights: expected shape {self.weights.shape}, got {w.shape}")
        return dataclasses.replace(self, weights=w)

    # ------------------------------------------------------------------ operators
    @property
    def n_edges(self) -> int:
        """Number of stored (directed) edges."""
        return int(self.indices.shape[0])

    def degree(self) -> jax.Array:
        """``(n,)`` weighted out-degree (row sums)."""
        return jax.ops.segment_sum(self.weights, self.senders, self.n_nodes)

    def matvec(self, v: ArrayLike) -> jax.Array:
        """``W @ v`` for ``v`` of shape ``(n,)`` or ``(n, m)``."""
        v = jnp.asarray(v)
        w = self.weights.reshape(self.weights.shape + (1,) * (v.ndim - 1))
        return jax.ops.segment_sum(w * v[self.indices], self.senders, self.n_nodes)

    def normalized_laplacian_matvec(self, v: ArrayLike) -> jax.Array:
        """``L_sym @ v`` with ``L_sym = D^{-1/2} (D - W) D^{-1/2}``, i.e. ``I - D^{-1/2} W
        D^{-1/2}`` on non-isolated nodes and 0 on isolated ones (the networkx convention)."""
        v = jnp.asarray(v)
        deg = self.degree()
        inv_sqrt = jnp.where(deg > 0, 1.0 / jnp.sqrt(jnp.where(deg > 0, deg, 1.0)), 0.0)
        s = inv_sqrt.reshape(inv_sqrt.shape + (1,) * (v.ndim - 1))
        d = deg.reshape(s.shape)
        sv = s * v
        return s * (d * sv - self.matvec(sv))

    def normalized_laplacian_dense(self) -> jax.Array:
        """The ``(n, n)`` normalised Laplacian as a dense matrix (small graphs, tests)."""
        return self.normalized_laplacian_matvec(jnp.eye(self.n_nodes, dtype=self.weights.dtype))

    def to_dense(self) -> jax.Array:
        """The ``(n, n)`` weight matrix."""
        a = jnp.zeros((self.n_nodes, self.n_nodes), self.weights.dtype)
        return a.at[self.senders, self.indices].add(self.weights)

    def to_scipy(self) -> Any:
        """A ``scipy.sparse.csr_matrix`` of the weights."""
        import scipy.sparse as sp

        return sp.csr_matrix(
            (np.asarray(self.weights), np.asarray(self.indices), np.asarray(self.indptr)),
            shape=(self.n_nodes, self.n_nodes),
        )

    def to_networkx(self) -> Any:
        """A networkx ``DiGraph`` with a ``weight`` attribute on every edge."""
        import networkx as nx

        g = nx.DiGraph()
        g.add_nodes_from(range(self.n_nodes))
        g.add_weighted_edges_from(
            zip(
                np.asarray(self.senders).tolist(),
                np.asarray(self.indices).tolist(),
                np.asarray(self.weights).tolist(),
            )
        )
        return g

    def connected_components(self) -> jax.Array:
        """``(n,) int32`` component labels (the smallest node id in each weakly connected
        component), by min-label propagation to a fixed point under ``lax.while_loop``."""
        return _components(self.senders, self.indices, self.n_nodes)

    def __repr__(self) -> str:
        return f"Graph(n_nodes={self.n_nodes}, n_edges={self.n_edges})"


@jax.jit(static_argnames=("k",))
def _knn_block(
    q: jax.Array, x: jax.Array, sq: jax.Array, rows: jax.Array, k: int
) -> tuple[jax.Array, jax.Array]:
    d2 = jnp.sum(q * q, axis=1)[:, None] - 2.0 * q @ x.T + sq[None, :]
    d2 = d2.at[jnp.arange(q.shape[0]), rows].set(jnp.inf)  # no self-edges
    neg, idx = jax.lax.top_k(-d2, k)
    return idx, jnp.sqrt(jnp.maximum(-neg, 0.0))


@jax.jit(static_argnames=("n",))
def _components(senders: jax.Array, receivers: jax.Array, n: int) -> jax.Array:
    def step(state: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        labels, _ = state
        # Propagate along edges both ways, then jump to the label's label (pointer jumping).
        m = jax.ops.segment_min(labels[receivers], senders, n)
        m = jnp.minimum(m, jax.ops.segment_min(labels[senders], receivers, n))
        new = jnp.minimum(labels, m)
        new = new[new]
        return new, jnp.any(new != labels)

    labels0 = jnp.arange(n, dtype=jnp.int32)
    labels, _ = jax.lax.while_loop(lambda s: s[1], step, (labels0, jnp.array(True)))
    return labels
