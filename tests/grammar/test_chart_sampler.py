"""The chart sampler and Viterbi on a tiny hand-made grammar, against brute-force enumeration."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from grammar import chart
from grammar.derivation import (
    GrammarModel,
    add_derivation,
    derivation_sentence,
    derivation_tree,
    log_prob,
    remove_derivation,
)
from grammar.grammar import read_grammar
from grammar.logic import parse
from probtree import Tree

TINY = Path(__file__).parent / "data" / "tiny.gram"
TEXAS = parse("answer(A,(river(A),loc(A,B),const(B,stateid(texas))))")
OHIO = parse("answer(A,(river(A),traverse(A,B),const(B,stateid(ohio))))")


def _signature(nested) -> tuple:
    step, kids = nested
    return (step.nonterminal, step.lf, step.atom, tuple(_signature(k) for k in kids))


def _tree_signature(t: Tree, i: int | None = None) -> tuple:
    i = t.root if i is None else i
    s = t.labels[i]
    return (s.nonterminal, s.lf, s.atom, tuple(_tree_signature(t, k) for k in t.children_of(i)))


@pytest.fixture
def model():
    m = GrammarModel(read_grammar(TINY))
    rng = np.random.default_rng(3)
    for _ in range(2):  # some counts, so the HDP predictives are not just the base
        add_derivation(m, chart.sample(m, "what rivers cross ohio".split(), OHIO, rng), rng)
    return m


def test_inside_and_viterbi_match_enumeration(model):
    toks = "what rivers are in texas".split()
    brute = chart.enumerate_derivations(model, toks, TEXAS)
    assert len(brute) == 8
    lps = np.array([lp for lp, _ in brute])
    np.testing.assert_allclose(chart.log_marginal(model, toks, TEXAS),
                               np.logaddexp.reduce(lps), rtol=1e-12)
    best, tree = chart.viterbi(model, toks, TEXAS)
    np.testing.assert_allclose(best, lps.max(), rtol=1e-12)
    np.testing.assert_allclose(log_prob(model, tree), best, rtol=1e-12)
    assert derivation_sentence(tree) == tuple(toks)


def test_sampler_distribution_matches_enumeration(model):
    """Chi-square goodness of fit of 3000 draws against the enumerated posterior p(t | y, x);
    fixed seed, false-failure probability 1e-3 under a correct sampler."""
    toks = "what rivers are in texas".split()
    brute = chart.enumerate_derivations(model, toks, TEXAS)
    sigs = [_signature(d) for _, d in brute]
    assert len(set(sigs)) == len(sigs)
    lps = np.array([lp for lp, _ in brute])
    p = np.exp(lps - np.logaddexp.reduce(lps))
    ch = chart.Chart(model, toks, mode="sum")
    rng = np.random.default_rng(0)
    n = 3000
    counts = Counter(_signature(ch.build(model.start, TEXAS, 0, len(toks), rng))
                     for _ in range(n))
    assert set(counts) <= set(sigs)
    obs = np.array([counts[s] for s in sigs])
    keep = p * n >= 5
    f_obs = np.append(obs[keep], obs[~keep].sum())
    f_exp = np.append(p[keep] * n, p[~keep].sum() * n)
    if f_exp[-1] == 0:
        f_obs, f_exp = f_obs[:-1], f_exp[:-1]
    assert stats.chisquare(f_obs, f_exp).pvalue > 1e-3


def test_sample_returns_core_tree_and_none_when_underivable(model):
    rng = np.random.default_rng(1)
    t = chart.sample(model, "what rivers are in texas".split(), TEXAS, rng)
    assert isinstance(t, Tree) and t.n_nodes == len(t.labels)
    assert derivation_sentence(t) == tuple("what rivers are in texas".split())
    assert chart.sample(model, "texas what".split(), TEXAS, rng) is None
    assert chart.log_marginal(model, "texas what".split(), TEXAS) == -math.inf


def test_add_remove_restores_predictives(model):
    rng = np.random.default_rng(2)
    toks = "what rivers are in texas".split()
    before = chart.log_marginal(model, toks, TEXAS)
    t = chart.sample(model, toks, TEXAS, rng)
    obs, lp = add_derivation(model, t, rng)
    assert lp < 0 and chart.log_marginal(model, toks, TEXAS) > before
    remove_derivation(model, obs)
    np.testing.assert_allclose(chart.log_marginal(model, toks, TEXAS), before, rtol=1e-12)
    assert derivation_tree(_nested(t)).n_nodes == t.n_nodes


def _nested(t: Tree, i: int | None = None):
    i = t.root if i is None else i
    return (t.labels[i], [_nested(t, k) for k in t.children_of(i)])


def test_bad_arguments(model):
    with pytest.raises(ValueError, match="mode"):
        chart.Chart(model, ["what"], mode="avg")
    with pytest.raises(ValueError, match="tokens"):
        chart.Chart(model, [])
    with pytest.raises(ValueError, match="start"):
        GrammarModel(read_grammar(TINY), start="NOPE")


def test_geoquery_pairs_with_heads_not_first_are_derivable():
    """Children keep the transformation functions' head-variable naming (renaming them in
    first-occurrence order lost these two training pairs)."""
    from grammar.grammar import DATA_DIR, read_examples

    m = GrammarModel(read_grammar())
    ex = read_examples(DATA_DIR / "geoquery" / "geoqueries880_train")
    hard = [e for e in ex if " ".join(e.tokens) in (
        "what are the states through which the longest river runs ?",
        "what is the smallest state through which the longest river runs ?")]
    assert len(hard) == 2
    for e in hard + ex[:5]:
        assert chart.log_marginal(m, e.tokens, e.lf) > -math.inf
