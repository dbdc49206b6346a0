"""Fuzzing: random strings and mutated LFs raise nothing but the documented ValueError."""

import random
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from grammar.logic import parse, to_text
from grammar.logic_canonical import canonical, check_scope
from grammar.logic_types import read_ontology, type_check

DATA = Path(__file__).resolve().parents[2] / "grammar" / "data" / "geoquery"
LINES = [line for line in (DATA / "geoqueries880").read_text().splitlines() if line.strip()]
LFS = [line[line.index("],") + 2:-2] for line in LINES]
ONTO = read_ontology(DATA / "geoqueries880_types")
ALPHABET = "()[],;.'\"\\+ _ABCXabcxyz0123456789\n\t%/*-"


def _exercise(text: str) -> None:
    try:
        lf = parse(text)
    except ValueError:
        return
    assert parse(to_text(lf)) is lf
    canonical(lf)
    check_scope(lf)
    type_check(lf, ONTO)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=60))
def test_random_strings(text):
    _exercise(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_random_unicode(text):
    _exercise(text)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(LFS) - 1), st.integers(0, 2**32 - 1))
def test_mutated_geoquery_lfs(index, seed):
    rng = random.Random(seed)
    chars = list(LFS[index])
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(3)
        pos = rng.randrange(len(chars) + 1)
        if op == 0 and chars:
            del chars[min(pos, len(chars) - 1)]
        elif op == 1:
            chars.insert(pos, rng.choice(ALPHABET))
        elif chars:
            chars[min(pos, len(chars) - 1)] = rng.choice(ALPHABET)
    _exercise("".join(chars))
