"""Syntactic attributes (number, concord, inflection) and the functions that touch them."""

import itertools
import random

import pytest

from grammar.features import Wildcard
from grammar.grammar import DATA_DIR, KINDS, read_examples, read_grammar
from grammar.logic import Empty, parse
from grammar.transforms import normalize
from grammar.transforms_syntax import (
    INFLECTIONS,
    NUMBERS,
    SYNTAX_FUNCTIONS,
    Root,
    RootSet,
    apply_root,
    invert_root,
    root_feature,
)

# every value of the official function_type enum except the FUNCTION_EMPTY sentinel
OFFICIAL = """identity identity_coord null select_left select_left_coord
select_left_delete_features select_left_concord_singular select_left_disjoint
select_left_disjoint_coord select_left2 select_left2_delete_features select_left2_disjoint
select_left2_disjoint_concord_singular select_left2_disjoint_coord select_left3_disjoint
select_left4_disjoint select_left5_disjoint select_left6_disjoint select_left7_disjoint
select_left_keep_function select_left_keep_function_disjoint select_left2_keep_function
select_left2_keep_function_disjoint select_left3_keep_function select_left_delete_head
select_left_delete_head_concord_singular select_left_delete_head_disjoint
select_left_delete_head_disjoint_coord select_left_delete_function
select_left_delete_function_features select_left_delete_answer select_left2_delete_answer
select_left3_delete_answer select_left3_delete_answer_disjoint select_left5_delete_answer_disjoint
select_left_delete_answer_head select_left_delete_count_answer select_left2_delete_count_answer
select_left3_delete_count_answer select_left_delete_function_answer
select_left2_delete_function_answer select_left3_delete_function_answer select_left_delete_not
select_left_delete_not_features select_right select_right2 select_right2_singular
select_right2_disjoint select_right3_disjoint select_right4_disjoint select_right5_disjoint
select_right6_disjoint select_right7_disjoint select_right_delete_head select_right_delete_function
select_right2_delete_answer select_function select_function_delete_features
select_function_delete_head select_function_delete_head_features delete_left delete_left_coord
delete_left_features delete_left_disjoint delete_left_disjoint_coord delete_left2
delete_left2_disjoint delete_left2_disjoint_coord delete_left2_disjoint_features
delete_left3_disjoint delete_left3_disjoint_features delete_left4_disjoint delete_left5_disjoint
delete_left6_disjoint delete_left7_disjoint delete_left_head delete_left_head_features
delete_left2_head delete_left2_head_features delete_left_function delete_left_function_disjoint
delete_left2_function delete_left2_function_disjoint delete_left_function_head
delete_left3_function_head delete_left_keep_answer delete_left_keep_function
delete_left_features_keep_function delete_left_head_keep_function
delete_left_head_features_keep_function delete_left_head_keep_not
delete_left_head_features_keep_not delete_left_answer delete_left2_answer delete_left3_answer
delete_left3_answer_disjoint delete_left5_answer_disjoint delete_left_answer_head
delete_left_count_answer delete_left2_count_answer delete_left3_count_answer
delete_left_function_answer delete_left2_function_answer delete_left3_function_answer
delete_left_answer_keep_function delete_left_answer_head_keep_function
delete_left2_answer_keep_function delete_left2_answer_head_keep_function
delete_left3_answer_keep_function delete_left3_answer_head_keep_function delete_right
delete_right2 delete_right2_disjoint delete_right3_disjoint delete_right4_disjoint
delete_right5_disjoint delete_right6_disjoint delete_right7_disjoint delete_right_head
delete_right_head_keep_function delete_right2_answer delete_count delete_count_head
delete_count_head_concord_plural delete_count_answer delete_not delete_not_features
delete_not_infinitive delete_left_not_head delete_left_not_head_features delete_function
delete_function_head delete_function_features delete_answer delete_answer_has_loc select_arg1
select_arg1_singular select_arg1_plural select_arg1_only select_arg1_delete_features
select_arg1_only_delete_features select_arg2 select_arg2_only select_arg2_delete_features
select_arg2_only_delete_features select_arg3 select_arg3_only select_arg3_delete_features
select_arg3_only_delete_features delete_arg1 delete_arg1_singular delete_arg1_plural
delete_arg1_features delete_arg2 delete_arg2_features delete_arg3 delete_args
delete_args_concord_singular delete_args_keep_plural head_arg1_select_arg2
head_arg1_select_arg2_only empty_tuple empty_tuple_only empty_tuple_only_keep_concord_singular
keep_null empty_arg2 empty_args arg2_zero_arity loc two_predicates singular plural uncountable
concord_singular concord_plural concord_uncountable concord_non_singular concord_non_plural
concord_non_plural_keep_singular concord_all keep_concord_singular keep_concord_plural
keep_concord_uncountable delete_not_concord_singular delete_not_concord_plural keep_singular
keep_plural keep_uncountable infinitive present_participle past_participle
keep_present_participle keep_past_participle flip_predicate flip_predicate_past_participle
flip_predicate_keep_past_participle keep_features delete_features""".split()


def test_every_official_function_name_is_registered():
    assert len(OFFICIAL) == 198
    assert set(OFFICIAL) <= set(SYNTAX_FUNCTIONS)


def test_morphology_grammar_reads_completely():
    g = read_grammar(DATA_DIR / "english_with_morphology.gram")
    counts = {k: g.count(k) for k in KINDS}
    assert counts == {"nonterminal": 28, "preterminal": 45, "number_preterminal": 1,
                      "string_preterminal": 0}
    assert (len(g.rules), len(g.terminal_rules), len(g.function_names)) == (204, 71, 125)
    assert g.function_names <= set(SYNTAX_FUNCTIONS)
    assert "SQ'" in g.nonterminals
    assert {n.base.part_of_speech for n in g.nonterminals.values()} == {
        None, "noun", "verb", "adjective"}


RIVER = parse("river(A)")


@pytest.mark.parametrize("name, before, after", [
    ("plural", ("all", "none", "none"), ("pl", "none", "none")),
    ("singular", ("pl", "sg", "none"), ("sg", "sg", "none")),
    ("concord_plural", ("sg", "none", "none"), ("sg", "pl", "none")),
    ("concord_non_plural_keep_singular", ("sg", "none", "none"), ("sg", "non_pl", "none")),
    ("concord_non_plural_keep_singular", ("pl", "none", "none"), None),
    ("concord_all", ("pl", "sg", "none"), ("pl", "all", "none")),
    ("concord_all", ("sg", "sg", "none"), None),
    ("keep_concord_singular", ("pl", "non_pl", "none"), ("pl", "sg", "none")),
    ("keep_concord_singular", ("pl", "pl", "none"), None),
    ("keep_singular", ("non_pl", "none", "none"), ("sg", "none", "none")),
    ("keep_plural", ("sg", "none", "none"), None),
    ("past_participle", ("sg", "sg", "none"), ("sg", "sg", "past_participle")),
    ("keep_past_participle", ("sg", "sg", "infinitive"), None),
    ("keep_present_participle", ("sg", "sg", "none"), ("sg", "sg", "present_participle")),
    ("infinitive", ("sg", "sg", "none"), ("sg", "sg", "infinitive")),
    ("identity_coord", ("pl", "pl", "none"), ("pl", "pl", "none")),
    ("identity_coord", ("all", "sg", "none"), ("sg", "sg", "none")),
    ("identity_coord", ("sg", "pl", "none"), None),
    ("identity_coord", ("sg", "none", "none"), None),
    ("delete_features", ("pl", "pl", "infinitive"), ("all", "none", "none")),
    ("null", ("pl", "pl", "infinitive"), ("all", "none", "none")),
    ("identity", ("pl", "pl", "infinitive"), ("pl", "pl", "infinitive")),
])
def test_attribute_rules(name, before, after):
    out = apply_root(name, Root(RIVER, *before))
    if after is None:
        assert out is None
    else:
        assert (out.index, out.concord, out.inf) == after
        assert Root(RIVER, *before) in invert_root(name, out)


def test_semantic_parts_of_syntactic_functions():
    lf = parse("(loc(A,B),const(B,stateid(texas)))")
    assert apply_root("flip_predicate", Root(lf)).lf is parse(
        "(loc(B,A),const(B,stateid(texas)))")
    assert apply_root("flip_predicate", Root(parse("next_to(A,B)"))).lf is parse("next_to(B,A)")
    assert apply_root("flip_predicate", Root(parse("const(A,stateid(texas))"))) is None
    assert apply_root("select_left_concord_singular", Root(lf)) == Root(
        parse("loc(A,B)"), "all", "sg", "none")
    assert apply_root("keep_features", Root(RIVER, "pl")) == Root(Empty(), "pl")
    assert apply_root("keep_null", Root(Empty(), "pl")) == Root(Empty(), "pl")
    assert apply_root("keep_null", Root(RIVER)) is None
    assert apply_root("empty_arg2", Root(parse("len(A)"))).lf is parse("len(A)")
    assert apply_root("empty_arg2", Root(parse("len(A,B)"))) is None
    assert apply_root("empty_args", Root(parse("river()"))).lf is parse("river()")
    assert apply_root("arg2_zero_arity", Root(parse("const(A,stateid())"))) is not None
    assert apply_root("plural,select_arg1", Root(RIVER)) == Root(parse("A"), "pl")
    with pytest.raises(ValueError, match="unknown transformation function 'pluralise'"):
        apply_root("pluralise", Root(RIVER))
    with pytest.raises(ValueError, match="index: expected one of"):
        Root(RIVER, index="dual")


def test_number_and_inflection_features():
    assert root_feature("number", Root(RIVER, "pl", "pl")) == "pl"
    assert root_feature("number", Root(RIVER, "pl", "non_sg")) == Wildcard(frozenset({"sg"}))
    assert root_feature("number", RootSet((RIVER,), None, None)) == Wildcard()
    assert root_feature("inflection", Root(RIVER, inf="infinitive")) == "infinitive"
    assert root_feature("first_predicate", Root(RIVER)) == "river"


def test_apply_then_invert_contains_the_parent_root():
    rng = random.Random(0)
    lfs = [normalize(e.lf) for e in read_examples(DATA_DIR / "geoquery" / "geoqueries880")][::20]
    lfs += [parse(t) for t in ("river(A)", "next_to(A,B)", "(loc(A,B),state(B))", "len(A)",
                               "river()", "const(A,stateid())", "()", "\\+ river(A)")]
    lfs.append(Empty())
    attrs = list(itertools.product(NUMBERS, NUMBERS, INFLECTIONS))
    applied = 0
    for lf in lfs:
        for name, tr in SYNTAX_FUNCTIONS.items():
            for a in rng.sample(attrs, 6):
                root = Root(lf, *a)
                child = tr.apply(root)
                if child is None:
                    continue
                applied += 1
                assert root in tr.invert(RootSet((child.lf,), frozenset({child.index}),
                                                 frozenset({child.concord}),
                                                 frozenset({child.inf}))), name
    assert applied > 5000
