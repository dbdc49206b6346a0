"""Resumable ProbTree runs: results stream to a JSON-lines file as questions finish.

Each line of a run file is one finished question (`Engine` record): ``question_id``,
``question``, ``gold``, ``prediction``, ``score``, ``choice`` (root candidate kind),
``decomposition`` (raw HQDT text and any error), ``tree`` (every node: question before and after
reference substitution, children, parent, ``qd_logprob``, each candidate ``cb``/``ob``/``ca``
with answer, score, chain of thought, error and the OB passage titles, the chosen kind and
``[answer, score]``), ``cuts`` (every limit applied), ``rounds``, ``lm`` (requests, cache hits,
completion tokens) and ``timings``.

A line is written with one ``write`` of the whole record plus newline, flushed and fsynced, so a
run killed at any point (even SIGKILL) leaves only whole lines plus at most one partial last
line. `open_run` drops that partial line and reports the finished question ids; rerunning the
same command therefore resumes, never duplicating a question.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from probtree.qa.answers import CANDIDATE_KINDS, Answer
from probtree.qa.datasets import Example
from probtree.qa.evaluate import evaluate

__all__ = ["RunWriter", "open_run", "read_run", "reasoned_tree", "run_file", "summarize"]


def read_run(path: str | Path) -> list[dict]:
    """The whole records of a run file (a partial last line is ignored)."""
    path = Path(path)
    if not path.exists():
        return []
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.endswith("\n"):
                break
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                break
    return out


def open_run(path: str | Path) -> tuple[list[dict], RunWriter]:
    """Opens a run file for appending, after dropping any partial last line.

    Returns:
        ``(records, writer)``: the finished records (first occurrence of each question id) and
        a writer appending to the file.

    Raises:
        ValueError: a complete line in the middle of the file that is not a JSON record.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    records: list[dict] = []
    seen: set[str] = set()
    good = 0
    if path.exists():
        with open(path, "rb") as fh:
            data = fh.read()
        pos = 0
        while True:
            nl = data.find(b"\n", pos)
            if nl < 0:
                break
            line = data[pos:nl]
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                if data.find(b"\n", nl + 1) >= 0:
                    raise ValueError(f"{path}: line {len(records) + 1} is not JSON") from None
                break  # a torn last line that happens to end in a newline byte
            pos = nl + 1
            good = pos
            qid = str(rec.get("question_id"))
            if qid not in seen:
                seen.add(qid)
                records.append(rec)
        if good < len(data):
            with open(path, "r+b") as fh:
                fh.truncate(good)
    return records, RunWriter(path)


class RunWriter:
    """Appends records as whole lines (flushed and fsynced one by one)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._fh = open(self.path, "ab")

    def write(self, record: dict) -> None:
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        self._fh.write(line)
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def run_file(
    engine,
    examples: Sequence[Example],
    out: str | Path,
    *,
    on_start=None,
    on_record=None,
    on_round=None,
) -> tuple[list[dict], list[dict]]:
    """Runs ``engine`` over the questions of ``examples`` not yet in the run file ``out``.

    Args:
        engine: a `probtree.qa.engine.Engine`.
        examples: the questions (ids must be unique).
        out: the run file (created if missing, resumed if not).
        on_start: called with ``(n_finished_before, n_to_answer)`` before answering.
        on_record: called with each new record after it is written.
        on_round: passed to `Engine.run`.

    Returns:
        ``(records, new)``: every record of the examples (old and new) in example order, and the
        records written by this call.

    Raises:
        ValueError: duplicate question ids.
    """
    ids = [e.question_id for e in examples]
    if len(set(ids)) != len(ids):
        raise ValueError("examples: question ids must be unique")
    done, writer = open_run(out)
    finished = {str(r["question_id"]) for r in done}
    todo = [e for e in examples if e.question_id not in finished]
    if on_start is not None:
        on_start(len(finished), len(todo))
    new: list[dict] = []

    def write(rec: dict) -> None:
        writer.write(rec)
        new.append(rec)
        if on_record is not None:
            on_record(rec)

    try:
        engine.run(todo, on_record=write, on_round=on_round)
    finally:
        writer.close()
    order = {q: j for j, q in enumerate(ids)}
    records = [r for r in done + new if str(r["question_id"]) in order]
    records.sort(key=lambda r: order[str(r["question_id"])])
    return records, new


def summarize(records: Sequence[dict], gold: Sequence[Example] | None = None) -> dict:
    """EM/F1 and the CB/OB/CA selection shares of a run.

    Args:
        records: run records.
        gold: gold examples to score against (default: each record's own ``gold``).

    Returns:
        A JSON-able dict: ``n``, ``em``, ``f1`` (percent, first gold span, as the reference),
        ``by_type``, ``choices`` (counts per ``leaf_cb``, ``leaf_ob``, ``nonleaf_cb``, ...),
        ``shares`` (the same as fractions of leaves / non-leaves), ``nodes``, ``lm_errors``
        (candidates lost to backend errors), ``cuts``, ``decomposition_errors``.
    """
    counts = {f"{w}_{k}": 0 for w in ("leaf", "nonleaf") for k in CANDIDATE_KINDS}
    del counts["leaf_ca"]
    n_leaf = n_nonleaf = errors = cuts = dec_err = 0
    for r in records:
        cuts += len(r.get("cuts", ()))
        dec_err += bool(r.get("decomposition", {}).get("error"))
        for node in r["tree"]:
            where = "nonleaf" if node["sons"] else "leaf"
            n_leaf += where == "leaf"
            n_nonleaf += where == "nonleaf"
            counts[f"{where}_{node['choice']}"] += 1
            for k in CANDIDATE_KINDS:
                if k in node and node[k]["answer"].startswith("ERROR"):
                    errors += 1
    if gold is None:
        gold = [
            Example(str(r["question_id"]), r["question"], tuple(r["gold"]), r.get("type"))
            for r in records
            if r.get("gold")
        ]
    out: dict = {"n": len(records)}
    if gold:
        preds = {str(r["question_id"]): r["prediction"] or "" for r in records}
        rep = evaluate(preds, gold)
        out.update(em=round(rep.overall.em, 4), f1=round(rep.overall.f1, 4),
                   by_type={t: {"n": s.n, "em": round(s.em, 4), "f1": round(s.f1, 4)}
                            for t, s in rep.by_type.items()})
    else:
        out.update(em=None, f1=None, by_type={})
    out["nodes"] = {"leaf": n_leaf, "nonleaf": n_nonleaf}
    out["choices"] = counts
    out["shares"] = {
        k: round(v / (n_leaf if k.startswith("leaf") else n_nonleaf), 4)
        if (n_leaf if k.startswith("leaf") else n_nonleaf) else None
        for k, v in counts.items()
    }
    out["lm_errors"] = errors
    out["cuts"] = cuts
    out["decomposition_errors"] = dec_err
    return out


def reasoned_tree(record: dict):
    """A run record back as ``(tree, answers, scores, choice, questions)`` for
    `probtree.qa.plot.draw_query_tree`: the `QueryTree`, per node ``{kind: Answer}``, the
    ``(n, 3)`` final candidate scores (CA combined, recomputed by `select`), the chosen
    candidate indices and the substituted questions."""
    import numpy as np

    from probtree import Forest
    from probtree.qa.querytree import QueryNode, QueryTree
    from probtree.qa.select import pack_candidates, select

    nodes = tuple(
        QueryNode(n["question_text"], tuple(n["sons"]), n["fa"], n["qd_logprob"])
        for n in record["tree"]
    )
    tree = QueryTree(record["question"], nodes)
    answers = [
        {k: Answer(n[k]["answer"], n[k]["score"], n[k]["cot"], n[k]["error"])
         for k in CANDIDATE_KINDS if k in n}
        for n in record["tree"]
    ]
    forest = Forest.from_trees([tree.to_tree()], bucket=False)
    sel = select(forest, pack_candidates(forest, [tree], [answers]))
    scores = np.asarray(sel.scores)[: tree.n_nodes]
    choice = [CANDIDATE_KINDS.index(n["choice"]) for n in record["tree"]]
    questions = [n["question"] or n["question_text"] for n in record["tree"]]
    return tree, answers, scores, choice, questions
