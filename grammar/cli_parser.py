"""``probtree grammar train`` and ``probtree grammar parse`` (the semantic parser's commands).

``train`` reads a grammar, training pairs and lexicons, initialises and runs the MH/Gibbs sampler
(:mod:`grammar.train`) with a progress bar, and saves the model directory (grammar text, HDP
``.npz`` files, derivations as JSON; copies of the types and knowledge-base files for the semantic
prior). ``parse`` loads it, trains the semantic prior on the model's training LFs plus ``--extra``
pairs, parses every test sentence (:mod:`grammar.parse`) and streams one JSON record per sentence
to ``--out``; it prints a table and, as its last line, a JSON object with ``n``, ``accuracy``,
``precision``, ``recall`` and ``median_seconds``.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

__all__ = ["add_commands", "train_command", "parse_command"]


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Adds ``train`` and ``parse`` to the ``probtree grammar`` group."""
    from grammar.grammar import DATA_DIR

    p = sub.add_parser("train", help="train the HDP grammar on (sentence, LF) pairs")
    p.add_argument("--grammar", default=str(DATA_DIR / "english.gram"))
    p.add_argument("--train", required=True, help="parse([tokens], LF). records")
    p.add_argument("--lexicon", action="append", default=[], help="lexicon file (repeatable)")
    p.add_argument("--types", default=None, help="type ontology for the semantic prior")
    p.add_argument("--kb", default=None, help="knowledge-base beliefs parse(T(c)). for the prior")
    p.add_argument("--model", required=True, help="output model directory")
    p.add_argument("--iterations", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=train_command)
    q = sub.add_parser("parse", help="parse test sentences with a trained model")
    q.add_argument("--model", required=True, help="model directory written by 'grammar train'")
    q.add_argument("--test", required=True, help="parse([tokens], LF). records")
    q.add_argument("--types", default=None, help="type ontology (default: the model's copy)")
    q.add_argument("--extra", action="append", default=[],
                   help="extra training pairs for the semantic prior and LF candidates")
    q.add_argument("--prior", choices=["hdp", "uniform"], default="hdp")
    q.add_argument("--time-limit", type=float, default=20.0, help="seconds per sentence")
    q.add_argument("--k", type=int, default=1, help="parses kept per sentence")
    q.add_argument("--search", choices=["candidates", "sets", "union", "cascade"],
                   default="cascade",
                   help="candidates: A* over training structures with constants swapped in; "
                        "sets: A* over (nonterminal, span, LF set) items (grammar.parse_sets); "
                        "union: both, best exact score (grammar.parse_union); cascade "
                        "(default): the pruned set search, then candidates where it finds "
                        "nothing")
    q.add_argument("--rerank", type=int, default=None,
                   help="sets/union/cascade: collect this many derivable LFs by likelihood and "
                        "rerank with the prior (inexact, faster; 0, the default: exact A* with "
                        "the prior's bound)")
    q.add_argument("--leaf-beam", type=float, default=None,
                   help="sets/union/cascade: leaves from the training leaf LFs within this many "
                        "nats of the span's best segmentation (grammar.parse_leaves; default 6 "
                        "for cascade, else the exact path-set leaves; negative: exact)")
    q.add_argument("--max-cell-items", type=int, default=None,
                   help="sets/union/cascade: items popped per (nonterminal, span) (default 15 "
                        "for cascade, else 0: no cap)")
    q.add_argument("--rules", choices=["table", "seating"], default="table",
                   help="rule probabilities: one jit predictive pass per HDP (table) or a "
                        "seating walk per query")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--out", required=True, help="JSON-lines output, one record per sentence")
    q.set_defaults(func=parse_command)


def train_command(args: argparse.Namespace) -> int:
    """Runs ``probtree grammar train``."""
    from grammar import train
    from grammar.derivation import GrammarModel
    from grammar.grammar import read_examples, read_grammar, read_lexicon

    if args.iterations < 0:
        raise ValueError(f"--iterations: expected >= 0, got {args.iterations}")
    gram = read_grammar(args.grammar)
    examples = read_examples(args.train)
    lex = [it for path in args.lexicon for it in read_lexicon(path, grammar=gram)]
    rng = np.random.default_rng(args.seed)
    model = GrammarModel(gram)
    state = train.init(model, examples, rng, lexicon=lex)
    covered = sum(t is not None for t in state.trees)
    print(f"{covered}/{len(examples)} training pairs have a derivation", flush=True)
    infos = train.run(state, rng, args.iterations, progress=True)
    train.save(state, args.model)
    out = Path(args.model)
    for src, name in ((args.types, "types"), (args.kb, "beliefs")):
        if src:
            shutil.copyfile(src, out / name)
    if args.lexicon:  # the parser's leaf lexicon reads the lexicon's LFs back from the model
        (out / "lexicon").write_text("\n".join(Path(p).read_text() for p in args.lexicon))
    figures = {"pairs": len(examples), "covered": covered, "lexicon_items": len(lex),
               "iterations": args.iterations,
               "log_posterior": infos[-1].log_posterior if infos else train.log_posterior(model)}
    print(json.dumps(figures))
    return 0


def _beliefs(path: Path) -> list:
    from grammar.logic import Term, parse_records

    out = []
    for rec in parse_records(path.read_text(), source=str(path)):
        if isinstance(rec, Term) and rec.functor == "parse" and len(rec.args) == 1:
            out.append(rec.args[0])
    return out


def parse_command(args: argparse.Namespace) -> int:
    """Runs ``probtree grammar parse``."""
    from grammar import parse as parsing
    from grammar import train
    from grammar.evaluate import is_correct, summarise
    from grammar.grammar import read_examples, read_lexicon
    from grammar.logic import to_text
    from grammar.logic_types import read_ontology
    from grammar.parse_leaves import LeafLexicon
    from grammar.parse_sets import Vocabulary, parse_sets
    from grammar.parse_union import parse_cascade, parse_union, search_settings
    from grammar.prior import SemanticPrior, UniformPrior
    from grammar.rule_table import RuleTable

    state = train.load(args.model)
    model, mdir = state.model, Path(args.model)
    extra = [e for path in args.extra for e in read_examples(path)]
    types = Path(args.types) if args.types else mdir / "types"
    onto = read_ontology(types) if types.exists() else None
    rng = np.random.default_rng(args.seed)
    train_lfs = [e.lf for e in state.examples + extra]
    if args.prior == "hdp":
        kb = mdir / "beliefs"
        prior = SemanticPrior.train(train_lfs, rng, ontology=onto,
                                    beliefs=_beliefs(kb) if kb.exists() else ())
    else:
        prior = UniformPrior(onto)
    space = parsing.CandidateSpace(model, train_lfs)
    vocab = Vocabulary(train_lfs)
    if args.rules == "table":
        scorer = RuleTable(model, backend="jax")
        preds = scorer.predictors
    else:
        scorer, preds = model, parsing._predictors(model)
    bound = getattr(prior, "set_bound", None)
    ss = search_settings(args.search, rerank=args.rerank, leaf_beam=args.leaf_beam,
                         max_cell_items=args.max_cell_items)
    leaves = None
    if ss["leaf_beam"] is not None:  # the pruned set search: training leaves, connected LFs
        lex_path = mdir / "lexicon"
        lex = read_lexicon(lex_path, grammar=model.grammar) if lex_path.exists() else ()
        leaves = LeafLexicon.from_training(model, state.trees, lex, beam=ss["leaf_beam"])
        vocab = Vocabulary(train_lfs, connected=True)
    sets_kw = {"rerank": ss["rerank"], "leaves": leaves, "max_cell_items": ss["max_cell_items"]}
    test = read_examples(args.test)
    predicted, secs = [], []
    with open(args.out, "w") as fh:
        for e in test:
            if args.search in ("union", "cascade"):
                combine = parse_union if args.search == "union" else parse_cascade
                r = combine(scorer, e.tokens, space(e.tokens), vocabulary=vocab,
                            log_prior=prior.log_prob, prior_bound=bound, k=args.k,
                            time_limit=args.time_limit, predictors=preds, **sets_kw)
            elif args.search == "sets":
                r = parse_sets(scorer, e.tokens, vocabulary=vocab, log_prior=prior.log_prob,
                               prior_bound=bound, k=args.k, time_limit=args.time_limit,
                               predictors=preds, **sets_kw)
            else:
                r = parsing.parse(scorer, e.tokens, space(e.tokens), log_prior=prior.log_prob,
                                  k=args.k, time_limit=args.time_limit, predictors=preds)
            lf = r.best.lf if r.best else None
            predicted.append(lf)
            secs.append(r.seconds)
            rec = {"sentence": " ".join(e.tokens),
                   "prediction": to_text(lf) if lf is not None else None,
                   "kbest": [[to_text(p.lf), p.score] for p in r.parses],
                   "gold": to_text(e.lf), "correct": is_correct(lf, e.lf),
                   "seconds": round(r.seconds, 4), "candidates": r.n_candidates,
                   "scored": r.n_scored, "timed_out": r.timed_out,
                   "unknown_words": list(r.unknown_words)}
            fh.write(json.dumps(rec) + "\n")
            fh.flush()
    res = summarise(predicted, [e.lf for e in test], secs)
    print(f"{'what':<16}{'value':>10}")
    for k in ("n", "answered", "correct", "accuracy", "precision", "recall", "median_seconds"):
        v = res[k]
        print(f"{k:<16}{v:>10.3f}" if isinstance(v, float) else f"{k:<16}{v:>10}")
    print(json.dumps({k: res[k] for k in ("n", "accuracy", "precision", "recall",
                                          "median_seconds")}))
    return 0
