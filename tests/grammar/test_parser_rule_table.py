"""Batched rule tables (grammar.rule_table) agree with the seating-walk predictives."""

from __future__ import annotations

import numpy as np
import pytest
from test_parser_tiny import DOMAIN, train_tiny

from grammar import chart
from grammar import parse as parsing
from grammar.rule_table import RuleTable


@pytest.fixture(scope="module")
def model():
    return train_tiny(1, with_prior=False)[0]


@pytest.mark.parametrize(("backend", "rtol", "atol"), [("numpy", 1e-10, 1e-12),
                                                     ("jax", 2e-5, 1e-6)])
def test_table_equals_model_log_rule(model, backend, rtol, atol):
    table = RuleTable(model, backend=backend)
    toks = "what rivers are in ohio".split()
    got, want = [], []
    for x in DOMAIN:
        ch = chart.Chart(model, toks, mode="max")
        ch.inside(model.start, x, 0, len(toks))
        for a in model.states:
            for atom in list(model.states[a].atoms)[:6] + [("zzz",)]:
                lr = model.log_rule(a, x, atom)
                if np.isfinite(lr):
                    want.append(lr)
                    got.append(table.log_rule(a, x, atom))
    assert len(got) > 50
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    a = model.start
    atoms = [atom for atom, _ in model.rules[a]]
    np.testing.assert_allclose(table.log_rules(a, DOMAIN[0], atoms),
                               [model.log_rule(a, DOMAIN[0], t) for t in atoms], rtol=rtol,
                               atol=atol)


def test_parse_with_table_gives_the_same_parses(model):
    table = RuleTable(model, backend="numpy")
    for s in ["what rivers are in ohio", "what lakes cross utah"]:
        a = parsing.parse(model, s.split(), DOMAIN, k=2)
        b = parsing.parse(table, s.split(), DOMAIN, k=2)
        assert [p.lf for p in a.parses] == [p.lf for p in b.parses]
        np.testing.assert_allclose([p.score for p in a.parses], [p.score for p in b.parses],
                                   rtol=1e-10)


def test_bad_backend(model):
    with pytest.raises(ValueError, match="backend"):
        RuleTable(model, backend="torch")
