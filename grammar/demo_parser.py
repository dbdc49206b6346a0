"""Demo of the semantic parser: train on a GeoQuery slice, parse and generate a few sentences.

Trains the ``english.gram`` HDP grammar (with the GeoQuery lexicon) on the first training pairs
for one MH/Gibbs iteration, trains the semantic prior, then parses the first test sentences with
the default search (:func:`grammar.parse_union.parse_cascade`: the pruned set search, the
candidate search where it finds nothing) under a time limit, and generates the two most probable
sentences for one logical form. The gold LF is used only to mark each answer right or wrong.
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
from grammar.logic import to_text
from grammar.logic_types import read_ontology
from grammar.parse_leaves import LeafLexicon
from grammar.parse_sets import Vocabulary
from grammar.parse_union import CASCADE_DEFAULTS, parse_cascade
from grammar.prior import SemanticPrior


def run(out_dir: Path, seed: int, *, n_train: int = 120, n_test: int = 5) -> None:
    """Trains on ``n_train`` GeoQuery pairs and parses ``n_test`` test sentences (< 90 s)."""
    t0 = time.perf_counter()
    geo = DATA_DIR / "geoquery"
    rng = np.random.default_rng(seed)
    tr = read_examples(geo / "geoqueries880_train")[:n_train]
    model = GrammarModel(read_grammar())
    lex = read_lexicon(geo / "geoqueries880_lexicon")
    state = train.init(model, tr, rng, lexicon=lex)
    info = train.run(state, rng, 1)[-1]
    covered = sum(t is not None for t in state.trees)
    print(f"trained on {covered}/{len(tr)} derivable GeoQuery pairs, 1 iteration: "
          f"log posterior {info.log_posterior:.1f}, MH accepted {info.accepted}/{info.proposed} "
          f"({time.perf_counter() - t0:.1f} s)")
    lfs = [e.lf for e in tr]
    prior = SemanticPrior.train(lfs, rng, burn_in=2, iterations=4,
                                ontology=read_ontology(geo / "geoqueries880_types"))
    space = parsing.CandidateSpace(model, lfs)
    leaves = LeafLexicon.from_training(model, state.trees, lex,
                                       beam=CASCADE_DEFAULTS["leaf_beam"])
    vocab = Vocabulary(lfs, connected=True)
    test = read_examples(geo / "geoqueries880_test")
    preds = parsing._predictors(model)
    correct = 0
    for e in test[:n_test]:
        r = parse_cascade(model, e.tokens, space(e.tokens), vocabulary=vocab,
                          log_prior=prior.log_prob, prior_bound=prior.set_bound,
                          time_limit=8.0, predictors=preds, leaves=leaves,
                          max_cell_items=CASCADE_DEFAULTS["max_cell_items"])
        lf = r.best.lf if r.best else None
        ok = is_correct(lf, e.lf)
        correct += ok
        print(f"{'ok' if ok else 'XX'} {r.seconds:5.2f}s [{r.source or '-'}] "
              f"{' '.join(e.tokens)}\n     -> {to_text(lf) if lf is not None else '(no parse)'}")
    print(f"{correct}/{min(n_test, len(test))} correct")
    lf = tr[0].lf
    for score, words in generate.k_best(model, lf, 2):
        print(f"generated for {to_text(lf)}: {' '.join(words)!r} (log p {score:.2f})")
    print(f"parser demo done in {time.perf_counter() - t0:.1f} s")


