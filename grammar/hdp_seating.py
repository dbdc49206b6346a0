"""Sequential seating in the Chinese restaurant franchise: the kernel behind `HDPState`.

A customer (an observation, or a table of a child node) carries a *block*: the multiset of
observations below it (``{atom id: count}``). Seating it at node ``n`` chooses among the tables
of ``n`` and of all its ancestors, or a new root table, with probabilities

    p(table t at ancestor a_k) = [prod_{j<k} alpha_j / (N_j + alpha_j)] n_t L(block | dish_t)
                                 / (N_k + alpha_k),
    p(new root table)          = [prod_j alpha_j / (N_j + alpha_j)] L(block | new dish),

(opening a new table at a node makes it a customer of the parent), which sum to the predictive
probability of the block at ``n``. This is the collapsed conditional of the official
``sample_table`` / ``select_table`` (``mcmc.h``); the dish likelihood ``L`` comes from the base
(`grammar.hdp_base`). Removing a customer frees the tables it leaves empty, upwards.

References:
    Teh, Jordan, Beal & Blei (2006), Hierarchical Dirichlet processes, JASA, §5.1.
    Official code: github.com/asaparov/hdp ``mcmc.h`` (``sample_table``, ``sample_assignment``,
    ``remove``, ``crf_log_probability``).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from grammar.hdp_base import NEG_INF

_NODE = {"node_parent": (np.int32, -1), "node_level": (np.int32, 0),
         "node_customers": (np.int64, 0), "node_tables": (np.int64, 0)}
_TABLE = {"table_node": (np.int32, -1), "table_size": (np.int64, 0),
          "table_parent": (np.int32, -1), "table_nobs": (np.int64, 0),
          "table_group": (np.int32, 0)}
_OBS = {"obs_node": (np.int32, -1), "obs_atom": (np.int32, -1), "obs_table": (np.int32, -1)}


def rng_from(key: Any) -> np.random.Generator:
    """A numpy Generator from a JAX key (typed or raw); a Generator (or any object with a
    ``random()`` method, e.g. a scripted stub in tests) is returned as is."""
    if isinstance(key, np.random.Generator) or hasattr(key, "random"):
        return key
    arr = jnp.asarray(key)
    if jnp.issubdtype(arr.dtype, jax.dtypes.prng_key):
        arr = jax.random.key_data(arr)
    return np.random.default_rng(np.asarray(arr, dtype=np.uint32).ravel().tolist())


class Seating:
    """Mixin of `grammar.hdp_state.HDPState`: table bookkeeping, seating, add/remove, log joint.

    It relies on the state's columns (``_table_*``, ``_node_*``, ``_obs_*`` memoryviews), its
    registries (``_groups``, ``_hist``, ``_node_obs``) and ``_grow``/``register_atom``/``node``.
    """

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
        t, logp = self._seat(node, {a: 1}, 1, rng_from(key))
        if self._o_free:
            o = self._o_free.pop()
        else:
            o = self._n_oslots
            self._grow("obs", _OBS, o + 1)
            self._n_oslots += 1
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
