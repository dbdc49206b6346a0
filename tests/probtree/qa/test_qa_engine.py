"""ProbTree engine on a scripted backend: structure, level scheduling, dedup, cache, failures,
limits, and agreement of its choices with the node-by-node reference selection."""

from __future__ import annotations

import numpy as np
import pytest
from qa_engine_fakes import ScriptedLM

from probtree.qa.answers import CANDIDATE_KINDS, INVALID_SCORE
from probtree.qa.datasets import Example
from probtree.qa.engine import Engine, EngineConfig
from probtree.qa.retrieve import BM25Retriever
from probtree.qa.select import ABSENT, INVALID, VALID, select_reference

QUESTIONS = [
    "a chain question?",
    "a pair question?",
    "a plain question?",
    "a deep question?",
    "bad json question?",
    "huge question?",
    "plain but fail now?",
    "plain unknowable thing?",
]

CORPUS = [
    ("Chain", "A chain question is about links."),
    ("Pair", "A pair question has two halves."),
    ("Deep", "Deep questions go down two levels."),
    ("Plain", "Plain questions are simple."),
]


@pytest.fixture(scope="module")
def run_records():
    lm = ScriptedLM()
    eng = Engine(lm, BM25Retriever(CORPUS), EngineConfig(top_k=2))
    return lm, eng, eng.run(QUESTIONS)


def _by_q(records):
    return {r["question"]: r for r in records}


def test_engine_tree_shapes_and_levels(run_records):
    lm, eng, recs = run_records
    r = _by_q(recs)
    assert [x["question"] for x in recs] == QUESTIONS
    # tree shapes from the scripted decompositions (post-order, root last)
    assert len(r["a chain question?"]["tree"]) == 3
    assert len(r["a deep question?"]["tree"]) == 5
    assert len(r["a plain question?"]["tree"]) == 1
    # critical path = levels: tree call, leaves + root CB/OB, the referencing leaf, root CA
    assert r["a chain question?"]["lm"]["rounds"] == 4
    assert r["a pair question?"]["lm"]["rounds"] == 3
    assert r["a plain question?"]["lm"]["rounds"] == 2
    # one backend batch per round across all questions
    assert len(lm.batches) >= max(x["lm"]["rounds"] for x in recs)
    # the failing request is isolated by splitting its batch; each prompt succeeds once
    assert eng.stats["lm_calls"] == len({p for b in lm.batches for p in b})
    # reference substitution: the chain's second leaf carries the first leaf's chosen answer
    tree = r["a chain question?"]["tree"]
    assert tree[1]["question_text"] == "What is known about <1>?"
    assert tree[1]["question"] == f"What is known about {tree[0]['answer'][0]}?"
    # every node has CB and OB; non-leaves also CA; OB records its passage titles
    for rec in recs:
        for node in rec["tree"]:
            assert {"cb", "ob"} <= set(node) and (("ca" in node) == bool(node["sons"]))
            assert isinstance(node["ob"]["passages"], list)
            assert node["choice"] in CANDIDATE_KINDS
        assert rec["prediction"] == rec["tree"][-1]["answer"][0]
    assert r["a chain question?"]["tree"][2]["ob"]["passages"][0] == "Chain"


def test_engine_failures_cost_only_the_candidate(run_records):
    _, eng, recs = run_records
    r = _by_q(recs)
    bad = r["bad json question?"]
    assert len(bad["tree"]) == 1 and "Unterminated" in bad["decomposition"]["error"]
    huge = r["huge question?"]
    assert len(huge["tree"]) == 1 and any("max_nodes" in c for c in huge["cuts"])
    fail = r["plain but fail now?"]["tree"][0]
    for kind in ("cb", "ob"):
        assert fail[kind]["answer"].startswith("ERROR") and fail[kind]["score"] == INVALID_SCORE
        assert "scripted failure" in fail[kind]["error"]
    assert r["plain but fail now?"]["prediction"] == ""
    unk = r["plain unknowable thing?"]
    assert unk["tree"][0]["cb"]["answer"] == "Unknown" and unk["prediction"] == ""
    assert eng.stats["lm_errors"] == 2
    # other questions are unaffected
    assert r["a plain question?"]["prediction"].startswith("ans")


def test_engine_choices_match_reference_selection(run_records):
    from probtree.qa.querytree import QueryNode, QueryTree

    _, _, recs = run_records
    for rec in recs:
        nodes = tuple(
            QueryNode(n["question_text"], tuple(n["sons"]), n["fa"], n["qd_logprob"])
            for n in rec["tree"]
        )
        tree = QueryTree(rec["question"], nodes)
        sc = np.zeros((len(nodes), 3))
        st = np.full((len(nodes), 3), ABSENT)
        for i, n in enumerate(rec["tree"]):
            for k, kind in enumerate(CANDIDATE_KINDS):
                if kind in n:
                    a = n[kind]
                    bad = "ERROR" in a["answer"] or ("Unknow" if kind == "ca" else "Unknown") in a[
                        "answer"
                    ]
                    st[i, k] = INVALID if bad else VALID
                    sc[i, k] = a["score"]
        values, choices = select_reference([tree], [sc], [st])
        assert [CANDIDATE_KINDS[c] for c in choices[0]] == [n["choice"] for n in rec["tree"]]
        np.testing.assert_allclose(
            values[0], [n["answer"][1] for n in rec["tree"]], rtol=1e-5, atol=1e-5
        )


def test_engine_choices_match_jit_choose(run_records):
    from probtree.qa.runs import reasoned_tree
    from probtree.qa.select import choose

    trees, answers = [], []
    for rec in run_records[2]:
        tree, ans, _, _, _ = reasoned_tree(rec)
        trees.append(tree)
        answers.append(ans)
    for rec, c in zip(run_records[2], choose(trees, answers)):
        assert [CANDIDATE_KINDS[k] for k in c.choice] == [n["choice"] for n in rec["tree"]]
        assert list(c.text) == [n["answer"][0] for n in rec["tree"]]
        np.testing.assert_allclose(c.value, [n["answer"][1] for n in rec["tree"]], atol=1e-5)


def test_engine_dedup_and_cache(tmp_path):
    lm = ScriptedLM()
    qs = ["a pair question?", "a pair question?", "a plain question?"]
    cache = tmp_path / "c.sqlite"
    eng = Engine(lm, None, EngineConfig(), cache=cache)
    first = eng.run(qs)
    assert eng.stats["deduplicated"] > 0
    sent = sum(len(b) for b in lm.batches)
    assert sent == eng.stats["lm_calls"] == eng.stats["requests"] - eng.stats["deduplicated"]
    assert len({p for b in lm.batches for p in b}) == sent  # no prompt sent twice
    lm2 = ScriptedLM()
    eng2 = Engine(lm2, None, EngineConfig(), cache=cache)
    second = eng2.run(qs)
    assert lm2.batches == [] and eng2.stats["cache_hits"] == sent
    strip = lambda rs: [{k: v for k, v in r.items() if k not in ("timings", "lm")} for r in rs]
    assert strip(first) == strip(second)


def test_engine_sequential_reference_design_same_answers():
    lm_a, lm_b = ScriptedLM(), ScriptedLM()
    qs = ["a chain question?", "a deep question?"]
    a = Engine(lm_a, None, EngineConfig()).run(qs)
    b = Engine(lm_b, None, EngineConfig(sequential=True)).run(qs)
    assert [r["prediction"] for r in a] == [r["prediction"] for r in b]
    assert all(len(batch) <= 2 for batch in lm_b.batches)  # one request per question per call
    assert b[1]["lm"]["rounds"] == 1 + 2 * 5 + 2  # tree call, CB+OB per node, CA per non-leaf


def test_engine_max_active_window():
    lm = ScriptedLM()
    recs = Engine(lm, None, EngineConfig(max_active=1)).run(["a pair question?", "a plain one?"])
    assert [len(b) for b in lm.batches] == [1, 6, 1, 1, 2]
    assert recs[1]["timings"]["start_s"] >= recs[0]["timings"]["end_s"] - 1e-3


def test_engine_prompt_limit_shrinks_k_and_records_it():
    lm = ScriptedLM()
    long = [(f"Plain {j}", "plain question words " * 60) for j in range(5)]
    eng = Engine(lm, BM25Retriever(long), EngineConfig(top_k=5, max_prompt_tokens=1900))
    rec = eng.run([Example("q1", "a plain question?", ("x",))])[0]
    n_passages = len(rec["tree"][0]["ob"]["passages"])
    assert 1 <= n_passages < 5
    assert any(f"k 5 -> {n_passages}" in c for c in rec["cuts"])
    ob_prompt = [p for b in lm.batches for p in b if "Wikipedia Title: Plain" in p][0]
    assert eng.n_tokens(ob_prompt) + 256 <= 1900


def test_engine_config_errors():
    with pytest.raises(ValueError, match="top_k"):
        EngineConfig(top_k=0)
    with pytest.raises(ValueError, match="prompts"):
        Engine(ScriptedLM(), None, EngineConfig(prompts="nope"))
    with pytest.raises(TypeError, match="lm"):
        Engine(object())
    with pytest.raises(ValueError, match="schedule"):
        EngineConfig(schedule="fast")
    with pytest.raises(ValueError, match="acomplete"):
        Engine(ScriptedLM(), None, EngineConfig(schedule="stream")).run(["q?"])
    with pytest.raises(TypeError, match="examples"):
        Engine(ScriptedLM()).run([3])


def test_engine_streaming_matches_rounds_and_respects_concurrency(run_records):
    from qa_engine_fakes import AsyncScriptedLM

    strip = lambda r: {k: v for k, v in r.items() if k not in ("timings", "lm", "question_id")}
    for max_active in (None, 9):  # adaptive admission; all at once (duplicates in flight)
        lm = AsyncScriptedLM(concurrency=3)
        cfg = EngineConfig(top_k=2, schedule="stream", max_active=max_active)
        eng = Engine(lm, BM25Retriever(CORPUS), cfg)
        recs = eng.run(QUESTIONS + ["a pair question?"])
        assert [strip(r) for r in recs[:-1]] == [strip(r) for r in run_records[2]]
        assert 1 <= lm.max_in_flight <= 3
        assert eng.stats["lm_errors"] == 2
        assert eng.stats["lm_calls"] == sum(len(b) for b in lm.batches)  # no resends
    assert eng.stats["deduplicated"] > 0
    assert eng.stats["lm_calls"] == len({p for b in lm.batches for p in b})


def test_streaming_admits_only_into_free_slots_and_serves_oldest_first():
    from qa_engine_fakes import AsyncScriptedLM

    qs = ["a pair question?", "a chain question?", "a plain question?", "a deep question?"]
    # one slot: a new question is admitted only when every admitted one is finished, so the
    # questions run strictly one after another and each costs only its own critical path
    lm = AsyncScriptedLM(delay=0.001, concurrency=1)
    recs = Engine(lm, BM25Retriever(CORPUS), EngineConfig(schedule="stream")).run(qs)
    for a, b in zip(recs, recs[1:]):
        assert a["timings"]["end_s"] <= b["timings"]["start_s"]
    assert lm.max_in_flight == 1
    # three slots, all questions admitted at once: the waiting requests without slack leave
    # oldest question first, so the first question's leaf requests are all sent before any of
    # the last one's beyond the tree call it sends on admission. (The first question's root
    # CB/OB have slack until its leaves are answered and may wait behind the last question's
    # critical requests: test_streaming_sends_requests_with_slack_last.)
    from qa_engine_fakes import question_of

    lm = AsyncScriptedLM(delay=0.001, concurrency=3)
    eng = Engine(lm, BM25Retriever(CORPUS), EngineConfig(schedule="stream", max_active=4))
    recs = eng.run(qs)
    sent = [question_of(p) for b in lm.batches for p in b]
    leaves = {"First half of a pair question?", "Second half of a pair question?"}
    first = [j for j, q in enumerate(sent) if q in leaves]
    last = [j for j, q in enumerate(sent) if "a deep question" in q]
    assert len(first) == 4 and last and max(first) < sorted(last)[1]
    assert lm.max_in_flight <= 3


def test_streaming_sends_requests_with_slack_last():
    from qa_engine_fakes import AsyncScriptedLM, question_of

    # one slot, a chain question: the root's CB/OB are ready at once but needed only with its
    # CA, so both leaves' requests (the critical path) leave first; the root's follow its CA's
    # readiness, and the answers equal the rounds schedule's
    q = "a chain question?"
    lm = AsyncScriptedLM(delay=0.001, concurrency=1)
    rec = Engine(lm, BM25Retriever(CORPUS), EngineConfig(schedule="stream")).run([q])[0]
    sent = [question_of(p) for b in lm.batches for p in b]
    assert len(sent) == 8  # tree, 2 x (CB, OB) of the leaves, root CB, OB, CA
    root = [j for j, s in enumerate(sent[1:], 1) if s == q]
    second = [j for j, s in enumerate(sent) if s.startswith("What is known about")]
    assert len(root) == 3 and len(second) == 2
    assert max(second) < min(root)
    ref = Engine(ScriptedLM(), BM25Retriever(CORPUS), EngineConfig()).run([q])[0]
    strip = lambda r: {k: v for k, v in r.items() if k not in ("timings", "lm")}
    assert strip(rec) == strip(ref)
