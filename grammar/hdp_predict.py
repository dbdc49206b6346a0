"""Posterior predictive of a feature-keyed HDP: every atom at every node, path sets, bounds.

For a node ``n`` with concentration ``alpha_n``, ``N_n`` customers and tables ``t`` of size
``n_t`` serving dishes ``d_t``:

    p_n(x) = (sum_t n_t f(x | d_t) + alpha_n p_parent(n)(x)) / (N_n + alpha_n),  p_parent(root) = H

with ``f(x | d) = 1[x = d]`` for the constant likelihood and the dish's collapsed categorical
predictive for the Dirichlet mixture. All nodes and atoms are computed at once by jit-compiled
`probtree.downward` passes over the node `Tree` (unrolled: see `_pass`), which also give
``S_n = prod_{ancestors a} alpha_a / (N_a + alpha_a)`` so that an atom never seen (open bases)
gets ``S_n H(x)``. A path that does not exist falls back to its deepest existing ancestor (a new
node has no customers, so it predicts exactly like its parent). Upper bounds over all paths below
a node are a `probtree.upward` max pass.

Path sets (partially known logical forms): each level holds a feature value or a `Wildcard` with
excluded values. `Predictor.path_set` returns, per atom, the probability for every consistent
existing path plus the wildcard remainder, as ``predict`` in the official ``mcmc.h``.

References:
    Teh et al. (2006), HDPs, §5; official code github.com/asaparov/hdp ``mcmc.h``
    (``compute_probability``, ``predict``, ``compute_maximum``, ``IMPLICIT_NODE``).
    Deviation: the official bounds sum per-sample maxima over posterior samples; here the bound is
    the exact maximum of the (sample-averaged) predictive over the consistent paths, which is
    tighter and still admissible.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Hashable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from grammar.hdp_state import HDPState, fine_bucket
from probtree import Tree, downward, upward


@dataclasses.dataclass(frozen=True)
class Wildcard:
    """An unknown feature value at one level, optionally excluding some values.

    Example:
        >>> Wildcard(frozenset({"texas"}))
        Wildcard(excluded={'texas'})
    """

    excluded: frozenset = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "excluded", frozenset(self.excluded))

    def __repr__(self) -> str:
        items = ", ".join(sorted(map(repr, self.excluded)))
        return f"Wildcard(excluded={{{items}}})"


ANY = Wildcard()


def is_wildcard(value: object) -> bool:
    """True for a `Wildcard` or any wildcard-like value with an ``excluded`` set (such as
    ``grammar.features.Wildcard``), so feature tuples can be passed to path sets unchanged."""
    return isinstance(value, Wildcard) or isinstance(
        getattr(value, "excluded", None), frozenset | set
    )


class Snapshot(NamedTuple):
    """The arrays the predictive needs from one seating (a posterior sample).

    Attributes:
        node_parent: ``(n,) int32``; node ids are stable (nodes are never deleted).
        node_level: ``(n,) int32``.
        customers: ``(n,) float64`` ``N_n``.
        alpha: ``(F+1,) float64`` per-level concentrations.
        entry_node, entry_atom, entry_weight: COO entries of ``sum_t n_t f(x | d_t)``.
        log_h: ``(A,)`` log base probability of the registered atoms.
    """

    node_parent: np.ndarray
    node_level: np.ndarray
    customers: np.ndarray
    alpha: np.ndarray
    entry_node: np.ndarray
    entry_atom: np.ndarray
    entry_weight: np.ndarray
    log_h: np.ndarray


def snapshot(state: HDPState) -> Snapshot:
    """Extracts the predictive's inputs from ``state`` (a cheap copy; keep one per sample)."""
    tables = state.live_tables()
    node = state._a_table_node[tables]
    size = state._a_table_size[tables].astype(np.float64)
    base = state.model.base
    if base.kind == "constant":
        e_node, e_atom, e_w = node, state._a_table_group[tables], size
    else:
        n_atoms, beta = state.n_atoms, base.concentration
        f = np.zeros((tables.size, n_atoms))
        for i, t in enumerate(tables.tolist()):
            r = state._root_of(t)
            hist = state._hist[r]
            f[i] = beta
            f[i, list(hist)] += list(hist.values())
            f[i] /= state._table_nobs[r] + n_atoms * beta
        e_node = np.repeat(node, n_atoms)
        e_atom = np.tile(np.arange(n_atoms), tables.size)
        e_w = (size[:, None] * f).ravel()
    return Snapshot(
        state.node_parent, state.node_level, state.node_customers.astype(np.float64),
        state.alpha.copy(), np.asarray(e_node, np.int32), np.asarray(e_atom, np.int32),
        np.asarray(e_w, np.float64), state.log_base(),
    )


def _ancestor(x: jax.Array, parent_value: jax.Array) -> jax.Array:
    # row = the parent's ancestor ids with the node's own id written at its own depth
    return jnp.where(x >= 0, x, parent_value)


def _coefficient(x: jax.Array, parent_value: jax.Array) -> jax.Array:
    # columns 0..D: weight of the ancestor at each depth; last column: S_n. The own-depth column
    # is 1, shallower ones are the parent's times s_n = alpha_n / (N_n + alpha_n).
    own, s = x[:, :-1], x[:, -1:]
    return jnp.concatenate([jnp.where(own > 0, 1.0, parent_value[:, :-1] * s),
                            s * parent_value[:, -1:]], axis=1)


def _max(x: jax.Array, agg: jax.Array, n_children: jax.Array) -> jax.Array:
    del n_children
    return jnp.maximum(x, agg)


@functools.partial(jax.jit, static_argnames=("bounds",))
def _pass(tree: Tree, customers, alpha_node, e_node, e_atom, e_w, root_value, bounds=True):
    """``p_n = S_n H + sum_{ancestors a of n, incl. n} c_{n,a} M_a / (N_a + alpha_a)`` with
    ``c_{n,a} = prod_{j strictly below a, down to n} alpha_j / (N_j + alpha_j)``: two scalar
    `downward` passes give every node's ancestor ids and weights, then one gather per level.
    This unrolls the recursion ``p_n = (M_n + alpha_n p_parent) / (N_n + alpha_n)`` and touches
    each wide ``(n, A)`` row once per level instead of once per pass step."""
    n, width, levels = tree.n_nodes, root_value.shape[0], tree.max_depth + 1
    f = root_value.dtype
    m = jnp.zeros((n, width - 1), f).at[e_node, e_atom].add(e_w)
    den = customers + alpha_node
    x = m / den[:, None]
    onehot = tree.depth[:, None] == jnp.arange(levels)[None]
    ids = jnp.where(onehot, jnp.arange(n)[:, None], -1).astype(f)
    anc = downward(tree, ids, combine=_ancestor, root_value=-jnp.ones(levels, f))
    anc = anc.astype(jnp.int32)
    cx = jnp.concatenate([onehot.astype(f), (alpha_node / den)[:, None]], axis=1)
    coef = downward(tree, cx, combine=_coefficient, root_value=jnp.ones(levels + 1, f))
    scale = coef[:, -1:]
    p = scale * root_value[None, 1:]
    for k in range(levels):
        valid = anc[:, k : k + 1] >= 0
        p = p + jnp.where(valid, coef[:, k : k + 1], 0.0) * x[jnp.clip(anc[:, k], 0)]
    out = jnp.concatenate([scale, p], axis=1)
    return out, (upward(tree, out, reduce="max", combine=_max) if bounds else out)


def pass_inputs(tree: Tree, snap: Snapshot, log_h: np.ndarray) -> tuple:
    """The padded device arrays `_pass` takes for one snapshot (see `predictive_arrays`)."""
    n_pad, n_atoms = tree.n_nodes, log_h.shape[0]
    k = snap.customers.shape[0]
    width = fine_bucket(n_atoms + 1)
    customers = np.zeros(n_pad)
    customers[:k] = snap.customers
    alpha_node = np.ones(n_pad)
    alpha_node[:k] = snap.alpha[snap.node_level]
    e = snap.entry_node.shape[0]
    ep = fine_bucket(max(e, 1))
    e_node = np.zeros(ep, np.int32)
    e_atom = np.zeros(ep, np.int32)
    e_w = np.zeros(ep)
    e_node[:e], e_atom[:e], e_w[:e] = snap.entry_node, snap.entry_atom, snap.entry_weight
    root = np.zeros(width)
    root[0] = 1.0
    root[1 : 1 + n_atoms] = np.exp(log_h)
    f = jnp.float32
    return (tree, jnp.asarray(customers, f), jnp.asarray(alpha_node, f), jnp.asarray(e_node),
            jnp.asarray(e_atom), jnp.asarray(e_w, f), jnp.asarray(root, f))


def predictive_arrays(
    tree: Tree, snap: Snapshot, log_h: np.ndarray, *, bounds: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Runs the jit pass for one snapshot on ``tree`` (the current, padded node tree).

    Nodes created after the snapshot have no customers in it, so they predict exactly like their
    deepest ancestor that existed then; atoms registered after it have no table mass, so they get
    ``S_n H(x)`` from ``log_h`` (the current ``(A,)`` log base probabilities).

    Returns:
        ``(P, B)``, both ``(n_pad, 1 + A)``: column 0 holds ``S_n`` and columns ``1..A`` the
        predictive ``p_n(x)``; ``B`` holds their maxima over each node's subtree (``P`` itself
        when ``bounds`` is False).
    """
    n_atoms = log_h.shape[0]
    p, b = _pass(*pass_inputs(tree, snap, log_h), bounds=bounds)
    width = 1 + n_atoms
    return np.asarray(p)[:, :width], np.asarray(b)[:, :width]  # float32 views, no copy


@dataclasses.dataclass(frozen=True)
class Predictor:
    """Posterior predictive of one HDP state (or averaged over posterior samples), ready to query.

    Build it once per state with `Predictor.from_state` (the official parser's choice: the last
    sampler state) or `Predictor.from_samples` (average over kept samples), then query paths,
    path sets and bounds in plain numpy.

    Attributes:
        probs: ``(n_nodes, A)`` predictive of every registered atom at every node (float32 as
            computed by the jit pass for one state; float64 when averaged over samples).
        unseen_scale: ``(n_nodes,)`` ``S_n``: an atom without table mass has ``S_n H(x)``.
        bounds: ``(n_nodes, A)`` max of ``probs`` over each node's subtree (any path below).
        unseen_bound: ``(n_nodes,)`` max of ``unseen_scale`` over each subtree.
        state: the state the node/atom registries are read from (not modified).

    Example:
        >>> import numpy as np
        >>> from grammar.hdp_base import CategoricalBase
        >>> from grammar.hdp_state import HDPModel
        >>> s = HDPState(HDPModel(CategoricalBase.uniform("ab"), alpha=(1.0, 1.0)))
        >>> _ = s.add(np.random.default_rng(0), ("x",), "a")
        >>> pred = Predictor.from_state(s)
        >>> [round(float(p), 4) for p in pred.path(("x",))]   # (1 + 1 * 0.75) / 2 and 0.25 / 2
        [0.875, 0.125]
    """

    probs: np.ndarray
    unseen_scale: np.ndarray
    bounds: np.ndarray
    unseen_bound: np.ndarray
    state: HDPState

    @classmethod
    def from_state(cls, state: HDPState, *, backend: str = "auto") -> Predictor:
        """Predictive of the current seating (see `from_samples` for ``backend``)."""
        return cls.from_samples(state, [snapshot(state)], backend=backend)

    @classmethod
    def from_samples(
        cls, state: HDPState, samples: Sequence[Snapshot], *, backend: str = "auto"
    ) -> Predictor:
        """Predictive averaged over posterior ``samples`` (snapshots of earlier seatings of
        ``state``'s chain); node and atom registries come from ``state``.

        Args:
            state: the chain's current state (registries; not modified).
            samples: one or more `Snapshot`s.
            backend: ``"jax"`` (the jit passes), ``"numpy"`` (the same recursion level by level
                in numpy, float64, no compilation) or ``"auto"``: numpy below 2**16 node-atom
                pairs, where a compile per new size would cost more than the work (a grammar has
                dozens of small HDPs), jax above.
        """
        if not samples:
            raise ValueError("samples: expected at least one snapshot")
        if backend not in ("auto", "jax", "numpy"):
            raise ValueError(f"backend: expected 'auto', 'jax' or 'numpy', got {backend!r}")
        log_h = state.log_base()
        n = state.n_nodes
        if any(s.customers.shape[0] > n for s in samples):
            raise ValueError("samples: a snapshot has more nodes than state (not the same chain)")
        if backend == "numpy" or (backend == "auto" and n * (1 + len(log_h)) < 2**16):
            mean = sum(_numpy_pass(state, s, log_h) for s in samples) / len(samples)
            bound = mean.copy()
            parent = state.node_parent
            for v in range(n - 1, 0, -1):  # children have larger ids than their parents
                np.maximum(bound[parent[v]], bound[v], out=bound[parent[v]])
            return cls(mean[:, 1:], mean[:, 0], bound[:, 1:], bound[:, 0], state)
        tree = state.tree()
        if len(samples) == 1:
            mean, bound = predictive_arrays(tree, samples[0], log_h)
        else:
            total = None
            for snap in samples:
                p, _ = predictive_arrays(tree, snap, log_h, bounds=False)
                total = p.astype(np.float64) if total is None else total + p
            mean = total / len(samples)
            tj = jnp.asarray(mean, jnp.float32)
            bound = np.asarray(upward(tree, tj, reduce="max", combine=_max))
        return cls(mean[:n, 1:], mean[:n, 0], bound[:n, 1:], bound[:n, 0], state)

    # ------------------------------------------------------------------ queries
    def _unseen(self, atom: Hashable) -> float:
        lp = self.state.model.base.log_prob(atom)
        return 0.0 if lp == -math.inf else math.exp(lp)

    def node_of(self, path: Sequence[Hashable]) -> int:
        """The deepest existing node on a full or partial path of feature values."""
        return self.state.find(path)[0]

    def path(self, path: Sequence[Hashable]) -> np.ndarray:
        """``(A,)`` predictive for a feature path (deepest existing ancestor if it is new)."""
        return self.probs[self.node_of(path)]

    def prob(self, path: Sequence[Hashable], atom: Hashable) -> float:
        """Predictive probability of one atom (registered or not) at a path."""
        v = self.node_of(path)
        a = self.state.atom_id(atom)
        if a is not None:
            return float(self.probs[v, a])
        return float(self.unseen_scale[v] * self._unseen(atom))

    def unseen_mass(self, path: Sequence[Hashable]) -> float:
        """Probability that the next draw at ``path`` is an atom not yet registered."""
        v = self.node_of(path)
        h = float(np.exp(self.state.log_base()).sum())
        return float(self.unseen_scale[v] * max(0.0, 1.0 - h)) if self.state.model.base.is_open \
            else 0.0

    def _check_spec(self, spec: Sequence) -> tuple:
        if isinstance(spec, str | bytes) or not isinstance(spec, Sequence):
            raise TypeError(f"spec: expected a sequence of values/Wildcards, got {spec!r}")
        f = self.state.model.n_levels
        if len(spec) != f:
            raise ValueError(f"spec: expected {f} levels (one per feature), got {len(spec)}")
        return tuple(spec)

    def path_set(self, spec: Sequence) -> list[tuple[tuple, np.ndarray]]:
        """Predictive for every existing path consistent with ``spec`` plus wildcard remainders.

        Args:
            spec: one entry per feature level: a value, or a `Wildcard` (``ANY``) with optional
                excluded values (any object with an ``excluded`` set counts, see `is_wildcard`).

        Returns:
            ``[(path set, (A,) probs)]``. A path set is ``spec`` with the wildcards resolved:
            an existing child's value, or for the remainder (every value not stored and not
            excluded) a `Wildcard` whose exclusions add the stored children's values. The
            remainder and any missing value predict like the deepest existing node above them.
        """
        spec = self._check_spec(spec)
        st = self.state
        out: list[tuple[tuple, np.ndarray]] = []
        stack = [(0, 0, ())]
        while stack:
            v, level, prefix = stack.pop()
            if level == len(spec):
                out.append((prefix, self.probs[v]))
                continue
            s = spec[level]
            kids = st._children[v]
            if is_wildcard(s):
                rest = Wildcard(frozenset(s.excluded) | frozenset(kids))
                out.append((prefix + (rest,) + spec[level + 1 :], self.probs[v]))
                for key, c in kids.items():
                    if key not in s.excluded:
                        stack.append((c, level + 1, prefix + (key,)))
            elif s in kids:
                stack.append((kids[s], level + 1, prefix + (s,)))
            else:
                out.append((prefix + spec[level:], self.probs[v]))
        return out

    def bound(self, spec: Sequence) -> np.ndarray:
        """``(A,)`` upper bound (exact maximum) of the predictive over all paths in ``spec``.

        Uses the subtree bounds of the upward max pass wherever the rest of ``spec`` is
        unconstrained, and walks the stored children elsewhere.
        """
        spec = self._check_spec(spec)
        free = [True] * (len(spec) + 1)
        for i in range(len(spec) - 1, -1, -1):
            free[i] = free[i + 1] and is_wildcard(spec[i]) and not spec[i].excluded
        st = self.state
        best = np.zeros(self.probs.shape[1])
        stack = [(0, 0)]
        while stack:
            v, level = stack.pop()
            if free[level]:
                np.maximum(best, self.bounds[v], out=best)
                continue
            s = spec[level]
            kids = st._children[v]
            if is_wildcard(s):
                np.maximum(best, self.probs[v], out=best)  # a value not stored
                stack.extend((c, level + 1) for k, c in kids.items() if k not in s.excluded)
            elif s in kids:
                stack.append((kids[s], level + 1))
            else:
                np.maximum(best, self.probs[v], out=best)
        return best


def _numpy_pass(state: HDPState, snap: Snapshot, log_h: np.ndarray) -> np.ndarray:
    """``(n_nodes, 1 + A)`` like `predictive_arrays`, level by level in numpy (float64)."""
    n, n_atoms = state.n_nodes, log_h.shape[0]
    k = snap.customers.shape[0]
    m = np.zeros((n, n_atoms))
    np.add.at(m, (snap.entry_node, snap.entry_atom), snap.entry_weight)
    customers = np.zeros(n)
    customers[:k] = snap.customers
    level, parent = state.node_level, state.node_parent
    alpha = snap.alpha[level]
    den = customers + alpha
    out = np.empty((n, 1 + n_atoms))
    out[0, 0] = alpha[0] / den[0]
    out[0, 1:] = (m[0] + alpha[0] * np.exp(log_h)) / den[0]
    for lvl in range(1, int(level.max(initial=0)) + 1):
        idx = np.flatnonzero(level == lvl)
        a, d, pv = alpha[idx, None], den[idx, None], out[parent[idx]]
        out[idx, 0] = pv[:, 0] * a[:, 0] / d[:, 0]
        out[idx, 1:] = (m[idx] + a * pv[:, 1:]) / d
    return out


def predictive_reference(state: HDPState) -> np.ndarray:
    """``(n_nodes, A)`` predictive by a plain per-node Python loop over tables (no JAX).

    The reference for tests and the baseline of ``benchmarks/hdp.py``; nodes are visited in id
    order, which puts parents first (a node is always created after its parent).
    """
    n, n_atoms = state.n_nodes, state.n_atoms
    base = state.model.base
    h = np.exp(state.log_base())
    out = np.zeros((n, n_atoms))
    tables_at: list[list[int]] = [[] for _ in range(n)]
    for t in state.live_tables().tolist():
        tables_at[state._table_node[t]].append(t)
    for v in range(n):
        parent = state._node_parent[v]
        a = float(state.alpha[state._node_level[v]])
        acc = a * (h if parent < 0 else out[parent])
        for t in tables_at[v]:
            size = state._table_size[t]
            if base.kind == "constant":
                acc[state._table_group[t]] += size
            else:
                r = state._root_of(t)
                f = np.full(n_atoms, base.concentration)
                for x, c in state._hist[r].items():
                    f[x] += c
                acc = acc + size * f / f.sum()
        out[v] = acc / (state._node_customers[v] + a)
    return out
