"""Parser/printer of Datalog logical forms: round trips on GeoQuery, hash-consing, errors."""

from pathlib import Path

import pytest

from grammar.logic import (
    Anon,
    Atom,
    Conj,
    Disj,
    Empty,
    List,
    Not,
    Num,
    Str,
    Term,
    Var,
    parse,
    parse_records,
    to_text,
    variables,
)

DATA = Path(__file__).resolve().parents[2] / "grammar" / "data" / "geoquery"


def _geo_lines():
    return [line.strip() for line in (DATA / "geoqueries880").read_text().splitlines()
            if line.strip()]


def test_all_880_geoquery_lfs_parse_and_print_back():
    lines = _geo_lines()
    records = parse_records("\n".join(lines), source="geoqueries880")
    assert len(records) == 880
    exact = 0
    for line, rec in zip(lines, records, strict=True):
        assert isinstance(rec, Term) and rec.functor == "parse" and len(rec.args) == 2
        tokens, lf = rec.args
        assert isinstance(tokens, List) and tokens.items
        assert parse(to_text(lf)) is lf  # printing is a faithful inverse of parsing
        original = line[line.index("],") + 2:-2]
        exact += to_text(lf).replace(" ", "") == original.replace(" ", "")
    # one LF writes a redundant pair of parentheses: longest(C,(river(C)))
    assert exact == 879


def test_hash_consing_gives_identity_equality():
    a = parse("answer(A,(state(A),next_to(A,B),const(B,stateid('new mexico'))))")
    b = parse("answer( A , ( state(A), next_to(A,B), const(B, stateid('new mexico')) ) )")
    assert a is b and hash(a) == hash(b)
    assert a.args[1].items[2].args[1].args[0] is Atom("new mexico")
    assert Atom("texas") is not Atom("texas", quoted=True)
    assert parse("'texas'") is Atom("texas", quoted=True)


def test_node_kinds():
    assert parse("X") is Var("X")
    assert parse("_") is Anon()
    assert parse("60000") is Num(60000) and parse("2.5") is Num(2.5)
    assert parse('"a b"') is Str("a b")
    assert parse("()") is Conj(())
    assert parse("(a;b)") is Disj((Atom("a"), Atom("b")))
    assert parse("\\+ p(A)") is Not(Term("p", (Var("A"),)))
    assert parse("[a,'c++']") is List((Atom("a"), Atom("c++")))
    assert parse("river()") is Term("river", ())
    assert parse("highest(A,())").args[1] is Conj(())
    assert to_text(Term("p", (Var("A"), Empty()))) == "p(A,$empty)"
    assert variables(parse("p(B,(q(A),r(B,C)))")) == (Var("B"), Var("A"), Var("C"))


def test_jobs_style_lfs_round_trip():
    text = ("answer(A,(job(A),language(A,P),const(P,'pascal'),"
            "\\+ (language(A,C),const(C,'c++'))))")
    lf = parse(text)
    assert to_text(lf) == text
    assert parse("salary_greater_than(A,60000,year)").args[1] is Num(60000)


def test_records_skip_comments():
    recs = parse_records("% comment\nparse([a],b(X)).\n/* parse([c],d(Y)). */\nparse([e],f).")
    assert [to_text(r) for r in recs] == ["parse([a],b(X))", "parse([e],f)"]


@pytest.mark.parametrize("text, where", [
    ("answer(A,(state(A)", "1:19"),
    ("p(a b)", "1:5"),
    ("p(\n  a,,b)", "2:5"),
    ("'unterminated", "1:1"),
    (")", "1:1"),
    ("", "1:1"),
])
def test_errors_are_value_errors_with_line_and_column(text, where):
    with pytest.raises(ValueError, match=f"<string>:{where}: invalid logical form"):
        parse(text)


def test_error_names_the_source_and_expected_tokens():
    with pytest.raises(ValueError, match=r"myfile:1:3: .*expected one of .*variable"):
        parse("p(", source="myfile")


def test_deep_nesting_is_a_value_error():
    assert parse("(" * 5000 + "a" + ")" * 5000) is parse("a")  # redundant parentheses
    with pytest.raises(ValueError, match="<string>: .*MAX_DEPTH"):
        parse("\\+ " * 5000 + "a")
    with pytest.raises(ValueError, match="MAX_DEPTH"):
        parse("p(" * 300 + "a" + ")" * 300)


def test_constructor_validation():
    with pytest.raises(ValueError, match="Var name"):
        Var("abc")
    with pytest.raises(TypeError, match="LF children"):
        Term("p", ("A",))
    with pytest.raises(TypeError, match="text"):
        parse(42)


def test_hash_consing_is_thread_safe():
    from concurrent.futures import ThreadPoolExecutor

    texts = [f"answer(A,(p{i % 7}(A),q(A,B{i % 5})))" for i in range(400)]
    with ThreadPoolExecutor(8) as pool:
        first = list(pool.map(parse, texts))
        second = list(pool.map(parse, texts))
    assert all(a is b for a, b in zip(first, second, strict=True))
    assert len({id(x) for x in first}) == 35
