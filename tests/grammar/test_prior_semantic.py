"""The semantic prior: observations per variable and constant, type/scope checks, beliefs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from grammar.grammar import DATA_DIR, read_examples
from grammar.logic import parse
from grammar.logic_types import read_ontology
from grammar.prior import SemanticPrior, UniformPrior, constant_observations, edge_observations

GEO = DATA_DIR / "geoquery"


def test_observations_of_a_logical_form():
    lf = parse("answer(A,(river(A),loc(A,B),const(B,stateid(texas))))")
    assert edge_observations(lf) == [
        (("<start>", "<start>"), "answer/0"), (("answer/0", "<start>"), "river/0"),
        (("river/0", "answer/0"), "loc/0"), (("loc/0", "river/0"), "<end>"),
        (("<start>", "<start>"), "loc/1"), (("loc/1", "<start>"), "<end>")]
    assert constant_observations(lf) == [(("stateid",), "texas")]


@pytest.fixture(scope="module")
def prior():
    lfs = [e.lf for e in read_examples(GEO / "geoqueries880_train")[:150]]
    beliefs = [parse("stateid(vermont)"), parse("stateid(texas)")]
    return SemanticPrior.train(lfs, np.random.default_rng(0), beliefs=beliefs,
                               ontology=read_ontology(GEO / "geoqueries880_types"),
                               burn_in=1, iterations=4, skip=2)


def test_checks_and_preferences(prior):
    good = parse("answer(A,(river(A),loc(A,B),const(B,stateid(texas))))")
    assert -30 < prior.log_prob(good) < 0
    assert prior.log_prob(parse("answer(A,(river(A),loc(A,B),const(B,riverid(texas))))")) \
        == -math.inf  # ill-typed: loc's second argument is not a river
    assert prior.log_prob(parse("answer(A,river(B))")) == -math.inf  # A unbound
    # a seen structure beats the same constants in an unseen arrangement
    odd = parse("answer(A,(loc(A,B),river(A),loc(B,A),const(B,stateid(texas))))")
    assert prior.log_prob(good) > prior.log_prob(odd)
    # knowledge-base beliefs make a constant that no training LF mentions likelier
    vt = parse("answer(A,(river(A),loc(A,B),const(B,stateid(vermont))))")
    zz = parse("answer(A,(river(A),loc(A,B),const(B,stateid(zzyzx))))")
    assert prior.log_prob(vt) > prior.log_prob(zz) + 1.0
    assert prior.bound([good, odd, vt]) == pytest.approx(prior.log_prob(good), abs=1e-12)
    assert UniformPrior().log_prob(good) == 0.0


def test_bad_arguments():
    with pytest.raises(ValueError, match="lfs"):
        SemanticPrior.train([], np.random.default_rng(0))
    with pytest.raises(ValueError, match="burn_in"):
        SemanticPrior.train([parse("answer(A,river(A))")], np.random.default_rng(0), skip=0)
