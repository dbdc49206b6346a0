"""``probtree meta train|eval``: meta-train a learner on a task, evaluate it with calibration.

    probtree meta train --method niw --task sinusoid --steps 3000 --out runs/niw_sin.msgpack
    probtree meta train ... --val-every 250      # keep the best state on meta-validation
    probtree meta eval --checkpoint runs/niw_sin.msgpack --episodes 600
    probtree meta eval --method scratch --task letter      # no checkpoint: the untrained learner
    probtree meta eval --checkpoint runs/niw_sin.msgpack --select-test-time   # the benchmark's

Both print a readable table, then one JSON object as the last line (eval: ``accuracy``, ``ci95``,
``ece``, ``nll`` for classification; ``mse``, ``ci95``, ``nll`` for regression).

``train --out OUT`` saves its progress to ``OUT.progress`` every ``--checkpoint-every``
meta-steps, after each validation and on Ctrl-C; running the same command again resumes where it
stopped (a different command with the same ``--out`` is refused; ``--fresh`` starts over), and a
larger ``--steps`` extends a finished run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax

from bayes.meta.tasks import TASKS, make_task
from bayes.meta.train import (
    METHODS,
    evaluate,
    load_checkpoint,
    make_learner,
    meta_train,
    save_checkpoint,
)

__all__ = ["register", "parse_overrides", "parse_niw_overrides", "load_choices"]


def parse_overrides(items: list[str] | None, flag: str = "--set") -> dict:
    """``["a=1", "b=mode"]`` -> ``{"a": 1, "b": "mode"}``: values read as JSON, else as text.

    Raises:
        ValueError: an item without ``=`` (the message names ``flag``).
    """
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"{flag}: expected NAME=VALUE, got {item!r}")
        name, value = item.split("=", 1)
        try:
            out[name] = json.loads(value)
        except json.JSONDecodeError:
            out[name] = value
    return out


def parse_niw_overrides(text: str, train: bool = False) -> dict:
    """``"test_a=1,test_b=mode"`` -> ``{"test_a": 1, "test_b": "mode"}`` (the CLI's ``--set``).

    Parses ``--niw-test`` (every name starts with ``test_``) or, with ``train=True``,
    ``--niw-train`` (no name does).

    Raises:
        ValueError: an item that is not ``NAME=VALUE``, or a name that does not start with
            ``test_`` (``--niw-test``: only NIW-Meta's test time) or does (``--niw-train``).
    """
    flag = "--niw-train" if train else "--niw-test"
    out = parse_overrides([p.strip() for p in text.split(",") if p.strip()], flag)
    for name in out:
        if name.startswith("test_") == train:
            want = "a training field (not test_*)" if train else "a test-time field (test_*)"
            raise ValueError(f"{flag}: expected {want}, got {name!r}")
    return out


def load_choices(path: str) -> dict[tuple[str, str], dict]:
    """``(task label, method) -> {"selected_step", "test_time"}`` from a previous run's JSON.

    ``path`` holds the benchmark's JSON last line (or any object with its ``results`` rows);
    the rows of the untuned NIW-Meta variants (``niw-paper``, ``niw-vi``) are skipped.

    Raises:
        ValueError: if the file is not such JSON or a row lacks a field.
    """
    try:
        with open(path) as fh:
            rows = json.load(fh)["results"]
        out = {}
        for r in rows:
            if r["method"] in ("niw-paper", "niw-vi"):
                continue
            out[(r["task"], r["method"])] = dict(selected_step=int(r["selected_step"]),
                                                 test_time=dict(r["test_time"]))
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise ValueError(f"choices: expected a JSON object whose 'results' rows each have "
                         f"task, method, selected_step and test_time, in {path!r} ({err!r})"
                         ) from err
    return out


def _train(args: argparse.Namespace) -> int:
    overrides = parse_overrides(args.set)
    task = make_task(args.task, n_way=args.n_way, k_shot=args.k_shot,
                     digits_per_episode=args.digits_per_episode)
    learner = make_learner(args.method, task, **overrides)
    # Only when set, so the progress of runs started before the flag existed still resumes.
    task_stamp = ({} if args.digits_per_episode is None
                  else {"digits_per_episode": args.digits_per_episode})
    progress_file = Path(str(args.out) + ".progress") if args.out else None
    if progress_file is not None and args.fresh:
        progress_file.unlink(missing_ok=True)
    if progress_file is not None and progress_file.exists():
        print(f"resuming from {progress_file} (--fresh starts afresh)")
    try:
        state, log = meta_train(
            learner, task, jax.random.key(args.seed), steps=args.steps, batch=args.batch,
            log_every=max(1, args.steps // 10), val_every=args.val_every,
            val_episodes=args.val_episodes, checkpoint=progress_file,
            checkpoint_every=args.checkpoint_every, progress=not args.no_progress,
            # The learner's config already covers these; named, they make a refusal readable.
            fingerprint={"overrides": overrides, **task_stamp},
        )
    except KeyboardInterrupt:
        if progress_file is None:
            print("interrupted; nothing saved (give --out to make a run resumable)")
        return 130
    steps = [r for r in log if "step" in r]
    keys = [k for k in steps[-1] if k not in ("step", "seconds")] if steps else []
    print(f"{'step':>6} {'seconds':>8} " + " ".join(f"{k:>14}" for k in keys))
    for row in steps:
        print(f"{row['step']:>6} {row['seconds']:>8.1f} "
              + " ".join(f"{row[k]:>14.4g}" for k in keys))
    vals = [r for r in log if "val_step" in r]
    if vals:
        print(f"validation ({args.val_episodes} episodes): " + ", ".join(
            f"{r['val_step']}: {r['val_score']:.4g}" for r in vals)
            + f"; kept step {log[-1]['selected_step']}")
    meta = {"method": args.method, "task": args.task, "n_way": args.n_way,
            "k_shot": args.k_shot, "overrides": overrides, "steps": args.steps,
            "batch": args.batch, "seed": args.seed, "val_every": args.val_every,
            "digits_per_episode": args.digits_per_episode}
    if args.out:
        save_checkpoint(args.out, state, meta)
        print(f"checkpoint written to {args.out}")
    final = dict(meta, **(steps[-1] if steps else {}), checkpoint=args.out)
    if vals:
        final.update(selected_step=log[-1]["selected_step"], val_score=log[-1]["val_score"])
    print(json.dumps(final))
    return 0


def _eval(args: argparse.Namespace) -> int:
    if args.checkpoint:
        meta = json.loads(Path(str(args.checkpoint) + ".json").read_text()) if Path(
            str(args.checkpoint) + ".json"
        ).exists() else None
        if meta is None:
            raise FileNotFoundError(f"checkpoint metadata {args.checkpoint}.json not found")
        for flag in ("method", "task"):
            given = getattr(args, flag)
            if given is not None and given != meta[flag]:
                raise ValueError(f"--{flag}: the checkpoint was trained with {meta[flag]!r}, "
                                 f"got {given!r} (leave --{flag} out with --checkpoint)")
        shots = meta["k_shot"] if args.k_shot is None else args.k_shot  # e.g. train 5, test 1
        task = make_task(meta["task"], n_way=meta["n_way"], k_shot=shots)
        # --set on top of the training overrides: e.g. a test-time field (test_sgld_steps=300).
        overrides = dict(meta["overrides"], **parse_overrides(args.set))
        learner = make_learner(meta["method"], task, **overrides)
        state, _ = load_checkpoint(args.checkpoint, learner.init(jax.random.key(0)))
    else:
        if not (args.method and args.task):
            raise ValueError("eval: give --checkpoint, or --method and --task")
        meta = {"method": args.method, "task": args.task}
        task = make_task(args.task, n_way=args.n_way, k_shot=args.k_shot)
        overrides = parse_overrides(args.set)
        learner = make_learner(args.method, task, **overrides)
        state = learner.init(jax.random.key(args.seed))
    chosen = {}
    if args.select_test_time:
        from bayes.meta.selection import select_test_time

        chosen, score, scores = select_test_time(
            meta["method"], task, state, args.seed, val_episodes=args.val_episodes,
            train=overrides, progress=not args.no_progress)
        metric = "accuracy" if task.kind == "classification" else "mse"
        print(f"test-time grid on {args.val_episodes} meta-validation episodes ({metric}):")
        for over, s in scores:
            mark = "*" if over == chosen else " "
            shown = [f"{k.removeprefix('test_')}={v}" for k, v in over.items() if v is not None]
            print(f" {mark} {s:.4f}  " + (" ".join(shown) or "(the learner's own)"))
        learner = make_learner(meta["method"], task, **{**overrides, **chosen})
    metrics, probs, labels = evaluate(
        learner, state, task, jax.random.key(args.seed + 1), episodes=args.episodes,
        split=args.split,
    )
    print(f"{meta['method']} on {task.name} ({args.split}, {metrics['episodes']} episodes)")
    for k, v in metrics.items():
        print(f"  {k:>10}: {v:.4f}" if isinstance(v, float) else f"  {k:>10}: {v}")
    if args.diagram and task.kind == "classification":
        from bayes.meta.calibration import reliability_diagram

        title = f"{meta['method']} {task.name}"
        path = reliability_diagram(probs, labels, args.diagram, title=title)
        print(f"reliability diagram written to {path}")
    extra = dict(test_time=chosen, val_score=score) if args.select_test_time else {}
    print(json.dumps(dict(method=meta["method"], task=task.name, split=args.split, **metrics,
                          **extra)))
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n-way", type=int, default=5, help="classes per episode (default 5)")
    p.add_argument("--k-shot", type=int, default=None, help="support shots (task default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="hyper-parameter override, repeatable (e.g. --set sgld_steps=10)")


def register(subparsers) -> None:
    """Adds the ``meta`` command group (``train``, ``eval``) to the ``probtree`` CLI."""
    meta = subparsers.add_parser("meta", help="NIW hierarchical Bayesian meta-learning")
    sub = meta.add_subparsers(dest="meta_command", metavar="SUBCOMMAND")
    train = sub.add_parser("train", help="meta-train a learner on a task")
    train.add_argument("--method", choices=METHODS, required=True)
    train.add_argument("--task", choices=TASKS, required=True)
    train.add_argument("--steps", type=int, default=2000, help="meta-steps (default 2000)")
    train.add_argument("--batch", type=int, default=8, help="episodes per meta-step")
    train.add_argument("--out", default=None,
                       help="checkpoint path (msgpack + .json); progress goes to OUT.progress "
                            "as the run goes, and the same command resumes an interrupted run")
    train.add_argument("--checkpoint-every", type=int, default=100,
                       help="meta-steps between progress saves (default 100)")
    train.add_argument("--fresh", action="store_true",
                       help="discard OUT.progress and start afresh")
    train.add_argument("--val-every", type=int, default=0,
                       help="validate every N meta-steps and keep the best state (default 0: "
                            "keep the last)")
    train.add_argument("--val-episodes", type=int, default=200,
                       help="meta-validation episodes per check (default 200)")
    train.add_argument("--digits-per-episode", type=int, default=None, metavar="N",
                       help="digits: meta-train episodes draw their classes from N digits (2: "
                            "the structure of the val and test episodes; default: uniformly "
                            "from the 24 training classes)")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    _common(train)
    train.set_defaults(func=_train)
    ev = sub.add_parser("eval", help="evaluate a checkpoint (accuracy ± CI, ECE, NLL / MSE)")
    ev.add_argument("--checkpoint", default=None)
    ev.add_argument("--method", choices=METHODS, default=None)
    ev.add_argument("--task", choices=TASKS, default=None)
    ev.add_argument("--episodes", type=int, default=600, help="test episodes (default 600)")
    ev.add_argument("--split", choices=("train", "val", "test"), default="test")
    ev.add_argument("--diagram", default=None, help="PNG path for a reliability diagram")
    ev.add_argument("--select-test-time", action="store_true",
                    help="first choose the test-time settings on meta-validation episodes from "
                         "the benchmark's grid (bayes.meta.selection; replaces --set's "
                         "test-time fields it covers)")
    ev.add_argument("--val-episodes", type=int, default=200,
                    help="meta-validation episodes for --select-test-time (default 200)")
    ev.add_argument("--no-progress", action="store_true", help="no progress bar")
    _common(ev)
    ev.set_defaults(func=_eval)
