# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # The HDP semantic parser on GeoQuery
#
# Saparov, Saraswat & Mitchell (CoNLL 2017) generate a sentence `y` and its logical form `x`
# jointly, `p(x) p(y, t | x)`: a semantic prior over logical forms, and a grammar whose rule
# choices come from HDPs keyed by features of the logical form. This notebook trains both on a
# slice of GeoQuery (bundled with the package), looks at a derivation, parses test sentences
# (k-best, with a time limit; the gold logical form is never shown to the parser), generates
# sentences for a logical form and scores the parses.

# %%
import os
import time

import numpy as np

from grammar import generate, train
from grammar import parse as parsing
from grammar.derivation import GrammarModel, derivation_sentence, log_prob, tree_steps
from grammar.evaluate import is_correct, summarise
from grammar.grammar import DATA_DIR, read_examples, read_grammar, read_lexicon
from grammar.logic import to_text
from grammar.logic_types import read_ontology
from grammar.parse_leaves import LeafLexicon
from grammar.parse_sets import Vocabulary
from grammar.parse_union import CASCADE_DEFAULTS, parse_cascade
from grammar.prior import SemanticPrior

SMALL = os.environ.get("PROBTREE_EXAMPLE_SMALL") == "1"
N_TRAIN = 250 if SMALL else 558
N_TEST = 8 if SMALL else 40
TIME_LIMIT = 5.0 if SMALL else 10.0
rng = np.random.default_rng(0)
geo = DATA_DIR / "geoquery"

# %% [markdown]
# ## Training
# `train.init` inserts the lexicon and samples each training pair's derivation from the growing
# grammar; `train.run` then does Metropolis-Hastings block resampling of every derivation, a
# collapsed Gibbs sweep over every HDP and concentration resampling.

# %%
t0 = time.perf_counter()
pairs = read_examples(geo / "geoqueries880_train")[:N_TRAIN]
model = GrammarModel(read_grammar())
lexicon = read_lexicon(geo / "geoqueries880_lexicon")
state = train.init(model, pairs, rng, lexicon=lexicon)
log = train.run(state, rng, 1)
covered = sum(t is not None for t in state.trees)
print(f"{covered}/{len(pairs)} pairs derivable; log posterior {log[-1].log_posterior:.1f}; "
      f"MH accepted {log[-1].accepted}/{log[-1].proposed}; {time.perf_counter() - t0:.1f} s")
assert covered == len(pairs)

prior = SemanticPrior.train([e.lf for e in pairs], rng, burn_in=2, iterations=4,
                            ontology=read_ontology(geo / "geoqueries880_types"))

# %% [markdown]
# ## A derivation
# Derivations are core `probtree.Tree`s whose labels are `Step(nonterminal, LF, atom)`: each node
# carries the logical form pushed down to it by the rule's transformation functions.

# %%
tree = state.trees[0]
print(" ".join(pairs[0].tokens), "->", to_text(pairs[0].lf))
for i, (step, kids) in enumerate(tree_steps(tree)):
    what = " ".join(step.atom) if not kids else step.atom
    print(f"{i:3d} {step.nonterminal:<14} {what!s:<40} {to_text(step.lf)}")
assert derivation_sentence(tree) == tuple(pairs[0].tokens)
print(f"log p(y, t | x) = {log_prob(model, tree):.2f}")

# %% [markdown]
# ## Parsing
# The candidate-set search (`grammar.parse`): training logical-form structures with the constants
# the trained lexicon recognises in the sentence swapped in, searched exactly by A* with
# admissible bounds from an LF-free bounds pass. Each result holds the k best parses.

# %%
space = parsing.CandidateSpace(model, [e.lf for e in pairs])
preds = parsing._predictors(model)
test = read_examples(geo / "geoqueries880_test")[:N_TEST]
predicted, seconds = [], []
for e in test:
    r = parsing.parse(model, e.tokens, space(e.tokens), log_prior=prior.log_prob, k=3,
                      time_limit=TIME_LIMIT, predictors=preds)
    best = r.best.lf if r.best else None
    predicted.append(best)
    seconds.append(r.seconds)
    print(f"{'ok' if is_correct(best, e.lf) else 'XX'} {r.seconds:5.2f}s {' '.join(e.tokens)}")
    for p in r.parses:
        print(f"      {p.score:8.2f}  {to_text(p.lf)}")
    if r.unknown_words:
        print("      unknown words:", ", ".join(r.unknown_words))

# %% [markdown]
# ## The default search: the cascade
# The paper's search builds LFs bottom-up over (nonterminal, span, LF set) chart items. In its
# pruned mode (`grammar.parse_sets` with a `LeafLexicon` of the LFs training put at each
# preterminal and a cap on the items per chart cell) it can produce structures never seen in
# training; the cascade (`probtree grammar parse`'s default) falls back to the candidate search
# only where it finds nothing.

# %%
leaves = LeafLexicon.from_training(model, state.trees, lexicon, beam=CASCADE_DEFAULTS["leaf_beam"])
vocab = Vocabulary([e.lf for e in pairs], connected=True)
cascade, cascade_seconds = [], []
for e in test:
    r = parse_cascade(model, e.tokens, space(e.tokens), vocabulary=vocab,
                      log_prior=prior.log_prob, prior_bound=prior.set_bound,
                      time_limit=TIME_LIMIT, predictors=preds, leaves=leaves,
                      max_cell_items=CASCADE_DEFAULTS["max_cell_items"])
    best = r.best.lf if r.best else None
    cascade.append(best)
    cascade_seconds.append(r.seconds)
    print(f"{'ok' if is_correct(best, e.lf) else 'XX'} {r.seconds:5.2f}s [{r.source or '-'}] "
          f"{' '.join(e.tokens)}  ->  {to_text(best) if best is not None else '(none)'}")

# %% [markdown]
# ## Evaluation
# Exact match after canonicalisation; precision counts only answered sentences. On so small a
# training slice most test structures are unseen, so expect few correct (the README has the
# figures for the full 558-pair training set).

# %%
for name, pred, secs in (("candidates", predicted, seconds),
                         ("cascade", cascade, cascade_seconds)):
    metrics = summarise(pred, [e.lf for e in test], secs)
    print(name, {k: (round(v, 3) if isinstance(v, float) else v) for k, v in metrics.items()})
    assert metrics["n"] == len(test) and 0.0 <= metrics["accuracy"] <= 1.0

# %% [markdown]
# ## Generation
# The k most probable sentences for a logical form, and samples from `p(y, t | x)`.

# %%
lf = pairs[1].lf
print("for", to_text(lf))
for score, words in generate.k_best(model, lf, 3):
    print(f"  {score:8.2f}  {' '.join(words)}")
for _ in range(3):
    t = generate.sample_sentence(model, lf, rng)
    print("  sample:", " ".join(derivation_sentence(t)) if t is not None else "(dead end)")
