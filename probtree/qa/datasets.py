"""Question sets and ProbTree files: IRCoT jsonl samples, decompositions, bundled copies.

The IRCoT test samples (HotpotQA, MuSiQue, 2WikiMultihopQA; 500 questions each) are the question
sets ProbTree was evaluated on. Each jsonl record has ``question_id``, ``question_text``,
``answers_objects`` (``[{"spans": [...], ...}]``) and ``contexts``; HotpotQA records also carry
``type`` (bridge / comparison), MuSiQue ids start with the hop count (``2hop__...``), and 2Wiki
records may carry ``type``. Files may be gzip-compressed (``.gz``).

References:
    Trivedi et al., "Interleaving Retrieval with Chain-of-Thought Reasoning for Knowledge-Intensive
    Multi-Step Questions", ACL 2023 (IRCoT samples); Cao et al., Findings of EMNLP 2023 (ProbTree).
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from probtree.qa.decompose import DecompositionError, build_query_tree
from probtree.qa.querytree import QueryTree

DATASET_PLACEHOLDER = {"hotpotqa": "angle", "musique": "hash", "2wiki": "hash"}
"""Reference placeholder style of each dataset's tree-generation prompt."""

BUNDLED = (
    "hotpotqa_released.json.gz",
    "musique_released.json.gz",
    "hotpotqa_question_decompositions.json.gz",
    "musique_question_decompositions.json.gz",
    "hotpotqa_tree.json.gz",
    "musique_tree.json.gz",
    "hotpotqa_ircot_test_500.jsonl.gz",
)


def bundled_path(name: str) -> Path:
    """Path of a data file shipped in ``probtree/qa/data`` (see its README for sources)."""
    if name not in BUNDLED:
        raise ValueError(f"name: expected one of {BUNDLED}, got {name!r}")
    return Path(str(resources.files("probtree.qa") / "data" / name))


def _open(path: str | Path):
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def read_json(path: str | Path) -> Any:
    """Reads a JSON file (``.gz`` allowed); a parse error names the file, line and column."""
    with _open(path) as fh:
        try:
            return json.load(fh)
        except json.JSONDecodeError as err:
            raise ValueError(
                f"{path}: invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}"
            ) from None


def read_jsonl(path: str | Path) -> list[Any]:
    """Reads a JSON-lines file (``.gz`` allowed), skipping blank lines."""
    out = []
    with _open(path) as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ValueError(
                    f"{path}: invalid JSON on line {lineno}, column {err.colno}: {err.msg}"
                ) from None
    return out


def question_key(text: str) -> str:
    """Matching key of a question: lowercase alphanumerics only (robust to whitespace/quotes)."""
    return re.sub(r"[^0-9a-z]", "", text.lower())


@dataclasses.dataclass(frozen=True)
class Example:
    """A question with its gold answers.

    Attributes:
        question_id: the dataset id.
        question: the question text.
        answers: gold answer strings; ``answers[0]`` is the first span of the first answer object
            (what ProbTree scores against), the rest are aliases.
        type: question type for breakdowns (``"bridge"``, ``"2hop"``, ...) or None.
        contexts: the sample's paragraphs as ``(title, text, is_supporting)``.
    """

    question_id: str
    question: str
    answers: tuple[str, ...]
    type: str | None = None
    contexts: tuple[tuple[str, str, bool], ...] = ()


def _type_of(rec: Mapping[str, Any]) -> str | None:
    if rec.get("type"):
        return str(rec["type"])
    m = re.match(r"^(\d+hop)", str(rec.get("question_id", "")))
    return m.group(1) if m else None


def load_ircot(path: str | Path, *, contexts: bool = False) -> list[Example]:
    """Loads an IRCoT-format jsonl sample (HotpotQA, MuSiQue or 2WikiMultihopQA layout).

    Args:
        path: the ``.jsonl`` (or ``.jsonl.gz``) file.
        contexts: also keep the paragraphs.

    Returns:
        One `Example` per record, in file order.

    Raises:
        ValueError: a record without ``question_text`` or without any gold span.
    """
    out = []
    for j, rec in enumerate(read_jsonl(path)):
        if "question_text" not in rec:
            raise ValueError(f"{path}: record {j} has no 'question_text'")
        answers: list[str] = []
        for obj in rec.get("answers_objects") or []:
            for span in obj.get("spans") or []:
                if str(span) not in answers:
                    answers.append(str(span))
            num = obj.get("number")
            if num not in (None, "") and str(num) not in answers:
                answers.append(str(num))
        if not answers and rec.get("answer") is not None:
            answers.append(str(rec["answer"]))
        if not answers:
            raise ValueError(f"{path}: record {j} has no gold answer span")
        ctx = ()
        if contexts:
            ctx = tuple(
                (
                    str(c.get("title", "")),
                    str(c.get("paragraph_text", "")),
                    bool(c.get("is_supporting", False)),
                )
                for c in rec.get("contexts") or []
            )
        out.append(
            Example(
                str(rec.get("question_id", j)),
                rec["question_text"].strip(),
                tuple(answers),
                _type_of(rec),
                ctx,
            )
        )
    return out


def load_question_decompositions(path: str | Path) -> dict[str, dict[str, list]]:
    """Loads ``question_decompositions.json``: ``{question: {parent: [children, qd]}}``.

    Raises:
        ValueError: not a mapping of mappings.
    """
    data = read_json(path)
    if not isinstance(data, dict) or not all(isinstance(v, dict | None) for v in data.values()):
        raise ValueError(f"{path}: expected {{question: {{parent: [children, qd]}}}}")
    return data


def load_tree_json(path: str | Path) -> dict[str, list]:
    """Loads the reference's merged ``tree.json``: ``{question: [children, qd]}``."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected {{question: [children, qd_logprob]}}")
    return data


def trees_from_decompositions(
    decompositions: Mapping[str, Mapping[str, list] | None],
    *,
    placeholder: str = "both",
    merged: Mapping[str, list] | bool | None = None,
) -> dict[str, QueryTree | DecompositionError]:
    """Builds one query tree per question of a ``question_decompositions.json`` mapping.

    Args:
        decompositions: ``{question: {parent: [children, qd]}}``.
        placeholder: reference style (`DATASET_PLACEHOLDER`).
        merged: compatibility switch. ``True``: merge all decompositions into one global dict
            (first one wins, keys with placeholders dropped, self-decompositions made leaves),
            as the reference's ``3_postprocess_tree.py`` did, and expand every tree through it
            (trees can then inherit other trees' decompositions); a mapping: use that merged
            dict (e.g. a loaded ``tree.json``). Default: every tree is built from its own
            decomposition only.

    Returns:
        ``{question: QueryTree or DecompositionError}``, in input order.
    """
    lookup: Mapping[str, list] | None
    if merged is True:
        lookup = merge_decompositions(decompositions, placeholder=placeholder)
    elif merged is False or merged is None:
        lookup = None
    else:
        lookup = merged
    out: dict[str, QueryTree | DecompositionError] = {}
    for q, dec in decompositions.items():
        if not dec:
            out[q] = DecompositionError("no decomposition", q)
            continue
        try:
            out[q] = build_query_tree(dec, question=q, placeholder=placeholder, lookup=lookup)
        except DecompositionError as err:
            out[q] = err
    return out


def merge_decompositions(
    decompositions: Mapping[str, Mapping[str, list] | None], *, placeholder: str = "both"
) -> dict[str, list]:
    """The reference's global ``tree.json`` from per-question decompositions (compatibility)."""
    from probtree.qa.querytree import find_references

    merged: dict[str, list] = {}
    for root, dec in decompositions.items():
        if not dec or find_references(root, placeholder):
            continue
        for parent, value in dec.items():
            if find_references(parent, placeholder) or parent in merged:
                continue
            children = value[0] if value else []
            merged[parent] = [[], None] if parent in children else [list(children), value[1]]
    return merged
