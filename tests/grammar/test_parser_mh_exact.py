"""MH block resampling started from the exact posterior stays at the exact posterior.

Toy: two copies of the pair (``a a``, x) under ``S -> X X | Y`` with single-DP (feature-free)
rule distributions of small concentration, so each copy has two derivations (``X`` emitting
``a`` twice, or ``Y`` emitting ``a a``) and the sequential (Polya-urn) probability of the ``X X``
derivation, ``p(a) p(a | a)``, is far from the factorised ``p(a)^2`` the chart sampler proposes
from: the MH correction matters. Every rule distribution is one DP, so the sequential
probabilities are exact and the posterior over the 4 derivation pairs is enumerated exactly.

``R`` independent replicates each draw their starting pair from the exact posterior, seat it in a
fresh model and run ``S`` MH sweeps (no Gibbs, which does not move the derivations). If the
kernel leaves the posterior invariant, the final pairs are again exact posterior draws, so a
chi-square goodness-of-fit test of the final pair counts against the enumerated posterior must
not reject at ``ALPHA``. The same test with the acceptance ratio broken inside the test (the
exact sequential probabilities replaced by the factorised ones, so every proposal is accepted)
must reject: the test has power against a wrong ratio.

False-failure budget: ``ALPHA = 1e-3`` per run (the seeds are fixed, so the run is
deterministic; the budget is what a fresh seed would risk).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from grammar import chart, train
from grammar.derivation import GrammarModel, add_derivation, derivation_tree, log_prob
from grammar.grammar import Example, parse_grammar
from grammar.logic import parse

GRAM = """
S nonterminal {} {1.0} {1.0} {} 10 1.0 {}
S -> X:identity X:identity
S -> Y:identity
X preterminal {} {0.1} {1.0} {} 2 0.5 {}
Y preterminal {} {10.0} {1.0} {} 1 0.5 {}
"""
TOKS = ("a", "a")
LF = parse("answer(A,river(A))")

ALPHA = 1e-3
R, S = 1000, 3


def _sig(t) -> tuple:
    return tuple((s.nonterminal, s.atom) for s in t.labels)


def _exact_posterior(g):
    trees = [derivation_tree(d) for _, d in
             chart.enumerate_derivations(GrammarModel(g), TOKS, LF)]
    rng = np.random.default_rng(0)
    lp = np.empty((len(trees), len(trees)))
    for a, ta in enumerate(trees):
        for b, tb in enumerate(trees):
            m = GrammarModel(g)
            lp[a, b] = add_derivation(m, ta, rng)[1] + add_derivation(m, tb, rng)[1]
    p = np.exp(lp - np.logaddexp.reduce(lp.ravel()))
    return trees, p


def _final_pairs(g, trees, p, seed):
    rng = np.random.default_rng(seed)
    index = {_sig(t): i for i, t in enumerate(trees)}
    n = len(trees)
    starts = rng.choice(n * n, size=R, p=p.ravel())
    out = np.empty(R, dtype=int)
    for r, s in enumerate(starts):
        pair = [trees[s // n], trees[s % n]]
        model = GrammarModel(g)
        obs = [add_derivation(model, t, rng)[0] for t in pair]
        state = train.TrainState(model, [Example(TOKS, LF, 0)] * 2, pair, obs)
        for _ in range(S):
            train.step(state, rng, gibbs=False)
        out[r] = n * index[_sig(state.trees[0])] + index[_sig(state.trees[1])]
    return out


def _pvalue(counts, expected):
    """Chi-square p-value, bins with expected count < 5 merged into one."""
    small = expected < 5
    obs = np.append(counts[~small], counts[small].sum())
    exp = np.append(expected[~small], expected[small].sum())
    if exp[-1] == 0:
        obs, exp = obs[:-1], exp[:-1]
    return stats.chisquare(obs, exp).pvalue


@pytest.fixture(scope="module")
def toy():
    g = parse_grammar(GRAM)
    trees, p = _exact_posterior(g)
    return g, trees, p


def test_mh_from_the_exact_posterior_stays_there(toy):
    g, trees, p = toy
    assert len(trees) == 2
    # the pairs interact through the counts: the joint is not the product of its marginals
    assert np.abs(p - np.outer(p.sum(1), p.sum(0))).sum() > 0.1
    final = _final_pairs(g, trees, p, seed=1)
    counts = np.bincount(final, minlength=p.size)
    assert _pvalue(counts, R * p.ravel()) > ALPHA


def test_broken_acceptance_ratio_is_detected(toy, monkeypatch):
    g, trees, p = toy
    # the mutation: the exact sequential probabilities replaced by the factorised ones (under
    # the other derivations' counts), so the MH ratio is 1 and every proposal is accepted;
    # the chain is then the factorised-conditional Gibbs sampler, whose distribution after S
    # sweeps is 0.12 (total variation) away from the posterior on this toy

    def factorised_add(m, t, rng):
        lp = log_prob(m, t)
        return add_derivation(m, t, rng)[0], lp

    monkeypatch.setattr(train, "_exact", lambda m, t, rng: log_prob(m, t))
    monkeypatch.setattr(train, "add_derivation", factorised_add)
    final = _final_pairs(g, trees, p, seed=1)
    counts = np.bincount(final, minlength=p.size)
    assert _pvalue(counts, R * p.ravel()) < ALPHA

