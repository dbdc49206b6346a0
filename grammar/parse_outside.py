"""Outside bounds for A* parsing: ``max`` over everything outside a chart cell, LF unknown.

``outside[(A, i, j)]`` bounds ``log`` of the best completion of an ``A`` item over
``tokens[i:j]`` into a full derivation: the rule probabilities above it and the inside scores of
its siblings, maximised over every LF. It is the max-semiring outside pass over the LF-free inside
bounds of :func:`grammar.parse.sentence_bounds` (whose rule bounds are the HDP path-set maxima),
so ``inside score of an item + outside bound`` never underestimates the best derivation through
the item (an admissible and consistent A* heuristic, Klein & Manning 2003).

References:
    Klein & Manning (2003), A* Parsing: Fast Exact Viterbi Parse Selection, NAACL; ``parse``
    (``MODE_COMPUTE_BOUNDS``) of ``parser.h`` in github.com/asaparov/grammar.
"""

from __future__ import annotations

from grammar.derivation import NEG_INF, GrammarModel
from grammar.parse import _atom_bound, _predictors

__all__ = ["outside_bounds", "rule_bounds"]


def rule_bounds(model: GrammarModel, predictors: dict | None = None
                ) -> dict[str, list[tuple[float, tuple[str, ...]]]]:
    """``{A: [(max over every path of log p(rule | A), child names)]}`` for every rule."""
    preds = predictors if predictors is not None else _predictors(model)
    out = {}
    for a, rules in model.rules.items():
        cache: dict = {}
        out[a] = [(_atom_bound(preds[a], cache, atom), tuple(b for b, _ in kids))
                  for atom, kids in rules]
    return out


def outside_bounds(model: GrammarModel, inside: dict, n: int, *,
                   predictors: dict | None = None) -> dict[tuple[str, int, int], float]:
    """Outside bounds ``(A, i, j) -> float`` from the inside bounds of a sentence of ``n`` tokens.

    Args:
        model: the grammar model.
        inside: :func:`grammar.parse.sentence_bounds` of the sentence.
        n: the sentence length.
        predictors: cached ``{name: Predictor}``.

    Returns:
        A dict; cells missing from it (or ``-inf``) cannot be part of a full parse.
    """
    rules = rule_bounds(model, predictors)
    out: dict[tuple[str, int, int], float] = {(model.start, 0, n): 0.0}
    unary = [(a, rb, kids[0]) for a, rs in rules.items() for rb, kids in rs
             if len(kids) == 1 and rb > NEG_INF]
    wide = [(a, rb, kids) for a, rs in rules.items() for rb, kids in rs
            if len(kids) > 1 and rb > NEG_INF]

    def ins(b, i, j):
        return inside.get((b, i, j), NEG_INF)

    def relax(key, v):
        if v > out.get(key, NEG_INF) + 1e-12:
            out[key] = v

    for length in range(n, 0, -1):
        for i in range(0, n - length + 1):
            j = i + length
            for _ in range(len(rules) + 1):  # unary chains within the span: to a fixed point
                changed = False
                for a, rb, b in unary:
                    o = out.get((a, i, j), NEG_INF)
                    if o > NEG_INF and ins(b, i, j) > NEG_INF:
                        v = o + rb
                        if v > out.get((b, i, j), NEG_INF) + 1e-12:
                            out[(b, i, j)] = v
                            changed = True
                if not changed:
                    break
            for a, rb, kids in wide:
                o = out.get((a, i, j), NEG_INF)
                if o == NEG_INF or len(kids) > length:
                    continue
                for spans, total in _splits(kids, i, j, ins):
                    for b, (p, q) in zip(kids, spans, strict=True):
                        relax((b, p, q), o + rb + total - ins(b, p, q))
    return out


def _splits(kids, i: int, j: int, ins):
    """Every split of ``[i, j)`` among ``kids`` with finite inside bounds: ``(spans, sum)``."""
    if len(kids) == 1:
        v = ins(kids[0], i, j)
        if v > NEG_INF:
            yield ((i, j),), v
        return
    for m in range(i + 1, j - len(kids) + 2):
        v = ins(kids[0], i, m)
        if v == NEG_INF:
            continue
        for spans, rest in _splits(kids[1:], m, j, ins):
            yield ((i, m),) + spans, v + rest
