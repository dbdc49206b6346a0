"""Evaluation of semantic parses: exact match after canonicalisation, precision and recall.

A prediction is correct when :func:`grammar.logic_canonical.equivalent` holds between it and the
gold LF (canonical conjunct order and variable names; the official ``equivalent`` of
``datalog.h``). *Precision* is correct / answered, *recall* (= accuracy) correct / total; a sentence
is unanswered when the parser returned nothing (no derivation, time-out without a parse). The
GeoQuery test set has 280 sentences, 7 of which (``geoqueries880_test_remaining``) the official
driver never parses; :func:`summarise` reports recall both over the parsed file and with those
counted as failures (``extra_failures``).

References:
    ``parse`` in ``parser.cpp`` of github.com/asaparov/parser; Zettlemoyer & Collins (2005) for
    precision/recall in this setting.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from grammar.logic import LF
from grammar.logic_canonical import equivalent

__all__ = ["is_correct", "summarise"]


def is_correct(predicted: LF | None, gold: LF) -> bool:
    """True when ``predicted`` is equivalent to ``gold`` (False for no prediction)."""
    return predicted is not None and equivalent(predicted, gold)


def summarise(predicted: Sequence[LF | None], gold: Sequence[LF], seconds: Sequence[float] = (),
              *, extra_failures: int = 0) -> dict:
    """``n``, ``answered``, ``correct``, ``accuracy`` (= ``recall``), ``precision``, ``recall``,
    ``recall_with_remaining`` (``extra_failures`` more sentences counted wrong) and
    ``median_seconds``.

    Raises:
        ValueError: ``predicted`` and ``gold`` differ in length, or ``extra_failures < 0``.
    """
    if len(predicted) != len(gold):
        raise ValueError(f"predicted: expected {len(gold)} items (one per gold LF), "
                         f"got {len(predicted)}")
    if extra_failures < 0:
        raise ValueError(f"extra_failures: expected >= 0, got {extra_failures}")
    n = len(gold)
    answered = sum(p is not None for p in predicted)
    correct = sum(is_correct(p, g) for p, g in zip(predicted, gold, strict=True))
    return {
        "n": n,
        "answered": answered,
        "correct": correct,
        "accuracy": correct / n if n else 0.0,
        "precision": correct / answered if answered else 0.0,
        "recall": correct / n if n else 0.0,
        "recall_with_remaining": correct / (n + extra_failures) if n + extra_failures else 0.0,
        "median_seconds": statistics.median(seconds) if seconds else 0.0,
    }
