"""Feature functions: documented values, and set values that cover every member's value."""

import pytest

from grammar.features import EMPTY, FEATURES, Wildcard, feature, features
from grammar.grammar import DATA_DIR, read_examples, read_grammar
from grammar.logic import Empty, parse
from grammar.transforms import TRANSFORMS, normalize
from grammar.transforms_sets import ANY, AnyFunction, Seq, contains

W = Wildcard()

# (feature, LF, value): the values the official get_feature gives on the same inputs
CASES = [
    ("function", "largest(A,(state(A),area(A,B)))", "largest"),
    ("function", "(city(A),loc(A,B))", EMPTY),
    ("function", "\\+ river(A)", "not"),
    ("function_only", "highest(A,())", "highest"),
    ("function_only", "largest(A,state(A))", None),
    ("function_answer", "answer(A,count(B,state(B),A))", "count"),
    ("function_answer", "(city(A),loc(A,B))", None),
    ("has_function", "count(B,state(B),A)", "true"),
    ("has_function_not", "\\+ river(A)", "not"),
    ("has_function_not", "largest(A,state(A))", "true"),
    ("has_function_count_not", "count(B,state(B),A)", "count"),
    ("has_function_answer", "answer(A,(city(A),loc(A,B)))", EMPTY),
    ("predicate", "loc(A,B)", "loc"),
    ("predicate", "(city(A),loc(A,B))", None),
    ("predicate_only", "largest(A,state(A))", None),
    ("first_predicate", "answer(A,(city(A),loc(A,B)))", "city"),
    ("second_predicate", "(city(A),loc(A,B))", "loc"),
    ("second_predicate", "(city(A),largest(B,state(B)))", "largest"),
    ("third_predicate", "(city(A),loc(A,B))", EMPTY),
    ("last_predicate", "(city(A),loc(A,B),const(B,stateid(texas)))", "const"),
    ("direction", "loc(A,B)", "forward"),
    ("direction", "loc(B,A)", "backward"),
    ("direction", "next_to(A,A)", "both"),
    ("direction", "river(A)", "self"),
    ("direction", "river()", "none"),
    ("direction", "const(A,stateid(texas))", None),
    ("direction_root", "const(A,stateid(texas))", "predicate"),
    ("direction_root", "const(A,texas)", "constant"),
    ("constant", "texas", "texas"),
    ("constant", "stateid(texas)", None),
    ("arity", "loc(A,B)", "2"),
    ("arity", "(city(A),loc(A,B))", "null"),
    ("arity", "()", EMPTY),
    ("arity", "salary_greater_than(A,60000,year)", "3"),
    ("arg1", "stateid(texas)", "texas"),
    ("arg2", "const(A,stateid(texas))", "stateid"),
    ("arg3", "loc(A,B)", EMPTY),
    ("arg3", "largest(A,state(A))", "other"),
    ("arg1_only", "stateid(texas)", "texas"),
    ("arg1_only", "largest(A,state(A))", None),
    ("arg2_arity", "const(A,cityid(austin,tx))", "2"),
]


@pytest.mark.parametrize("name, text, value", CASES)
def test_documented_values(name, text, value):
    assert feature(name, parse(text)) == value


def test_set_values():
    left = Seq((parse("city(A)"),), (), False)
    assert feature("first_predicate", left) == "city"
    assert feature("second_predicate", left) == W
    assert feature("arity", left) == W
    assert feature("function", ANY) == W
    assert feature("function", AnyFunction(ANY, ("answer", "not"))) == Wildcard(
        frozenset({"answer", "not"}))
    assert feature("has_function_not", AnyFunction(ANY, ("not",))) == "true"
    assert feature("function", Empty()) == EMPTY


def test_english_gram_features_resolve_and_unknown_names_fail():
    assert read_grammar().feature_names <= set(FEATURES)
    assert features(["first_predicate", "arity"], parse("river(A)")) == ("river", "1")
    with pytest.raises(ValueError, match="unknown feature 'colour'; known features: arg1"):
        feature("colour", parse("river(A)"))


def test_set_value_covers_every_member():
    """For every inverse image s containing a GeoQuery-derived LF x, phi(s) is phi(x) or a
    wildcard that does not exclude phi(x)."""
    roots = [normalize(e.lf) for e in read_examples(DATA_DIR / "geoquery" / "geoqueries880")]
    checked = 0
    for lf in roots[::9]:
        for tr in TRANSFORMS.values():
            child = tr.apply(lf)
            if child is None:
                continue
            for pattern in tr.invert(child):
                if not contains((pattern,), lf):
                    continue
                for name, phi in FEATURES.items():
                    v, vs = phi(lf), phi(pattern)
                    if v is None:
                        continue
                    checked += 1
                    assert vs == v or (isinstance(vs, Wildcard) and v not in vs.excluded), (
                        name, str(pattern), str(lf), vs, v)
    assert checked > 10_000
