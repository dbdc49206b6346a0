"""``probtree qa``: replay released ProbTree predictions, evaluate predictions, draw a tree.

- ``probtree qa replay [--dataset hotpotqa] [--released FILE] [--gold FILE]`` re-runs the
  selection over every released tree as one jit pass, compares each node's choice with the
  released one and scores the root answers; prints a table and, last, one JSON line.
- ``probtree qa eval --pred FILE --gold FILE`` scores any predictions file.
- ``probtree qa run --data FILE --model MODEL --out RUN.jsonl [--limit N] [--concurrency C]``
  runs ProbTree end to end (decompose, retrieve, answer, choose), streaming one JSON line per
  finished question; rerunning resumes. Prints EM/F1 and CB/OB/CA shares, then one JSON line.
- ``probtree qa show [--dataset hotpotqa] [--index I] --out tree.png`` draws one reasoned tree.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from probtree.qa.answers import CANDIDATE_KINDS
from probtree.qa.datasets import (
    DATASET_PLACEHOLDER,
    bundled_path,
    load_ircot,
    question_key,
    read_json,
    read_jsonl,
)
from probtree.qa.evaluate import Report, evaluate
from probtree.qa.released import ReleasedTree, Replay, load_released, replay

_BUNDLED_GOLD = {"hotpotqa": "hotpotqa_ircot_test_500.jsonl.gz"}


def _sources(args: argparse.Namespace) -> tuple[Path, Path | None, str]:
    """Released file, gold file (or None) and placeholder style from the arguments."""
    dataset = args.dataset
    if args.released:
        released = Path(args.released)
    elif dataset in ("hotpotqa", "musique"):
        released = bundled_path(f"{dataset}_released.json.gz")
    else:
        raise ValueError("--released: give a released.json file (no bundled copy for this dataset)")
    gold = Path(args.gold) if getattr(args, "gold", None) else None
    if gold is None and not args.released and dataset in _BUNDLED_GOLD:
        gold = bundled_path(_BUNDLED_GOLD[dataset])
    placeholder = args.placeholder or DATASET_PLACEHOLDER.get(dataset, "both")
    return released, gold, placeholder


def _row(name: str, value: Any) -> str:
    return f"  {name:<34} {value}"


def _report_rows(rep: Report) -> list[str]:
    rows = [
        _row("EM / F1 (all)", f"{rep.overall.em:6.2f} / {rep.overall.f1:6.2f}  (n={rep.overall.n})")
    ]
    for t, s in rep.by_type.items():
        rows.append(_row(f"EM / F1 ({t})", f"{s.em:6.2f} / {s.f1:6.2f}  (n={s.n})"))
    if rep.missing:
        rows.append(_row("gold questions without prediction", len(rep.missing)))
    return rows


def _report_json(rep: Report) -> dict[str, Any]:
    return {
        "em": round(rep.overall.em, 4),
        "f1": round(rep.overall.f1, 4),
        "precision": round(rep.overall.precision, 4),
        "recall": round(rep.overall.recall, 4),
        "by_type": {
            t: {"n": s.n, "em": round(s.em, 4), "f1": round(s.f1, 4)}
            for t, s in rep.by_type.items()
        },
        "missing": len(rep.missing),
    }


def _shares(released: list[ReleasedTree], rp: Replay) -> dict[str, int]:
    counts = {f"{where}_{k}": 0 for where in ("leaf", "nonleaf") for k in CANDIDATE_KINDS}
    for r, ch in zip(released, rp.choices):
        for node, c in zip(r.tree.nodes, ch):
            counts[f"{'leaf' if node.is_leaf else 'nonleaf'}_{CANDIDATE_KINDS[c]}"] += 1
    return {k: v for k, v in counts.items() if k != "leaf_ca"}


def _replay_cmd(args: argparse.Namespace) -> int:
    released_path, gold_path, placeholder = _sources(args)
    released = load_released(released_path, ca_score=args.ca_score, placeholder=placeholder)
    start = time.perf_counter()
    rp = replay(released)
    rp.selection.value.block_until_ready()
    seconds = time.perf_counter() - start
    n_nodes = sum(r.tree.n_nodes for r in released)
    print(f"ProbTree replay of {released_path.name}")
    print(_row("trees / nodes", f"{len(released)} / {n_nodes}"))
    print(_row("node agreement with released", f"{rp.node_agreement:.4f}"))
    print(_row("root answer agreement", f"{rp.answer_agreement:.4f}"))
    shares = _shares(released, rp)
    print(_row("chosen (leaf CB/OB)", f"{shares['leaf_cb']} / {shares['leaf_ob']}"))
    print(
        _row(
            "chosen (non-leaf CB/OB/CA)",
            f"{shares['nonleaf_cb']} / {shares['nonleaf_ob']} / {shares['nonleaf_ca']}",
        )
    )
    print(_row("selection (load+pack+jit pass)", f"{seconds:.3f} s"))
    out: dict[str, Any] = {
        "released": released_path.name,
        "n": len(released),
        "n_nodes": n_nodes,
        "node_agreement": rp.node_agreement,
        "answer_agreement": rp.answer_agreement,
        "choices": shares,
        "em": None,
        "f1": None,
    }
    if gold_path is not None:
        gold = load_ircot(gold_path)
        preds = {r.tree.question: p for r, p in zip(released, rp.predictions)}
        rep = evaluate(preds, gold, aliases=args.aliases)
        for line in _report_rows(rep):
            print(line)
        out.update(_report_json(rep))
        out["gold"] = gold_path.name
    print(json.dumps(out))
    return 0


def load_predictions(path: str | Path) -> dict[str, str]:
    """Reads predictions: a JSON object ``{id or question: answer}``, a released.json (list of
    trees; the root's chosen answer), or JSON lines with ``question_id``/``question`` and
    ``answer``/``prediction``.

    Raises:
        ValueError: a layout that is none of these.
    """
    path = Path(path)
    name = path.name.removesuffix(".gz")
    if name.endswith(".jsonl"):
        preds = {}
        for j, rec in enumerate(read_jsonl(path)):
            key = rec.get("question_id") or rec.get("question") or rec.get("question_text")
            ans = rec.get("answer", rec.get("prediction"))
            if key is None or ans is None:
                raise ValueError(f"{path}: line {j + 1} needs question_id/question and answer")
            preds[str(key)] = ans[0] if isinstance(ans, list) else str(ans)
        return preds
    data = read_json(path)
    if isinstance(data, dict):
        return {str(k): (v[0] if isinstance(v, list) else str(v)) for k, v in data.items()}
    if isinstance(data, list) and all(isinstance(t, list) and t for t in data):
        return {str(t[-1]["question_text"]): str(t[-1]["answer"][0]) for t in data}
    raise ValueError(f"{path}: expected {{id: answer}}, a released.json or JSON lines")


def _eval_cmd(args: argparse.Namespace) -> int:
    preds = load_predictions(args.pred)
    gold = load_ircot(args.gold)
    rep = evaluate(preds, gold, aliases=args.aliases)
    print(f"Evaluation of {Path(args.pred).name} against {Path(args.gold).name}")
    print(_row("predictions / gold", f"{len(preds)} / {len(gold)}"))
    for line in _report_rows(rep):
        print(line)
    out = {"pred": Path(args.pred).name, "n": rep.overall.n, **_report_json(rep)}
    print(json.dumps(out))
    return 0


def _find_tree(released: list[ReleasedTree], args: argparse.Namespace) -> int:
    if args.question:
        key = question_key(args.question)
        for t, r in enumerate(released):
            if question_key(r.tree.question) == key:
                return t
        raise ValueError(f"--question: no released tree for {args.question[:60]!r}")
    if not 0 <= args.index < len(released):
        raise ValueError(f"--index: expected 0..{len(released) - 1}, got {args.index}")
    return args.index


def _show_cmd(args: argparse.Namespace) -> int:
    from probtree.qa.plot import draw_query_tree, save_figure

    released_path, _, placeholder = _sources(args)
    released = load_released(released_path, ca_score=args.ca_score, placeholder=placeholder)
    t = _find_tree(released, args)
    rp = replay(released)
    r = released[t]
    scores = np.asarray(rp.selection.scores)[rp.forest.tree_slice(t)]
    fig = draw_query_tree(
        r.tree, r.answers, scores, rp.choices[t], questions=r.substituted, title=r.tree.question
    )
    path = save_figure(fig, args.out)
    print(f"tree {t}: {r.tree.question}")
    for i in range(r.tree.n_nodes):
        kind = CANDIDATE_KINDS[rp.choices[t][i]]
        print(f"  node {i}: {r.substituted[i][:70]!r} -> {kind.upper()} {scores[i].round(4)}")
    print(f"saved {path}")
    print(json.dumps({"tree": t, "n_nodes": r.tree.n_nodes, "out": str(path)}))
    return 0


def _run_cmd(args: argparse.Namespace) -> int:
    from probtree.lm import load
    from probtree.qa.engine import Engine, EngineConfig
    from probtree.qa.retrieve import BM25Retriever
    from probtree.qa.runs import run_file, summarize

    data = bundled_path(_BUNDLED_GOLD[args.data]) if args.data in _BUNDLED_GOLD else args.data
    examples = load_ircot(data, contexts=True)
    if args.limit is not None:
        if args.limit < 1:
            raise ValueError(f"--limit: expected >= 1, got {args.limit}")
        examples = examples[: args.limit]
    if args.corpus:
        retriever = BM25Retriever.from_jsonl(args.corpus, rerank=not args.no_rerank)
    else:  # every paragraph of the question file (all of it, not only the --limit questions)
        retriever = BM25Retriever.from_ircot(data, rerank=not args.no_rerank)
    spec = args.model
    if args.concurrency is not None:
        if not spec.startswith("openai:"):
            raise ValueError("--concurrency: applies to openai:URL models only")
        spec += f",concurrency={args.concurrency}"
    lm = load(spec)
    cfg = EngineConfig(
        prompts=args.prompts,
        max_tokens_tree=args.max_tree_tokens,
        max_tokens_qa=args.max_tokens,
        top_k=args.top_k,
        descendant_k=args.descendant_k,
        max_active=args.max_active,
        schedule=(("stream" if hasattr(lm, "acomplete") else "rounds")
                  if args.schedule == "auto" else args.schedule),
    )
    engine = Engine(lm, retriever, cfg, cache=args.cache)
    bar = None

    def on_start(n_done: int, n_todo: int) -> None:
        nonlocal bar
        print(f"ProbTree run: {len(examples)} questions, {n_done} already in {args.out}, "
              f"{n_todo} to answer with {lm.name}")
        if not args.no_progress:
            from tqdm import tqdm

            bar = tqdm(total=n_todo, unit="q", desc="questions", dynamic_ncols=True)

    def on_record(rec: dict) -> None:
        if bar is not None:
            bar.update(1)

    def on_round(eng: Engine, n_done: int) -> None:
        if bar is not None:
            secs = max(time.perf_counter() - start, 1e-9)
            bar.set_postfix(lm_calls=eng.stats["lm_calls"],
                            tok_s=f"{eng.stats['completion_tokens'] / secs:.1f}")

    start = time.perf_counter()
    try:
        records, new = run_file(engine, examples, args.out, on_start=on_start,
                                on_record=on_record, on_round=on_round)
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - start
    summary = summarize(records, examples)
    st = engine.stats
    ch = summary["choices"]
    print(_row("questions answered (total)", f"{len(new)} ({summary['n']})"))
    if summary["em"] is not None:
        print(_row("EM / F1", f"{summary['em']:6.2f} / {summary['f1']:6.2f}"))
    print(_row("chosen (leaf CB/OB)", f"{ch['leaf_cb']} / {ch['leaf_ob']}"))
    print(_row("chosen (non-leaf CB/OB/CA)",
               f"{ch['nonleaf_cb']} / {ch['nonleaf_ob']} / {ch['nonleaf_ca']}"))
    print(_row("LM requests / sent / cache hits",
               f"{st['requests']} / {st['lm_calls']} / {st['cache_hits']}"))
    print(_row("failed candidates / cuts", f"{summary['lm_errors']} / {summary['cuts']}"))
    print(_row("wall time", f"{seconds:.2f} s"))
    out = {
        "out": str(args.out),
        "model": lm.name,
        **summary,
        "new": len(new),
        "seconds": round(seconds, 3),
        "requests": st["requests"],
        "lm_calls": st["lm_calls"],
        "cache_hits": st["cache_hits"],
        "deduplicated": st["deduplicated"],
        "completion_tokens": st["completion_tokens"],
        "tokens_per_s": round(st["completion_tokens"] / max(seconds, 1e-9), 2),
    }
    print(json.dumps(out))
    return 0


def _add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True,
                   help="IRCoT-format questions (.jsonl[.gz]) or 'hotpotqa' (bundled test 500)")
    p.add_argument("--model", required=True,
                   help="smollm2 | openai:URL[,model=NAME,...] | replay:FILE (probtree.lm.load)")
    p.add_argument("--out", required=True, help="run file (JSON lines; rerun to resume)")
    p.add_argument("--limit", type=int, default=None, help="first N questions only")
    p.add_argument("--concurrency", type=int, default=None, help="HTTP requests in flight")
    p.add_argument("--prompts", default="hotpotqa", choices=["hotpotqa", "musique", "small"],
                   help="prompt set (small: short prompts for small local models)")
    p.add_argument("--corpus", default=None,
                   help="passages (JSON lines of title/text); default: the data file's paragraphs")
    p.add_argument("--no-rerank", action="store_true", help="no title-match re-ranking")
    p.add_argument("--top-k", type=int, default=5, help="passages per OB prompt")
    p.add_argument("--descendant-k", type=int, default=0,
                   help="passages per descendant question in non-leaf OB prompts (MuSiQue: 3)")
    p.add_argument("--max-tokens", type=int, default=256, help="tokens per CB/OB/CA answer")
    p.add_argument("--max-tree-tokens", type=int, default=512, help="tokens of the HQDT call")
    p.add_argument("--max-active", type=int, default=None,
                   help="questions in flight (default: stream admission into free slots, at "
                        "most concurrency // 2 + 1)")
    p.add_argument("--schedule", default="auto", choices=["auto", "rounds", "stream"],
                   help="one batch per round, or (HTTP) each request as soon as a slot is "
                        "free; auto: stream for HTTP models, rounds otherwise")
    p.add_argument("--cache", default=None, help="sqlite completion cache file")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _add_source_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dataset",
        default="hotpotqa",
        choices=sorted(DATASET_PLACEHOLDER),
        help="dataset layout; without --released, its bundled released.json (hotpotqa, musique)",
    )
    p.add_argument("--released", default=None, help="a released.json file (.gz allowed)")
    p.add_argument(
        "--placeholder",
        default=None,
        choices=["hash", "angle", "both"],
        help="reference style (default: the dataset's)",
    )
    p.add_argument(
        "--ca-score",
        default="auto",
        choices=["auto", "raw", "combined"],
        help="what child_answer scores hold (auto: combined when answers carry a CoT)",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds the ``qa`` subcommand group to the ``probtree`` command."""
    qa = subparsers.add_parser("qa", help="ProbTree question answering: run, replay, eval, show")
    sub = qa.add_subparsers(dest="qa_command", metavar="QA_COMMAND")

    p = sub.add_parser("replay", help="re-run selection on released.json and score it")
    _add_source_args(p)
    p.add_argument("--gold", default=None, help="IRCoT-format gold jsonl (.gz allowed)")
    p.add_argument("--aliases", action="store_true", help="score against any gold alias")
    p.set_defaults(func=_replay_cmd)

    p = sub.add_parser("eval", help="score a predictions file with EM/F1")
    p.add_argument("--pred", required=True, help="predictions ({id: answer}, jsonl, released)")
    p.add_argument("--gold", required=True, help="IRCoT-format gold jsonl (.gz allowed)")
    p.add_argument("--aliases", action="store_true", help="score against any gold alias")
    p.set_defaults(func=_eval_cmd)

    p = sub.add_parser("run", help="run ProbTree end to end over a question file (resumable)")
    _add_run_args(p)
    p.set_defaults(func=_run_cmd)

    p = sub.add_parser("show", help="draw one reasoned query tree to PNG/SVG")
    _add_source_args(p)
    p.add_argument("--index", type=int, default=0, help="which tree (default 0)")
    p.add_argument("--question", default=None, help="pick the tree by its question instead")
    p.add_argument("--out", default="probtree_tree.png", help="output file (.png/.svg/.pdf)")
    p.set_defaults(func=_show_cmd)
