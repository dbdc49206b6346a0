"""Leaf lexicon, argument kinds and the per-cell cap of the set search (grammar.parse_leaves,
grammar.parse_complete, grammar.parse_sets) on the tiny domain and hand-made LFs."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from test_parser_sets import _brute
from test_parser_tiny import TINY, _examples

from grammar import chart, train
from grammar.derivation import GrammarModel
from grammar.grammar import LexiconItem, read_grammar
from grammar.logic import Term, Var, parse, walk
from grammar.parse_complete import Vocabulary, complete
from grammar.parse_leaves import LeafLexicon
from grammar.parse_sets import parse_sets
from grammar.prior import SemanticPrior
from grammar.transforms_sets import ANY, Seq


@pytest.fixture(scope="module")
def tiny():
    rng = np.random.default_rng(0)
    model = GrammarModel(read_grammar(TINY))
    state = train.init(model, _examples(), rng)
    train.run(state, rng, 2)
    prior = SemanticPrior.train([e.lf for e in _examples()], rng, burn_in=1, iterations=2,
                                skip=1)
    return model, state, prior, Vocabulary([e.lf for e in _examples()])


def test_leaf_lexicon_holds_the_training_leaves_of_featured_preterminals(tiny):
    model, state, _, _ = tiny
    lex = LeafLexicon.from_training(model, state.trees)
    want: dict = {}
    for t in state.trees:
        for s in t.labels:
            if model.kind(s.nonterminal) == "preterminal" and \
                    model.grammar.nonterminals[s.nonterminal].features:
                want.setdefault(s.nonterminal, set()).add(s.lf)
    assert want and {b: set(xs) for b, xs in lex.lfs.items()} == want
    assert "WHAT" not in lex.lfs and {"N", "C"} <= set(lex.lfs)
    extra = LeafLexicon.from_training(
        model, state.trees, [LexiconItem("N", ("x",), parse("zzz(A)"), 1),
                             LexiconItem("C", ("x",), parse("wyoming"), 2)])
    assert set(extra.lfs["N"]) - set(lex.lfs["N"]) == {parse("zzz(A)")}
    assert parse("wyoming") in extra.lfs["C"]
    with pytest.raises(ValueError, match="beam"):
        LeafLexicon({}, beam=-1.0)


def test_segmentation_beam():
    lex = LeafLexicon({"N": [parse("a(A)")]}, beam=6.0)

    class M:  # the two calls prune makes of a model
        grammar = type("G", (), {"nonterminals": {
            "N": type("NT", (), {"features": ("predicate",)})(),
            "W": type("NT", (), {"features": ()})()}})()

        @staticmethod
        def kind(b):
            return "preterminal"

    x = parse("a(A)")
    items = [("N", 0, 1, x, -0.5), ("N", 1, 2, x, -0.5), ("N", 0, 2, x, -20.0),
             ("N", 0, 2, parse("b(A)"), -6.5), ("N", 0, 1, parse("c(A)"), -7.0),
             ("W", 0, 2, ANY, -30.0)]
    kept = lex.prune(M, items, 2)
    # (0,2) is explained at -1.0 by two leaves: -20 is dropped, -6.5 kept (within 6 nats);
    # c(A) at -7.0 is 6.5 nats below the best leaf of (0,1); featureless leaves always stay
    assert kept == [items[0], items[1], items[3], items[5]]


def test_leaf_search_scores_are_exact_and_the_best_is_brute_force(tiny):
    model, state, prior, vocab = tiny
    lex = LeafLexicon.from_training(model, state.trees, beam=math.inf)
    for sentence in ("what rivers are in ohio", "what cities cross utah"):
        toks = sentence.split()
        brute = _brute(model, prior, toks)
        r = parse_sets(model, toks, vocabulary=vocab, log_prior=prior.log_prob,
                       prior_bound=prior.set_bound, k=3, leaves=lex)
        assert r.best.lf is brute[0][1]
        exact = dict((x, s) for s, x in brute)
        for p in r.parses:  # every parse carries its exact score
            np.testing.assert_allclose(p.score, exact[p.lf], rtol=1e-9)
            ll, _ = chart.viterbi(model, toks, p.lf)
            np.testing.assert_allclose(p.log_likelihood, ll, rtol=1e-9)
        assert [p.score for p in r.parses] == sorted((p.score for p in r.parses), reverse=True)


def test_cell_cap(tiny):
    model, _, prior, vocab = tiny
    toks = "what lakes are in texas".split()
    full = parse_sets(model, toks, vocabulary=vocab, log_prior=prior.log_prob, k=2)
    big = parse_sets(model, toks, vocabulary=vocab, log_prior=prior.log_prob, k=2,
                     max_cell_items=10**6)
    assert [p.lf for p in big.parses] == [p.lf for p in full.parses]
    small = parse_sets(model, toks, vocabulary=vocab, log_prior=prior.log_prob, k=2,
                       max_cell_items=2)
    assert small.n_items < full.n_items


def test_argument_kinds_in_completion():
    train_lfs = [parse("answer(A,(population(B,A),const(B,cityid(austin,_))))"),
                 parse("answer(A,(state(A),next_to(A,B),const(B,stateid(texas))))")]
    vocab = Vocabulary(train_lfs)
    assert vocab.kinds[("cityid", 2, 1)] == {"_"}
    assert vocab.kinds[("const", 2, 1)] == {"const:cityid", "const:stateid"}
    pat = Term("answer", (parse("A"), Seq((parse("population(B,A)"),
                                           Term("const", (parse("B"), Term(
                                               "cityid", (parse("houston"), ANY))))), (), True)))
    assert complete(pat, vocab) == [parse(
        "answer(A,(population(B,A),const(B,cityid(houston,_))))")]
    loose = Vocabulary(train_lfs, argument_kinds=False)
    got = complete(pat, loose)
    assert parse("answer(A,(population(B,A),const(B,cityid(houston,B))))") in got
    assert len(got) > 1
    assert not vocab.valid(parse("answer(A,(loc(B,A),const(B,const(portland,B))))"))
    assert vocab.valid(train_lfs[0]) and vocab.valid(train_lfs[1])
    assert not vocab.possible(Term("const", (parse("A"), parse("state(A)"), ANY)))
    assert vocab.possible(Term("const", (parse("A"), ANY, ANY)))
    assert vocab.possible(Term("cityid", (parse("boston"), ANY, ANY)))
    assert not vocab.possible(Term("cityid", (parse("boston"), parse("B"))))


def test_connected_completion_drops_variables_that_occur_once():
    train_lfs = [parse("answer(A,(state(A),next_to(A,B),const(B,stateid(texas))))")]
    pat = Term("answer", (parse("A"), Seq((parse("state(A)"), Term("next_to", (ANY, ANY)),
                                           parse("const(B,stateid(texas))")), (), True)))
    loose = {str(x) for x in complete(pat, Vocabulary(train_lfs))}
    tight = {str(x) for x in complete(pat, Vocabulary(train_lfs, connected=True))}
    dangling = str(parse("answer(A,(state(A),next_to(A,B),const(C,stateid(texas))))"))
    assert dangling in loose and dangling not in tight
    assert tight < loose and str(train_lfs[0]) in tight
    for x in complete(pat, Vocabulary(train_lfs, connected=True)):
        counts = Counter(y for y in walk(x) if isinstance(y, Var))
        assert min(counts.values()) >= 2  # every variable connects two places
    # a training LF with a singleton variable switches the filter off
    odd = Vocabulary(train_lfs + [parse("answer(A,(state(A),loc(A,B)))")], connected=True)
    assert {str(x) for x in complete(pat, odd)} == loose


def test_completion_stops_at_its_deadline():
    # with the connected filter most fillings are rejected, so only the deadline bounds the
    # enumeration of a large pattern (the set search passes its time limit)
    import time

    train_lfs = [parse("answer(A,(state(A),next_to(A,B),const(B,stateid(texas))))")]
    free = Term("next_to", (ANY, ANY))
    pat = Term("answer", (parse("A"), Seq((parse("state(A)"), free, free, free,
                                           parse("const(B,stateid(texas))")), (), True)))
    vocab = Vocabulary(train_lfs, connected=True)
    full = complete(pat, vocab, limit=10**6)
    assert len(full) > 300
    assert complete(pat, vocab, limit=10**6, deadline=time.perf_counter() + 600) == full
    cut = complete(pat, vocab, limit=10**6, deadline=time.perf_counter() - 1.0)
    assert 0 < len(cut) < len(full) and set(cut) <= set(full)
