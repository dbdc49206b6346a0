"""Rule probabilities for parsing from one batched predictive pass per HDP.

During training every rule probability must follow the seating as it changes, so
:meth:`grammar.derivation.GrammarModel.log_rule` walks the tables on a path for each query
(:meth:`grammar.hdp.HDPState.log_predictive`). At parse time the seating is frozen, so every
predictive the search can ask for — every atom at every node of every HDP — is computed at once by
the jit-compiled downward pass of :class:`grammar.hdp.Predictor` (``backend="jax"``; ``"numpy"``
is the same recursion level by level in float64), and a query is a table lookup: find the node of
the feature path (memoised per path), gather ``log probs[node, atom]``. :meth:`RuleTable.log_rules`
gathers many atoms of one node in one call (all the rules of a chart item).

A :class:`RuleTable` is a drop-in view of a :class:`~grammar.derivation.GrammarModel` for the
parsers (:func:`grammar.parse.parse`, :func:`grammar.chart.viterbi`): every other attribute is the
model's. With the jax backend the tables are float32, so scores agree with the model's to about
``1e-6`` relative.

Example:
    >>> from grammar.derivation import GrammarModel
    >>> from grammar.grammar import parse_grammar
    >>> g = parse_grammar('S nonterminal {} {1.0} {1.0} {} 10 1.0 {}\\nS -> W:null\\n'
    ...                   'W preterminal {} {1.0} {1.0} {} 10 1.0 {}\\nW -> "hi"')
    >>> table = RuleTable(GrammarModel(g), backend="numpy")
    >>> round(table.log_rule("W", None, ("hi",)), 6)
    0.0

References:
    ``get_cache_entry`` / ``predict`` of ``hdp/mcmc.h`` in github.com/asaparov/hdp (the
    official parser also caches the predictive of the single current sampler state).
"""

from __future__ import annotations

import math

import numpy as np

from grammar import hdp
from grammar.derivation import NEG_INF, GrammarModel

__all__ = ["RuleTable"]


class RuleTable:
    """A :class:`GrammarModel` view whose ``log_rule`` is a lookup into batched predictives.

    Args:
        model: the trained grammar model (its seating must not change while the table is used).
        backend: ``"jax"`` (one jit pass per HDP) or ``"numpy"`` (float64, no compilation).

    Raises:
        ValueError: an unknown backend.
    """

    def __init__(self, model: GrammarModel, *, backend: str = "jax") -> None:
        if backend not in ("jax", "numpy"):
            raise ValueError(f"backend: expected 'jax' or 'numpy', got {backend!r}")
        self.model = model
        self.predictors = {n: hdp.Predictor.from_state(s, backend=backend)
                           for n, s in model.states.items()}
        with np.errstate(divide="ignore"):
            self._log = {n: np.log(np.asarray(p.probs, np.float64))
                         for n, p in self.predictors.items()}
        self._node: dict[tuple, int] = {}
        self._memo: dict[tuple, float] = {}

    def __getattr__(self, name: str):
        return getattr(self.model, name)

    def _node_of(self, name: str, path: tuple) -> int:
        key = (name, path)
        v = self._node.get(key)
        if v is None:
            v = self._node[key] = self.predictors[name].node_of(path)
        return v

    def log_rule(self, name: str, lf, atom) -> float:
        """``log p(atom | name, lf)`` from the table (as :meth:`GrammarModel.log_rule`)."""
        if self.model.kind(name) == "number_preterminal":
            return self.model.log_rule(name, lf, atom)
        path = self.model.path(name, lf)
        if path is None:
            return NEG_INF
        key = (name, path, atom)
        out = self._memo.get(key)
        if out is None:
            pred = self.predictors[name]
            v = self._node_of(name, path)
            a = pred.state.atom_id(atom)
            if a is not None:
                out = float(self._log[name][v, a])
            else:
                p = float(pred.unseen_scale[v]) * pred._unseen(atom)
                out = math.log(p) if p > 0 else NEG_INF
            self._memo[key] = out
        return out

    def log_rules(self, name: str, lf, atoms) -> np.ndarray:
        """``(len(atoms),)`` log probabilities of many registered atoms at one LF (one gather);
        unregistered atoms get their unseen-atom probability."""
        path = self.model.path(name, lf)
        if path is None:
            return np.full(len(atoms), NEG_INF)
        v = self._node_of(name, path)
        pred = self.predictors[name]
        ids = [pred.state.atom_id(a) for a in atoms]
        out = self._log[name][v, [i if i is not None else 0 for i in ids]].copy()
        for k, i in enumerate(ids):
            if i is None:
                p = float(pred.unseen_scale[v]) * pred._unseen(atoms[k])
                out[k] = math.log(p) if p > 0 else NEG_INF
        return out
