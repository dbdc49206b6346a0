"""The parser (bounds + best-first over candidate LFs) against brute force on a tiny domain."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest

from grammar import chart, train
from grammar import parse as parsing
from grammar.derivation import GrammarModel
from grammar.grammar import Example, read_grammar
from grammar.logic import parse
from grammar.logic_canonical import equivalent
from grammar.prior import SemanticPrior, UniformPrior

TINY = Path(__file__).parent / "data" / "tiny.gram"
NOUNS, RELS, STATES = ("river", "city", "lake"), ("loc", "traverse"), ("texas", "ohio", "utah")
DOMAIN = [parse(f"answer(A,({n}(A),{r}(A,B),const(B,stateid({s}))))")
          for n, r, s in itertools.product(NOUNS, RELS, STATES)]
TRAIN = [("what rivers are in texas", "river", "loc", "texas"),
         ("what cities are in ohio", "city", "loc", "ohio"),
         ("what rivers cross ohio", "river", "traverse", "ohio"),
         ("what lakes are in utah", "lake", "loc", "utah"),
         ("what rivers cross texas", "river", "traverse", "texas")]


def _examples():
    return [Example(tuple(s.split()), parse(f"answer(A,({n}(A),{r}(A,B),const(B,stateid({c}))))"),
                    0) for s, n, r, c in TRAIN]


def train_tiny(iterations: int = 2, *, with_prior: bool = True):
    """The tiny grammar trained on ``TRAIN`` (seed 0), and its semantic prior (or None)."""
    rng = np.random.default_rng(0)
    model = GrammarModel(read_grammar(TINY))
    state = train.init(model, _examples(), rng)
    train.run(state, rng, iterations)
    if not with_prior:
        return model, None
    prior = SemanticPrior.train([e.lf for e in _examples()], rng, burn_in=1, iterations=2,
                                skip=1)
    return model, prior


@pytest.fixture(scope="module")
def trained():
    return train_tiny()


def _brute(model, prior, toks):
    """Every (score, LF) over the domain and all derivations, by enumeration."""
    out = []
    for x in DOMAIN:
        ds = chart.enumerate_derivations(model, toks, x)
        if ds:
            out.append((prior.log_prob(x) + max(lp for lp, _ in ds), x))
    return sorted(out, key=lambda p: -p[0])


@pytest.mark.parametrize("sentence", ["what rivers are in ohio", "what cities cross utah",
                                      "what lakes are in texas", "what rivers are in utah"])
def test_argmax_and_kbest_equal_brute_force(trained, sentence):
    model, prior = trained
    toks = sentence.split()
    brute = _brute(model, prior, toks)
    r = parsing.parse(model, toks, DOMAIN, log_prior=prior.log_prob, k=3)
    got = [p.score for p in r.parses]
    np.testing.assert_allclose(got, [s for s, _ in brute[:3]], rtol=1e-10)
    assert r.best.lf == brute[0][1]
    assert r.root_bound >= max(s - prior.log_prob(x) for s, x in brute) - 1e-9
    assert not r.timed_out and r.n_scored <= r.n_candidates == len(DOMAIN)


def test_learned_lexicon_gives_the_right_parse(trained):
    model, prior = trained
    r = parsing.parse(model, "what cities are in texas".split(), DOMAIN, log_prior=prior.log_prob)
    assert equivalent(r.best.lf, parse("answer(A,(city(A),loc(A,B),const(B,stateid(texas))))"))
    assert r.unknown_words == ()
    r = parsing.parse(model, "what towns are in texas".split(), DOMAIN)
    assert r.unknown_words == ("towns",)


def test_bounds_are_admissible_on_every_span(trained):
    model, _ = trained
    toks = "what rivers cross ohio".split()
    b = parsing.sentence_bounds(model, toks)
    for x in DOMAIN:
        ch = chart.Chart(model, toks, mode="max")
        ch.inside(model.start, x, 0, len(toks))
        for key, v in ch.memo.items():
            if key[0] != "split" and v > -math.inf:
                a, _, i, j = key
                assert b[(a, i, j)] >= v - 1e-9


def test_candidate_space_swaps_constants(trained):
    model, _ = trained
    space = parsing.CandidateSpace(model, [e.lf for e in _examples()])
    assert "ohio" in space.mentions("what lakes are in ohio".split())
    cands = space("what lakes are in ohio".split())
    want = parse("answer(A,(lake(A),loc(A,B),const(B,stateid(ohio))))")
    assert any(equivalent(c, want) for c in cands)
    assert all("texas" not in str(c) for c in cands)


def test_time_limit_and_errors(trained):
    model, _ = trained
    r = parsing.parse(model, "what rivers are in ohio".split(), DOMAIN, time_limit=0.0)
    assert r.timed_out and r.parses == ()
    with pytest.raises(ValueError, match="k"):
        parsing.parse(model, ["what"], DOMAIN, k=0)
    with pytest.raises(ValueError, match="tokens"):
        parsing.parse(model, [], DOMAIN)
    assert UniformPrior().log_prob(parse("answer(A,river(B))")) == -math.inf


@pytest.mark.parametrize("depth", [0, 1, 2, 4])
def test_lf_bounds_are_admissible_and_search_depth_invariant(trained, depth):
    model, prior = trained
    toks = "what lakes cross ohio".split()
    bounds = parsing.sentence_bounds(model, toks)
    lfb = parsing._LFBound(model, toks, bounds, 4)
    for x in DOMAIN:
        v, _ = chart.viterbi(model, toks, x)
        assert lfb(model.start, x, 0, len(toks), depth) >= v - 1e-9
    r = parsing.parse(model, toks, DOMAIN, log_prior=prior.log_prob, k=2, depth=depth)
    np.testing.assert_allclose([p.score for p in r.parses],
                               [s for s, _ in _brute(model, prior, toks)[:2]], rtol=1e-10)


def test_evaluation_figures():
    from grammar.evaluate import summarise

    gold = [parse("answer(A,(river(A),loc(A,B)))"), parse("answer(A,city(A))"),
            parse("answer(A,lake(A))")]
    pred = [parse("answer(B,(loc(B,C),river(B)))"), None, parse("answer(A,city(A))")]
    res = summarise(pred, gold, [1.0, 3.0, 2.0], extra_failures=1)
    assert (res["n"], res["answered"], res["correct"]) == (3, 2, 1)
    np.testing.assert_allclose([res["accuracy"], res["precision"], res["recall"],
                                res["recall_with_remaining"], res["median_seconds"]],
                               [1 / 3, 1 / 2, 1 / 3, 1 / 4, 2.0], rtol=1e-12)
    with pytest.raises(ValueError, match="predicted"):
        summarise(pred[:2], gold)
