"""Short demo of logical forms and transformation functions on the bundled GeoQuery data.

``run(out_dir, seed)`` reads ``english.gram`` and GeoQuery 880, shows a few logical forms with
their canonical forms (and that shuffled, renamed copies are equivalent), type-checks the corpus,
applies a rule's transformation functions to a sentence's LF, inverts them and intersects the
inverse images to recover the parent LF, prints the feature path of each child, and checks
whether the grammar can derive two sentences with their LFs.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

from grammar.features import features
from grammar.grammar import DATA_DIR, read_examples, read_grammar
from grammar.grammar_coverage import derivable
from grammar.logic import Conj, Not, Term, Var, to_text, variables
from grammar.logic_canonical import canonical, equivalent
from grammar.logic_types import read_ontology, type_check
from grammar.transforms import TRANSFORMS, normalize
from grammar.transforms_sets import contains, intersect

__all__ = ["run"]


def _shuffle_rename(lf, rng: random.Random):
    vs = variables(lf)
    names = [f"X{i}" for i in range(len(vs))]
    rng.shuffle(names)
    mapping = dict(zip(vs, map(Var, names), strict=True))

    def go(x):
        if isinstance(x, Var):
            return mapping[x]
        if isinstance(x, Term):
            return Term(x.functor, tuple(go(a) for a in x.args))
        if isinstance(x, Conj):
            items = [go(a) for a in x.items]
            rng.shuffle(items)
            return Conj(tuple(items))
        if isinstance(x, Not):
            return Not(go(x.body))
        return x

    return go(lf)


def run(out_dir: Path, seed: int) -> None:
    """Runs the demo (prints what it does; writes nothing to ``out_dir``)."""
    del out_dir
    rng = random.Random(seed)
    t0 = time.perf_counter()
    gram = read_grammar()
    examples = read_examples(DATA_DIR / "geoquery" / "geoqueries880")
    onto = read_ontology(DATA_DIR / "geoquery" / "geoqueries880_types")
    print(f"english.gram: {gram.count('nonterminal')} nonterminals, "
          f"{gram.count('preterminal')} preterminals, {len(gram.rules)} + "
          f"{len(gram.terminal_rules)} rules, {len(gram.function_names)} transformation functions")
    print(f"GeoQuery: {len(examples)} sentences")

    print("\n-- canonical forms (conjunct order, variable names and function scope normalised)")
    for ex in rng.sample(examples, 3):
        other = _shuffle_rename(ex.lf, rng)
        print("  sentence :", " ".join(ex.tokens))
        print("  LF       :", to_text(ex.lf))
        print("  shuffled :", to_text(other))
        print("  canonical:", to_text(canonical(ex.lf)), "| equivalent:", equivalent(ex.lf, other))
    ok = sum(type_check(ex.lf, onto) for ex in examples)
    print(f"  type-check against geoqueries880_types: {ok}/{len(examples)}")

    print("\n-- a rule's transformation functions, applied top-down and inverted bottom-up")
    rule = next(r for r in gram.rules if r.lhs == "SQ"
                and [s.functions[0] for s in r.rhs][1:3] == ["select_left_delete_answer",
                                                              "delete_left_answer"])
    print("  rule:", rule.lhs, "->", " ".join(f"{s.nonterminal}:{','.join(s.functions)}"
                                               for s in rule.rhs))
    ex = next(e for e in examples if " ".join(e.tokens) == "what rivers are in texas ?")
    parent = normalize(ex.lf)
    print("  sentence:", " ".join(ex.tokens), "\n  parent LF:", to_text(parent))
    inverse = None
    for sym in rule.rhs:
        tr = TRANSFORMS[sym.functions[0]]
        child = tr.apply(parent)
        back = tr.invert(child)
        inverse = back if inverse is None else intersect(inverse, back)
        feats = features(gram.nonterminals[sym.nonterminal].features, child)
        print(f"  {sym.nonterminal:<9} {sym.functions[0]:<27} child: {to_text(child):<42} "
              f"inverse: {' | '.join(to_text(p) for p in back)}")
        if feats:
            print(f"  {'':<37} features {gram.nonterminals[sym.nonterminal].features} = {feats}")
    print("  intersection of the inverse images:", " | ".join(to_text(p) for p in inverse))
    print("  contains the parent:", contains(inverse, parent))

    print("\n-- coverage: can english.gram derive a sentence together with its LF?")
    hard = read_examples(DATA_DIR / "geoquery" / "geoqueries880_test_remaining")[-1]
    for e in (ex, hard):
        print(f"  {derivable(gram, e.tokens, e.lf)!s:<5} {' '.join(e.tokens)}")
    print(f"(done in {time.perf_counter() - t0:.1f} s)")
