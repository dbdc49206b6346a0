"""Fuzzing: every transformation function and feature on mutated LFs returns or says None."""

import random
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from grammar.features import FEATURES
from grammar.logic import parse
from grammar.transforms import TRANSFORMS, normalize
from grammar.transforms_sets import contains, intersect

DATA = Path(__file__).resolve().parents[2] / "grammar" / "data" / "geoquery"
LFS = [line[line.index("],") + 2:-2] for line in (DATA / "geoqueries880").read_text().splitlines()
       if line.strip()]
ALPHABET = "(),;\\+ _ABCxyz01'"


@settings(max_examples=150, deadline=None)
@given(st.integers(0, len(LFS) - 1), st.integers(0, 2**32 - 1))
def test_functions_and_features_on_mutated_lfs(index, seed):
    rng = random.Random(seed)
    chars = list(LFS[index])
    for _ in range(rng.randint(1, 3)):
        pos = rng.randrange(len(chars))
        if rng.random() < 0.5:
            del chars[pos]
        else:
            chars.insert(pos, rng.choice(ALPHABET))
    try:
        lf = parse("".join(chars))
    except ValueError:
        return
    for tr in TRANSFORMS.values():
        tr.apply(lf)  # any LF, named any way: a value or None, never an exception
    lf = normalize(lf)  # the head convention: A first (see grammar.transforms)
    for tr in TRANSFORMS.values():
        child = tr.apply(lf)
        if child is None:
            continue
        inverse = tr.invert(child)
        assert contains(inverse, lf)
        assert contains(intersect(inverse, inverse), lf)
        for phi in FEATURES.values():
            phi(child)
            for pattern in inverse:
                phi(pattern)
