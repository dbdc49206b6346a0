"""BM25 retrieval: scores against a brute-force Lucene BM25, the reference's title re-ranking,
corpus loaders and errors."""

from __future__ import annotations

import json
import math
import re

import bm25s
import numpy as np
import pytest

from probtree.qa.retrieve import BM25Retriever, Passage, Retriever, title_boost

DOCS = [
    ("Paris", "Paris is the capital and most populous city of France."),
    ("Berlin", "Berlin is the capital of Germany, and its largest city."),
    ("Lyon", "Lyon is a city in France, on the Rhone."),
    ("Rhone", "The Rhone is a river of Switzerland and France."),
    ("Geneva", "Geneva is a city in Switzerland on Lake Geneva."),
    ("Lake Geneva", "Lake Geneva is a lake on the north side of the Alps."),
]


def _tok(s: str) -> list[str]:
    stop = set(bm25s.stopwords.STOPWORDS_EN)
    return [w for w in re.findall(r"(?u)\b\w\w+\b", s.lower()) if w not in stop]


def _brute_bm25(query: str, docs, k1=1.5, b=0.75) -> list[float]:
    """Lucene BM25: idf = ln(1 + (N - df + .5) / (df + .5)), tf / (tf + k1 (1 - b + b dl/avg))."""
    toks = [_tok(f"{t}. {x}") for t, x in docs]
    n, avg = len(toks), sum(map(len, toks)) / len(toks)
    out = []
    for d in toks:
        s = 0.0
        for w in set(_tok(query)):
            df, tf = sum(w in x for x in toks), d.count(w)
            if tf:
                idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
                s += idf * tf / (tf + k1 * (1 - b + b * len(d) / avg))
        out.append(s)
    return out


@pytest.mark.parametrize("query", ["largest city of France", "lake in Switzerland", "river"])
def test_retrieve_scores_match_brute_force_bm25(query):
    r = BM25Retriever(DOCS, rerank=False)
    hits = r.retrieve([query], k=len(DOCS))[0]
    ref = _brute_bm25(query, DOCS)
    expect = sorted(((s, t) for s, (t, _) in zip(ref, DOCS) if s > 0), key=lambda x: -x[0])
    assert [h.title for h in hits] == [t for _, t in expect]
    np.testing.assert_allclose([h.score for h in hits], [s for s, _ in expect], rtol=1e-5)


def test_retrieve_batched_top_k_and_no_match():
    r = BM25Retriever(DOCS + DOCS[:2])  # duplicates are indexed once
    assert len(r) == len(DOCS)
    out = r.retrieve(["capital of Germany", "zzzz qqqq", "France"], k=2)
    assert [p.title for p in out[0]][0] == "Berlin"
    assert out[1] == []
    assert len(out[2]) == 2
    assert isinstance(r, Retriever)


def test_title_boost_rules_of_reference():
    assert title_boost("Lake Geneva", "Lake Geneva") == 1.5
    assert title_boost("The Rhone", "Rhone") == 1.5
    assert title_boost("lake geneva", "Lake Geneva") == 1.2
    assert title_boost("Where is lake geneva?", "Lake Geneva") == 1.1
    assert title_boost("Geneva", "Geneva (city)") == 1.2
    assert title_boost("geneva", "Geneva (city)") == 1.1
    assert title_boost("Where is Geneva?", "Geneva (city)") == 1.05
    assert title_boost("Where is Geneva?", "Paris") == 1.0


def test_rerank_multiplies_bm25_scores():
    plain = {
        p.title: p.score for p in BM25Retriever(DOCS, rerank=False).retrieve(["Lake Geneva"], 6)[0]
    }
    boosted = BM25Retriever(DOCS).retrieve(["Lake Geneva"], 6)[0]
    for p in boosted:
        assert p.score == pytest.approx(
            plain[p.title] * title_boost("Lake Geneva", p.title), rel=1e-6
        )
    assert boosted[0].title == "Lake Geneva"
    assert [p.score for p in boosted] == sorted((p.score for p in boosted), reverse=True)


def test_corpus_loaders(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(json.dumps({"title": t, "text": x}) for t, x in DOCS) + "\n\n")
    r = BM25Retriever.from_jsonl(path)
    assert len(r) == len(DOCS)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"title": "a", "text": "b"}\n{"title": "no text"}\n')
    with pytest.raises(ValueError, match="line 2"):
        BM25Retriever.from_jsonl(bad)
    from probtree.qa.datasets import bundled_path, load_ircot

    ex = load_ircot(bundled_path("hotpotqa_ircot_test_500.jsonl.gz"), contexts=True)[:3]
    r = BM25Retriever.from_ircot(ex)
    assert len(r) == len({(t, x) for e in ex for t, x, _ in e.contexts})
    top = r.retrieve([ex[0].question], k=5)[0]
    supporting = {t for t, _, s in ex[0].contexts if s}
    assert supporting & {p.title for p in top}


def test_retrieve_errors():
    with pytest.raises(ValueError, match="at least one"):
        BM25Retriever([])
    with pytest.raises(ValueError, match=r"passages\[0\]"):
        BM25Retriever([("only title",)])
    r = BM25Retriever(DOCS)
    with pytest.raises(ValueError, match="k"):
        r.retrieve(["x"], k=0)
    with pytest.raises(TypeError, match="single string"):
        r.retrieve("x", k=1)
    assert BM25Retriever([Passage("Alpha", "beta")]).passages == (("Alpha", "beta"),)
    with pytest.raises(ValueError, match="no indexable"):
        BM25Retriever([("a", "the")])
