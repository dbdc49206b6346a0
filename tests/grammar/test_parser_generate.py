"""Generation (k-best search and top-down sampling) against enumeration on the tiny grammar."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from grammar import generate, train
from grammar.derivation import GrammarModel, derivation_sentence
from grammar.grammar import Example, read_grammar
from grammar.logic import parse

TINY = Path(__file__).parent / "data" / "tiny.gram"
LF = parse("answer(A,(city(A),traverse(A,B),const(B,stateid(utah))))")


@pytest.fixture(scope="module")
def model():
    rng = np.random.default_rng(0)
    m = GrammarModel(read_grammar(TINY))
    pairs = [("what rivers are in texas", "river", "loc", "texas"),
             ("what cities cross utah", "city", "traverse", "utah"),
             ("what rivers cross ohio", "river", "traverse", "ohio")]
    ex = [Example(tuple(s.split()),
                  parse(f"answer(A,({n}(A),{r}(A,B),const(B,stateid({c}))))"), 0)
          for s, n, r, c in pairs]
    train.run(train.init(m, ex, rng), rng, 1)
    return m


def _all(m, name, x):
    """Every (log p, tokens) completion of a node, by enumeration."""
    out = []
    for lp, atom, kids in generate.options(m, name, x):
        if not kids:
            out.append((lp, tuple(atom)))
            continue
        partial = [(lp, ())]
        for b, c in kids:
            partial = [(p + q, w + v) for p, w in partial for q, v in _all(m, b, c)]
        out.extend(partial)
    return out


def test_kbest_matches_enumeration(model):
    best: dict = {}
    total: dict = {}
    for lp, w in _all(model, model.start, LF):
        best[w] = max(best.get(w, -np.inf), lp)
        total[w] = np.logaddexp(total.get(w, -np.inf), lp)
    want = sorted(best.items(), key=lambda p: -p[1])[:4]
    got = generate.k_best(model, LF, 4)
    np.testing.assert_allclose([s for s, _ in got], [s for _, s in want], rtol=1e-10)
    assert got[0][1] == want[0][0] == ("what", "cities", "cross", "utah")
    np.testing.assert_allclose(np.logaddexp.reduce(list(total.values())), 0.0, atol=1e-9)


def test_sampling_matches_enumeration(model):
    """Chi-square of 1000 sampled sentences against the enumerated sentence distribution
    (false-failure probability 1e-3)."""
    total: dict = {}
    for lp, w in _all(model, model.start, LF):
        total[w] = np.logaddexp(total.get(w, -np.inf), lp)
    rng = np.random.default_rng(5)
    n = 1000
    counts = Counter(derivation_sentence(generate.sample_sentence(model, LF, rng))
                     for _ in range(n))
    words = sorted(total, key=lambda w: -total[w])
    p = np.exp([total[w] for w in words])
    keep = p * n >= 5
    f_obs = [counts[w] for w, k in zip(words, keep, strict=True) if k]
    f_exp = list(p[keep] * n)
    f_obs.append(n - sum(f_obs))
    f_exp.append(n - sum(f_exp))
    assert stats.chisquare(f_obs, f_exp).pvalue > 1e-3
    with pytest.raises(ValueError, match="k"):
        generate.k_best(model, LF, 0)
