"""Exact match and F1 with the HotpotQA answer normalisation, overall and per question type.

Normalisation: lowercase, remove punctuation, remove the articles a/an/the, squeeze whitespace.
F1 is token-overlap F1, and 0 when either side normalises to ``yes``/``no``/``noanswer`` and
the two differ (the official HotpotQA rule). As in the ProbTree evaluation, each prediction is
scored against the first gold span; ``aliases=True`` takes the max over every gold alias.

References:
    Yang et al., "HotpotQA", EMNLP 2018 (official ``hotpot_evaluate_v1.py``); Cao et al.,
    Findings of EMNLP 2023, ``RoHT/evaluate.py`` and ``3_get_f1.py``.
"""

from __future__ import annotations

import collections
import dataclasses
import re
import string
from collections.abc import Mapping, Sequence

from probtree.qa.datasets import Example, question_key

_PUNCT = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(s: str) -> str:
    """HotpotQA/SQuAD answer normalisation.

    Example:
        >>> normalize_answer("The  Eiffel-Tower!")
        'eiffeltower'
    """
    s = "".join(ch for ch in s.lower() if ch not in _PUNCT)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def exact_match(prediction: str, gold: str) -> float:
    """1.0 when the normalised strings are equal, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1_precision_recall(prediction: str, gold: str) -> tuple[float, float, float]:
    """Token F1, precision and recall of ``prediction`` against ``gold`` (HotpotQA rules)."""
    p, g = normalize_answer(prediction), normalize_answer(gold)
    special = ("yes", "no", "noanswer")
    if (p in special or g in special) and p != g:
        return 0.0, 0.0, 0.0
    pt, gt = p.split(), g.split()
    common = collections.Counter(pt) & collections.Counter(gt)
    same = sum(common.values())
    if same == 0:
        return 0.0, 0.0, 0.0
    precision, recall = same / len(pt), same / len(gt)
    return 2 * precision * recall / (precision + recall), precision, recall


@dataclasses.dataclass(frozen=True)
class Scores:
    """Mean metrics (percent) over ``n`` questions."""

    n: int
    em: float
    f1: float
    precision: float
    recall: float

    def as_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Report:
    """Evaluation of a prediction set.

    Attributes:
        overall: scores over all matched questions.
        by_type: scores per question type (empty when the data has no types).
        missing: gold questions without a prediction (scored as empty answers).
        per_question: ``(question_id, prediction, gold, em, f1)`` rows.
    """

    overall: Scores
    by_type: dict[str, Scores]
    missing: tuple[str, ...]
    per_question: tuple[tuple[str, str, str, float, float], ...]


def _mean(rows: Sequence[tuple[float, float, float, float]]) -> Scores:
    n = len(rows)
    if n == 0:
        return Scores(0, 0.0, 0.0, 0.0, 0.0)
    sums = [sum(r[k] for r in rows) for k in range(4)]
    return Scores(n, *(100.0 * s / n for s in sums))


def evaluate(
    predictions: Mapping[str, str],
    gold: Sequence[Example],
    *,
    aliases: bool = False,
) -> Report:
    """Scores predictions against gold examples.

    Args:
        predictions: ``{question_id or question text: predicted answer}``. Keys are matched to a
            gold example by id first, then by question text compared on lowercase alphanumerics.
        gold: the gold examples (`datasets.load_ircot`).
        aliases: score against the best of all gold aliases instead of the first span.

    Returns:
        A `Report`; gold questions without a prediction count as wrong and are listed in
        ``missing``.

    Raises:
        ValueError: no gold examples.
    """
    if not gold:
        raise ValueError("gold: expected at least one example, got none")
    by_key = {question_key(k): v for k, v in predictions.items()}
    rows, typed, missing, per_q = [], collections.defaultdict(list), [], []
    for ex in gold:
        if ex.question_id in predictions:
            pred = predictions[ex.question_id]
        elif question_key(ex.question) in by_key:
            pred = by_key[question_key(ex.question)]
        else:
            pred = ""
            missing.append(ex.question_id)
        golds = ex.answers if aliases else ex.answers[:1]
        best = max(
            ((exact_match(pred, g), *f1_precision_recall(pred, g)) for g in golds),
            key=lambda r: (r[1], r[0]),
        )
        rows.append(best)
        if ex.type is not None:
            typed[ex.type].append(best)
        per_q.append((ex.question_id, pred, golds[0], best[0], best[1]))
    return Report(
        overall=_mean(rows),
        by_type={t: _mean(r) for t, r in sorted(typed.items())},
        missing=tuple(missing),
        per_question=tuple(per_q),
    )
