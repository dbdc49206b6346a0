"""Demo of the semantic parser: train on a GeoQuery slice, parse and generate a few sentences.

Trains the ``english.gram`` HDP grammar (with the GeoQuery lexicon) on the first training pairs
for one MH/Gibbs iteration, trains the semantic prior, then parses test sentences with a time
limit and generates the two most probable sentences for one logical form. Test sentences are the
first ones whose LF *shape* (constants abstracted) occurs in the training slice, since the
candidate-set parser (:mod:`grammar.parse`) can only propose such structures; this selection is
the only use of the gold LF, which the parser itself never sees.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from grammar import generate, train
from grammar import parse as parsing
from grammar.derivation import GrammarModel
from grammar.evaluate import is_correct
from grammar.grammar import DATA_DIR, read_examples, read_grammar, read_lexicon
from grammar.logic import Term, to_text
from grammar.logic_types import read_ontology
from grammar.prior import SemanticPrior
from grammar.transforms import normalize


def _shape(lf):
    def go(x):
        if isinstance(x, Term):
            if x.functor == "const" and len(x.args) == 2 and isinstance(x.args[1], Term):
                return Term("const", (go(x.args[0]), Term(x.args[1].functor, ())))
            return Term(x.functor, tuple(go(a) for a in x.args))
        if hasattr(x, "items"):
            return type(x)(tuple(go(a) for a in x.items))
        return x
    return go(normalize(lf))


def run(out_dir: Path, seed: int, *, n_train: int = 120, n_test: int = 5) -> None:
    """Trains on ``n_train`` GeoQuery pairs and parses ``n_test`` test sentences (< 90 s)."""
    t0 = time.perf_counter()
    geo = DATA_DIR / "geoquery"
    rng = np.random.default_rng(seed)
    tr = read_examples(geo / "geoqueries880_train")[:n_train]
    model = GrammarModel(read_grammar())
    state = train.init(model, tr, rng, lexicon=read_lexicon(geo / "geoqueries880_lexicon"))
    info = train.run(state, rng, 1)[-1]
    covered = sum(t is not None for t in state.trees)
    print(f"trained on {covered}/{len(tr)} derivable GeoQuery pairs, 1 iteration: "
          f"log posterior {info.log_posterior:.1f}, MH accepted {info.accepted}/{info.proposed} "
          f"({time.perf_counter() - t0:.1f} s)")
    prior = SemanticPrior.train([e.lf for e in tr], rng, burn_in=2, iterations=4,
                                ontology=read_ontology(geo / "geoqueries880_types"))
    space = parsing.CandidateSpace(model, [e.lf for e in tr])
    shapes = {_shape(e.lf) for e in tr}
    test = [e for e in read_examples(geo / "geoqueries880_test") if _shape(e.lf) in shapes]
    preds = parsing._predictors(model)
    correct = 0
    for e in test[:n_test]:
        r = parsing.parse(model, e.tokens, space(e.tokens), log_prior=prior.log_prob,
                          time_limit=8.0, predictors=preds)
        lf = r.best.lf if r.best else None
        ok = is_correct(lf, e.lf)
        correct += ok
        print(f"{'ok' if ok else 'XX'} {r.seconds:5.2f}s {' '.join(e.tokens)}\n"
              f"     -> {to_text(lf) if lf is not None else '(no parse)'}")
    print(f"{correct}/{min(n_test, len(test))} correct")
    lf = tr[0].lf
    for score, words in generate.k_best(model, lf, 2):
        print(f"generated for {to_text(lf)}: {' '.join(words)!r} (log p {score:.2f})")
    print(f"parser demo done in {time.perf_counter() - t0:.1f} s")


