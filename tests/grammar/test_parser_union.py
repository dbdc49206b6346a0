"""The union of the candidate search and the set search on the tiny grammar: its k-best list is
the exact k-best over the LFs either search reached (brute force over every derivable LF), and it
recovers an LF outside a deliberately incomplete candidate set."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from test_parser_sets import SPACE
from test_parser_tiny import NOUNS, RELS, STATES, _examples, train_tiny

from grammar import chart
from grammar.logic import parse
from grammar.parse_sets import Vocabulary, parse_sets
from grammar.parse_union import parse_cascade, parse_union
from grammar.transforms import normalize


@pytest.fixture(scope="module")
def trained():
    model, prior = train_tiny()
    return model, prior, Vocabulary([e.lf for e in _examples()])


def _domain():
    return [normalize(parse(f"answer(A,({n}(A),{r}(A,B),const(B,stateid({s}))))"))
            for n, r, s in itertools.product(NOUNS, RELS, STATES)]


def _scores(model, prior, toks, lfs):
    out = []
    for x in lfs:
        lp = prior.log_prob(x)
        ds = chart.enumerate_derivations(model, toks, x) if lp > -math.inf else []
        if ds:
            out.append((lp + max(d for d, _ in ds), x))
    return sorted(out, key=lambda p: -p[0])


def test_union_recovers_an_lf_missing_from_the_candidates(trained):
    model, prior, vocab = trained
    toks = "what rivers are in ohio".split()
    domain = _domain()
    exact = _scores(model, prior, toks, domain)
    assert len(exact) >= 2
    # drop the best LF from the candidates: the candidate search alone returns the runner-up,
    # the union gets the best back from the set search with its exact score
    cands = [x for x in domain if x is not exact[0][1]]
    r = parse_union(model, toks, cands, vocabulary=vocab, log_prior=prior.log_prob, k=2,
                    rerank=None)
    assert r.best.lf is exact[0][1]
    assert r.source == "sets"
    np.testing.assert_allclose(r.best.score, exact[0][0], rtol=1e-9)
    assert r.parses[0].score >= r.parses[1].score


def test_union_kbest_equals_brute_force_over_every_lf(trained):
    model, prior, vocab = trained
    toks = "what lakes cross texas".split()
    brute = _scores(model, prior, toks, SPACE)  # every LF of the shape, every variable binding
    assert len(brute) > 18
    r = parse_union(model, toks, _domain(), vocabulary=vocab, log_prior=prior.log_prob, k=3,
                    rerank=None)
    np.testing.assert_allclose([p.score for p in r.parses], [s for s, _ in brute[:3]],
                               rtol=1e-9)
    assert r.best.lf is brute[0][1]
    assert len({p.lf for p in r.parses}) == 3
    with pytest.raises(ValueError, match="k"):
        parse_union(model, toks, _domain(), vocabulary=vocab, k=0)


@pytest.mark.parametrize("rerank", [None, 40])
def test_min_score_keeps_every_parse_above_it(trained, rerank):
    model, prior, vocab = trained
    toks = "what rivers cross utah".split()
    full = parse_sets(model, toks, vocabulary=vocab, log_prior=prior.log_prob, k=6,
                      rerank=rerank)
    floor = full.parses[2].score
    cut = parse_sets(model, toks, vocabulary=vocab, log_prior=prior.log_prob, k=6,
                     rerank=rerank, min_score=floor)
    want = [p for p in full.parses if p.score >= floor]
    assert [p.lf for p in cut.parses] == [p.lf for p in want]
    np.testing.assert_allclose([p.score for p in cut.parses], [p.score for p in want],
                               rtol=1e-12)
    assert cut.n_scored <= full.n_scored and cut.n_items <= full.n_items
    # nothing can reach a floor above the best score: the search ends empty
    none = parse_sets(model, toks, vocabulary=vocab, log_prior=prior.log_prob,
                      rerank=rerank, min_score=full.best.score + 1.0)
    assert none.best is None and not none.timed_out


def test_completion_drops_empty_lists_unseen_in_training():
    from grammar.logic import Conj, Term, Var
    from grammar.parse_sets import complete

    x = Term("answer", (Var("A"), Conj((Term("state", (Var("A"),)),
                                        Term("const", (Var("A"), Conj(())))))))
    seen = Vocabulary([parse("answer(A,(state(A),const(B,stateid(ohio)),loc(A,B)))")])
    assert not seen.allows_empty_list and complete(x, seen) == []
    assert complete(x, Vocabulary()) == [x]  # no training LFs: unrestricted
    with_empty = Vocabulary([parse("answer(A,(state(A),const(A,())))")])
    assert with_empty.allows_empty_list and complete(x, with_empty) == [x]


def test_cascade_uses_the_set_search_and_falls_back_to_the_candidates(trained):
    model, prior, vocab = trained
    toks = "what rivers are in ohio".split()
    domain = _domain()
    exact = _scores(model, prior, toks, domain)
    cands = [x for x in domain if x is not exact[0][1]]
    r = parse_cascade(model, toks, cands, vocabulary=vocab, log_prior=prior.log_prob,
                      prior_bound=prior.set_bound, k=1)
    assert r.source == "sets" and r.best.lf is exact[0][1]
    np.testing.assert_allclose(r.best.score, exact[0][0], rtol=1e-9)
    # the set search finds nothing (no time): the candidate search's best (the runner-up)
    r = parse_cascade(model, toks, cands, vocabulary=vocab, log_prior=prior.log_prob,
                      sets_time_limit=0.0, time_limit=None)
    assert r.source == "candidates" and r.best.lf is exact[1][1]
    np.testing.assert_allclose(r.best.score, exact[1][0], rtol=1e-9)
    # k larger than the set search's list: the candidates fill it, without duplicates
    r = parse_cascade(model, toks, cands, vocabulary=vocab, log_prior=prior.log_prob, k=4,
                      max_cell_items=1)
    assert len({p.lf for p in r.parses}) == len(r.parses) == 4
    with pytest.raises(ValueError, match="k"):
        parse_cascade(model, toks, cands, k=0)
