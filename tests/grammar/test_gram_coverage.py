"""Coverage: english.gram with these transformation functions derives GeoQuery sentences."""

import pytest

from grammar.grammar import DATA_DIR, read_examples, read_grammar
from grammar.grammar_coverage import derivable
from grammar.logic import parse

GRAM = read_grammar()


def test_training_sentences_are_derivable():
    examples = read_examples(DATA_DIR / "geoquery" / "geoqueries880_train")[::56]
    assert len(examples) == 10
    assert all(derivable(GRAM, e.tokens, e.lf) for e in examples)


def test_remaining_sentences_are_mostly_not():
    # the official split puts sentences its grammar cannot derive into *_remaining
    examples = read_examples(DATA_DIR / "geoquery" / "geoqueries880_test_remaining")
    assert [derivable(GRAM, e.tokens, e.lf) for e in examples] == [
        False, False, False, False, False, True, False]


def test_wrong_meaning_or_words_are_not_derivable():
    lf = parse("answer(A,(river(A),loc(A,B),const(B,stateid(texas))))")
    assert derivable(GRAM, "what rivers are in texas ?".split(), lf)
    assert not derivable(GRAM, "what rivers are in texas".split(), lf)  # no question mark
    assert not derivable(GRAM, "what rivers are in texas ?".split(),
                         parse("answer(A,count(B,river(B),A))"))
    assert not derivable(GRAM, [], lf)
    with pytest.raises(ValueError, match="start"):
        derivable(GRAM, ["a"], lf, start="NOPE")
