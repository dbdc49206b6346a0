"""Chinese-restaurant-franchise state of a feature-keyed HDP: nodes, tables, observations.

The HDP of one nonterminal is a tree of Dirichlet processes: the root is ``DP(alpha_0, H)`` and a
node at level ``j`` keyed by feature values ``(v_1, ..., v_j)`` is ``DP(alpha_j, G_parent)``.
Its collapsed Gibbs state is a Chinese restaurant franchise: every node holds tables, every table
seats customers (observations at that node, or tables of child nodes) and is itself a customer of
one table of the parent node; a root table serves a dish drawn from ``H``.

Storage: per-node, per-table and per-observation columns are numpy arrays that grow by doubling
(read through ``memoryview`` in the sequential kernels); nodes are never deleted, table and
observation slots are recycled through free lists. The node tree is exposed as a core
`probtree.Tree` (padded to a size bucket, `fine_bucket`, so that jit recompiles rarely).

`HDPState` is mutable, like the official ``hdp_sampler``: sequential seating (``add``/``remove``)
changes it in place, because the parser's training adds and removes single observations thousands
of times. The iterative algorithms on top of it (`grammar.hdp_gibbs.step`) are pure: they copy.

References:
    Teh, Jordan, Beal & Blei (2006), Hierarchical Dirichlet processes, JASA, §5.
    Official code: github.com/asaparov/hdp, ``hdp.h`` (nodes keyed by feature values, ``add``),
    ``mcmc.h`` (``node_sampler``: table sizes, table assignments, root assignments).
"""

from __future__ import annotations

import copy as _copy
import dataclasses
import math
from collections.abc import Hashable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from grammar.hdp_base import NEG_INF, Base
from probtree import Tree

_NODE = {"node_parent": (np.int32, -1), "node_level": (np.int32, 0),
         "node_customers": (np.int64, 0), "node_tables": (np.int64, 0)}
_TABLE = {"table_node": (np.int32, -1), "table_size": (np.int64, 0),
          "table_parent": (np.int32, -1), "table_nobs": (np.int64, 0),
          "table_group": (np.int32, 0)}
_OBS = {"obs_node": (np.int32, -1), "obs_atom": (np.int32, -1), "obs_table": (np.int32, -1)}


@dataclasses.dataclass(frozen=True)
class HDPModel:
    """Hyperparameters of one feature-keyed HDP.

    Attributes:
        base: the base distribution ``H`` (`grammar.hdp_base`).
        alpha: ``(F+1,)`` initial concentration of every level, root first.
        shape: ``(F+1,)`` Gamma prior shapes ``a_j`` of the concentrations, or ``None`` to keep
            them fixed.
        rate: ``(F+1,)`` Gamma prior rates ``b_j`` (same length as ``shape``).

    Example:
        >>> from grammar.hdp_base import CategoricalBase
        >>> m = HDPModel(CategoricalBase.uniform("ab"), alpha=(10.0, 1.0))
        >>> m.n_levels
        1
    """

    base: Base
    alpha: tuple
    shape: tuple | None = None
    rate: tuple | None = None

    def __post_init__(self) -> None:
        kind = getattr(self.base, "kind", None)
        if kind not in ("constant", "dirichlet") or not hasattr(self.base, "log_prob"):
            raise TypeError(
                f"base: expected a base distribution (CategoricalBase, SequenceBase, "
                f"DirichletCategorical or an AtomBase), got {type(self.base).__name__}"
            )
        if not self.base.is_open and not hasattr(self.base, "atoms"):
            raise TypeError("base: a closed base (is_open False) must list its atoms")
        alpha = tuple(float(a) for a in self.alpha)
        if not alpha or not all(a > 0 and math.isfinite(a) for a in alpha):
            raise ValueError(f"alpha: expected positive finite concentrations, got {self.alpha}")
        object.__setattr__(self, "alpha", alpha)
        if (self.shape is None) != (self.rate is None):
            raise ValueError("shape/rate: give both Gamma prior parameter lists or neither")
        if self.shape is not None:
            for name in ("shape", "rate"):
                vals = tuple(float(v) for v in getattr(self, name))
                if len(vals) != len(alpha) or not all(v > 0 for v in vals):
                    raise ValueError(
                        f"{name}: expected {len(alpha)} positive values (one per level), got "
                        f"{getattr(self, name)}"
                    )
                object.__setattr__(self, name, vals)

    @classmethod
    def from_prior(cls, base: Base, shape: Sequence[float], rate: Sequence[float]) -> HDPModel:
        """Concentrations start at the prior mean ``a/b`` (as ``hdp_grammar.h`` does)."""
        alpha = tuple(float(a) / float(b) for a, b in zip(shape, rate, strict=True))
        return cls(base, alpha, tuple(shape), tuple(rate))

    @property
    def n_levels(self) -> int:
        """``F``, the number of feature levels below the root."""
        return len(self.alpha) - 1


def fine_bucket(n: int) -> int:
    """``n`` rounded up to a multiple of 1/16 of its power of two (at least 8): under 7% padding
    waste while the number of distinct sizes (jit recompiles) still grows only logarithmically."""
    if n <= 8:
        return 8
    step = 1 << max(0, n.bit_length() - 5)
    return -(-n // step) * step


def rng_from(key: Any) -> np.random.Generator:
    """A numpy Generator from a JAX key (typed or raw); a Generator (or any object with a
    ``random()`` method, e.g. a scripted stub in tests) is returned as is."""
    if isinstance(key, np.random.Generator) or hasattr(key, "random"):
        return key
    arr = jnp.asarray(key)
    if jnp.issubdtype(arr.dtype, jax.dtypes.prng_key):
        arr = jax.random.key_data(arr)
    return np.random.default_rng(np.asarray(arr, dtype=np.uint32).ravel().tolist())


class HDPState:
    """Seating of a feature-keyed HDP (see module docstring).

    Public read-only views: ``n_nodes``, ``node_keys``, ``node_parent``, ``node_level``,
    ``node_customers``, ``node_tables`` (``(n_nodes,)`` arrays), ``alpha`` (``(F+1,)``),
    ``atoms`` (registered atoms, index = atom id), ``tree()``.

    Example:
        >>> from grammar.hdp_base import CategoricalBase
        >>> s = HDPState(HDPModel(CategoricalBase.uniform("ab"), alpha=(1.0, 1.0)))
        >>> obs, logp = s.add(np.random.default_rng(0), ("x",), "a")
        >>> round(math.exp(logp), 6), s.n_observations
        (0.5, 1)
    """

    def __init__(self, model: HDPModel) -> None:
        self.model = model
        self.alpha = np.asarray(model.alpha, dtype=np.float64)
        self.atoms: list = []
        self._atom_id: dict = {}
        self._log_h: list[float] = []
        for a in getattr(model.base, "atoms", ()) if not model.base.is_open else ():
            self.register_atom(a)
        self._cap = {"node": 0, "table": 0, "obs": 0}
        for kind, cols in (("node", _NODE), ("table", _TABLE), ("obs", _OBS)):
            self._grow(kind, cols, 8)
        self.n_nodes = 0
        self._n_tslots = 0
        self._n_oslots = 0
        self._t_free: list[int] = []
        self._o_free: list[int] = []
        self.node_keys: list = []
        self._children: list[dict] = []
        self._groups: list[dict] = []  # per node: group key -> list of table ids
        self._node_obs: list[list[int]] = []
        self._hist: list[dict | None] = []  # per table slot: {atom id: count} below it
        self._tree_cache: tuple[int, Tree] | None = None
        self._new_node(-1, None)

    # ------------------------------------------------------------------ storage
    def _grow(self, kind: str, cols: dict, need: int) -> None:
        cap = self._cap[kind]
        if need <= cap:
            return
        new_cap = max(8, cap)
        while new_cap < need:
            new_cap *= 2
        for name, (dtype, fill) in cols.items():
            arr = np.full(new_cap, fill, dtype=dtype)
            if cap:
                arr[:cap] = getattr(self, "_a_" + name)
            setattr(self, "_a_" + name, arr)
            setattr(self, "_" + name, memoryview(arr))
        self._cap[kind] = new_cap

    def __getattr__(self, name: str) -> Any:
        # Public read-only array views, trimmed to the used length.
        if name in _NODE:
            return self.__dict__["_a_" + name][: self.n_nodes].copy()
        raise AttributeError(name)

    def copy(self) -> HDPState:
        """An independent deep copy (arrays, tables and registries)."""
        new = _copy.copy(self)
        for cols in (_NODE, _TABLE, _OBS):
            for name in cols:
                arr = getattr(self, "_a_" + name).copy()
                setattr(new, "_a_" + name, arr)
                setattr(new, "_" + name, memoryview(arr))
        new.alpha = self.alpha.copy()
        new.atoms, new._log_h = list(self.atoms), list(self._log_h)
        new._atom_id = dict(self._atom_id)
        new._cap = dict(self._cap)
        new._t_free, new._o_free = list(self._t_free), list(self._o_free)
        new.node_keys = list(self.node_keys)
        new._children = [dict(c) for c in self._children]
        new._groups = [{g: list(ts) for g, ts in d.items()} for d in self._groups]
        new._node_obs = [list(o) for o in self._node_obs]
        new._hist = [None if h is None else dict(h) for h in self._hist]
        return new

    # ------------------------------------------------------------------ atoms and nodes
    def register_atom(self, atom: Hashable) -> int:
        """Id of ``atom``, registering it (open bases) on first sight.

        Raises:
            ValueError: the atom has zero probability under the base distribution.
        """
        i = self._atom_id.get(atom)
        if i is not None:
            return i
        lp = self.model.base.log_prob(atom)
        if lp == NEG_INF:
            raise ValueError(f"atom: {atom!r} has zero probability under the base distribution")
        self._atom_id[atom] = len(self.atoms)
        self.atoms.append(atom)
        self._log_h.append(lp)
        return len(self.atoms) - 1

    def atom_id(self, atom: Hashable) -> int | None:
        """Id of a registered atom, or ``None``."""
        return self._atom_id.get(atom)

    @property
    def n_atoms(self) -> int:
        return len(self.atoms)

    @property
    def n_observations(self) -> int:
        return self._n_oslots - len(self._o_free)

    @property
    def n_live_tables(self) -> int:
        return self._n_tslots - len(self._t_free)

    def log_base(self) -> np.ndarray:
        """``(A,)`` ``log H`` of every registered atom (prior predictive for the mixture base)."""
        return np.asarray(self._log_h, dtype=np.float64)

    def _new_node(self, parent: int, key: Hashable) -> int:
        i = self.n_nodes
        self._grow("node", _NODE, i + 1)
        self._node_parent[i] = parent
        self._node_level[i] = 0 if parent < 0 else self._node_level[parent] + 1
        self._node_customers[i] = 0
        self._node_tables[i] = 0
        self.node_keys.append(key)
        self._children.append({})
        self._groups.append({})
        self._node_obs.append([])
        if parent >= 0:
            self._children[parent][key] = i
        self.n_nodes += 1
        return i

    def _check_path(self, path: Sequence[Hashable]) -> tuple:
        if isinstance(path, str | bytes) or not isinstance(path, Sequence):
            raise TypeError(f"path: expected a sequence of feature values, got {path!r}")
        if len(path) > self.model.n_levels:
            raise ValueError(
                f"path: expected at most {self.model.n_levels} feature values, got {len(path)}"
            )
        return tuple(path)

    def find(self, path: Sequence[Hashable]) -> tuple[int, int]:
        """``(node, k)``: the deepest existing node on ``path`` and how many values it matched."""
        path = self._check_path(path)
        v = 0
        for k, value in enumerate(path):
            c = self._children[v].get(value)
            if c is None:
                return v, k
            v = c
        return v, len(path)

    def node(self, path: Sequence[Hashable], *, create: bool = False) -> int | None:
        """Node id of ``path`` (``None`` if missing), creating missing nodes if ``create``."""
        v, k = self.find(path)
        if k == len(path):
            return v
        if not create:
            return None
        for value in tuple(path)[k:]:
            v = self._new_node(v, value)
        return v

    def children(self, node: int) -> dict:
        """``{feature value: child node}`` of ``node`` (a copy)."""
        return dict(self._children[node])

    def path_of(self, node: int) -> tuple:
        """Feature values from the root down to ``node``."""
        out = []
        while node > 0:
            out.append(self.node_keys[node])
            node = self._node_parent[node]
        return tuple(reversed(out))

    def tree(self) -> Tree:
        """The node tree as a core `Tree`, padded to a `fine_bucket` number of nodes.

        Padding nodes hang below the root, hold no customers and are labelled ``None``.
        """
        if self._tree_cache is not None and self._tree_cache[0] == self.n_nodes:
            return self._tree_cache[1]
        n = self.n_nodes
        size = fine_bucket(n)
        parent = np.zeros(size, dtype=np.int64)
        parent[:n] = self._a_node_parent[:n]
        labels = [self.path_of(i) for i in range(n)] + [None] * (size - n)
        tree = Tree.from_parents(parent, labels)
        self._tree_cache = (n, tree)
        return tree

    # ------------------------------------------------------------------ tables
    def _group_of(self, block: dict) -> int:
        if self.model.base.kind == "constant":
            if len(block) != 1:
                raise ValueError("constant-likelihood table carries several atoms (corrupt state)")
            return next(iter(block))
        return 0

    def _new_table(self, node: int, parent: int, group: int) -> int:
        if self._t_free:
            t = self._t_free.pop()
        else:
            t = self._n_tslots
            self._grow("table", _TABLE, t + 1)
            self._n_tslots += 1
            self._hist.append(None)
        self._table_node[t] = node
        self._table_size[t] = 0
        self._table_parent[t] = parent
        self._table_nobs[t] = 0
        self._table_group[t] = group
        self._hist[t] = {}
        self._groups[node].setdefault(group, []).append(t)
        self._node_tables[node] += 1
        return t

    def _free_table(self, t: int) -> None:
        node = self._table_node[t]
        ts = self._groups[node][self._table_group[t]]
        ts.remove(t)
        if not ts:
            del self._groups[node][self._table_group[t]]
        self._node_tables[node] -= 1
        self._table_node[t] = -1
        self._hist[t] = None
        self._t_free.append(t)

    def _root_of(self, t: int) -> int:
        parent = self._table_parent
        while parent[t] >= 0:
            t = parent[t]
        return t

    def _detach(self, t: int, block: dict, nb: int) -> None:
        """One customer carrying ``block`` leaves table ``t``; empty tables are removed upward."""
        leaving = True
        while t >= 0:
            p = self._table_parent[t]
            h = self._hist[t]
            for x, c in block.items():
                r = h[x] - c
                if r:
                    h[x] = r
                else:
                    del h[x]
            self._table_nobs[t] -= nb
            if leaving:
                self._table_size[t] -= 1
                self._node_customers[self._table_node[t]] -= 1
                if self._table_size[t] == 0:
                    self._free_table(t)
                else:
                    leaving = False
            t = p

    def _log_lik(self, root: int, block: dict, nb: int) -> float:
        base = self.model.base
        if base.kind == "constant":
            return 0.0  # candidates are already restricted to tables serving the block's atom
        return base.log_lik_block(self._hist[root], self._table_nobs[root], block, nb)

    def _log_lik_new(self, group: int, block: dict, nb: int) -> float:
        base = self.model.base
        if base.kind == "constant":
            return self._log_h[group]
        return base.log_lik_block({}, 0, block, nb)

    def _options(self, node: int, block: dict, nb: int, group: int):
        """Seating options of a customer at ``node``: existing tables on the path to the root
        (deepest first) and a new root table, with unnormalised weights ``w`` such that
        ``sum(w) * exp(shift) = p_node(block)``, the CRF predictive probability of the block."""
        path = []
        v = node
        while v >= 0:
            path.append(v)
            v = self._node_parent[v]
        alpha = self.alpha
        groups = self._groups
        if self.model.base.kind == "constant":
            # every table of the block's atom has likelihood 1: no dish lookups needed
            tabs = [(k, t, 0.0) for k, v in enumerate(path) for t in groups[v].get(group, ())]
            ll_new = self._log_h[group]
            shift = 0.0 if tabs else ll_new
        else:
            tabs = []
            cache: dict[int, float] = {}
            for k, v in enumerate(path):
                for t in groups[v].get(group, ()):
                    r = self._root_of(t)
                    ll = cache.get(r)
                    if ll is None:
                        ll = cache[r] = self._log_lik(r, block, nb)
                    tabs.append((k, t, ll))
            ll_new = self._log_lik_new(group, block, nb)
            shift = max([ll_new] + [ll for _, _, ll in tabs])
        if shift == NEG_INF:
            raise ValueError("observation has zero probability under the base distribution")
        # scales[k] = prod_{j<k} alpha_j / (N_j + alpha_j): the chance of opening new tables at
        # path[0..k-1]; a table t at path[k] then weighs scales[k] * n_t / (N_k + alpha_k).
        dens, scales = [], [1.0]
        for v in path:
            a = alpha[self._node_level[v]]
            dens.append(self._node_customers[v] + a)
            scales.append(scales[-1] * a / dens[-1])
        size = self._table_size
        if shift == 0.0 and self.model.base.kind == "constant":
            weights = [scales[k] * size[t] / dens[k] for k, t, _ in tabs]
        else:
            weights = [scales[k] * size[t] * math.exp(ll - shift) / dens[k] for k, t, ll in tabs]
        weights.append(scales[-1] * math.exp(ll_new - shift))
        return path, tabs, weights, shift

    def _place(self, path: list, tabs: list, choice: int, block: dict, nb: int, group: int) -> int:
        """Seats the customer on option ``choice`` (index into ``tabs``, or ``len(tabs)`` for a
        new root table), creating tables down to ``path[0]``; returns the table at ``path[0]``."""
        if choice < len(tabs):
            k, top, _ = tabs[choice]
        else:
            k = len(path) - 1
            top = self._new_table(path[k], -1, group)
        for j in range(k - 1, -1, -1):  # new tables below; each is a customer of the one above
            self._table_size[top] += 1
            self._node_customers[path[j + 1]] += 1
            top = self._new_table(path[j], top, group)
        self._table_size[top] += 1
        self._node_customers[path[0]] += 1
        t = top
        while t >= 0:
            h = self._hist[t]
            for x, c in block.items():
                h[x] = h.get(x, 0) + c
            self._table_nobs[t] += nb
            t = self._table_parent[t]
        return top

    def _seat(self, node: int, block: dict, nb: int, rng: np.random.Generator) -> tuple[int, float]:
        group = self._group_of(block)
        path, tabs, weights, shift = self._options(node, block, nb, group)
        total = sum(weights)
        u = rng.random() * total
        choice = len(weights) - 1
        acc = 0.0
        for i, w in enumerate(weights):
            acc += w
            if u < acc:
                choice = i
                break
        return self._place(path, tabs, choice, block, nb, group), math.log(total) + shift

    # ------------------------------------------------------------------ observations
    def add(self, key: Any, path: Sequence[Hashable], atom: Hashable) -> tuple[int, float]:
        """Adds one observation at the node of ``path`` (created on demand) by sequential seating.

        Args:
            key: a JAX PRNG key or a ``numpy.random.Generator`` (faster in loops).
            path: feature values ``(v_1, ..., v_k)``, ``k <= F`` (the parser uses ``k = F``).
            atom: the observed atom (a rule, a token tuple, a symbol).

        Returns:
            ``(observation id, log p)``, where ``p`` is the predictive probability of the atom at
            that node given the seating before the addition.

        Raises:
            ValueError/TypeError: bad path, or an atom with zero base probability.
        """
        a = self.register_atom(atom)
        node = self.node(path, create=True)
        rng = rng_from(key)
        if self._o_free:
            o = self._o_free.pop()
        else:
            o = self._n_oslots
            self._grow("obs", _OBS, o + 1)
            self._n_oslots += 1
        t, logp = self._seat(node, {a: 1}, 1, rng)
        self._obs_node[o], self._obs_atom[o], self._obs_table[o] = node, a, t
        self._node_obs[node].append(o)
        return o, logp

    def log_predictive(self, path: Sequence[Hashable], atom: Hashable) -> float:
        """``log p(atom)`` at ``path`` under the current seating, without seating anything.

        Cheap (it walks the tables on the path to the root), so MCMC over derivations can score
        a rule after every ``add``/``remove`` without rebuilding a `Predictor`. A missing path
        uses its deepest existing node; an atom never registered gets ``S_n H(atom)``.
        """
        node, _ = self.find(path)
        a = self._atom_id.get(atom)
        if a is None:
            lp = self.model.base.log_prob(atom)
            if lp == NEG_INF:
                return NEG_INF
            out, v = lp, node
            while v >= 0:
                alpha = self.alpha[self._node_level[v]]
                out += math.log(alpha / (self._node_customers[v] + alpha))
                v = self._node_parent[v]
            return out
        block = {a: 1}
        _, _, weights, shift = self._options(node, block, 1, self._group_of(block))
        return math.log(sum(weights)) + shift

    def remove(self, obs: int) -> None:
        """Removes observation ``obs`` (an id returned by `add`), unseating it."""
        if not 0 <= obs < self._n_oslots or self._obs_table[obs] < 0:
            raise ValueError(f"obs: {obs} is not the id of a live observation")
        self._detach(self._obs_table[obs], {self._obs_atom[obs]: 1}, 1)
        self._node_obs[self._obs_node[obs]].remove(obs)
        self._obs_table[obs] = -1
        self._o_free.append(obs)

    def observations(self) -> list[tuple[int, tuple, Hashable]]:
        """``[(obs id, path, atom)]`` of the live observations."""
        return [
            (o, self.path_of(self._obs_node[o]), self.atoms[self._obs_atom[o]])
            for o in range(self._n_oslots)
            if self._obs_table[o] >= 0
        ]

    def live_tables(self) -> np.ndarray:
        """Ids of the occupied tables."""
        return np.flatnonzero(self._a_table_size[: self._n_tslots] > 0)

    def log_joint(self) -> float:
        """Log probability of the seating and the observations given the concentrations.

        ``sum_nodes [m log a - log (a)_N + sum_t log Gamma(n_t)] + sum_root tables log p(block)``,
        as ``log_probability`` of ``mcmc.h`` (the Gamma priors on alpha are not included).
        """
        lg = math.lgamma
        out = 0.0
        for v in range(self.n_nodes):
            n = self._node_customers[v]
            if n:
                a = float(self.alpha[self._node_level[v]])
                out += self._node_tables[v] * math.log(a) - (lg(a + n) - lg(a))
        for t in self.live_tables().tolist():
            out += lg(self._table_size[t])
            if self._table_parent[t] < 0:
                out += self._log_lik_new(self._table_group[t], self._hist[t], self._table_nobs[t])
        return out
