"""MH block resampling of derivations leaves the posterior invariant (statistical test on a toy).

Two copies of the same ambiguous (sentence, LF) pair; level-0 concentrations of 1e7 make every
root DP of a keyed HDP its base distribution (and ``N`` has no features: one DP), so the sequential
(collapsed) probability of a set of derivations is the exact Polya-urn marginal, independent of
the seating (up to ~1e-6). ``N`` appears twice in some derivations, so the factorised chart
proposal differs from the exact conditional and the MH correction matters (some rejections).
The exact joint posterior over the 8 x 8 derivation pairs is enumerated, and the MH chain's
visit frequencies are compared with it.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from grammar import chart, train
from grammar.derivation import GrammarModel, add_derivation, derivation_tree
from grammar.grammar import Example, parse_grammar
from grammar.logic import parse

GRAM = """
S nonterminal {first_predicate} {1e7, 2.0} {1.0, 1.0} {} 10 1.0 {}
S -> WHAT:null N:select_left_delete_answer VP:delete_left_answer
S -> WHAT:null NP:delete_answer
NP nonterminal {first_predicate} {1e7, 2.0} {1.0, 1.0} {} 10 1.0 {}
NP -> N:select_left VP:delete_left
VP nonterminal {first_predicate} {1e7, 2.0} {1.0, 1.0} {} 10 1.0 {}
VP -> ARE:null P:select_left NPC:delete_left_head
VP -> N:select_left NPC:delete_left_head
NPC nonterminal {first_predicate} {1e7, 1.0} {1.0, 1.0} {} 10 1.0 {}
NPC -> C:head_arg1_select_arg2_only,select_arg1
WHAT preterminal {} {1e7} {1.0} {} 10 1.0 {}
WHAT -> "what"
ARE preterminal {} {1e7} {1.0} {} 10 1.0 {}
ARE -> "are"
P preterminal {predicate_only} {1e7, 1.0} {1.0, 1.0} {} 10 1.0 {}
P -> "in"
N preterminal {} {1.5} {1.0} {} 4 0.7 {}
C preterminal {constant} {1e7, 1.5} {1.0, 1.0} {} 4 0.7 {}
"""
TOKS = tuple("what rivers are in texas".split())
LF = parse("answer(A,(river(A),loc(A,B),const(B,stateid(texas))))")


def _sig(t) -> tuple:
    return tuple((s.nonterminal, s.atom) for s in t.labels)


def test_mh_leaves_the_joint_posterior_invariant():
    g = parse_grammar(GRAM)
    trees = [derivation_tree(d) for _, d in
             chart.enumerate_derivations(GrammarModel(g), TOKS, LF)]
    assert len(trees) == 8
    rng = np.random.default_rng(0)
    exact = {}
    for a in trees:
        for b in trees:
            m = GrammarModel(g)
            exact[(_sig(a), _sig(b))] = add_derivation(m, a, rng)[1] + add_derivation(m, b, rng)[1]
    keys = list(exact)
    lp = np.array([exact[k] for k in keys])
    p = np.exp(lp - np.logaddexp.reduce(lp))
    # the joint is not the product of its marginals: the pairs interact through the counts
    p1 = p.reshape(8, 8).sum(1)
    assert np.abs(p.reshape(8, 8) - np.outer(p1, p1)).sum() > 0.05

    model = GrammarModel(g)
    state = train.init(model, [Example(TOKS, LF, 0)] * 2, rng)
    counts: Counter = Counter()
    n, accepted = 1500, 0
    for _ in range(n):
        info = train.step(state, rng, gibbs=False)
        accepted += info.accepted
        counts[(_sig(state.trees[0]), _sig(state.trees[1]))] += 1
    freq = np.array([counts[k] for k in keys]) / n
    # total variation between the chain's visits and the exact joint; the chain's standard error
    # on this statistic is ~0.03 (near-independent proposals), the bound is several times that

    assert 0.5 * np.abs(freq - p).sum() < 0.08
    assert 0 < accepted < 2 * n
