"""The set-based A* parser (grammar.parse_sets) against brute force on the tiny domain.

The brute-force space is every LF of the tiny domain's shape with every assignment of variables
(``answer(A,(n(V1),r(V2,V3),const(V4,stateid(s))))``, ``V*`` in ``A..D``), which strictly contains
the 18 LFs of ``DOMAIN`` and is the space the set search's completions range over; each LF is
scored by the prior plus the best of all its enumerated derivations.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from test_parser_tiny import NOUNS, RELS, STATES, _examples, train_tiny

from grammar import chart
from grammar import parse as parsing
from grammar.logic import Term, parse
from grammar.parse_outside import outside_bounds
from grammar.parse_sets import Vocabulary, complete, parse_sets
from grammar.transforms import normalize
from grammar.transforms_sets import ANY, Seq, contains


@pytest.fixture(scope="module")
def trained():
    model, prior = train_tiny()
    return model, prior, Vocabulary([e.lf for e in _examples()])


def _space():
    out = {}
    for n, r, s in itertools.product(NOUNS, RELS, STATES):
        for v in itertools.product("ABCD", repeat=4):
            x = normalize(parse(f"answer(A,({n}({v[0]}),{r}({v[1]},{v[2]}),"
                                f"const({v[3]},stateid({s}))))"))
            out.setdefault(x, None)
    return list(out)


SPACE = _space()


def _brute(model, prior, toks):
    out = []
    for x in SPACE:
        lp = prior.log_prob(x)
        if lp == -math.inf:
            continue
        ds = chart.enumerate_derivations(model, toks, x)
        if ds:
            out.append((lp + max(d for d, _ in ds), x))
    return sorted(out, key=lambda p: -p[0])


@pytest.mark.parametrize(("sentence", "bound"), [("what rivers are in ohio", False),
                                                 ("what rivers are in ohio", True),
                                                 ("what cities cross utah", True),
                                                 ("what lakes are in texas", True)])
def test_set_search_argmax_and_kbest_equal_brute_force(trained, sentence, bound):
    model, prior, vocab = trained
    toks = sentence.split()
    brute = _brute(model, prior, toks)
    assert len(brute) > 18  # LFs outside the 18-LF domain are derivable and scored too
    r = parse_sets(model, toks, vocabulary=vocab, log_prior=prior.log_prob,
                   prior_bound=prior.set_bound if bound else None, k=3)
    np.testing.assert_allclose([p.score for p in r.parses], [s for s, _ in brute[:3]],
                               rtol=1e-9)
    assert r.best.lf is brute[0][1]
    assert not r.timed_out and 0 < r.n_scored <= r.n_candidates


def test_rerank_mode_is_exact_when_it_collects_every_lf(trained):
    model, prior, vocab = trained
    toks = "what lakes cross ohio".split()
    brute = _brute(model, prior, toks)
    r = parse_sets(model, toks, vocabulary=vocab, log_prior=prior.log_prob, k=2,
                   rerank=len(brute))
    np.testing.assert_allclose([p.score for p in r.parses], [s for s, _ in brute[:2]],
                               rtol=1e-9)
    few = parse_sets(model, toks, vocabulary=vocab, log_prior=prior.log_prob, rerank=3)
    assert few.n_scored <= r.n_scored and few.best is not None


def test_set_search_agrees_with_candidate_search_on_the_domain(trained):
    model, prior, vocab = trained
    toks = "what rivers cross texas".split()
    domain = [parse(f"answer(A,({n}(A),{r}(A,B),const(B,stateid({s}))))")
              for n, r, s in itertools.product(NOUNS, RELS, STATES)]
    a = parsing.parse(model, toks, domain, log_prior=prior.log_prob)
    b = parse_sets(model, toks, vocabulary=vocab, log_prior=prior.log_prob)
    assert a.best.lf is b.best.lf
    np.testing.assert_allclose(a.best.score, b.best.score, rtol=1e-10)


def test_outside_bounds_are_admissible(trained):
    model, prior, _ = trained
    toks = "what lakes are in ohio".split()
    n = len(toks)
    x = parse("answer(A,(lake(A),loc(A,B),const(B,stateid(ohio))))")
    best, _ = chart.viterbi(model, toks, x)
    inside = parsing.sentence_bounds(model, toks)
    out = outside_bounds(model, inside, n)
    ch = chart.Chart(model, toks, mode="max")
    ch.inside(model.start, x, 0, n)
    # every cell on the best derivation: its exact inside + outside bound >= the total
    stack, spans = [(ch.build(model.start, x, 0, n), 0)], []
    while stack:
        (step, kids), i = stack.pop()
        spans.append((step.nonterminal, i, i + len(_leaves((step, kids))), step.lf))
        for c in kids:
            stack.append((c, i))
            i += len(_leaves(c))
    assert len(spans) > 5
    for a, i, j, lf in spans:
        assert ch.inside(a, lf, i, j) + out[(a, i, j)] >= best - 1e-9


def _leaves(nested):
    step, kids = nested
    if not kids:
        return list(step.atom)
    return [t for c in kids for t in _leaves(c)]


def test_prior_set_bound_is_admissible(trained):
    _, prior, _ = trained
    pat = Term("answer", (parse("A"), Seq((Term("river", (ANY, ANY, ANY)),
                                           Term("loc", (parse("A"), ANY))), (), False)))
    b = prior.set_bound(pat)
    assert b < 0
    members = [x for x in SPACE if contains(pat, x)]
    assert len(members) > 10
    for x in members:
        assert prior.log_prob(x) <= b + 1e-9


def test_completion(trained):
    _, _, vocab = trained
    s = Seq((parse("river(A)"),), (), False)
    assert complete(s, vocab) == [parse("river(A)")]
    pat = parse("answer(A,(river(A),loc(A,B)))")
    assert complete(pat, vocab) == [pat]
    assert complete(ANY, vocab) == []
    got = complete(parse("answer(A,const(A,stateid(texas)))"), vocab)
    assert got == [parse("answer(A,const(A,stateid(texas)))")]
    # wildcard arguments: the set's variables or fresh ones, at the training arity
    pat = Term("answer", (parse("A"), Seq((Term("river", (ANY, ANY, ANY)),
                                           Term("loc", (parse("A"), ANY))), (), True)))
    got = {str(x) for x in complete(pat, vocab)}
    assert got == {str(parse(t)) for t in ["answer(A,(river(A),loc(A,A)))",
                                           "answer(A,(river(A),loc(A,B)))",
                                           "answer(A,(river(B),loc(A,A)))",
                                           "answer(A,(river(B),loc(A,B)))",
                                           "answer(A,(river(B),loc(A,C)))"]}


def test_time_limit_and_errors(trained):
    model, _, vocab = trained
    r = parse_sets(model, "what rivers are in ohio".split(), vocabulary=vocab, time_limit=0.0)
    assert r.timed_out and r.parses == ()
    with pytest.raises(ValueError, match="k"):
        parse_sets(model, ["what"], k=0)
    with pytest.raises(ValueError, match="tokens"):
        parse_sets(model, [])
