"""Answers and their confidences, read from chain-of-thought completions.

Every QA prompt of ProbTree (closed-book, open-book, child-aggregating) ends its few-shot answers
with ``So the answer is: X.``. The answer is the text after that marker (trailing ``.`` dropped);
its confidence is the mean log-prob of the explanation tokens before the marker. A missing marker,
an empty output, or a backend error gives the confidence ``-100`` (`INVALID_SCORE`); answers
saying ``Unknown`` are invalid candidates (score ``-100``, empty text) at selection time.

The marker is found in the text and the explanation tokens by their character offsets (tokens
ending at or before the marker), not by matching the exact five BPE tokens ``So|the|answer|is|:``
as the reference code did, so any tokenizer works.

References:
    Cao et al., "Probabilistic Tree-of-thought Reasoning for Answering Knowledge-intensive Complex
    Questions", Findings of EMNLP 2023, section 3.2 (answer confidence); official code
    ``src/*/RoHT/question_answering.py`` (``postprocess``, ``aggregate_*_answer``).
"""

from __future__ import annotations

import dataclasses
import re

from probtree.qa.completion import CompletionLike, check_completion, prefix_mean_logprob

INVALID_SCORE = -100.0
"""Score of a failed or abstaining candidate, as in the reference code."""

_MARKER = re.compile(r"So\s+the\s+answer\s+is\s*:\s*")
CANDIDATE_KINDS = ("cb", "ob", "ca")
"""Candidate order: closed-book, open-book, child-aggregating (ties go to the earlier kind)."""


@dataclasses.dataclass(frozen=True)
class Answer:
    """One candidate answer.

    Attributes:
        text: the answer text.
        score: its confidence (mean explanation log-prob, or `INVALID_SCORE`).
        cot: the full chain of thought (may be empty).
        error: why the answer failed (``""`` when it did not).
    """

    text: str
    score: float
    cot: str = ""
    error: str = ""


def parse_answer(completion: CompletionLike | None, *, finish_reason: str | None = None) -> Answer:
    """Extracts the answer and its confidence from one chain-of-thought completion.

    Args:
        completion: the completion, or None for a backend error.
        finish_reason: the backend's finish reason; anything but ``"stop"`` (e.g. ``"length"``,
            a truncated output) is an error, as in the reference. Default: the completion's own
            ``finish_reason`` attribute when it has one, else ``"stop"``.

    Returns:
        An `Answer`; on failure ``score == INVALID_SCORE`` and ``error`` says why.

    Example:
        >>> from probtree.qa.completion import Completion
        >>> c = Completion.from_tokens(["Paris is in France", ". So the answer is: France."],
        ...                            [-0.5, -0.1])
        >>> a = parse_answer(c)
        >>> a.text, a.score
        ('France', -0.5)

    References:
        Cao et al. (2023), section 3.2; ``postprocess`` in the official code: confidence =
        mean(token_logprobs[:pos]) with pos the first token of the marker, -100 without it.
    """
    if completion is None:
        return Answer("ERROR: no output", INVALID_SCORE, "", "backend error")
    check_completion(completion, "completion")
    if finish_reason is None:
        finish_reason = str(getattr(completion, "finish_reason", "stop"))
    if finish_reason != "stop":
        return Answer("ERROR: prompt too long", INVALID_SCORE, "", f"finish_reason={finish_reason}")
    raw = completion.text
    cot = raw.strip()
    if not completion.tokens:
        return Answer("ERROR: empty output", INVALID_SCORE, cot, "empty output")
    first = _MARKER.search(raw)
    if first is None:
        return Answer(cot, INVALID_SCORE, cot, "no 'So the answer is:' marker")
    last = first
    for m in _MARKER.finditer(raw, first.end()):
        last = m
    text = raw[last.end() :].strip()
    if text.endswith("."):
        text = text[:-1].rstrip()
    score = prefix_mean_logprob(completion, first.start())
    if score is None:
        return Answer(text, INVALID_SCORE, cot, "no explanation tokens before the marker")
    return Answer(text, score, cot)


def is_invalid(text: str, kind: str = "cb", *, compat: bool = True) -> bool:
    """Whether a candidate answer is discarded at selection time (scored -100, text emptied).

    Args:
        text: the answer text.
        kind: ``"cb"``, ``"ob"`` or ``"ca"``.
        compat: reference behaviour: substring tests, ``"ERROR"`` or ``"Unknown"`` for CB/OB
            and ``"ERROR"`` or ``"Unknow"`` for CA (so ``"The Unknown Soldier"`` is discarded
            too). With ``False``: errors, and answers that are exactly "unknown" (any case,
            trailing punctuation ignored).
    """
    if kind not in CANDIDATE_KINDS:
        raise ValueError(f"kind: expected one of {CANDIDATE_KINDS}, got {kind!r}")
    if compat:
        return "ERROR" in text or ("Unknow" if kind == "ca" else "Unknown") in text
    return text.startswith("ERROR") or text.strip().rstrip(".!").lower() in ("unknown", "unknow")
