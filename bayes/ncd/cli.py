"""``probtree ncd fit``: novel class discovery on a CSV file.

Example::

    probtree ncd fit --csv data.csv --label-column -1 --no-header --known 1,2,4,8,9 \\
        --method pbn --k auto

prints a table of the discovered clusters against the true (hidden) labels of the novel rows and,
as its last line, a JSON object with ``acc``, ``bacc``, ``nmi``, ``ari``, ``k`` and ``seconds``.
Scores are computed on the novel rows of ``--test-csv`` when given (assigned with ``predict``),
otherwise on the unlabelled training rows.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from bayes.ncd.methods import METHODS
from bayes.ncd.metrics import clustering_scores, contingency_table
from bayes.ncd.tabular import check_constant, read_csv, split_known

__all__ = ["register", "run_fit"]


def _k_arg(text: str) -> int | str:
    if text == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--k must be a positive integer or 'auto', got {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"--k must be >= 1, got {value}")
    return value


def register(subparsers) -> None:
    """Adds the ``ncd`` command group to the ``probtree`` parser."""
    ncd = subparsers.add_parser("ncd", help="novel class discovery in tabular data")
    sub = ncd.add_subparsers(dest="ncd_command", metavar="SUBCOMMAND")
    fit = sub.add_parser("fit", help="discover novel classes in a CSV file")
    fit.add_argument("--csv", required=True, help="training CSV: numeric features + a label")
    fit.add_argument(
        "--label-column",
        required=True,
        help="label column: 0-based index (negative from the end) or header name",
    )
    fit.add_argument(
        "--header",
        dest="header",
        action="store_true",
        default=True,
        help="the first line names the columns (default)",
    )
    fit.add_argument(
        "--no-header", dest="header", action="store_false", help="the file has no header line"
    )
    fit.add_argument(
        "--known",
        required=True,
        help="comma-separated labels of the known classes; other rows are novel",
    )
    fit.add_argument("--test-csv", default=None, help="optional test CSV with the same columns")
    fit.add_argument("--k", type=_k_arg, default="auto", help="number of novel classes or 'auto'")
    fit.add_argument("--method", choices=METHODS, default="pbn")
    fit.add_argument(
        "--tune",
        action="store_true",
        help="tune hyperparameters by hidden-known-class cross-validation",
    )
    fit.add_argument("--trials", type=int, default=5, help="tuning budget (configurations)")
    fit.add_argument("--epochs", type=int, default=None, help="PBN epochs (default 200)")
    fit.add_argument("--seed", type=int, default=0)
    fit.set_defaults(func=run_fit)
    ncd.set_defaults(func=lambda args: (ncd.print_help(), 2)[1])


def run_fit(args: argparse.Namespace) -> int:
    """Runs ``probtree ncd fit``; returns the exit status."""
    from bayes.ncd.estimator import NovelClassDiscovery

    start = time.perf_counter()
    known = [s.strip() for s in str(args.known).split(",") if s.strip()]
    if not known:
        raise ValueError("--known: give at least one known class label")
    train = read_csv(args.csv, args.label_column, header=args.header)
    y = split_known(train.labels, known)
    check_constant(train.x, train.feature_names, args.csv)
    n_unlab = int(np.sum(y == -1))
    if args.k != "auto" and args.k > n_unlab:
        raise ValueError(f"--k {args.k} exceeds the {n_unlab} novel rows in {args.csv}")
    if args.k == "auto" and n_unlab < 4:
        raise ValueError(f"--k auto needs at least 4 novel rows, {args.csv} has {n_unlab}")
    params = {"epochs": args.epochs} if (args.epochs and args.method == "pbn") else None
    est = NovelClassDiscovery(
        args.method, args.k, params, tune=args.tune, tune_trials=args.trials, seed=args.seed
    )
    est.fit(train.x, y)
    if args.test_csv:
        test = read_csv(args.test_csv, args.label_column, header=args.header)
        if test.x.shape[1] != train.x.shape[1]:
            raise ValueError(
                f"--test-csv has {test.x.shape[1]} feature columns, --csv has {train.x.shape[1]}"
            )
        novel = ~np.isin(test.labels, known)
        if not novel.any():
            raise ValueError(f"{args.test_csv}: no novel rows to score")
        true, pred, where = test.labels[novel], est.predict(test.x[novel]), "test novel rows"
    else:
        true, pred, where = train.labels[y == -1], est.labels_, "unlabelled training rows"
    scores = clustering_scores(true, pred)
    seconds = time.perf_counter() - start
    table, classes, clusters = contingency_table(true, pred)
    print(f"method {args.method}, k = {est.k_}, scored on {len(true)} {where}")
    print("true \\ cluster " + " ".join(f"{c:>6}" for c in clusters.tolist()))
    for name, row in zip(classes.tolist(), table):
        print(f"{str(name):>15} " + " ".join(f"{v:>6d}" for v in row.tolist()))
    print(
        f"ACC {100 * scores['acc']:.1f}  BACC {100 * scores['bacc']:.1f}  "
        f"NMI {100 * scores['nmi']:.1f}  ARI {100 * scores['ari']:.1f}  ({seconds:.1f} s)"
    )
    out = {k: round(v, 4) for k, v in scores.items()}
    out.update(
        k=int(est.k_),
        seconds=round(seconds, 2),
        method=args.method,
        params={k: v for k, v in est.params_.items() if not callable(v)},
    )
    print(json.dumps(out))
    return 0
