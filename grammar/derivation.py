"""The grammar model p(y, t | x): one feature-keyed HDP per (pre)terminal, and derivations as trees.

A derivation node carries a nonterminal ``A``, a logical form ``x_A`` and the *atom* chosen at it:
for a nonterminal, the key of a production rule (:func:`rule_key`, its right-hand side as text);
for a preterminal, the tuple of tokens it emits. The atom is an observation of ``A``'s HDP at the
feature path ``(phi_1(x_A), ..., phi_F(x_A))``. Child ``i`` of a rule carries ``f_i(x_A)`` (the
composition of the rule's transformation functions, applied left to right). A derivation is a core
:class:`probtree.Tree` whose labels are :class:`Step` records (preorder node order).

Base distributions (``hdp_grammar.h``): a nonterminal's base is categorical over its listed rules,
each with its explicit prior and the remaining mass split uniformly among the others; a
preterminal with listed words is uniform over them; an open preterminal (no listed words: ``V``,
``N_CONSTANT``, ``ADJ``, ...) gets the open :class:`~grammar.hdp_base.SequenceBase` (geometric
length, uniform tokens, excluded tokens and phrases). A number preterminal is deterministic: it
emits the digits of the number in its LF with probability one. An LF on which a feature of ``A`` is
undefined has probability zero under ``A`` (as ``get_feature`` returning false).

References:
    Saparov, Saraswat & Mitchell (CoNLL 2017), §3; ``hdp_grammar.h`` and ``grammar.h`` of
    github.com/asaparov/grammar.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from grammar import hdp
from grammar.features import FEATURES, feature
from grammar.grammar import Grammar, LexiconItem, Rule
from grammar.logic import LF, Num
from grammar.transforms import compose, normalize
from probtree import Tree

__all__ = ["Step", "GrammarModel", "rule_key", "derivation_tree", "tree_steps", "log_prob",
           "add_derivation", "remove_derivation", "derivation_sentence", "NEG_INF"]

NEG_INF = -math.inf


def rule_key(rule: Rule) -> str:
    """The atom of a nonterminal rule: ``"B1:f1 B2:f2,g2 ..."``."""
    return " ".join(f"{s.nonterminal}:{','.join(s.functions)}" for s in rule.rhs)


@dataclass(frozen=True)
class Step:
    """One derivation node: nonterminal, its LF and the atom (rule key or token tuple)."""

    nonterminal: str
    lf: LF
    atom: Any


def _base(grammar: Grammar, name: str):
    nt = grammar.nonterminals[name]
    if nt.kind == "nonterminal":
        rules = [r for r in grammar.rules if r.lhs == name]
        if not rules:
            raise ValueError(f"grammar: nonterminal {name!r} has no rules")
        fixed = sum(r.prior for r in rules if r.prior is not None)
        n_free = sum(r.prior is None for r in rules)
        rest = max(1.0 - fixed, 0.0) / n_free if n_free else 0.0
        weights = [r.prior if r.prior is not None else rest for r in rules]
        if sum(weights) <= 0:
            weights = [1.0] * len(rules)
        return hdp.CategoricalBase.from_weights([rule_key(r) for r in rules], weights)
    words = [t.tokens for t in grammar.terminal_rules if t.lhs == name]
    if words:
        return hdp.CategoricalBase.uniform(list(dict.fromkeys(words)))
    b = nt.base
    return hdp.SequenceBase(b.atom_count, b.end_probability, frozenset(b.excluded_tokens),
                            frozenset(tuple(p.split()) for p in b.excluded_phrases))


class GrammarModel:
    """The grammar with one :class:`grammar.hdp.HDPState` per (pre)terminal.

    Args:
        grammar: from :func:`grammar.grammar.read_grammar` (semantic functions only).
        start: the start symbol (default: the first declared nonterminal).
        states: existing HDP states by name (e.g. loaded from disk); default empty ones whose
            concentrations start at the Gamma prior means ``a/b``.
        text: the grammar file text (default: read from ``grammar.source`` if it is a file).

    Raises:
        ValueError: an unknown start symbol, a nonterminal without rules, or a feature name that
            is not a semantic feature.
    """

    def __init__(self, grammar: Grammar, *, start: str | None = None,
                 states: dict[str, hdp.HDPState] | None = None, text: str | None = None
                 ) -> None:
        self.grammar = grammar
        if text is None:
            src = Path(grammar.source)
            text = src.read_text() if src.is_file() else None
        self.grammar_text = text
        """The grammar file text (saved with a trained model), when known."""
        self.start = start or next(iter(grammar.nonterminals))
        if self.start not in grammar.nonterminals:
            raise ValueError(f"start: {self.start!r} is not a declared nonterminal")
        for nt in grammar.nonterminals.values():
            for f in nt.features:
                if f not in FEATURES:
                    raise ValueError(f"grammar: feature {f!r} of {nt.name} is not a semantic "
                                     "feature (morphology grammars are not supported)")
        self.rules: dict[str, list[tuple[str, tuple]]] = {}
        for r in grammar.rules:
            kids = tuple((s.nonterminal, compose(s.functions)) for s in r.rhs)
            self.rules.setdefault(r.lhs, []).append((rule_key(r), kids))
        self.words: dict[str, set] = {}
        for t in grammar.terminal_rules:
            self.words.setdefault(t.lhs, set()).add(t.tokens)
        self.states: dict[str, hdp.HDPState] = {}
        for name, nt in grammar.nonterminals.items():
            if nt.kind == "number_preterminal":
                continue
            if states is not None and name in states:
                self.states[name] = states[name]
            else:
                model = hdp.HDPModel.from_prior(_base(grammar, name), nt.alpha_shape,
                                                nt.alpha_rate)
                self.states[name] = hdp.HDPState(model)
        self._expand: dict[tuple, list] = {}
        self._path: dict[tuple, tuple | None] = {}

    def kind(self, name: str) -> str:
        """``nonterminal``, ``preterminal``, ``number_preterminal`` or ``string_preterminal``."""
        return self.grammar.nonterminals[name].kind

    def is_open(self, name: str) -> bool:
        """True for a preterminal whose words are learned (no listed terminal rules)."""
        return self.kind(name) == "preterminal" and name not in self.words

    def path(self, name: str, lf: LF) -> tuple | None:
        """The HDP feature path of ``lf`` at ``name``; None when a feature is undefined."""
        key = (name, lf)
        if key not in self._path:
            out = []
            for f in self.grammar.nonterminals[name].features:
                v = None if isinstance(lf, Num) else feature(f, lf)
                if v is None:
                    out = None
                    break
                out.append(v)
            self._path[key] = None if out is None else tuple(out)
        return self._path[key]

    def expansions(self, name: str, lf: LF) -> list[tuple[str, tuple]]:
        """``[(rule key, ((child name, child LF), ...))]`` of the rules that apply to ``lf``."""
        key = (name, lf)
        if key not in self._expand:
            out = []
            for atom, kids in self.rules.get(name, ()):
                child = []
                for b, fn in kids:
                    c = fn.apply(lf)
                    if c is None:
                        break
                    child.append((b, c))  # keeps the head-variable convention
                else:
                    out.append((atom, tuple(child)))
            self._expand[key] = out
        return self._expand[key]

    def log_rule(self, name: str, lf: LF, atom) -> float:
        """``log p(atom | name, lf)`` under the current seating (collapsed predictive)."""
        if self.kind(name) == "number_preterminal":
            ok = isinstance(lf, Num) and atom == (_num_text(lf),)
            return 0.0 if ok else NEG_INF
        p = self.path(name, lf)
        if p is None:
            return NEG_INF
        return self.states[name].log_predictive(p, atom)

    def add_lexicon(self, items: list[LexiconItem], rng: np.random.Generator) -> int:
        """Adds lexicon items ``parse(NT, [tokens], LF)`` as observations; returns how many."""
        n = 0
        for it in items:
            if it.nonterminal not in self.states:
                raise ValueError(f"lexicon: {it.nonterminal!r} is not a (pre)terminal with an HDP")
            p = self.path(it.nonterminal, normalize(it.lf))
            if p is None:
                continue
            self.states[it.nonterminal].add(rng, p, tuple(it.tokens))
            n += 1
        return n

    def clear_caches(self) -> None:
        """Forgets memoised expansions and paths (they do not depend on the seating)."""
        self._expand.clear()
        self._path.clear()


def _num_text(x: Num) -> str:
    v = x.value
    return str(int(v)) if float(v).is_integer() else str(v)


def derivation_tree(nested) -> Tree:
    """A core :class:`probtree.Tree` from ``(Step, [children])`` nesting; labels are Steps."""
    return Tree.from_nested(nested)


def tree_steps(tree: Tree) -> list[tuple[Step, list[int]]]:
    """``[(Step, child ids)]`` for every node of a derivation tree, indexed by node id."""
    return [(tree.labels[i], tree.children_of(i)) for i in range(tree.n_nodes)]


def derivation_sentence(tree: Tree) -> tuple[str, ...]:
    """The tokens at the leaves, left to right."""
    out: list[str] = []

    def go(i: int) -> None:
        kids = tree.children_of(i)
        if not kids:
            out.extend(tree.labels[i].atom)
        for k in kids:
            go(k)

    go(tree.root)
    return tuple(out)


def log_prob(model: GrammarModel, tree: Tree) -> float:
    """``log p(y, t | x)`` with every node scored under the current seating (factorised)."""
    return sum(model.log_rule(s.nonterminal, s.lf, s.atom) for s in tree.labels)


def add_derivation(model: GrammarModel, tree: Tree, rng: np.random.Generator
                   ) -> tuple[list[tuple[str, int]], float]:
    """Seats every node's atom in preorder; returns the observation ids and the exact sequential
    log probability (each node's predictive given the nodes added before it)."""
    obs, total = [], 0.0
    for s in tree.labels:
        if s.nonterminal not in model.states:
            total += model.log_rule(s.nonterminal, s.lf, s.atom)
            continue
        p = model.path(s.nonterminal, s.lf)
        o, lp = model.states[s.nonterminal].add(rng, p, s.atom)
        obs.append((s.nonterminal, o))
        total += lp
    return obs, total


def remove_derivation(model: GrammarModel, obs: list[tuple[str, int]]) -> None:
    """Unseats the observations returned by :func:`add_derivation` (in reverse order)."""
    for name, o in reversed(obs):
        model.states[name].remove(o)
