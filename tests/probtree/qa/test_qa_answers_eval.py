"""Answer/confidence extraction, invalid-answer filter, EM/F1 and the IRCoT loaders."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from probtree.qa import (
    INVALID_SCORE,
    Completion,
    Example,
    bundled_path,
    clean_answer,
    evaluate,
    exact_match,
    f1_precision_recall,
    find_references,
    is_invalid,
    load_ircot,
    parse_answer,
    substitute_references,
)
from probtree.qa.evaluate import normalize_answer


def _reference_postprocess(tokens, logprobs, text):
    """The official `postprocess` (re-implemented as the test oracle)."""
    cot = text.strip()
    pos = 0
    for idx in range(len(tokens) - 4):
        if [t.strip() for t in tokens[idx : idx + 5]] == ["So", "the", "answer", "is", ":"]:
            pos = idx
            break
    answer = cot.split("So the answer is: ")[-1]
    if tokens[-1] == ".":
        answer = answer[:-1]
    lps = logprobs[:pos]
    return answer, (sum(lps) / len(lps) if lps else -100)


def test_qa_parse_answer_matches_reference_postprocess():
    rng = np.random.default_rng(0)
    words = [" Paris", " is", " the", " capital", " of", " France", ",", " and", " 1889"]
    for _ in range(50):
        expl = ["The"] + list(rng.choice(words, size=int(rng.integers(1, 12))))
        ans = list(rng.choice(words[:6], size=int(rng.integers(1, 4))))  # " X" after ":"
        tokens = expl + [".", " So", " the", " answer", " is", ":"] + ans + ["."]
        lps = list(rng.uniform(-3, 0, size=len(tokens)))
        comp = Completion.from_tokens(tokens, lps)
        got = parse_answer(comp)
        want_text, want_score = _reference_postprocess(tokens, lps, comp.text)
        assert got.text == want_text.strip()
        np.testing.assert_allclose(got.score, want_score, rtol=1e-12)
        assert got.error == ""


def test_qa_parse_answer_failures_score_minus_100():
    no_marker = Completion.from_tokens(["I", " think", " Paris", "."], [-0.1, -0.2, -0.3, -0.1])
    a = parse_answer(no_marker)
    assert a.score == INVALID_SCORE and "marker" in a.error and a.text == "I think Paris."
    assert parse_answer(None).score == INVALID_SCORE
    ok = Completion.from_tokens(["X.", " So the answer is: Y."], [-0.5, -0.1])
    assert parse_answer(ok, finish_reason="length").score == INVALID_SCORE
    assert parse_answer(Completion(text="")).error == "empty output"
    # marker at the very start: no explanation tokens
    assert parse_answer(Completion.from_tokens(["So the answer is: Y."], [-0.1])).score == -100
    with pytest.raises(ValueError, match="same length"):
        Completion(text="ab", tokens=("a", "b"), logprobs=(0.0,), offsets=((0, 1), (1, 2)))
    with pytest.raises(ValueError, match="outside"):
        Completion(text="ab", tokens=("a",), logprobs=(0.0,), offsets=((0, 5),))


def test_qa_invalid_filter_compat_and_strict():
    assert is_invalid("Unknown", "cb") and is_invalid("ERROR: prompt too long", "ob")
    assert is_invalid("The Unknown Soldier", "cb")  # the reference's substring test
    assert not is_invalid("The Unknown Soldier", "cb", compat=False)
    assert is_invalid("unknown.", "ob", compat=False)
    assert is_invalid("Unknowable", "ca") and not is_invalid("Unknowable", "cb")
    with pytest.raises(ValueError, match="kind"):
        is_invalid("x", "zz")


def test_qa_references_by_token():
    assert find_references("When did #1 arrive in #10?") == [1, 10]
    assert find_references("When did <1> arrive in #2?", "angle") == [1]
    assert substitute_references("#1 and #10", {1: "A.", 10: "B"}, "hash") == "A and B"
    # the reference's raw replace corrupts #10 and keeps the trailing period
    assert substitute_references("#1 and #10", {1: "A."}, "hash", compat=True) == "A. and A.0"
    assert clean_answer("  UEFA.  ") == "UEFA"
    with pytest.raises(ValueError, match="placeholder"):
        find_references("x", "curly")


def test_qa_metrics_follow_hotpotqa_rules():
    assert normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert exact_match("the Beatles", "Beatles") == 1.0
    f1, p, r = f1_precision_recall("Michael P. Fay", "Michael Fay")
    np.testing.assert_allclose([f1, p, r], [0.8, 2 / 3, 1.0], rtol=1e-12)
    assert f1_precision_recall("yes", "yes indeed") == (0.0, 0.0, 0.0)
    assert f1_precision_recall("no", "no") == (1.0, 1.0, 1.0)
    gold = [
        Example("a", "Who sang Help?", ("The Beatles", "Beatles band"), "bridge"),
        Example("b", "Is X bigger than Y?", ("yes",), "comparison"),
        Example("c", "Where is Z?", ("Paris",), "bridge"),
    ]
    rep = evaluate({"a": "Beatles band", "Is X bigger than Y ?": "yes"}, gold)
    assert rep.missing == ("c",)
    np.testing.assert_allclose(rep.overall.em, 100 / 3, rtol=1e-12)
    np.testing.assert_allclose(rep.by_type["comparison"].em, 100.0)
    np.testing.assert_allclose(
        rep.by_type["bridge"].f1, 100 * (2 / 3) / 2
    )  # F1("beatles band", "beatles") = 2/3
    alias = evaluate({"a": "Beatles band"}, gold, aliases=True)
    np.testing.assert_allclose(alias.by_type["bridge"].em, 50.0)
    with pytest.raises(ValueError, match="gold"):
        evaluate({}, [])


def test_qa_ircot_loaders_all_layouts(tmp_path):
    hot = load_ircot(bundled_path("hotpotqa_ircot_test_500.jsonl.gz"), contexts=True)
    assert len(hot) == 500 and hot[0].type == "bridge" and hot[0].answers[0] == "American"
    assert len(hot[0].contexts) >= 2
    recs = [
        {
            "question_id": "2hop__1_2",
            "question_text": "Q1 ?",
            "answers_objects": [{"number": "", "spans": ["A", "A2"]}],
            "contexts": [],
        },
        {
            "question_id": "8974f9",
            "question_text": "Q2",
            "answers_objects": [{"number": "", "spans": ["B"]}],
            "reasoning_steps": ["x"],
            "contexts": [],
        },
    ]
    path = tmp_path / "mixed.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("\n".join(json.dumps(r) for r in recs) + "\n")
    got = load_ircot(path)
    assert [g.type for g in got] == ["2hop", None]
    assert got[0].answers == ("A", "A2") and got[0].question == "Q1 ?"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question_text": "q", "answers_objects": []}\n')
    with pytest.raises(ValueError, match="no gold answer"):
        load_ircot(bad)
    bad.write_text('{"question_text": \n')
    with pytest.raises(ValueError, match="line 1"):
        load_ircot(bad)
