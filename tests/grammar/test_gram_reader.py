"""Grammar-file, lexicon and data readers on the bundled english.gram, lexicons and GeoQuery."""

import pytest

from grammar.grammar import (
    DATA_DIR,
    KINDS,
    TerminalRule,
    parse_examples,
    parse_grammar,
    parse_lexicon,
    read_examples,
    read_grammar,
    read_lexicon,
)
from grammar.logic import parse, to_text
from grammar.transforms import TRANSFORMS

GRAM = read_grammar()


def test_english_gram_counts():
    assert GRAM.count("nonterminal") == 12
    # 47 preterminal declarations; 46 of them occur on a right-hand side (THE is declared only)
    assert GRAM.count("preterminal") == 47
    used = {s.nonterminal for r in GRAM.rules for s in r.rhs}
    assert sorted(n for n, d in GRAM.nonterminals.items()
                  if d.kind == "preterminal" and n not in used) == ["THE"]
    assert GRAM.count("number_preterminal") == 1
    assert GRAM.count("string_preterminal") == 0
    assert len(GRAM.rules) == 162 and len(GRAM.terminal_rules) == 78
    assert len(GRAM.rules) + len(GRAM.terminal_rules) == 240
    assert len(GRAM.function_names) == 84
    assert GRAM.function_names <= set(TRANSFORMS)


def test_declarations_and_rules_are_typed():
    sq = GRAM.nonterminals["SQ"]
    assert sq.kind == "nonterminal"
    assert sq.features == ("has_function_answer", "first_predicate", "second_predicate",
                           "third_predicate")
    assert sq.alpha_shape == pytest.approx((1e7, 10.0, 10.0, 100.0, 100.0), rel=0, abs=0)
    assert sq.alpha_rate == pytest.approx((1.0, 1.0, 0.1, 1.0, 1.0), rel=0, abs=0)
    v = GRAM.nonterminals["V"]
    assert v.base.atom_count == 10000 and v.base.end_probability == pytest.approx(0.95, abs=0)
    assert v.base.excluded_phrases == ("through",) and "than" in v.base.excluded_tokens
    first = GRAM.rules[0]
    assert (first.lhs, [(s.nonterminal, s.functions) for s in first.rhs]) == (
        "SQ", [("HOW", ("null",)), ("ADJ", ("select_left_delete_answer",)),
               ("VPQ", ("delete_left_answer_head",)), ("QUESTION", ("null",))])
    priors = {r.line: r.prior for r in GRAM.rules if r.prior is not None}
    assert sorted(priors.values()) == pytest.approx([1e-7, 1e-5, 1e-3], rel=1e-12)
    how_many = [t for t in GRAM.rules_of("HOW_MANY") if isinstance(t, TerminalRule)]
    assert [t.tokens for t in how_many] == [("how", "many"), ("how", "much")]


def test_lexicons_and_data():
    general = read_lexicon(DATA_DIR / "lexicon", grammar=GRAM)
    geo = read_lexicon(DATA_DIR / "geoquery" / "geoqueries880_lexicon", grammar=GRAM)
    assert len(general) == 23 and len(geo) == 141
    assert to_text(general[0].lf) == "sum(B,(),A)" and general[0].tokens == ("combined",)
    assert geo[117].nonterminal == "N_CONSTANT_ARG2" and geo[117].lf is parse("wa")
    assert geo[117].line == 118 and geo[-1].lf is parse("fewest(A,B,())")
    assert sum(i.nonterminal == "N_CONSTANT" for i in geo) == 107
    sizes = {name: len(read_examples(DATA_DIR / "geoquery" / name)) for name in
             ("geoqueries880", "geoqueries880_train", "geoqueries880_train_remaining",
              "geoqueries880_test", "geoqueries880_test_remaining")}
    assert sizes == {"geoqueries880": 880, "geoqueries880_train": 558,
                     "geoqueries880_train_remaining": 42, "geoqueries880_test": 273,
                     "geoqueries880_test_remaining": 7}
    ex = read_examples(DATA_DIR / "geoquery" / "geoqueries880")[176]
    assert ex.tokens == ("name", "the", "50", "capitals", "in", "the", "usa", "?")


GOOD = 'S nonterminal {first_predicate} {1.0, 2.0} {1.0, 1.0} {} 10 1.0 {}\n' \
       'W preterminal {} {1.0} {1.0} {} 1 1.0 {}\nS -> W:identity\nW -> "hi there"\n'


def test_small_grammar_parses():
    g = parse_grammar(GOOD, source="g")
    assert g.count("nonterminal") == 1 and g.terminal_rules[0].tokens == ("hi", "there")


@pytest.mark.parametrize("text, message", [
    (GOOD.replace("identity", "identiti"), r"g:3: unknown transformation function 'identiti'; "
                                           r"known functions: .*identity"),
    (GOOD.replace("first_predicate", "first_pred"), r"g:1: S: unknown feature 'first_pred'; "
                                                    r"known features: .*first_predicate"),
    (GOOD.replace("{1.0, 2.0}", "{1.0}"), r"g:1: S: expected 2 Gamma shapes and rates"),
    (GOOD.replace("S -> W", "S -> X"), r"g:3: undeclared symbol 'X'"),
    (GOOD.replace('W -> "hi there"', 'S -> "hi"'), r"g:4: terminal rule for 'S'"),
    (GOOD.replace("nonterminal", "nontermnal"), r"g:1: expected 'NAME nonterminal"),
    (GOOD.replace("10 1.0 {}", "ten 1.0 {}"), r"g:1: S: expected an integer atom count"),
    (GOOD + GOOD.splitlines()[0], r"g:5: S declared twice"),
    (GOOD.replace("W:identity", "W"), r"g:3: expected 'NAME:function"),
])
def test_grammar_errors_name_file_line_and_expectation(text, message):
    with pytest.raises(ValueError, match=message):
        parse_grammar(text, source="g")


def test_lexicon_and_data_errors():
    with pytest.raises(ValueError, match=r"lex:2: expected parse\(NONTERMINAL"):
        parse_lexicon("parse(ADJ, [a], b).\nparse([a], b).", source="lex")
    with pytest.raises(ValueError, match=r"lex:1: undeclared nonterminal 'FOO'"):
        parse_lexicon("parse(FOO, [a], b).", source="lex", grammar=GRAM)
    with pytest.raises(ValueError, match=r"data:1:.*invalid logical form"):
        parse_examples("parse([a], answer(A,).", source="data")
    with pytest.raises(ValueError, match=r"data:1: expected a token list"):
        parse_examples("parse([a,X], b).", source="data")
    assert KINDS[0] == "nonterminal"
