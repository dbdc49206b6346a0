"""Parsing by the union of the candidate search and the set search, rescored exactly.

:func:`grammar.parse.parse` is exact over an explicit candidate set (training LF structures with
the sentence's constants swapped in) but cannot produce a structure that never occurs in
training; :func:`grammar.parse_sets.parse_sets` builds LFs from the words up and can, but within a
time limit it reaches few root parses on GeoQuery. Every parse either search returns carries its
exact score ``log p(x) + max_t log p(y, t | x)`` (the prior of the LF and the Viterbi derivation
under the same rule scorer), so the scores of the two lists are comparable and their union,
deduplicated by LF and sorted by that score, is the k-best list over every LF either search
reached. The union's best parse scores at least as high as either search's best, so where the
candidate search's answer is beaten it is beaten by an LF the model itself prefers.

The candidate search runs first; its k-th best score is passed to the set search as
``min_score``, so the set search only looks for LFs that can enter the k-best list (its items,
completions and parses with an upper bound below that score are dropped, and it stops when none
is left), which both shortens it and lets it go deeper within its time limit.

When both searches are exact (no time limit hit, ``rerank`` collecting every derivable LF, or
exact A*), the union is the exact k-best list; otherwise it is exact over the LFs reached.

:func:`parse_cascade` combines them differently: the set search (typically in its pruned mode)
answers, and the candidate search runs only when the set search returns nothing. On GeoQuery this
is more accurate than the union by score, because the model scores some wrong training
structures above the right LF that the pruned set search finds (README, ``grammar`` section).

References:
    Saparov, Saraswat & Mitchell (CoNLL 2017), §4 (the argmax over LFs and derivations).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from grammar.derivation import GrammarModel
from grammar.logic import LF
from grammar.parse import ParseResult, check_query, parse
from grammar.parse_leaves import LeafLexicon
from grammar.parse_sets import Vocabulary, parse_sets

__all__ = ["parse_union", "parse_cascade", "search_settings", "CASCADE_DEFAULTS"]

# The pruned set search the cascade runs by default (GeoQuery, README ``grammar``): leaves from
# the training leaf LFs within 6 nats of the span's best segmentation, at most 15 items popped
# per (nonterminal, span) cell, exact A* with the prior's set bound (no rerank).
CASCADE_DEFAULTS = {"rerank": 0, "leaf_beam": 6.0, "max_cell_items": 15}
_OTHER_DEFAULTS = {"rerank": 0, "leaf_beam": None, "max_cell_items": 0}


def search_settings(search: str, *, rerank: int | None = None, leaf_beam: float | None = None,
                    max_cell_items: int | None = None) -> dict:
    """Resolves the set-search options of a command line: None takes the search's default.

    ``cascade`` defaults to :data:`CASCADE_DEFAULTS` (the pruned set search); ``sets`` and
    ``union`` to the exact set search (path-set leaves, no cell cap, exact A*). A negative
    ``leaf_beam`` asks for the exact path-set leaves explicitly.

    Returns:
        ``{"rerank": int | None, "leaf_beam": float | None, "max_cell_items": int | None}`` with
        None for "off", ready for :func:`parse_sets` / :func:`parse_cascade` keywords.

    Raises:
        ValueError: unknown ``search`` or a negative ``rerank``/``max_cell_items``.
    """
    if search not in ("candidates", "sets", "union", "cascade"):
        raise ValueError(f"search: expected candidates, sets, union or cascade, got {search!r}")
    base = CASCADE_DEFAULTS if search == "cascade" else _OTHER_DEFAULTS
    given = {"rerank": rerank, "leaf_beam": leaf_beam, "max_cell_items": max_cell_items}
    out = {k: base[k] if v is None else v for k, v in given.items()}
    for k in ("rerank", "max_cell_items"):
        if out[k] < 0:
            raise ValueError(f"{k}: expected >= 0, got {out[k]}")
    if out["leaf_beam"] is not None and out["leaf_beam"] < 0:
        out["leaf_beam"] = None
    out["rerank"] = out["rerank"] or None
    out["max_cell_items"] = out["max_cell_items"] or None
    return out


def parse_union(model: GrammarModel, tokens, candidates: Iterable[LF], *,
                vocabulary: Vocabulary | None = None,
                log_prior: Callable[[LF], float] | None = None,
                prior_bound: Callable[[LF], float] | None = None, k: int = 1,
                time_limit: float | None = None, sets_time_limit: float | None = None,
                max_open_tokens: int = 4, predictors: dict | None = None, depth: int = 2,
                rerank: int | None = 10, beam: float | None = None,
                leaves: LeafLexicon | None = None, max_cell_items: int | None = None
                ) -> ParseResult:
    """k-best parses of ``tokens`` over the candidate set and the LFs the set search reaches.

    Args:
        model: the trained grammar model (or a :class:`grammar.rule_table.RuleTable`).
        tokens: the sentence.
        candidates: the candidate search's LF space (:class:`grammar.parse.CandidateSpace`).
        vocabulary: functor arities and constant types for the set search's completion.
        log_prior: ``log p(x)`` (default 0); ``-inf`` rules an LF out.
        prior_bound: the prior's set bound for the set search's A* order (ignored with
            ``rerank``).
        k: how many parses to return.
        time_limit: seconds for the candidate search.
        sets_time_limit: seconds for the set search (default: ``time_limit``).
        max_open_tokens: longest phrase an open-class preterminal may emit.
        predictors: cached ``{name: Predictor}``.
        depth: the candidate search's bound depth.
        rerank: the set search's ``rerank`` (None: exact A* with ``prior_bound``).
        beam: the set search's ``beam``.
        leaves: the set search's ``leaves`` (:class:`grammar.parse_leaves.LeafLexicon`).
        max_cell_items: the set search's ``max_cell_items``.

    Returns:
        A :class:`grammar.parse.ParseResult`: the union's k best by exact score;
        ``n_candidates``/``n_scored`` summed over both searches, ``timed_out`` if either timed
        out, ``seconds`` the total, ``root_bound`` the candidate search's.

    Raises:
        ValueError: ``k < 1`` or an empty sentence.
    """
    t0 = time.perf_counter()
    tokens = check_query(tokens, k)
    a = parse(model, tokens, candidates, log_prior=log_prior, k=k, time_limit=time_limit,
              max_open_tokens=max_open_tokens, predictors=predictors, depth=depth)
    floor = a.parses[k - 1].score if len(a.parses) >= k else None
    b = parse_sets(model, tokens, vocabulary=vocabulary, log_prior=log_prior,
                   prior_bound=prior_bound, k=k,
                   time_limit=sets_time_limit if sets_time_limit is not None else time_limit,
                   max_open_tokens=max_open_tokens, predictors=predictors, rerank=rerank,
                   beam=beam, min_score=floor, leaves=leaves,
                   max_cell_items=max_cell_items)
    best: dict = {}
    for p in a.parses + b.parses:
        if p.lf not in best or p.score > best[p.lf].score:
            best[p.lf] = p
    parses = tuple(sorted(best.values(), key=lambda p: -p.score)[:k])
    # which search supplied the best parse: "candidates", "sets" or "both" (diagnostic)
    src = None
    if parses:
        top = parses[0].lf
        in_a = top in {p.lf for p in a.parses}
        in_b = top in {p.lf for p in b.parses}
        src = "both" if in_a and in_b else ("candidates" if in_a else "sets")
    return ParseResult(parses, a.unknown_words, a.n_candidates + b.n_candidates,
                       a.n_scored + b.n_scored, a.timed_out or b.timed_out,
                       time.perf_counter() - t0, a.root_bound, source=src)


def parse_cascade(model: GrammarModel, tokens, candidates: Iterable[LF], *,
                  vocabulary: Vocabulary | None = None,
                  log_prior: Callable[[LF], float] | None = None,
                  prior_bound: Callable[[LF], float] | None = None, k: int = 1,
                  time_limit: float | None = None, sets_time_limit: float | None = None,
                  max_open_tokens: int = 4, predictors: dict | None = None, depth: int = 2,
                  rerank: int | None = None, beam: float | None = None,
                  leaves: LeafLexicon | None = None, max_cell_items: int | None = None
                  ) -> ParseResult:
    """The set search first; the candidate search only for what it leaves unanswered.

    The set search's parses come first (in their exact-score order); if it returns fewer than
    ``k`` (none when it finds no root parse within ``sets_time_limit`` or its pruning leaves
    nothing), the candidate search runs and its parses not already listed follow. Unlike
    :func:`parse_union` the two lists are not merged by score: with the set search's leaf
    lexicon and cell cap (:class:`grammar.parse_leaves.LeafLexicon`, ``max_cell_items``) its
    answer, when it has one, is more often right than a higher-scoring candidate (the model
    itself ranks some wrong training structures above the right LF, e.g. ``largest`` for
    *smallest*, see the README), so the cascade trusts it and uses the candidate set as the
    fallback.

    Args: as :func:`parse_union` (``rerank`` defaults to None here: exact A* with
        ``prior_bound``).

    Returns:
        A :class:`grammar.parse.ParseResult` with ``source`` ``"sets"``, ``"candidates"`` or
        None (no parse); ``n_candidates``/``n_scored`` summed over the searches that ran.

    Raises:
        ValueError: ``k < 1`` or an empty sentence.
    """
    t0 = time.perf_counter()
    tokens = check_query(tokens, k)
    b = parse_sets(model, tokens, vocabulary=vocabulary, log_prior=log_prior,
                   prior_bound=prior_bound, k=k,
                   time_limit=sets_time_limit if sets_time_limit is not None else time_limit,
                   max_open_tokens=max_open_tokens, predictors=predictors, rerank=rerank,
                   beam=beam, leaves=leaves, max_cell_items=max_cell_items)
    parses = list(b.parses)
    n_cand, n_scored, timed_out = b.n_candidates, b.n_scored, b.timed_out
    src = "sets" if parses else None
    if len(parses) < k:
        a = parse(model, tokens, candidates, log_prior=log_prior, k=k, time_limit=time_limit,
                  max_open_tokens=max_open_tokens, predictors=predictors, depth=depth)
        seen = {p.lf for p in parses}
        parses += [p for p in a.parses if p.lf not in seen][:k - len(parses)]
        n_cand, n_scored = n_cand + a.n_candidates, n_scored + a.n_scored
        timed_out = timed_out or a.timed_out
        if src is None and parses:
            src = "candidates"
    return ParseResult(tuple(parses), b.unknown_words, n_cand, n_scored, timed_out,
                       time.perf_counter() - t0, b.root_bound, n_items=b.n_items, source=src)
