"""Generation: sentences for a logical form, by sampling and by best-first k-best search.

Top-down from the start symbol with the LF at the root: a nonterminal picks a rule from its HDP
predictive at the LF's feature path, the children get their LFs from the transformation functions;
a preterminal emits a token sequence from its HDP predictive; a number preterminal writes its
number.

Deviations: rules whose functions do not apply to the LF are removed and the others renormalised
(the official sampler would fail on them); preterminals emit only token sequences registered in
their HDP (seen in training or the lexicon), renormalised, since a fresh draw from the open base
distribution is a string of arbitrary symbols.

References:
    ``generate`` and ``sample`` in ``parser.h`` of github.com/asaparov/grammar and ``generate``
    in ``parser.cpp`` of github.com/asaparov/parser; Saparov, Saraswat & Mitchell (CoNLL 2017).
"""

from __future__ import annotations

import heapq
import itertools

import numpy as np

from grammar.derivation import NEG_INF, GrammarModel, Step, _num_text, derivation_tree
from grammar.logic import LF, Num
from grammar.transforms import normalize
from probtree import Tree

__all__ = ["sample_sentence", "k_best", "options"]


def options(model: GrammarModel, name: str, lf: LF) -> list[tuple[float, object, tuple]]:
    """``[(log p, atom, children)]`` at a node, renormalised over what can be used; children are
    ``((name, LF), ...)`` for a rule and ``()`` for a token sequence."""
    kind = model.kind(name)
    if kind == "number_preterminal":
        return [(0.0, (_num_text(lf),), ())] if isinstance(lf, Num) else []
    if model.path(name, lf) is None:
        return []
    if kind == "nonterminal":
        raw = [(model.log_rule(name, lf, atom), atom, kids)
               for atom, kids in model.expansions(name, lf)]
    else:
        raw = [(model.log_rule(name, lf, a), a, ()) for a in model.states[name].atoms]
    raw = [r for r in raw if r[0] > NEG_INF]
    if not raw:
        return []
    z = np.logaddexp.reduce([r[0] for r in raw])
    return sorted(((lp - z, a, k) for lp, a, k in raw), key=lambda r: -r[0])


def sample_sentence(model: GrammarModel, lf: LF, rng: np.random.Generator, *,
                    max_depth: int = 40) -> Tree | None:
    """A derivation sampled top-down for ``lf`` (None on a dead end or past ``max_depth``)."""

    def go(name: str, x: LF, depth: int):
        if depth > max_depth:
            return None
        opts = options(model, name, x)
        if not opts:
            return None
        p = np.exp([o[0] for o in opts])
        _, atom, kids = opts[int(rng.choice(len(opts), p=p / p.sum()))]
        children = []
        for b, c in kids:
            t = go(b, c, depth + 1)
            if t is None:
                return None
            children.append(t)
        return (Step(name, x, atom), children)

    nested = go(model.start, normalize(lf), 0)
    return None if nested is None else derivation_tree(nested)


def k_best(model: GrammarModel, lf: LF, k: int = 5, *, max_pops: int = 50_000,
           max_atoms: int = 20) -> list[tuple[float, tuple[str, ...]]]:
    """The ``k`` most probable sentences (best derivation each) for ``lf``, best first.

    Uniform-cost search over partial derivations expanded leftmost-first: every factor is at most
    one, so the first ``k`` distinct completed sentences are the ``k`` best (among derivations
    that use, at each preterminal, one of its ``max_atoms`` most probable token sequences).

    Raises:
        ValueError: ``k < 1``.
    """
    if k < 1:
        raise ValueError(f"k: expected a positive integer, got {k}")
    tie = itertools.count()
    heap = [(-0.0, next(tie), (), ((model.start, normalize(lf)),))]
    out: dict[tuple[str, ...], float] = {}
    cache: dict = {}
    pops = 0
    while heap and len(out) < k and pops < max_pops:
        neg, _, words, todo = heapq.heappop(heap)
        pops += 1
        if not todo:
            out.setdefault(words, -neg)
            continue
        (name, x), rest = todo[0], todo[1:]
        key = (name, x)
        if key not in cache:
            cache[key] = options(model, name, x)[: max_atoms if model.kind(name) != "nonterminal"
                                                 else None]
        for lp, atom, kids in cache[key]:
            if kids:
                heapq.heappush(heap, (neg - lp, next(tie), words, tuple(kids) + rest))
            else:
                heapq.heappush(heap, (neg - lp, next(tie), words + tuple(atom), rest))
    return sorted(((s, w) for w, s in out.items()), key=lambda p: -p[0])


