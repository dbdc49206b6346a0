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


def test_bottom_up_reconstruction_along_derivations():
    """What a parser does: starting from the LFs at the leaves of a derivation, the intersection
    of the inverse images of a node's children contains the node's LF, at every node."""
    from grammar.grammar_coverage import find_derivation
    from grammar.transforms import compose
    from grammar.transforms_sets import contains, intersect

    checked = 0
    for e in read_examples(DATA_DIR / "geoquery" / "geoqueries880_train")[5::40]:
        tree = find_derivation(GRAM, e.tokens, e.lf)
        assert tree is not None

        def up(node):
            nonlocal checked
            if not node.children:
                return (node.lf,)
            s = None
            for sym, child in zip(node.rule.rhs, node.children, strict=True):
                inv = compose(sym.functions).invert(up(child))
                s = inv if s is None else intersect(s, inv)
            assert contains(s, node.lf), (node.nonterminal, str(node.lf))
            checked += 1
            return s

        up(tree)
    assert checked > 100
