"""Passage retrieval for open-book answers: a `Retriever` protocol and in-process BM25.

ProbTree's open-book (OB) answers read the top-k passages that BM25 returns for a (sub-)question.
The reference ran Elasticsearch 8 behind a Flask service: a ``multi_match`` over title and text,
the top ``max(k, 50)`` hits, re-ranked with title-match boosts. `BM25Retriever` does the same in
process with `bm25s` over any corpus of ``(title, text)`` passages: the IRCoT question files'
paragraphs (`from_ircot`) make an offline corpus, a JSON-lines file of ``{"title", "text"}``
records (`from_jsonl`) any other. Plug Elasticsearch or a dense retriever by implementing
`Retriever`.

Deviations: title and text are indexed as one field (``"title. text"``) instead of ES's boosted
title fields and bigram shingles (which the reference's index scripts most likely never created,
see the paper note); passages with a BM25 score of 0 (no query term matches) are not returned.

References:
    Cao et al., "Probabilistic Tree-of-thought Reasoning for Answering Knowledge-intensive Complex
    Questions", Findings of EMNLP 2023, section 3.2 (open-book QA); official code
    ``src/service/es/run_*_index.py`` (``rerank_with_query``); Lù, "BM25S: Orders of magnitude
    faster lexical search via eager sparse scoring" (2024).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["BM25Retriever", "Passage", "Retriever", "title_boost"]

_CORE_TITLE = re.compile(r"([^()]+[^\s()])(?:\s*\(.+\))?")


@dataclasses.dataclass(frozen=True)
class Passage:
    """One retrieved passage.

    Attributes:
        title: the Wikipedia title.
        text: the paragraph.
        score: the retriever's score (after any re-ranking).
    """

    title: str
    text: str
    score: float = 0.0


@runtime_checkable
class Retriever(Protocol):
    """What the engine needs: the top-``k`` passages of each query, best first."""

    def retrieve(self, queries: Sequence[str], k: int) -> list[list[Passage]]:
        """One list of at most ``k`` passages per query."""
        ...


def _core_title(title: str) -> str:
    m = _CORE_TITLE.match(title)
    return m.group(1) if m else title


def title_boost(query: str, title: str) -> float:
    """The reference's title-match factor of a hit (first matching rule wins).

    ×1.5 when the query (or the query without a leading "The ") equals the title, ×1.2 for the
    same case-insensitively, ×1.1 when the lower-cased title occurs in the query; then the same
    three tests on the title without its "(...)" suffix with ×1.2, ×1.1, ×1.05; else 1.

    Example:
        >>> title_boost("The Beatles", "Beatles")
        1.5
        >>> title_boost("Who founded Apple Inc.?", "apple inc. (company)")
        1.05
    """
    q1 = query[4:] if query.startswith(("The ", "the ")) else query
    core = _core_title(title)
    if title in (query, q1):
        return 1.5
    if title.lower() in (query.lower(), q1.lower()):
        return 1.2
    if title.lower() in query:
        return 1.1
    if core in (query, q1):
        return 1.2
    if core.lower() in (query.lower(), q1.lower()):
        return 1.1
    if core.lower() in query.lower():
        return 1.05
    return 1.0


class BM25Retriever:
    """BM25 (`bm25s`) over ``(title, text)`` passages, with the reference's title re-ranking.

    Args:
        passages: ``(title, text)`` pairs or `Passage` objects; exact duplicates (same title and
            text) are indexed once.
        rerank: apply `title_boost` to the top ``max(k, rerank_depth)`` hits, as the reference.
        rerank_depth: how many hits to re-rank (50 in the reference).
        k1, b: BM25 parameters.
        stopwords: ``"en"`` (bm25s's English list) or None.

    Raises:
        ValueError: no passages, or a passage that is not a pair of strings.

    Example:
        >>> r = BM25Retriever([("Paris", "Paris is the capital of France."),
        ...                    ("Berlin", "Berlin is the capital of Germany.")])
        >>> [p.title for p in r.retrieve(["capital of Germany"], k=1)[0]]
        ['Berlin']
    """

    def __init__(
        self,
        passages: Iterable[tuple[str, str] | Passage],
        *,
        rerank: bool = True,
        rerank_depth: int = 50,
        k1: float = 1.5,
        b: float = 0.75,
        stopwords: str | None = "en",
    ):
        import bm25s

        seen: dict[tuple[str, str], None] = {}
        for j, p in enumerate(passages):
            if isinstance(p, Passage):
                p = (p.title, p.text)
            ok = isinstance(p, tuple | list) and len(p) == 2
            if not (ok and all(isinstance(s, str) for s in p)):
                raise ValueError(
                    f"passages[{j}]: expected a (title, text) pair of strings, got {p!r}"
                )
            seen.setdefault((p[0], p[1]), None)
        if not seen:
            raise ValueError("passages: expected at least one passage")
        if rerank_depth < 1:
            raise ValueError(f"rerank_depth: expected >= 1, got {rerank_depth}")
        self.passages: tuple[tuple[str, str], ...] = tuple(seen)
        self.rerank = bool(rerank)
        self.rerank_depth = int(rerank_depth)
        self._stopwords = stopwords
        self._bm25s = bm25s
        docs = [f"{t}. {x}" for t, x in self.passages]
        tokens = bm25s.tokenize(docs, stopwords=stopwords, show_progress=False)
        if not tokens.vocab:
            raise ValueError("passages: no indexable words (all are stopwords or 1 character)")
        self._index = bm25s.BM25(k1=k1, b=b)
        self._index.index(tokens, show_progress=False)

    def __len__(self) -> int:
        return len(self.passages)

    def __repr__(self) -> str:
        return f"BM25Retriever({len(self)} passages, rerank={self.rerank})"

    @classmethod
    def from_jsonl(cls, path: str | Path, **kwargs) -> BM25Retriever:
        """Passages from a JSON-lines file of ``{"title": ..., "text": ...}`` records
        (``paragraph_text`` is accepted for ``text``).

        Raises:
            ValueError: a line that is not such a record (names the line).
        """
        out = []
        with open(path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                    text = rec["text"] if "text" in rec else rec["paragraph_text"]
                    out.append((str(rec.get("title", "")), str(text)))
                except (json.JSONDecodeError, KeyError, TypeError) as err:
                    raise ValueError(
                        f"{path}: line {lineno} is not a {{title, text}} record ({err})"
                    ) from None
        return cls(out, **kwargs)

    @classmethod
    def from_ircot(cls, source, **kwargs) -> BM25Retriever:
        """Every paragraph of IRCoT-format questions: a jsonl path or `datasets.Example` objects
        loaded with ``contexts=True``."""
        from probtree.qa.datasets import load_ircot

        examples = load_ircot(source, contexts=True) if isinstance(source, str | Path) else source
        return cls([(t, x) for ex in examples for t, x, _ in ex.contexts], **kwargs)

    def retrieve(self, queries: Sequence[str], k: int) -> list[list[Passage]]:
        """Top-``k`` passages of each query (one batched BM25 call for all queries).

        Args:
            queries: the questions.
            k: most passages per query (>= 1).

        Returns:
            Per query, up to ``k`` passages with positive score, best first.

        Raises:
            ValueError: ``k < 1`` or a query that is not a string.
        """
        if isinstance(queries, str):
            raise TypeError("queries: expected a sequence of strings, got a single string")
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"k: expected an int >= 1, got {k!r}")
        queries = list(queries)
        for j, q in enumerate(queries):
            if not isinstance(q, str):
                raise ValueError(f"queries[{j}]: expected str, got {type(q).__name__}")
        if not queries:
            return []
        depth = min(len(self.passages), max(k, self.rerank_depth) if self.rerank else k)
        toks = self._bm25s.tokenize(queries, stopwords=self._stopwords, show_progress=False)
        # n_threads=0: scored in this thread (n_threads=1 starts a thread pool per call)
        ids, scores = self._index.retrieve(toks, k=depth, show_progress=False, n_threads=0)
        out = []
        for q, row_ids, row_scores in zip(queries, np.asarray(ids), np.asarray(scores)):
            hits = []
            for i, s in zip(row_ids.tolist(), row_scores.tolist()):
                if s <= 0:
                    continue
                title, text = self.passages[i]
                if self.rerank:
                    s *= title_boost(q, title)
                hits.append(Passage(title, text, float(s)))
            hits.sort(key=lambda p: -p.score)  # stable: BM25 order among equal scores
            out.append(hits[:k])
        return out
