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

import numpy as np

from grammar.hdp_base import NEG_INF, Base
from grammar.hdp_seating import _NODE, _OBS, _TABLE, Seating
from probtree import Tree


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
    """Padded size for ``n``: a power of two up to 1024 (few shapes, so few jit compiles, where
    padding is cheap), then a multiple of 1/16 of the power of two (under 7% padding waste) while
    the number of distinct sizes still grows only logarithmically."""
    if n <= 1024:
        return max(8, 1 << max(0, n - 1).bit_length())
    step = 1 << (n.bit_length() - 5)
    return -(-n // step) * step


class HDPState(Seating):
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
