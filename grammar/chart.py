"""Chart over (nonterminal, LF, span) for a sentence with a known LF: inside, sampling, Viterbi.

Given ``(y, x)`` the transformation functions are deterministic top-down, so every chart item is a
concrete ``(A, x_A, i, j)``: the LF is pushed down by ``apply`` and the span split among a rule's
children. The inside pass (log semiring ``sum`` or ``max``) is memoised on the item;
:func:`sample` draws a derivation top-down from the inside table (exact draws from
``p(t | y, x)`` under the factorised rule probabilities of the current HDP seating), and
:func:`viterbi` returns the most probable derivation.

Deviation: a unary cycle revisiting the same item within one derivation is cut (such derivations
get no mass), as in the coverage check; ``english.gram`` has no cycle that keeps the LF and span.

References:
    ``sample`` (``MODE_SAMPLE``) in ``parser.h`` of github.com/asaparov/grammar; Saparov,
    Saraswat & Mitchell (CoNLL 2017), §4.
"""

from __future__ import annotations

import math

import numpy as np

from grammar.derivation import NEG_INF, GrammarModel, Step, derivation_tree
from grammar.logic import LF
from grammar.transforms import normalize
from probtree import Tree

__all__ = ["Chart", "sample", "viterbi", "log_marginal", "enumerate_derivations"]


def _lse(xs) -> float:
    xs = [x for x in xs if x > NEG_INF]
    if not xs:
        return NEG_INF
    m = max(xs)
    return m + math.log(sum(math.exp(x - m) for x in xs))


class Chart:
    """Inside scores of one sentence and one LF (``mode`` ``"sum"`` or ``"max"``).

    Args:
        model: the grammar model (its current seating scores the rules).
        tokens: the sentence.
        max_open_tokens: longest phrase an open-class preterminal may emit.
        mode: ``"sum"`` (inside, for sampling) or ``"max"`` (Viterbi).
        memo: an optional shared memo dict (items are keyed by LF, so charts of several candidate
            LFs of the same sentence and mode can share it).
    """

    def __init__(self, model: GrammarModel, tokens, *, max_open_tokens: int = 4,
                 mode: str = "sum", memo: dict | None = None) -> None:
        if mode not in ("sum", "max"):
            raise ValueError(f"mode: expected 'sum' or 'max', got {mode!r}")
        self.model, self.tokens = model, tuple(tokens)
        if not self.tokens:
            raise ValueError("tokens: expected a non-empty sentence")
        self.max_open, self.mode = max_open_tokens, mode
        self.memo: dict = {} if memo is None else memo
        self._busy: set = set()
        self._agg = _lse if mode == "sum" else (lambda xs: max(xs, default=NEG_INF))

    def inside(self, a: str, x: LF, i: int, j: int) -> float:
        """``log`` inside score of nonterminal ``a`` with LF ``x`` over ``tokens[i:j]``."""
        key = (a, x, i, j)
        if key in self.memo:
            return self.memo[key]
        if key in self._busy:
            return NEG_INF
        self._busy.add(key)
        m = self.model
        if m.kind(a) != "nonterminal":
            span = self.tokens[i:j]
            if m.is_open(a) and len(span) > self.max_open:
                out = NEG_INF
            else:
                out = m.log_rule(a, x, span)
        elif m.path(a, x) is None:
            out = NEG_INF
        else:
            out = self._agg([s for _, _, s in self._rule_scores(a, x, i, j)])
        self._busy.discard(key)
        self.memo[key] = out
        return out

    def _rule_scores(self, a: str, x: LF, i: int, j: int):
        out = []
        for atom, kids in self.model.expansions(a, x):
            if len(kids) > j - i:
                continue
            lr = self.model.log_rule(a, x, atom)
            if lr == NEG_INF:
                continue
            s = self.split(kids, i, j)
            if s > NEG_INF:
                out.append((atom, kids, lr + s))
        return out

    def split(self, kids: tuple, i: int, j: int) -> float:
        """Score of the children ``kids`` covering ``tokens[i:j]`` in order (all splits)."""
        if len(kids) == 1:
            return self.inside(kids[0][0], kids[0][1], i, j)
        key = ("split", kids, i, j)
        if key in self.memo:
            return self.memo[key]
        (b, c), rest = kids[0], kids[1:]
        scores = []
        for m in range(i + 1, j - len(rest) + 1):
            left = self.inside(b, c, i, m)
            if left > NEG_INF:
                scores.append(left + self.split(rest, m, j))
        out = self._agg(scores)
        self.memo[key] = out
        return out

    def _choose(self, scores: list[float], rng) -> int:
        if self.mode == "max":
            return int(np.argmax(scores))
        s = np.asarray(scores)
        p = np.exp(s - s.max())
        return int(rng.choice(len(p), p=p / p.sum()))

    def build(self, a: str, x: LF, i: int, j: int, rng=None):
        """A derivation of the item as ``(Step, [children])`` nesting: sampled (mode ``sum``)
        or the best one (mode ``max``)."""
        if self.inside(a, x, i, j) == NEG_INF:
            raise ValueError(f"no derivation of {a} over tokens[{i}:{j}] with this LF")
        if self.model.kind(a) != "nonterminal":
            return (Step(a, x, self.tokens[i:j]), [])
        cands = self._rule_scores(a, x, i, j)
        atom, kids, _ = cands[self._choose([s for _, _, s in cands], rng)]
        return (Step(a, x, atom), self._build_split(kids, i, j, rng))

    def _build_split(self, kids, i: int, j: int, rng) -> list:
        if len(kids) == 1:
            return [self.build(kids[0][0], kids[0][1], i, j, rng)]
        (b, c), rest = kids[0], kids[1:]
        ms, scores = [], []
        for m in range(i + 1, j - len(rest) + 1):
            left = self.inside(b, c, i, m)
            if left > NEG_INF:
                s = left + self.split(rest, m, j)
                if s > NEG_INF:
                    ms.append(m)
                    scores.append(s)
        m = ms[self._choose(scores, rng)]
        return [self.build(b, c, i, m, rng)] + self._build_split(rest, m, j, rng)


def log_marginal(model: GrammarModel, tokens, lf: LF, **kw) -> float:
    """``log sum_t p(y, t | x)`` (``-inf`` when the grammar cannot derive the pair)."""
    ch = Chart(model, tokens, mode="sum", **kw)
    return ch.inside(model.start, normalize(lf), 0, len(ch.tokens))


def sample(model: GrammarModel, tokens, lf: LF, rng: np.random.Generator, **kw) -> Tree | None:
    """A derivation drawn from ``p(t | y, x)``; None when the pair has no derivation."""
    ch = Chart(model, tokens, mode="sum", **kw)
    x = normalize(lf)
    if ch.inside(model.start, x, 0, len(ch.tokens)) == NEG_INF:
        return None
    return derivation_tree(ch.build(model.start, x, 0, len(ch.tokens), rng))


def viterbi(model: GrammarModel, tokens, lf: LF, *, memo: dict | None = None, **kw
            ) -> tuple[float, Tree | None]:
    """``(log p, t)`` of the most probable derivation of ``(y, x)``; ``(-inf, None)`` if none."""
    ch = Chart(model, tokens, mode="max", memo=memo, **kw)
    x = normalize(lf)
    best = ch.inside(model.start, x, 0, len(ch.tokens))
    if best == NEG_INF:
        return best, None
    return best, derivation_tree(ch.build(model.start, x, 0, len(ch.tokens)))


def enumerate_derivations(model: GrammarModel, tokens, lf: LF, *, max_open_tokens: int = 4
                          ) -> list[tuple[float, tuple]]:
    """Every derivation of ``(y, x)`` with its log probability, by brute force (tests, tiny
    grammars only): ``[(log p, nested)]``."""
    tokens = tuple(tokens)

    def go(a: str, x: LF, i: int, j: int, busy: frozenset):
        key = (a, x, i, j)
        if key in busy:
            return []
        busy = busy | {key}
        if model.kind(a) != "nonterminal":
            span = tokens[i:j]
            if model.is_open(a) and len(span) > max_open_tokens:
                return []
            lp = model.log_rule(a, x, span)
            return [] if lp == NEG_INF else [(lp, (Step(a, x, span), []))]
        if model.path(a, x) is None:
            return []
        out = []
        for atom, kids in model.expansions(a, x):
            lr = model.log_rule(a, x, atom)
            if lr == NEG_INF:
                continue
            for lp, children in splits(kids, i, j, busy):
                out.append((lr + lp, (Step(a, x, atom), children)))
        return out

    def splits(kids, i, j, busy):
        if len(kids) == 1:
            return [(lp, [t]) for lp, t in go(kids[0][0], kids[0][1], i, j, busy)]
        out = []
        for m in range(i + 1, j - len(kids) + 2):
            for lp, t in go(kids[0][0], kids[0][1], i, m, busy):
                for lq, rest in splits(kids[1:], m, j, busy):
                    out.append((lp + lq, [t] + rest))
        return out

    return go(model.start, normalize(lf), 0, len(tokens), frozenset())
