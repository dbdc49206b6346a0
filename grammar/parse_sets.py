"""Parsing by bottom-up A* over chart items keyed by (nonterminal, span, LF set).

The search of the official parser, with no candidate list: logical forms are built from the words
up as *sets* (:mod:`grammar.transforms_sets` patterns, hash-consed, so a set is its own key).

1. **Leaves.** For every span and preterminal ``B``, the HDP of ``B`` is queried over the path
   set of the unknown LF (:meth:`grammar.hdp.Predictor.path_set`, every feature a wildcard): each
   stored path where the words have mass gives an item whose set is ``*`` narrowed to that path's
   feature values (:func:`grammar.features_refine.refine`, e.g. ``N_CONSTANT`` emitting *texas*
   at ``constant = texas`` gives the set ``{texas}``), scored by the exact predictive there; the
   remainder path (every unstored value) gives the item ``*`` with the remainder's probability.
2. **Combination.** When an item ``(B, i, j, S)`` is popped, for every rule
   ``A -> ... B:f ...`` the popped items of the other children on adjacent spans are combined and
   the parent set is the intersection of the inverse images ``f_k^{-1}(S_k)`` (memoised per
   (function, set); :func:`grammar.transforms_sets.intersect`). The parent set is split along the
   path set of ``A``'s HDP, and every piece gives an item scored by ``log p(rule | path)`` plus
   the children's scores.
3. **A\\* order.** Items are popped in decreasing ``inside score + outside bound + prior bound``.
   Every derivation ``(x, t)`` of the sentence has a chain of items whose sets contain the LFs of
   its nodes and whose scores are exactly its rule probabilities (inverses and refinements are
   supersets, path sets partition the feature space), so the item scores are admissible.
4. **Completion.** A popped root item's set is completed to concrete LFs (:func:`complete`: open
   conjunct lists closed, wildcard arguments filled with the set's variables or fresh ones, unknown
   constant types from the training vocabulary); each completion ``x`` is queued with priority
   ``log p(x) + score`` (an upper bound of its score) and, when popped, scored exactly by the
   Viterbi chart (:func:`grammar.chart.viterbi`) and queued again as a final parse. Final parses
   pop in exact order, so the k-best list is exact over the completions reached.

The outside bounds are the max-semiring outside pass over the LF-free bounds of
:func:`grammar.parse.sentence_bounds`. The prior bound of an item is ``prior_bound(set)``
(:meth:`grammar.prior.SemanticPrior.set_bound`: the known terms of the set, each at its largest
predictive; the transformation functions keep a child's parts in the parent's LF), or 0.

**Deviations.** The inverses ignore the head-variable constraints (:mod:`grammar.transforms`),
so the sets are supersets and completion enumerates variable assignments that a grammar with
exact inverses would fix; the prior and the Viterbi rescoring rule the wrong ones out. Completion
closes open conjunct lists and does not invent conjuncts or functions that no word produced (an
unknown conjunct or function makes a root set incomplete and it is dropped, counted in
``ParseResult.n_candidates`` as zero completions). The official code prunes with the gold LF's
probability at test time; nothing here sees the gold LF.

**Pruned mode (inexact, stated).** Three options make the search fast on GeoQuery:
``leaves`` (:class:`grammar.parse_leaves.LeafLexicon`: the leaves of featured preterminals are
the concrete LFs seen there in training, ``state(A)``, ``next_to(B,A)``, ..., with their variables
fixed by the head convention, kept within a beam of the span's best segmentation instead of one
refined wildcard set per stored HDP path); ``max_cell_items`` (at most N items popped per
(nonterminal, span), the best in A* order: a beam per cell against the fan-out of unary cycles
such as ``NP_ADJ -> NP_ADJ_DUAL -> NP_ADJ``, whose path-set splits invent a predicate at no
cost); and the argument kinds of the :class:`grammar.parse_complete.Vocabulary` (always on: an
item whose set has an argument of a kind its position never has in training, such as
``const(A,state(A))``, is dropped, since no completion of it or of any set above it is valid).
Every parse returned still carries its exact score (prior + Viterbi).

**Status.** On the tiny test grammar the exact k-best list equals brute force over every LF and
derivation (tests/grammar/test_parser_sets.py). On GeoQuery the exact mode reaches few root parses
within 10 s (every open-class word has mass at every stored feature path of its HDP, and each
split fans out); the pruned mode (``leaves`` beam 6, ``max_cell_items=30``, exact A* with the
prior's set bound) answers most sentences in about 2 s (README, ``grammar`` section).

References:
    ``parse`` (``MODE_COMPUTE_BOUNDS``, ``MODE_PARSE``), ``process_rule_state`` and the
    ``weighted_feature_set`` logic of ``parser.h`` in github.com/asaparov/grammar; ``intersect`` and
    ``invert_*`` of ``datalog.h`` in github.com/asaparov/parser; Saparov, Saraswat & Mitchell
    (CoNLL 2017), §4; Klein & Manning (2003), A* parsing.
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from collections.abc import Callable

from grammar import hdp
from grammar.chart import viterbi
from grammar.derivation import NEG_INF, GrammarModel
from grammar.features import feature
from grammar.features_refine import refine
from grammar.logic import LF, Num
from grammar.parse import (
    Parse,
    ParseResult,
    _is_number,
    _predictors,
    check_query,
    sentence_bounds,
    unknown_words,
)
from grammar.parse_complete import Vocabulary, complete
from grammar.parse_leaves import LeafLexicon
from grammar.parse_outside import outside_bounds
from grammar.transforms_sets import ANY, intersect

__all__ = ["parse_sets", "complete", "Vocabulary"]

_ITEM, _PENDING, _FINAL = 0, 1, 2


class _Search:
    """One sentence's agenda, chart and memos."""

    def __init__(self, model: GrammarModel, tokens: tuple, preds: dict, max_open: int,
                 beam: float | None = None, leaf_lexicon: LeafLexicon | None = None,
                 vocab: Vocabulary | None = None) -> None:
        self.model, self.tokens, self.preds, self.max_open = model, tokens, preds, max_open
        self.beam = beam
        self.leaf_lexicon = leaf_lexicon
        self.vocab = vocab
        self.by_child: dict[str, list] = {}
        for a, rules in model.rules.items():
            for atom, kids in rules:
                for pos, (b, _) in enumerate(kids):
                    self.by_child.setdefault(b, []).append((a, atom, kids, pos))
        self.inv_memo: dict = {}
        self.meet_memo: dict = {}
        self.path_memo: dict = {}
        self.ref_memo: dict = {}
        self.by_start: dict[tuple[str, int], list] = {}
        self.by_end: dict[tuple[str, int], list] = {}

    # ---------------------------------------------------------------- set algebra (memoised)
    def invert(self, fn, s: LF) -> tuple:
        key = (fn.name, s)
        if key not in self.inv_memo:
            self.inv_memo[key] = fn.invert(s)
        return self.inv_memo[key]

    def meet(self, s: tuple, t: tuple) -> tuple:
        key = (s, t)
        if key not in self.meet_memo:
            self.meet_memo[key] = intersect(s, t)
        return self.meet_memo[key]

    # ---------------------------------------------------------------- HDP path sets
    def _paths(self, a: str, s: LF) -> list[tuple[tuple, object, tuple]]:
        """``[(refined sets, probs (A,), node)]`` over the path set of ``s`` at ``a`` (memoised:
        every rule of ``a`` shares it)."""
        key = (a, s)
        if key in self.path_memo:
            return self.path_memo[key]
        out: list = []
        names = self.model.grammar.nonterminals[a].features
        spec = []
        for f in names:
            v = None if isinstance(s, Num) else feature(f, s)
            if v is None:
                self.path_memo[key] = out
                return out
            spec.append(v if isinstance(v, str) else
                        hdp.Wildcard(frozenset(v.excluded)) if v.excluded else hdp.ANY)
        pred = self.preds[a]
        for path, probs in pred.path_set(tuple(spec)):
            sets = [s]
            for f, want, got in zip(names, path, spec, strict=True):
                if isinstance(want, str) and not isinstance(got, str):
                    sets = [r for q in sets for r in self.refine(f, q, want)]
            if sets:
                out.append((tuple(dict.fromkeys(sets)), probs, pred.state.find(path)[0]))
        self.path_memo[key] = out
        return out

    def refine(self, f: str, q: LF, value: str) -> tuple:
        key = (f, q, value)
        if key not in self.ref_memo:
            self.ref_memo[key] = refine(f, (q,), value)
        return self.ref_memo[key]

    def options(self, a: str, s: LF, atom) -> list[tuple[LF, float]]:
        """``[(refined set, log p(atom | path))]`` over the path set of ``s`` at ``a``."""
        pred = self.preds[a]
        aid = pred.state.atom_id(atom)
        out: list[tuple[LF, float]] = []
        for sets, probs, node in self._paths(a, s):
            if aid is not None:
                p = float(probs[aid])
            else:
                p = float(pred.unseen_scale[node]) * pred._unseen(atom)
            if p > 0.0:
                lp = math.log(p)
                out.extend((r, lp) for r in sets)
        if self.beam is not None and out:
            top = max(lp for _, lp in out)
            out = [(r, lp) for r, lp in out if lp >= top - self.beam]
        return out

    def leaves(self) -> list[tuple[str, int, int, LF, float]]:
        m, toks, n = self.model, self.tokens, len(self.tokens)
        lex = self.leaf_lexicon
        out = []
        for b in m.grammar.nonterminals:
            kind = m.kind(b)
            if kind == "nonterminal":
                continue
            for i in range(n):
                for j in range(i + 1, n + 1):
                    span = toks[i:j]
                    if kind == "number_preterminal":
                        if j == i + 1 and _is_number(span[0]):
                            v = float(span[0])
                            out.append((b, i, j, Num(int(v) if v.is_integer() else v), 0.0))
                        continue
                    if kind != "preterminal":
                        continue
                    if m.is_open(b):
                        if j - i > self.max_open:
                            continue
                    elif span not in m.words.get(b, ()):
                        continue
                    if lex is not None and lex.featured(m, b):
                        for x in lex.lfs.get(b, ()):
                            for s, lp in self.options(b, x, span):
                                out.append((b, i, j, s, lp))
                        continue
                    for s, lp in self.options(b, ANY, span):
                        out.append((b, i, j, s, lp))
        return out if lex is None else lex.prune(m, out, n)

    # ---------------------------------------------------------------- combination
    def _left(self, kids, pos: int, end: int, sets: tuple, score: float):
        """Popped items for ``kids[:pos]`` ending at ``end``: ``(start, parent set, score)``."""
        if pos == 0:
            yield end, sets, score
            return
        b, fn = kids[pos - 1]
        for i, s, sc in self.by_end.get((b, end), ()):
            inter = self.meet(sets, self.invert(fn, s))
            if inter:
                yield from self._left(kids, pos - 1, i, inter, score + sc)

    def _right(self, kids, pos: int, start: int, sets: tuple, score: float):
        if pos == len(kids):
            yield start, sets, score
            return
        b, fn = kids[pos]
        for j, s, sc in self.by_start.get((b, start), ()):
            inter = self.meet(sets, self.invert(fn, s))
            if inter:
                yield from self._right(kids, pos + 1, j, inter, score + sc)

    def expand(self, b: str, i: int, j: int, s: LF, score: float):
        """New items ``(A, l, r, set, score)`` with the popped item as one child."""
        for a, atom, kids, pos in self.by_child.get(b, ()):
            own = self.invert(kids[pos][1], s)
            if not own:
                continue
            for left, sets, sc in self._left(kids, pos, i, own, score):
                for right, sets2, sc2 in self._right(kids, pos + 1, j, sets, sc):
                    for p in sets2:
                        if self.vocab is not None and not self.vocab.possible(p):
                            continue
                        for r, lr in self.options(a, p, atom):
                            if self.vocab is None or r is p or self.vocab.possible(r):
                                yield a, left, right, r, sc2 + lr


def parse_sets(model: GrammarModel, tokens, *, vocabulary: Vocabulary | None = None,
               log_prior: Callable[[LF], float] | None = None,
               prior_bound: Callable[[LF], float] | None = None, k: int = 1,
               time_limit: float | None = None, max_open_tokens: int = 4,
               predictors: dict | None = None, max_items: int = 200_000,
               max_completions: int = 2000, beam: float | None = None,
               rerank: int | None = None, min_score: float | None = None,
               leaves: LeafLexicon | None = None,
               max_cell_items: int | None = None) -> ParseResult:
    """k-best parses of ``tokens`` by A* over (nonterminal, span, LF set) items.

    Args:
        model: the trained grammar model.
        tokens: the sentence.
        vocabulary: functor arities and constant types for completion (training LFs only).
        log_prior: ``log p(x)`` (default 0); must be ``<= 0`` (a probability), ``-inf`` rules an
            LF out.
        prior_bound: an upper bound of ``log p(x)`` over the LFs containing an item's set
            (e.g. :meth:`grammar.prior.SemanticPrior.set_bound`); default 0.
        k: how many parses to return.
        time_limit: seconds; past it the best parses found so far are returned (``timed_out``).
        max_open_tokens: longest phrase an open-class preterminal may emit.
        predictors: cached ``{name: Predictor}`` (built when omitted).
        max_items: popped-item budget (the search stops, flagged ``timed_out``, past it).
        max_completions: most completions of one root set.
        beam: if given, of the HDP paths of one (nonterminal, set, rule) only those within
            ``beam`` nats of the most probable are kept (an inexact pruning; None: exact search).
        rerank: if given, the prior is left out of the search order (it only rules LFs out):
            the ``rerank`` most likely derivable LFs under ``p(y, t | x)`` are collected and the
            k best by ``log p(x) + log p(y, t | x)`` returned (inexact; None: exact A*).
        min_score: if given, only parses scoring at least this are wanted (e.g. the k-th best
            score of another search, :func:`grammar.parse_union.parse_union`): items, completions
            and parses whose upper bound (``log p(x) <= 0``, so the item bound holds in both
            modes) is below it are dropped, and the search ends when none is left. Sound: every
            parse scoring at least ``min_score`` that the unpruned search reaches is still
            reached (sooner).

    Returns:
        A :class:`grammar.parse.ParseResult`; ``n_candidates`` counts the completions queued,
        ``n_scored`` the Viterbi rescorings, ``n_items`` the popped chart items.

    Raises:
        ValueError: ``k < 1`` or an empty sentence.
    """
    t0 = time.perf_counter()
    tokens = check_query(tokens, k)
    prior = log_prior or (lambda x: 0.0)
    vocab = vocabulary or Vocabulary()
    preds = predictors if predictors is not None else _predictors(model)
    n = len(tokens)
    inside = sentence_bounds(model, tokens, max_open_tokens=max_open_tokens, predictors=preds)
    root_bound = inside.get((model.start, 0, n), NEG_INF)
    outside = outside_bounds(model, inside, n, predictors=preds)
    search = _Search(model, tokens, preds, max_open_tokens, beam, leaves, vocab)
    agenda: list = []
    tie = itertools.count()
    floor = min_score

    def push_item(a, i, j, s, sc):
        o = outside.get((a, i, j), NEG_INF)
        if o > NEG_INF and sc > NEG_INF:
            h = sc + o + (prior_bound(s) if prior_bound is not None and rerank is None else 0.0)
            if floor is not None and h < floor:
                return
            heapq.heappush(agenda, (-h, next(tie), _ITEM, (a, i, j, s, sc)))

    for leaf in search.leaves():
        push_item(*leaf)
    popped: set = set()
    cell_count: dict = {}
    seen_lf: set = set()
    done: set = set()
    parses: list[Parse] = []
    n_cand = n_scored = n_items = 0
    timed_out = False
    want = k if rerank is None else max(k, rerank)
    w = 1.0 if rerank is None else 0.0  # weight of the prior in the search order
    while agenda and len(parses) < want:
        if time_limit is not None and time.perf_counter() - t0 > time_limit:
            timed_out = True
            break
        _, _, kind, payload = heapq.heappop(agenda)
        if kind == _FINAL:
            x, lp, ll, tree = payload
            if x not in done:
                done.add(x)
                parses.append(Parse(x, tree, lp, ll))
            continue
        if kind == _PENDING:
            x, lp = payload
            ll, tree = viterbi(model, tokens, x, max_open_tokens=max_open_tokens)
            n_scored += 1
            if tree is not None and (floor is None or lp + ll >= floor):
                heapq.heappush(agenda, (-(w * lp + ll), next(tie), _FINAL, (x, lp, ll, tree)))
            continue
        a, i, j, s, sc = payload
        key = (a, i, j, s)
        if key in popped:
            continue
        popped.add(key)
        if max_cell_items is not None:
            cell = (a, i, j)
            if cell_count.get(cell, 0) >= max_cell_items:
                continue
            cell_count[cell] = cell_count.get(cell, 0) + 1
        n_items += 1
        if n_items > max_items:
            timed_out = True
            break
        search.by_start.setdefault((a, i), []).append((j, s, sc))
        search.by_end.setdefault((a, j), []).append((i, s, sc))
        if a == model.start and i == 0 and j == n:
            deadline = None if time_limit is None else t0 + time_limit
            for x in complete(s, vocab, limit=max_completions, deadline=deadline):
                if x in seen_lf:
                    continue
                seen_lf.add(x)
                lp = prior(x)
                if lp > NEG_INF and (floor is None or lp + sc >= floor):
                    n_cand += 1
                    heapq.heappush(agenda, (-(w * lp + sc), next(tie), _PENDING, (x, lp)))
        for new in search.expand(a, i, j, s, sc):
            if (new[0], new[1], new[2], new[3]) not in popped:
                push_item(*new)
    parses = sorted(parses, key=lambda p: -p.score)[:k]
    return ParseResult(tuple(parses), unknown_words(model, tokens), n_cand, n_scored, timed_out,
                       time.perf_counter() - t0, root_bound, n_items=n_items)
