"""Hand-written cases for every transformation function of english.gram, plus set operations."""

import pytest

from grammar.grammar import read_grammar
from grammar.logic import Conj, Empty, parse, to_text
from grammar.transforms import GRAMMAR_FUNCTIONS, TRANSFORMS, apply, compose, invert, normalize
from grammar.transforms_sets import ANY, Any, AnyPred, Seq, contains, intersect

# (function, parent LF, child LF): one documented example per name used by english.gram.
# "$empty" is the Empty LF of a constituent without meaning.
CASES = [
    ('delete_answer', 'answer(A,(city(A),loc(A,B),const(B,stateid(virginia))))',
     '(city(A),loc(A,B),const(B,stateid(virginia)))'),
    ('delete_answer_has_loc', 'answer(A,(city(A),loc(A,B),const(B,stateid(virginia))))',
     '(city(A),loc(A,B),const(B,stateid(virginia)))'),
    ('delete_arg2', 'const(A,stateid(texas))',
     'const(A)'),
    ('delete_arg3', 'salary_greater_than(A,60000,year)',
     'salary_greater_than(A,60000)'),
    ('delete_args', 'const(A,stateid(texas))',
     'const()'),
    ('delete_count_answer', 'answer(A,count(A,state(A),B))',
     'state(A)'),
    ('delete_count_head', 'count(B,(state(B),next_to(B,C)),A)',
     '(state(A),next_to(A,B))'),
    ('delete_function', 'answer(A,(city(A),loc(A,B),const(B,stateid(virginia))))',
     '(city(A),loc(A,B),const(B,stateid(virginia)))'),
    ('delete_function_head', 'count(B,(state(B),next_to(B,C)),A)',
     '(state(A),next_to(A,B))'),
    ('delete_left', '(river(A),loc(A,B),const(B,stateid(texas)))',
     '(loc(A,B),const(B,stateid(texas)))'),
    ('delete_left2', '(state(A),loc(B,A),river(B),traverse(B,A))',
     '(river(B),traverse(B,A))'),
    ('delete_left2_answer', 'answer(A,(major(A),city(A),loc(A,B),const(B,stateid(texas))))',
     '(loc(A,B),const(B,stateid(texas)))'),
    ('delete_left2_answer_keep_function',
     'answer(A,count(B,(state(B),next_to(B,C),const(C,stateid(iowa))),A))',
     'count(B,const(C,stateid(iowa)),A)'),
    ('delete_left2_count_answer',
     'answer(A,count(B,(state(B),next_to(B,C),const(C,stateid(iowa))),A))',
     'const(B,stateid(iowa))'),
    ('delete_left2_disjoint', '(state(A),loc(B,A),river(B),traverse(B,A))',
     '(river(B),traverse(B,A))'),
    ('delete_left2_function', 'largest(A,(major(A),river(A),loc(A,B)))',
     'loc(A,B)'),
    ('delete_left2_function_disjoint', 'largest(A,(major(A),river(A),loc(A,B)))',
     'loc(A,B)'),
    ('delete_left2_head', '(river(A),loc(A,B),const(B,stateid(texas)))',
     'const(A,stateid(texas))'),
    ('delete_left3_answer', 'answer(A,(major(A),city(A),state(B),loc(A,B)))',
     'loc(A,B)'),
    ('delete_left3_answer_disjoint', 'answer(A,(major(A),city(A),state(B),loc(A,B)))',
     'loc(A,B)'),
    ('delete_left3_answer_head_keep_function',
     'answer(A,largest(B,(state(A),loc(B,A),city(B),population(B,C))))',
     'largest(A,population(A,B))'),
    ('delete_left3_answer_keep_function',
     'answer(A,count(B,(state(B),next_to(B,C),const(C,stateid(iowa))),A))',
     'count(B,(),A)'),
    ('delete_left3_disjoint', '(state(A),loc(B,A),river(B),traverse(B,A))',
     'traverse(B,A)'),
    ('delete_left4_disjoint', '(state(A),loc(B,A),major(B),river(B),traverse(B,A))',
     'traverse(B,A)'),
    ('delete_left5_answer_disjoint',
     'answer(A,(major(B),river(B),loc(B,C),const(C,stateid(virginia)),state(A),traverse(B,A)))',
     'traverse(B,A)'),
    ('delete_left_answer', 'answer(A,(city(A),loc(A,B),const(B,stateid(virginia))))',
     '(loc(A,B),const(B,stateid(virginia)))'),
    ('delete_left_answer_head', 'answer(A,(loc(B,A),const(B,cityid(austin,_))))',
     'const(A,cityid(austin,_))'),
    ('delete_left_answer_keep_function',
     'answer(A,count(B,(state(B),next_to(B,C),const(C,stateid(iowa))),A))',
     'count(B,(next_to(B,C),const(C,stateid(iowa))),A)'),
    ('delete_left_count_answer',
     'answer(A,count(B,(state(B),next_to(B,C),const(C,stateid(iowa))),A))',
     '(next_to(A,B),const(B,stateid(iowa)))'),
    ('delete_left_disjoint', '(river(A),loc(A,B),const(B,stateid(texas)))',
     '(loc(A,B),const(B,stateid(texas)))'),
    ('delete_left_function', 'answer(A,(city(A),loc(A,B),const(B,stateid(virginia))))',
     '(loc(A,B),const(B,stateid(virginia)))'),
    ('delete_left_function_disjoint', 'answer(A,(city(A),loc(A,B),const(B,stateid(virginia))))',
     '(loc(A,B),const(B,stateid(virginia)))'),
    ('delete_left_function_head', 'answer(A,(loc(B,A),const(B,cityid(austin,_))))',
     'const(A,cityid(austin,_))'),
    ('delete_left_head', 'const(A,stateid(texas))',
     '()'),
    ('delete_left_head_keep_function', '\\+ (next_to(A,B),const(B,stateid(texas)))',
     '\\+ const(A,stateid(texas))'),
    ('delete_left_head_keep_not', '\\+ (major(A),river(A))',
     '\\+ river(A)'),
    ('delete_left_keep_answer', 'answer(A,(city(A),loc(A,B),const(B,stateid(virginia))))',
     'answer(A,(loc(A,B),const(B,stateid(virginia))))'),
    ('delete_left_keep_function', 'answer(A,(city(A),loc(A,B),const(B,stateid(virginia))))',
     'answer(A,(loc(A,B),const(B,stateid(virginia))))'),
    ('delete_left_not_head', '\\+ (next_to(A,B),const(B,stateid(texas)))',
     'const(A,stateid(texas))'),
    ('delete_not', '\\+ (next_to(A,B),const(B,stateid(texas)))',
     '(next_to(A,B),const(B,stateid(texas)))'),
    ('delete_right', '(river(A),loc(A,B),const(B,stateid(texas)))',
     '(river(A),loc(A,B))'),
    ('delete_right_head', '(place(B),loc(B,A))',
     'place(A)'),
    ('delete_right_head_keep_function', 'largest(B,(city(B),loc(B,A)))',
     'largest(A,city(A))'),
    ('empty_tuple', 'answer(A,(city(A),loc(A,B),const(B,stateid(virginia))))',
     '()'),
    ('empty_tuple_only', '()',
     '()'),
    ('head_arg1_select_arg2', 'const(A,stateid(texas))',
     'stateid(texas)'),
    ('head_arg1_select_arg2_only', 'const(A,stateid(texas))',
     'stateid(texas)'),
    ('identity', 'answer(A,(city(A),loc(A,B),const(B,stateid(virginia))))',
     'answer(A,(city(A),loc(A,B),const(B,stateid(virginia))))'),
    ('loc', 'answer(A,(loc(B,A),const(B,cityid(austin,_))))',
     '$empty'),
    ('null', 'answer(A,(city(A),loc(A,B),const(B,stateid(virginia))))',
     '$empty'),
    ('select_arg1', 'const(A,stateid(texas))',
     'A'),
    ('select_arg2', 'const(A,stateid(texas))',
     'stateid(texas)'),
    ('select_arg3', 'const(A,stateid(texas))',
     '$empty'),
    ('select_function', 'answer(A,(city(A),loc(A,B),const(B,stateid(virginia))))',
     'answer(A,())'),
    ('select_function_delete_head', '\\+ (next_to(A,B),const(B,stateid(texas)))',
     '\\+ ()'),
    ('select_left', '(river(A),loc(A,B),const(B,stateid(texas)))',
     'river(A)'),
    ('select_left2', '(river(A),loc(A,B),const(B,stateid(texas)))',
     '(river(A),loc(A,B))'),
    ('select_left2_delete_answer', 'answer(A,(city(A),loc(A,B),const(B,stateid(virginia))))',
     '(city(A),loc(A,B))'),
    ('select_left2_delete_count_answer',
     'answer(A,count(B,(state(B),next_to(B,C),const(C,stateid(iowa))),A))',
     '(state(A),next_to(A,B))'),
    ('select_left2_delete_function_answer',
     'answer(A,largest(A,(state(A),loc(A,B),const(B,countryid(usa)))))',
     '(state(A),loc(A,B))'),
    ('select_left2_disjoint', '(river(A),loc(A,B),const(B,stateid(texas)))',
     '(river(A),loc(A,B))'),
    ('select_left2_keep_function', 'answer(A,(city(A),loc(A,B),const(B,stateid(virginia))))',
     'answer(A,(city(A),loc(A,B)))'),
    ('select_left2_keep_function_disjoint',
     'answer(A,(city(A),loc(A,B),const(B,stateid(virginia))))',
     'answer(A,(city(A),loc(A,B)))'),
    ('select_left3_delete_answer', 'answer(A,(city(A),loc(A,B),const(B,stateid(virginia))))',
     '(city(A),loc(A,B),const(B,stateid(virginia)))'),
    ('select_left3_delete_answer_disjoint',
     'answer(A,(city(A),loc(A,B),const(B,stateid(virginia))))',
     '(city(A),loc(A,B),const(B,stateid(virginia)))'),
    ('select_left3_delete_function_answer',
     'answer(A,largest(A,(state(A),loc(A,B),const(B,countryid(usa)))))',
     '(state(A),loc(A,B),const(B,countryid(usa)))'),
    ('select_left3_disjoint', '(river(A),loc(A,B),const(B,stateid(texas)))',
     '(river(A),loc(A,B),const(B,stateid(texas)))'),
    ('select_left4_disjoint', '(state(A),loc(B,A),river(B),traverse(B,A))',
     '(state(A),loc(B,A),river(B),traverse(B,A))'),
    ('select_left5_delete_answer_disjoint',
     'answer(A,(high_point(B,A),loc(A,B),state(B),next_to(B,C),const(C,stateid(mississippi))))',
     '(high_point(B,A),loc(A,B),state(B),next_to(B,C),const(C,stateid(mississippi)))'),
    ('select_left_delete_answer', 'answer(A,(city(A),loc(A,B),const(B,stateid(virginia))))',
     'city(A)'),
    ('select_left_delete_answer_head', 'answer(A,(capital(B),loc(B,A)))',
     'capital(A)'),
    ('select_left_delete_count_answer',
     'answer(A,count(B,(state(B),next_to(B,C),const(C,stateid(iowa))),A))',
     'state(A)'),
    ('select_left_delete_function', 'answer(A,(city(A),loc(A,B),const(B,stateid(virginia))))',
     'city(A)'),
    ('select_left_delete_function_answer',
     'answer(A,largest(A,(state(A),loc(A,B),const(B,countryid(usa)))))',
     'state(A)'),
    ('select_left_delete_head', '(place(B),loc(B,A))',
     'place(A)'),
    ('select_left_delete_head_disjoint', '(place(B),loc(B,A))',
     'place(A)'),
    ('select_left_delete_not', '\\+ (next_to(A,B),const(B,stateid(texas)))',
     'next_to(A,B)'),
    ('select_left_disjoint', '(river(A),loc(A,B),const(B,stateid(texas)))',
     'river(A)'),
    ('select_left_keep_function', 'answer(A,(city(A),loc(A,B),const(B,stateid(virginia))))',
     'answer(A,city(A))'),
    ('select_left_keep_function_disjoint',
     'answer(A,(city(A),loc(A,B),const(B,stateid(virginia))))',
     'answer(A,city(A))'),
    ('select_right', '(place(B),loc(B,A))',
     'loc(B,A)'),
    ('select_right_delete_function', 'answer(A,(capital(B),loc(B,A)))',
     'loc(B,A)'),
    ('select_right_delete_head', '(river(A),loc(A,B),const(B,stateid(texas)))',
     'const(A,stateid(texas))'),
    ('two_predicates', '(place(B),loc(B,A))',
     '(place(B),loc(B,A))'),]


def _lf(text):
    return Empty() if text == "$empty" else parse(text)


def test_cases_cover_every_english_gram_function():
    assert {c[0] for c in CASES} == set(read_grammar().function_names)
    assert set(read_grammar().function_names) <= set(GRAMMAR_FUNCTIONS)


@pytest.mark.parametrize("name, parent, child", CASES, ids=[c[0] for c in CASES])
def test_documented_case(name, parent, child):
    lf = parse(parent)
    out = apply(name, lf)
    assert out is _lf(child), (name, to_text(out) if out is not None else None)
    assert contains(invert(name, out), lf)


@pytest.mark.parametrize("name, parent", [
    ("select_left_delete_answer", "(city(A),loc(A,B))"),          # no answer(...) to delete
    ("select_left_delete_answer", "answer(A,(city(B),loc(B,A)))"),  # left conjunct lacks head A
    ("select_left_delete_head", "(city(A),loc(A,B))"),             # left conjunct has head A
    ("delete_left", "(city(A),const(B,stateid(texas)))"),          # rest lacks the head
    ("select_left2", "city(A)"),                                   # fewer than 2 conjuncts
    ("delete_not", "largest(A,state(A))"),                        # not a negation
    ("delete_count_head", "largest(B,state(B))"),                  # not count
    ("select_function", "(city(A),loc(A,B))"),                     # not a function
    ("loc", "answer(A,(city(A),loc(A,B)))"),                       # first conjunct not loc(B,A)
    ("head_arg1_select_arg2", "loc(B,A)"),                         # first argument is not head
    ("head_arg1_select_arg2_only", "salary_greater_than(A,6,year)"),  # third argument present
    ("select_arg1_only", "loc(A,B)"),                              # second argument present
    ("delete_arg2", "river(A)"),                                   # no second argument
    ("empty_tuple_only", "city(A)"),                               # not empty
    ("two_predicates", "(city(A),loc(A,B),state(B))"),             # three conjuncts
    ("delete_answer_has_loc", "answer(A,(city(A),capital(A)))"),   # no loc
])
def test_functions_that_do_not_apply_return_none(name, parent):
    assert name in TRANSFORMS
    assert apply(name, parse(parent)) is None


def test_composition_applies_left_to_right_and_inverts_right_to_left():
    lf = parse("answer(A,(city(A),loc(A,B),const(B,stateid(virginia))))")
    f = compose("delete_left_answer,delete_left_head")
    child = f.apply(lf)
    assert child is parse("const(A,stateid(virginia))")  # the parent's B became the head
    assert compose("delete_left_answer,delete_left").apply(lf) is None  # rest lacks head A
    assert contains(f.invert(child), lf)
    assert compose(["delete_answer", "select_left"]).apply(lf) is parse("city(A)")
    with pytest.raises(ValueError, match="unknown transformation function 'nope'; known"):
        compose("identity,nope")


def test_inverse_images_are_compact_patterns():
    s = invert("delete_left_answer", parse("(loc(A,B),const(B,stateid(virginia)))"))
    assert [to_text(p) for p in s] == [
        "answer(A,(*,loc(A,_P1),const(_P1,stateid(virginia))))"]
    assert contains(s, parse("answer(A,(river(A),loc(A,B),const(B,stateid(virginia))))"))
    assert not contains(s, parse("answer(A,(river(A),loc(A,B),const(B,stateid(texas))))"))
    assert not contains(s, parse("answer(A,(loc(A,B),const(B,stateid(virginia))))"))
    assert invert("null", parse("city(A)")) == ()
    assert invert("null", Empty()) == (ANY,)


def test_intersection_of_sibling_inverses_recovers_the_parent():
    parent = parse("answer(A,(city(A),loc(A,B),const(B,stateid(virginia))))")
    left = invert("select_left_delete_answer", apply("select_left_delete_answer", parent))
    right = invert("delete_left_answer", apply("delete_left_answer", parent))
    both = intersect(left, right)
    assert len(both) == 1 and contains(both, parent)
    assert to_text(both[0]) == "answer(A,(city(A),loc(A,_P1),const(_P1,stateid(virginia))))"
    assert intersect(left, invert("delete_left_answer", parse("river(A)"))) != ()
    assert intersect(Seq((parse("city(A)"),), (), True), Seq((parse("river(A)"),), (), False)) == ()


def test_seq_and_wildcard_membership():
    two = Seq((ANY, ANY), (), True)
    assert contains(two, parse("(a(A),b(A))")) and not contains(two, parse("(a(A),b(A),c(A))"))
    assert contains(Seq((), (parse("b(A)"),), False), parse("(a(A),b(A))"))
    assert contains(Seq((parse("b(A)"),), (), False), parse("b(A)"))  # a predicate is a 1-list
    assert not contains(Any(nonempty=True), Empty())
    assert contains(AnyPred((parse("A"), ANY, Empty())), parse("loc(A,B)"))
    assert not contains(AnyPred((parse("A"), ANY, Empty())), parse("loc(B,A)"))
    assert contains(Conj(()), parse("()"))


def test_normalize_renames_in_first_occurrence_order():
    assert normalize(parse("answer(X,(p(Y,X),q(Z)))")) is parse("answer(A,(p(B,A),q(C)))")
