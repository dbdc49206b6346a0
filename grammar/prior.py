"""The semantic prior p(x): HDPs over the terms attached to each variable and over constants.

For a logical form (variables renamed in first-occurrence order), every variable ``V`` gets the
sequence of *terms* that mention it, in order: ``"pred/i"`` for a predicate or function with ``V``
as its ``i``-th argument, closed by ``"<end>"``. Each term is an observation of the *edge HDP* at
the feature path (previous term, the term before it) — a second-order Markov model of the
conjuncts around a variable, as ``EDGE_HDP_DEPTH = 2`` of the official prior. Every constant
``const(V, T(c, ...))`` is an observation ``c`` of the *constant HDP* at path ``(T,)``; knowledge-
base facts ``T(c)`` (``geoqueries880_beliefs``) are extra constant observations. Both HDPs are
trained by collapsed Gibbs (burn-in, then every ``skip``-th seating kept) and the prior averages
the predictive over the kept samples. ``log_prob`` is ``-inf`` for an LF that fails the scope
check or (given an ontology) the type check.

Deviations: the official base distribution over edges up-weights ``most`` (``ALPHA_MOST``); ours
is uniform over term and constant vocabularies of the training data plus a margin for unseen
ones. :meth:`SemanticPrior.bound` is the maximum over a finite LF set (the candidate search of
:mod:`grammar.parse`); :meth:`SemanticPrior.set_bound` bounds an LF *set* from its known parts (the
set search of :mod:`grammar.parse_sets`). :class:`UniformPrior` is the ``--prior none`` option.

References:
    ``datalog_prior`` in ``datalog_hdp.h`` of github.com/asaparov/parser (``edge_hdp_alpha =
    {1000, 1, 10}``, ``constant_hdp_alpha = {0.01, 0.1}``); Saparov, Saraswat & Mitchell
    (CoNLL 2017), §3.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from grammar import hdp
from grammar.logic import LF, Atom, Term, Var, walk
from grammar.logic_canonical import check_scope
from grammar.logic_types import Ontology, type_check
from grammar.transforms import normalize

__all__ = ["SemanticPrior", "UniformPrior", "edge_observations", "constant_observations"]

END = "<end>"
_START = "<start>"


def _terms(lf: LF) -> list[Term]:
    return [x for x in walk(lf) if isinstance(x, Term) and x.functor != "const"]


def edge_observations(lf: LF) -> list[tuple[tuple[str, str], str]]:
    """``[((previous term, the one before), term)]`` for every variable of ``lf``."""
    lf = normalize(lf)
    seqs: dict[Var, list[str]] = {}
    for t in _terms(lf):
        for i, a in enumerate(t.args):
            if isinstance(a, Var):
                seqs.setdefault(a, []).append(f"{t.functor}/{i}")
    out = []
    for seq in seqs.values():
        prev = [_START, _START]
        for term in seq + [END]:
            out.append(((prev[-1], prev[-2]), term))
            prev.append(term)
    return out


def constant_observations(lf: LF) -> list[tuple[tuple[str], str]]:
    """``[((type functor,), constant name)]`` for every ``const(V, T(c, ...))`` of ``lf``."""
    out = []
    for x in walk(lf):
        if isinstance(x, Term) and x.functor == "const" and len(x.args) == 2:
            k = x.args[1]
            if isinstance(k, Term) and k.args and isinstance(k.args[0], Atom):
                out.append(((k.functor,), k.args[0].name))
            elif isinstance(k, Atom):
                out.append((("<atom>",), k.name))
    return out


class UniformPrior:
    """``log p(x) = 0`` for every LF (optionally ``-inf`` for scope/type failures)."""

    def __init__(self, ontology: Ontology | None = None) -> None:
        self.ontology = ontology

    def log_prob(self, lf: LF) -> float:
        if check_scope(lf) or (self.ontology is not None and not type_check(lf, self.ontology)):
            return -math.inf
        return 0.0


class SemanticPrior:
    """The trained prior; build it with :meth:`train`."""

    def __init__(self, edge: hdp.Predictor, const: hdp.Predictor,
                 ontology: Ontology | None = None) -> None:
        self.edge, self.const, self.ontology = edge, const, ontology
        self._memo: dict[LF, float] = {}
        self._set_memo: dict[LF, float] = {}
        self._edge_max = self._const_max = None

    @classmethod
    def train(cls, lfs: Iterable[LF], rng: np.random.Generator, *,
              beliefs: Iterable[LF] = (), ontology: Ontology | None = None,
              edge_alpha=(1000.0, 1.0, 10.0), constant_alpha=(0.01, 0.1),
              burn_in: int = 4, iterations: int = 10, skip: int = 2) -> SemanticPrior:
        """Collapsed Gibbs on both HDPs (``burn_in`` sweeps, then ``iterations`` sweeps keeping
        every ``skip``-th seating).

        Args:
            lfs: training logical forms.
            rng: numpy generator.
            beliefs: knowledge-base facts ``T(c)`` (extra constant observations).
            ontology: types for the type check (None: no type check).

        Raises:
            ValueError: no training LFs, or non-positive sweep counts.
        """
        lfs = list(lfs)
        if not lfs:
            raise ValueError("lfs: expected at least one training logical form")
        if burn_in < 0 or iterations < 1 or skip < 1:
            raise ValueError("burn_in/iterations/skip: expected >= 0, >= 1, >= 1")
        e_obs = [o for lf in lfs for o in edge_observations(lf)]
        c_obs = [o for lf in lfs for o in constant_observations(lf)]
        for b in beliefs:
            if isinstance(b, Term) and b.args and isinstance(b.args[0], Atom):
                c_obs.append(((b.functor,), b.args[0].name))
        n_terms = 2 * len({a for _, a in e_obs}) + 10
        n_consts = 2 * len({a for _, a in c_obs}) + 10
        e_state = hdp.HDPState(hdp.HDPModel(hdp.SequenceBase(n_terms, 1.0), edge_alpha))
        c_state = hdp.HDPState(hdp.HDPModel(hdp.SequenceBase(n_consts, 1.0), constant_alpha))
        for state, obs in ((e_state, e_obs), (c_state, c_obs)):
            for path, atom in obs:
                state.add(rng, path, (atom,))
        preds = []
        for state in (e_state, c_state):
            snaps = []
            for it in range(burn_in + iterations):
                hdp.sweep(state, rng)
                if it >= burn_in and (it - burn_in) % skip == skip - 1:
                    snaps.append(hdp.snapshot(state))
            preds.append(hdp.Predictor.from_samples(state, snaps, backend="numpy"))
        return cls(preds[0], preds[1], ontology)

    def log_prob(self, lf: LF) -> float:
        """``log p(x)``; ``-inf`` for scope or type failures."""
        if lf in self._memo:
            return self._memo[lf]
        if check_scope(lf) or (self.ontology is not None and not type_check(lf, self.ontology)):
            out = -math.inf
        else:
            out = 0.0
            for path, atom in edge_observations(lf):
                out += math.log(max(self.edge.prob(path, (atom,)), 1e-300))
            for path, atom in constant_observations(lf):
                out += math.log(max(self.const.prob(path, (atom,)), 1e-300))
        self._memo[lf] = out
        return out

    def bound(self, lfs: Iterable[LF]) -> float:
        """The largest ``log p(x)`` over a finite set of LFs (``-inf`` when empty)."""
        return max((self.log_prob(x) for x in lfs), default=-math.inf)

    def set_bound(self, pattern: LF) -> float:
        """An upper bound of ``log p(x)`` over every LF ``x`` that contains the known parts of
        ``pattern`` (an LF set of :mod:`grammar.transforms_sets`, or a part of a larger LF).

        Every known term ``f(..., V, ...)`` with a variable in position ``i`` is one edge
        observation ``f/i`` of any such ``x``, and every ``const(V, T(c))`` one constant
        observation; each is bounded by its predictive maximised over every context (the HDP
        path-set maxima, :meth:`grammar.hdp.Predictor.bound`). Unknown parts (wildcards) and the
        ``<end>`` observations count 0. This is the prior's set bound used by the A* search of
        :mod:`grammar.parse_sets` (an LF's parts are kept by the transformation functions).
        """
        if pattern in self._set_memo:
            return self._set_memo[pattern]
        if self._edge_max is None:
            self._edge_max = self.edge.bound((hdp.ANY,) * self.edge.state.model.n_levels)
            self._const_max = self.const.bound((hdp.ANY,) * self.const.state.model.n_levels)
        out = 0.0
        for x in walk(pattern):
            if not isinstance(x, Term):
                continue
            if x.functor == "const":
                obs = constant_observations(x) if len(x.args) == 2 and isinstance(
                    x.args[1], Term | Atom) else []
                for _, atom in obs:
                    out += self._log_max(self.const, self._const_max, (atom,))
                continue
            for i, a in enumerate(x.args):
                if isinstance(a, Var):
                    out += self._log_max(self.edge, self._edge_max, (f"{x.functor}/{i}",))
        self._set_memo[pattern] = out
        return out

    @staticmethod
    def _log_max(pred: hdp.Predictor, maxima, atom) -> float:
        a = pred.state.atom_id(atom)
        p = float(maxima[a]) if a is not None else float(np.max(pred.unseen_bound)) * \
            pred._unseen(atom)
        return math.log(min(max(p, 1e-300), 1.0))


