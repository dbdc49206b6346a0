"""GeoQuery: train the HDP grammar on the 558 training pairs and parse the 273 (+7) test sentences.

Prints one line per test sentence, a summary table, and as last line one JSON object with ``n``,
``accuracy``, ``precision``, ``recall``, ``recall_with_remaining`` (the 7 ``_remaining`` test
sentences counted as failures), ``median_seconds`` and the settings. ``--quick`` trains one
iteration and parses the first 30 test sentences.

Usage: ``python benchmarks/geoquery.py [--quick] [--iterations N] [--limit N] [--time-limit S]
[--search candidates|sets|union|cascade] [--sets-time-limit S] [--leaf-beam NATS]
[--max-cell-items N] [--rules seating|table] [--model DIR]``
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from grammar import parse as parsing
from grammar import train
from grammar.derivation import GrammarModel
from grammar.evaluate import is_correct, summarise
from grammar.grammar import DATA_DIR, read_examples, read_grammar, read_lexicon
from grammar.logic import to_text
from grammar.parse_sets import Vocabulary, parse_sets
from grammar.parse_union import parse_cascade, parse_union, search_settings
from grammar.rule_table import RuleTable


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--iterations", type=int, default=None)
    ap.add_argument("--limit", type=int, default=None, help="parse only the first N test items")
    ap.add_argument("--time-limit", type=float, default=10.0)
    ap.add_argument("--prior", choices=["uniform", "hdp"], default="hdp")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default=None,
                    help="a model directory: loaded if it exists, else trained and saved there")
    ap.add_argument("--depth", type=int, default=2, help="A* bound depth (see grammar.parse)")
    ap.add_argument("--search", choices=["candidates", "sets", "union", "cascade"],
                    default="cascade",
                    help="candidates: A* over training structures with constants swapped "
                         "(grammar.parse); sets: A* over (nonterminal, span, LF set) items "
                         "(grammar.parse_sets); union: both, best exact score "
                         "(grammar.parse_union); cascade (default): the pruned set search, "
                         "then candidates if it found nothing (grammar.parse_union)")
    ap.add_argument("--sets-time-limit", type=float, default=None,
                    help="union search: seconds for the set search (default: --time-limit)")
    ap.add_argument("--rerank", type=int, default=None,
                    help="sets/union/cascade: collect this many derivable LFs by likelihood, "
                         "rerank with the prior (0, the default: exact A* with the prior's set "
                         "bound)")
    ap.add_argument("--beam", type=float, default=0.0,
                    help="sets search: keep HDP paths within this many nats of the best (0: all)")
    ap.add_argument("--leaf-beam", type=float, default=None,
                    help="sets/union/cascade: leaves of featured preterminals from the training "
                         "leaf LFs, kept within this many nats of the span's best segmentation "
                         "(grammar.parse_leaves; default 6 for cascade, else the exact path-set "
                         "leaves; negative: exact)")
    ap.add_argument("--max-cell-items", type=int, default=None,
                    help="sets/union/cascade: pop at most this many items per (nonterminal, "
                         "span) cell (default 15 for cascade, else 0 = no limit, exact)")
    ap.add_argument("--rules", choices=["seating", "table"], default="table",
                    help="rule probabilities at parse time: seating (walk the HDP tables per "
                         "query) or table (one jit predictive pass per HDP, then lookups; "
                         "grammar.rule_table)")
    args = ap.parse_args(argv)
    ss = search_settings(args.search, rerank=args.rerank, leaf_beam=args.leaf_beam,
                         max_cell_items=args.max_cell_items)
    iters = args.iterations if args.iterations is not None else (1 if args.quick else 4)
    limit = args.limit if args.limit is not None else (30 if args.quick else None)
    geo = DATA_DIR / "geoquery"
    rng = np.random.default_rng(args.seed)
    tr = read_examples(geo / "geoqueries880_train")
    extra = read_examples(geo / "geoqueries880_train_remaining")
    test = read_examples(geo / "geoqueries880_test")
    remaining = read_examples(geo / "geoqueries880_test_remaining")
    lex = read_lexicon(geo / "geoqueries880_lexicon")
    t0 = time.perf_counter()
    if args.model and (Path(args.model) / "model.json").exists():
        state = train.load(args.model)
        model = state.model
    else:
        model = GrammarModel(read_grammar())
        state = train.init(model, tr, rng, lexicon=lex)
        train.run(state, rng, iters)
        if args.model:
            train.save(state, args.model)
    covered = sum(t is not None for t in state.trees)
    train_s = time.perf_counter() - t0
    log_prior = prior_bound = None
    if args.prior == "hdp":
        from grammar.logic_types import read_ontology
        from grammar.prior import SemanticPrior
        beliefs = [b.lf for b in _beliefs(geo / "geoqueries880_beliefs")]
        prior = SemanticPrior.train([e.lf for e in tr + extra], rng,
                                    ontology=read_ontology(geo / "geoqueries880_types"),
                                    beliefs=beliefs)
        log_prior, prior_bound = prior.log_prob, prior.set_bound
    space = parsing.CandidateSpace(model, [e.lf for e in tr + extra])
    leaves = None
    vocab = Vocabulary([e.lf for e in tr + extra])
    if ss["leaf_beam"] is not None:  # the pruned set search: training leaves, connected LFs
        from grammar.parse_leaves import LeafLexicon
        leaves = LeafLexicon.from_training(model, state.trees, lex, beam=ss["leaf_beam"])
        vocab = Vocabulary([e.lf for e in tr + extra], connected=True)
    t1 = time.perf_counter()
    if args.rules == "table":
        scorer = RuleTable(model, backend="jax")
        preds = scorer.predictors
    else:
        scorer, preds = model, parsing._predictors(model)
    table_s = time.perf_counter() - t1
    items = test[:limit] if limit else test
    predicted, secs = [], []
    for e in items:
        if args.search in ("union", "cascade"):
            combine = parse_union if args.search == "union" else parse_cascade
            r = combine(scorer, e.tokens, space(e.tokens), vocabulary=vocab,
                            log_prior=log_prior, prior_bound=prior_bound,
                            time_limit=args.time_limit, sets_time_limit=args.sets_time_limit,
                            predictors=preds, depth=args.depth, rerank=ss["rerank"],
                            beam=args.beam or None, leaves=leaves,
                            max_cell_items=ss["max_cell_items"])
        elif args.search == "sets":
            r = parse_sets(scorer, e.tokens, vocabulary=vocab, log_prior=log_prior,
                           prior_bound=prior_bound, time_limit=args.time_limit,
                           predictors=preds, rerank=ss["rerank"],
                           beam=args.beam or None, leaves=leaves,
                           max_cell_items=ss["max_cell_items"])
        else:
            r = parsing.parse(scorer, e.tokens, space(e.tokens), log_prior=log_prior,
                              time_limit=args.time_limit, predictors=preds,
                              depth=args.depth)
        lf = r.best.lf if r.best else None
        predicted.append(lf)
        secs.append(r.seconds)
        mark = "ok " if is_correct(lf, e.lf) else ("-- " if lf is None else "XX ")
        src = r.source
        print(f"{mark}{r.seconds:6.2f}s {r.n_scored:4d}/{r.n_candidates:<4d} "
              f"{'[' + src + '] ' if src else ''}"
              f"{' '.join(e.tokens)}  =>  {to_text(lf) if lf else '(none)'}", flush=True)
    extra_fail = len(remaining) if limit is None else 0
    res = summarise(predicted, [e.lf for e in items], secs, extra_failures=extra_fail)
    res.update({"train_pairs": len(tr), "train_covered": covered, "iterations": iters,
                "train_seconds": round(train_s, 1), "prior": args.prior,
                "time_limit": args.time_limit, "seed": args.seed, "search": args.search,
                "rerank": (ss["rerank"] or 0) if args.search != "candidates" else None,
                "sets_time_limit": (args.sets_time_limit if args.search in ("union", "cascade")
                                    else None),
                "leaf_beam": ss["leaf_beam"], "max_cell_items": ss["max_cell_items"],
                "rules": args.rules,
                "table_seconds": round(table_s, 2)})
    print(f"\n{'pairs covered by the grammar':32s} {covered}/{len(tr)}")
    for k in ("n", "answered", "correct", "accuracy", "precision", "recall",
              "recall_with_remaining", "median_seconds", "train_seconds"):
        v = res[k]
        print(f"{k:32s} {v:.3f}" if isinstance(v, float) else f"{k:32s} {v}")
    print(json.dumps(res))
    return res


def _beliefs(path):
    from grammar.logic import parse_records
    out = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("%"):
            for rec in parse_records(line):
                out.append(type("B", (), {"lf": rec.args[0]})())
    return out


if __name__ == "__main__":
    main()
