"""Side-by-side few-shot benchmark: NIW-Meta vs MAML vs FOMAML vs ProtoNet vs training from scratch.

For each task (sinusoid, SineLine, Letter 5-way 5-shot, digits 5-way 5-shot) every method is
meta-trained with the same episode sampler, backbone and number of meta-steps, then evaluated on
the same test episodes: accuracy ± 95% CI, ECE and NLL (classification) or MSE ± CI and NLL
(regression), seconds per meta-step (after compilation) and the bytes XLA plans for one compiled
meta-step (arguments + outputs + temporaries).

Every method is treated alike on the meta-validation split (200 episodes of the val classes,
never the test classes): model selection keeps the meta-trained state with the best val score,
checked every ``--val-every`` steps, and the test-time settings (:func:`test_time_grid`: NIW-Meta's
prior/predictive/test SGLD steps, MAML's test inner steps, scratch's Adam steps and learning rate)
are chosen on the same val episodes before the test split is evaluated once. ``niw-paper`` is
the same NIW-Meta state with the paper's fixed test time (the SGLD + closed-form route) and
``niw-vi`` with the note's reconstruction of the paper's main-text test time (VI from the mode of
q(φ), eq. (13)), neither tuned. A second table measures that memory
and the step time as the number of inner steps grows (NIW-Meta: SGLD steps; MAML/FOMAML: inner
SGD steps).

    python benchmarks/meta.py --quick        # a few minutes on 2 CPU cores
    python benchmarks/meta.py                # longer training, 600 test episodes
    python benchmarks/meta.py --quick --tasks digits --steps digits=1000 --no-memory --shots 1
    python benchmarks/meta.py --tasks digits --choices benchmarks/choices/digits.json --no-memory
    python benchmarks/meta.py --tasks digits --choices benchmarks/choices/digits.json --no-memory \
        --trainval --methods niw,maml,fomaml,protonet,scratch

``--choices FILE`` skips model selection and the test-time grids: each (task, method) is
meta-trained for the step a previous run kept and evaluated with the test time it chose (FILE
holds that run's JSON last line, or the same ``results`` rows by hand), which reproduces that
run's test figures without its validation cost. ``--trainval`` then meta-trains the
classification tasks on the train and val classes together (the usual final-model protocol once
the settings are fixed on val; training from scratch is unaffected). ``--choices-methods
scratch`` fixes only the listed methods and selects the others on validation as usual: a new
NIW-Meta variant against the same scratch row, e.g. the ProtoNet likelihood (the paper's
classification deployment, now the digits default; this is the run that chose it)::

    python benchmarks/meta.py --tasks digits --steps digits=1000 --no-memory \
        --methods niw,scratch --niw-train likelihood=protonet \
        --choices benchmarks/choices/digits.json --choices-methods scratch

On digits a third table splits every method's errors by kind (``bayes.meta.tasks
.digits_error_kind``): the other rotation by 180° of the same digit (an upright and an upside-down
8 nearly look alike), by ±90°, or another digit, each with its paired difference against scratch.

``--resume DIR`` makes a long run restartable: each (task, method) saves its meta-training
progress under DIR as it goes and its finished rows once evaluated, keyed by its settings, so
the same command run again after a crash or Ctrl-C recomputes nothing that finished and resumes
the interrupted meta-training at its last save (every meta-step's episodes and noise come from
its own key, so the figures are those of an uninterrupted run; only ms/step adds the resumed
session's compilation).

The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import jax
import numpy as np

from bayes.meta.calibration import ci95, episode_accuracy, episode_mse, error_breakdown
from bayes.meta.cli import load_choices, parse_niw_overrides
from bayes.meta.selection import select_test_time, test_time_grid  # noqa: F401 (re-export)
from bayes.meta.tasks import DIGITS_ERROR_KINDS, digits_error_kind, make_task
from bayes.meta.train import (
    evaluate,
    evaluation_classes,
    make_learner,
    meta_train,
    step_memory_bytes,
)

METHODS = ("niw", "maml", "fomaml", "protonet", "scratch")


def _bench_one(task, method, steps, episodes, seed, val_every=0, select=True, train=None,
               fixed=None, checkpoint=None, progress=False):
    """One method's rows on one task; ``fixed`` (from ``load_choices``) replaces model
    selection and the test-time grid by a previous run's kept step and test time.
    ``checkpoint``: meta-training progress file (resumed if it exists); ms/step then comes from
    the run's own clock, summed over its sessions (a resumed session adds one compilation)."""
    train = train or {}
    if fixed is not None:
        steps, val_every, select = fixed["selected_step"], 0, False
    learner = make_learner(method, task, **train)
    key = jax.random.key(seed)
    state = learner.init(key)
    sample = task.sample(jax.random.key(seed + 100), 8)
    mem = step_memory_bytes(learner, state, sample)
    sec_per_step, selected = 0.0, steps
    if method != "scratch" and steps > 0:
        # One warm-up step compiles; the timed loop then measures steady-state meta-steps.
        state, _ = meta_train(learner, task, key, steps=1, state=state)
        start = time.perf_counter()
        state, log = meta_train(learner, task, jax.random.fold_in(key, 1), steps=steps,
                                state=state, val_every=val_every, checkpoint=checkpoint,
                                progress=progress)
        jax.block_until_ready(state)
        val_s = log[-1]["val_seconds"] if val_every else 0.0
        selected = log[-1]["selected_step"] if val_every else steps
        total = time.perf_counter() - start
        if checkpoint is not None:
            total = max(r["seconds"] for r in log if "seconds" in r)
        sec_per_step = (total - val_s) / steps
    rows = []
    chosen, val_score = (dict(fixed["test_time"]) if fixed else {}, None)
    if select:
        chosen, val_score, _ = select_test_time(method, task, state, seed, train=train,
                                                progress=progress)
    variants = [(method, make_learner(method, task, **train, **chosen), chosen)]
    if method == "niw":
        # The same trained state with the paper's test time (NIW mode prior, S-sample average,
        # the training number of SGLD steps), never tuned.
        paper = dict(test_prior="mode", test_predictive="samples", test_sgld_steps=None,
                     test_sgld_step_size=None, test_temperature=None, test_burnin=None)
        variants.append(("niw-paper", make_learner("niw", task, **train, **paper), paper))
        # The paper's main-text test time as the project note reconstructs it (eq. (13), §1.8):
        # VI from the mode of q(φ) on the support, tempered like the training chain, S samples.
        vi = dict(test_inference="vi", test_prior="mode", test_predictive="samples")
        variants.append(("niw-vi", make_learner("niw", task, **train, **vi), vi))
    classes = (evaluation_classes(task, jax.random.key(seed + 7), episodes=episodes)
               if task.name == "digits" else None)
    for name, lr, over in variants:
        metrics, preds, targets = evaluate(lr, state, task, jax.random.key(seed + 7),
                                           episodes=episodes)
        rows.append(dict(task=task.name, method=name, steps=steps, selected_step=selected,
                         sec_per_step=sec_per_step, step_bytes=mem, test_time=over,
                         val_score=val_score if name == method else None, **metrics,
                         _per_episode=_per_episode(task, preds, targets)))
        if classes is not None:
            rows[-1]["_errors"] = error_breakdown(preds, targets, classes, digits_error_kind,
                                                  len(DIGITS_ERROR_KINDS))
    return rows


def _resumable(resume, task, label, method, kw, trainval=False, progress=False,
               task_kw=None) -> list[dict]:
    """``_bench_one(task, method, **kw)``, or with ``--resume DIR`` its rows saved there by an
    earlier run of the same settings (nothing is recomputed), else run with its meta-training
    progress saved under DIR (an interrupted run continues where it stopped)."""
    if resume is None:
        return _bench_one(task, method, **kw, progress=progress)
    settings = dict(kw, task=task.name, n_way=task.n_way, k_shot=task.k_shot,
                    n_query=task.n_query, trainval=trainval, method=method, **(task_kw or {}))
    digest = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    stem = Path(resume) / f"{label}-{method}-{digest}"
    done = Path(f"{stem}.rows.json")
    if done.exists():
        rows = json.loads(done.read_text())
        for r in rows:
            for k in [k for k in r if k.startswith("_")]:
                r[k] = np.asarray(r[k])
        print(f"# {label} {method}: rows from {done}", flush=True)
        return rows
    rows = _bench_one(task, method, **kw, checkpoint=Path(f"{stem}.progress"),
                      progress=progress)
    done.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(f"{stem}.rows.json.tmp")
    tmp.write_text(json.dumps([{k: v.tolist() if isinstance(v, np.ndarray) else v
                                for k, v in r.items()} for r in rows]))
    tmp.replace(done)
    return rows


def _per_episode(task, preds, targets) -> np.ndarray:
    """Accuracy (classification) or MSE (regression) of every test episode."""
    if task.kind == "classification":
        return episode_accuracy(preds, targets)
    return episode_mse(preds, targets)


def paired_vs_scratch(rows: list[dict]) -> list[dict]:
    """Every method against training from scratch on the same test episodes (every method is
    evaluated on the episodes of one key): the mean per-episode difference (method − scratch;
    accuracy: higher is better, MSE: lower is better) with a 95% CI, and the share of episodes
    where the method is better. Pairing removes the episode-to-episode spread of difficulty
    that dominates the unpaired CIs (SineLine: a line and a sine of large amplitude)."""
    out = []
    for task in dict.fromkeys(r["task"] for r in rows):
        by = {r["method"]: r for r in rows if r["task"] == task}
        if "scratch" not in by:
            continue
        ref = by["scratch"]["_per_episode"]
        for method, r in by.items():
            if method == "scratch":
                continue
            d = r["_per_episode"] - ref
            better = d > 0 if "accuracy" in r else d < 0
            out.append(dict(task=task, method=method, diff=float(d.mean()), ci95=ci95(d),
                            better_share=float(better.mean()),
                            ties_share=float((d == 0).mean()), episodes=len(d),
                            metric="accuracy" if "accuracy" in r else "mse"))
    return out


def errors_by_kind(rows: list[dict]) -> list[dict]:
    """Digits rows: each method's error rate by kind of confusion (:data:`DIGITS_ERROR_KINDS`,
    mean over test episodes) and, where scratch ran, the paired difference method − scratch of
    each kind with its 95% CI over the same episodes (negative: fewer errors of that kind)."""
    out = []
    for task in dict.fromkeys(r["task"] for r in rows if "_errors" in r):
        by = {r["method"]: r["_errors"] for r in rows if r["task"] == task and "_errors" in r}
        ref = by.get("scratch")
        for method, err in by.items():
            row = dict(task=task, method=method,
                       rates={k: float(err[:, i].mean()) for i, k in enumerate(DIGITS_ERROR_KINDS)})
            if ref is not None and method != "scratch":
                row["vs_scratch"] = {k: dict(diff=float((err[:, i] - ref[:, i]).mean()),
                                             ci95=ci95(err[:, i] - ref[:, i]))
                                     for i, k in enumerate(DIGITS_ERROR_KINDS)}
            out.append(row)
    return out


def _memory_curve(task_name, inner, seed):
    task = make_task(task_name)
    sample = task.sample(jax.random.key(seed), 8)
    rows = []
    for n in inner:
        row = {"inner_steps": n}
        for method, kw in (("niw", {"sgld_steps": n, "burnin": 0}),
                           ("maml", {"inner_steps": n}), ("fomaml", {"inner_steps": n})):
            learner = make_learner(method, task, **kw)
            state = learner.init(jax.random.key(seed))
            row[f"{method}_bytes"] = step_memory_bytes(learner, state, sample)
            k = jax.random.key(seed + 1)
            state, _ = learner.step(k, state, sample)  # compile
            jax.block_until_ready(state)
            start = time.perf_counter()
            for i in range(5):
                state, _ = learner.step(jax.random.fold_in(k, i), state, sample)
            jax.block_until_ready(state)
            row[f"{method}_ms"] = 1e3 * (time.perf_counter() - start) / 5
        rows.append(row)
    return rows


def _short(over: dict) -> str:
    items = [(k.replace("test_", "").replace("sgld_", ""), v) for k, v in over.items()]
    return " ".join(f"{k}={v}" for k, v in items if v is not None) or "-"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run (a few minutes)")
    parser.add_argument("--tasks", default="sinusoid,sineline,letter,digits")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", default="", metavar="TASK=N,...",
                        help="override meta-steps per task, e.g. digits=1000")
    parser.add_argument("--episodes", type=int, default=600,
                        help="test episodes per task (the paired differences' CI shrinks as "
                             "1/sqrt of it)")
    parser.add_argument("--shots", type=int, default=None, metavar="K",
                        help="support images per class of the classification tasks (default: "
                             "their 5-shot setting); rows are labelled TASK-Kshot")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory curve")
    parser.add_argument("--memory-only", action="store_true",
                        help="only the memory curve (no training or evaluation)")
    parser.add_argument("--memory-task", default="", help="task of the memory curve")
    parser.add_argument("--no-select", action="store_true",
                        help="skip the test-time selection on meta-validation episodes")
    parser.add_argument("--val-every", type=int, default=250, metavar="N",
                        help="model selection: keep the state with the best score on 200 "
                             "meta-validation episodes, checked every N meta-steps (all methods; "
                             "0: keep the last state)")
    parser.add_argument("--niw-train", default="", metavar="FIELD=VALUE,...",
                        help="NIW-Meta training overrides on top of the task defaults, e.g. "
                             "sgld_steps=20,burnin=10 (the digits chain before the 50-step one)")
    parser.add_argument("--choices", default=None, metavar="FILE",
                        help="a previous run's JSON last line: meta-train every (task, method) "
                             "for the step it kept and test with the test time it chose (no "
                             "validation)")
    parser.add_argument("--choices-methods", default=None, metavar="M1,M2",
                        help="take only these methods from --choices; the others are selected "
                             "on validation as usual (e.g. scratch only, to compare a new "
                             "NIW-Meta variant against the same scratch row)")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bar for meta-training (on stderr)")
    parser.add_argument("--resume", default=None, metavar="DIR",
                        help="save each method's meta-training progress and finished rows in "
                             "DIR; the same command run again skips finished methods and "
                             "continues an interrupted meta-training where it stopped")
    parser.add_argument("--trainval", action="store_true",
                        help="meta-train the classification tasks on train + val classes "
                             "(needs --choices: val cannot select what trained on it)")
    parser.add_argument("--digits-per-episode", type=int, default=None, metavar="N",
                        help="digits: meta-train episodes draw their classes from N digits (2: "
                             "the structure of the val and test episodes); default: uniformly "
                             "from all 24 training classes")
    args = parser.parse_args(argv)
    try:
        niw_train = parse_niw_overrides(args.niw_train, train=True)
    except ValueError as err:
        parser.error(str(err))
    if args.episodes < 2:
        parser.error(f"--episodes: expected >= 2, got {args.episodes}")
    if args.shots is not None and args.shots < 1:
        parser.error(f"--shots: expected >= 1, got {args.shots}")
    if args.trainval and not args.choices:
        parser.error("--trainval: needs --choices (model selection on val would score classes "
                     "the model trained on)")
    try:
        choices = load_choices(args.choices) if args.choices else None
    except ValueError as err:
        parser.error(f"--choices: {err}")
    fixed_methods = set(args.methods.split(","))
    if args.choices_methods is not None:
        if choices is None:
            parser.error("--choices-methods: needs --choices")
        fixed_methods = set(args.choices_methods.split(","))
        unknown = sorted(fixed_methods - set(args.methods.split(",")))
        if unknown:
            parser.error(f"--choices-methods: {unknown} not in --methods {args.methods!r}")
        if args.trainval and fixed_methods != set(args.methods.split(",")):
            parser.error("--trainval: every method needs its choices (--choices-methods must "
                         "list all of --methods)")
    if args.quick:
        steps = {"sinusoid": 2000, "sineline": 2000, "letter": 1000, "digits": 300}
    else:
        steps = {"sinusoid": 5000, "sineline": 5000, "letter": 5000, "digits": 2000}
    episodes, inner, mem_task = args.episodes, (1, 5, 10, 20), "letter"
    for item in filter(None, args.steps.split(",")):
        name, _, n = item.partition("=")
        if name not in steps or not n.isdigit():
            raise SystemExit(f"--steps: expected TASK=N with TASK in {sorted(steps)}, got {item!r}")
        steps[name] = int(n)
    results = []
    header = (f"{'task':<9} {'method':<9} {'steps':>6} {'sel':>6} {'acc/MSE':>8} {'±ci95':>7} "
              f"{'ECE':>6} {'NLL':>7} {'ms/step':>8} {'step MB':>8}  test time (val-chosen)")
    print(header)
    print("-" * len(header))
    for name in [] if args.memory_only else args.tasks.split(","):
        task = make_task(name)
        label = name
        classification = task.kind == "classification"
        if args.shots is not None and classification:
            label = f"{name}-{args.shots}shot"
        task_kw = {}
        if name == "digits" and args.digits_per_episode is not None:
            task_kw = {"digits_per_episode": args.digits_per_episode}
        if classification and (args.shots is not None or args.trainval or task_kw):
            try:
                task = make_task(name, k_shot=args.shots, trainval=args.trainval, **task_kw)
            except ValueError as err:
                parser.error(str(err))
        for method in args.methods.split(","):
            if method == "protonet" and not classification:
                continue
            fixed = None
            if choices is not None and method in fixed_methods:
                if (label, method) not in choices:
                    raise SystemExit(f"--choices: no row for task {label!r}, method {method!r} "
                                     f"in {args.choices}")
                fixed = choices[(label, method)]
            kw = dict(steps=steps[name], episodes=episodes, seed=args.seed,
                      val_every=args.val_every, select=not args.no_select,
                      train=niw_train if method == "niw" else None, fixed=fixed)
            for r in _resumable(args.resume, task, label, method, kw, args.trainval,
                                not args.no_progress, task_kw):
                r["task"] = label
                results.append(r)
                score = r.get("accuracy", r.get("mse"))
                print(f"{label:<9} {r['method']:<9} {r['steps']:>6} {r['selected_step']:>6} "
                      f"{score:>8.4f} "
                      f"{r['ci95']:>7.4f} {r.get('ece', float('nan')):>6.3f} {r['nll']:>7.3f} "
                      f"{1e3 * r['sec_per_step']:>8.2f} {r['step_bytes'] / 2**20:>8.2f}  "
                      f"{_short(r['test_time'])}", flush=True)
    paired = paired_vs_scratch(results)
    if paired:
        print("\npaired against scratch on the same test episodes (method - scratch)")
        print(f"{'task':<9} {'method':<9} {'metric':>8} {'diff':>8} {'±ci95':>7} "
              f"{'better':>7} {'ties':>6}")
        for p in paired:
            print(f"{p['task']:<9} {p['method']:<9} {p['metric']:>8} {p['diff']:>+8.4f} "
                  f"{p['ci95']:>7.4f} {p['better_share']:>7.1%} {p['ties_share']:>6.1%}")
    kinds = errors_by_kind(results)
    if kinds:
        print("\ndigits errors by kind (% of queries; method - scratch, paired, ± CI95)")
        print(f"{'task':<9} {'method':<9} " + " ".join(f"{k:>26}" for k in DIGITS_ERROR_KINDS))
        for k in kinds:
            cells = []
            for name in DIGITS_ERROR_KINDS:
                cell = f"{100 * k['rates'][name]:.2f}"
                if "vs_scratch" in k:
                    v = k["vs_scratch"][name]
                    cell += f" ({100 * v['diff']:+.2f} ± {100 * v['ci95']:.2f})"
                cells.append(f"{cell:>26}")
            print(f"{k['task']:<9} {k['method']:<9} " + " ".join(cells))
    for r in results:
        r.pop("_per_episode")
        r.pop("_errors", None)
    mem_task = args.memory_task or mem_task
    curve = [] if args.no_memory else _memory_curve(mem_task, inner, args.seed)
    if curve:
        print(f"\nmemory per compiled meta-step vs inner steps ({mem_task}, batch 8)")
        print(f"{'inner':>5} {'NIW MB':>8} {'MAML MB':>8} {'FOMAML MB':>9} {'NIW ms':>7} "
              f"{'MAML ms':>8} {'FOMAML ms':>9}")
    for row in curve:
        print(f"{row['inner_steps']:>5} {row['niw_bytes'] / 2**20:>8.2f} "
              f"{row['maml_bytes'] / 2**20:>8.2f} {row['fomaml_bytes'] / 2**20:>9.2f} "
              f"{row['niw_ms']:>7.1f} {row['maml_ms']:>8.1f} {row['fomaml_ms']:>9.1f}")
    print(json.dumps({"quick": args.quick, "devices": str(jax.devices()), "niw_train": niw_train,
                      "choices": args.choices, "choices_methods": args.choices_methods,
                      "trainval": args.trainval, "digits_per_episode": args.digits_per_episode,
                      "results": results,
                      "paired_vs_scratch": paired,
                      "errors_by_kind": kinds,
                      "memory_curve": {"task": mem_task, "rows": curve}}))
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        print("interrupted" + ("; the same command resumes from --resume's folder"
                               if "--resume" in " ".join(sys.argv) else
                               " (run with --resume DIR to make a rerun resume)"),
              file=sys.stderr)
        raise SystemExit(130) from None
