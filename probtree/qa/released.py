"""Replaying ProbTree's released predictions: re-run selection from the stored candidates.

The official ``released.json`` files hold, per question, the query tree in post-order with every
node's candidates (``cb_answer``, ``ob_answer``, ``child_answer`` for non-leaves) and its chosen
``answer``. Two layouts exist:

- HotpotQA: answers are ``[text, score]`` and ``child_answer``'s score is the *raw* aggregator
  confidence (the code revision that produced it combined the score only for selection);
- MuSiQue / 2WikiMultihopQA: answers are ``[text, score, cot]`` and ``child_answer``'s score is
  already the *combined* one, ``(c_CA + qd + sum children) / (n + 2)``; the raw confidence is
  recovered by inverting that formula with the released children's scores.

`replay` packs every tree into one `Forest`, re-runs `select.select` (one jit pass) and compares
each node's choice with the released one.

References:
    Cao et al., "Probabilistic Tree-of-thought Reasoning for Answering Knowledge-intensive Complex
    Questions", Findings of EMNLP 2023; official ``src/*/RoHT/results/released.json``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from probtree import Forest
from probtree.qa.answers import CANDIDATE_KINDS, INVALID_SCORE, Answer, is_invalid
from probtree.qa.datasets import read_json
from probtree.qa.querytree import QueryTree
from probtree.qa.select import Candidates, Selection, pack_candidates, select

_FIELDS = {"cb": "cb_answer", "ob": "ob_answer", "ca": "child_answer"}
_MATCH_ATOL = 1e-9


@dataclasses.dataclass(frozen=True)
class ReleasedTree:
    """One released tree.

    Attributes:
        tree: the query tree.
        answers: per node ``{"cb": Answer, "ob": Answer, "ca": Answer}`` (CA raw confidence).
        released_answer: per node the stored chosen ``(text, score)``.
        released_choice: per node the candidate index (0 CB, 1 OB, 2 CA) whose (filtered) text
            and score equal the stored answer, first match; -1 when none does.
        substituted: per node the stored ``question`` (after reference substitution).
    """

    tree: QueryTree
    answers: tuple[dict[str, Answer], ...]
    released_answer: tuple[tuple[str, float], ...]
    released_choice: tuple[int, ...]
    substituted: tuple[str, ...]


def _answer(value: Any, where: str) -> Answer:
    if not isinstance(value, list | tuple) or len(value) < 2:
        raise ValueError(f"{where}: expected [text, score(, cot)], got {str(value)[:60]}")
    text, score = value[0], value[1]
    if not isinstance(text, str) or not isinstance(score, int | float):
        raise ValueError(f"{where}: expected [str, number, ...], got {str(value)[:60]}")
    cot = value[2] if len(value) > 2 and isinstance(value[2], str) else ""
    return Answer(text=text, score=float(score), cot=cot)


def _filtered(a: Answer, kind: str) -> tuple[str, float]:
    return ("", INVALID_SCORE) if is_invalid(a.text, kind) else (a.text, a.score)


def parse_released_tree(
    records: Sequence[Mapping[str, Any]],
    *,
    ca_score: str = "auto",
    placeholder: str = "both",
    where: str = "tree",
) -> ReleasedTree:
    """Reads one released tree (list of node records in post-order).

    Args:
        records: the node records.
        ca_score: ``"raw"`` (HotpotQA layout), ``"combined"`` (MuSiQue/2Wiki layout) or
            ``"auto"``: combined when answers carry a chain of thought (3 fields), else raw.
        placeholder: reference style of the tree.
        where: name used in error messages.

    Raises:
        ValueError: malformed records.
    """
    if ca_score not in ("auto", "raw", "combined"):
        raise ValueError(f"ca_score: expected 'auto', 'raw' or 'combined', got {ca_score!r}")
    if not records:
        raise ValueError(f"{where}: empty tree")
    question = str(records[-1].get("question_text", ""))
    tree = QueryTree.from_records(question, records, placeholder)
    if ca_score == "auto":
        first = records[0].get("answer", [])
        ca_score = "combined" if isinstance(first, list) and len(first) >= 3 else "raw"
    answers: list[dict[str, Answer]] = []
    released: list[tuple[str, float]] = []
    for i, rec in enumerate(records):
        node_ans = {}
        for kind, field in _FIELDS.items():
            if field in rec:
                node_ans[kind] = _answer(rec[field], f"{where} node {i} {field}")
        if "answer" not in rec:
            raise ValueError(f"{where} node {i}: missing 'answer'")
        chosen = _answer(rec["answer"], f"{where} node {i} answer")
        released.append((chosen.text, chosen.score))
        answers.append(node_ans)
    # Combined CA score: recover the raw aggregator confidence from the released children.
    for i, node in enumerate(tree.nodes):
        ca = answers[i].get("ca")
        if ca is None or node.is_leaf:
            continue
        qd = node.qd_logprob if node.qd_logprob is not None else 0.0
        sub = sum(released[c][1] for c in node.children)
        combined = (ca.score + qd + sub) / (len(node.children) + 2)
        if ca_score == "combined":
            combined = ca.score
            raw = ca.score * (len(node.children) + 2) - qd - sub
            answers[i]["ca"] = dataclasses.replace(ca, score=raw)
        answers[i]["ca_combined"] = dataclasses.replace(ca, score=combined)
    choices = []
    for i, node in enumerate(tree.nodes):
        text, score = released[i]
        choice = -1
        for k, kind in enumerate(CANDIDATE_KINDS):
            key = "ca_combined" if kind == "ca" else kind
            if key not in answers[i] or (kind == "ca" and node.is_leaf):
                continue
            t, s = _filtered(answers[i][key], kind)
            if t == text and abs(s - score) <= _MATCH_ATOL:
                choice = k
                break
        choices.append(choice)
    for a in answers:
        a.pop("ca_combined", None)
    return ReleasedTree(
        tree=tree,
        answers=tuple(answers),
        released_answer=tuple(released),
        released_choice=tuple(choices),
        substituted=tuple(str(r.get("question", r.get("question_text", ""))) for r in records),
    )


def load_released(
    path: str | Path, *, ca_score: str = "auto", placeholder: str = "both"
) -> list[ReleasedTree]:
    """Loads a ``released.json`` (``.gz`` allowed): a list of trees of node records.

    Raises:
        ValueError: not a list of non-empty lists of node records.
    """
    data = read_json(path)
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of trees, got {type(data).__name__}")
    out = []
    for t, recs in enumerate(data):
        if not isinstance(recs, list):
            raise ValueError(f"{path}: tree {t} is not a list of node records")
        out.append(
            parse_released_tree(
                recs, ca_score=ca_score, placeholder=placeholder, where=f"{path}: tree {t}"
            )
        )
    return out


@dataclasses.dataclass(frozen=True)
class Replay:
    """Outcome of a replay.

    Attributes:
        forest: the packed trees.
        candidates: the packed candidate scores.
        selection: the pass's result.
        choices: per tree, per node, the replayed choice.
        predictions: per tree, the root's chosen answer text.
        node_agreement: fraction of nodes whose replayed choice equals the released one.
        answer_agreement: fraction of trees whose root answer equals the released one.
        disagreements: ``(tree, node, replayed, released)`` for every differing node.
    """

    forest: Forest
    candidates: Candidates
    selection: Selection
    choices: tuple[tuple[int, ...], ...]
    predictions: tuple[str, ...]
    node_agreement: float
    answer_agreement: float
    disagreements: tuple[tuple[int, int, int, int], ...]


def chosen_text(answers: Mapping[str, Answer], choice: int) -> str:
    """Text of the chosen candidate after the reference filter (invalid → empty)."""
    kind = CANDIDATE_KINDS[choice]
    a = answers.get(kind)
    return "" if a is None else _filtered(a, kind)[0]


def replay(released: Sequence[ReleasedTree], *, dtype: Any = np.float32) -> Replay:
    """Re-runs selection over all released trees as one jit pass and compares the choices.

    Args:
        released: trees from `load_released`.
        dtype: score dtype (float64 needs ``jax_enable_x64``).

    Returns:
        A `Replay`.
    """
    if not released:
        raise ValueError("released: expected at least one tree")
    trees = [r.tree for r in released]
    forest = Forest.from_trees([t.to_tree() for t in trees])
    cands = pack_candidates(forest, trees, [r.answers for r in released], dtype=dtype)
    sel = select(forest, cands)
    per_tree = forest.unpack(np.asarray(sel.choice))
    choices, preds, dis = [], [], []
    agree = total = root_same = 0
    for t, (r, ch) in enumerate(zip(released, per_tree)):
        ch = tuple(int(c) for c in ch)
        choices.append(ch)
        for i, (a, b) in enumerate(zip(ch, r.released_choice)):
            total += 1
            if a == b:
                agree += 1
            else:
                dis.append((t, i, a, b))
        pred = chosen_text(r.answers[-1], ch[-1])
        preds.append(pred)
        root_same += pred == r.released_answer[-1][0]
    return Replay(
        forest=forest,
        candidates=cands,
        selection=sel,
        choices=tuple(choices),
        predictions=tuple(preds),
        node_agreement=agree / total,
        answer_agreement=root_same / len(released),
        disagreements=tuple(dis),
    )
