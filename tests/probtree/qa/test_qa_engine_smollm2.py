"""ProbTree end to end with the bundled SmolLM2-135M (JAX) on 2 HotpotQA questions: record
structure, the run file, resuming from a torn file through the completion cache, and metrics."""

from __future__ import annotations

import json

import pytest

from probtree.qa.datasets import bundled_path, load_ircot
from probtree.qa.engine import Engine, EngineConfig
from probtree.qa.evaluate import evaluate
from probtree.qa.retrieve import BM25Retriever
from probtree.qa.runs import read_run, run_file, summarize


@pytest.fixture(scope="module")
def smollm2():
    from probtree.lm import load

    try:
        return load("smollm2")
    except FileNotFoundError as err:
        pytest.skip(str(err))


def test_smollm2_end_to_end_run_resume_metrics(smollm2, tmp_path):
    examples = load_ircot(bundled_path("hotpotqa_ircot_test_500.jsonl.gz"), contexts=True)[:2]
    retriever = BM25Retriever.from_ircot(examples)
    cfg = EngineConfig(prompts="small", max_tokens_tree=6, max_tokens_qa=6, top_k=1)
    cache = tmp_path / "cache.sqlite"
    out = tmp_path / "run.jsonl"
    eng = Engine(smollm2, retriever, cfg, cache=cache)
    records, new = run_file(eng, examples, out)
    assert len(new) == 2 and eng.stats["lm_calls"] > 0 and eng.stats["batches"] <= 4
    # a 6-token budget truncates every HQDT: each question is answered as a single node
    for rec, ex in zip(records, examples):
        assert rec["question_id"] == ex.question_id and rec["gold"][0] == ex.answers[0]
        assert rec["decomposition"]["error"] and len(rec["tree"]) == 1
        node = rec["tree"][0]
        assert node["question"] == ex.question and node["choice"] in ("cb", "ob")
        for kind in ("cb", "ob"):
            cand = node[kind]
            assert isinstance(cand["answer"], str) and isinstance(cand["score"], float)
            # 6 tokens never reach "So the answer is:": the candidate is an error, with a reason
            assert cand["score"] == -100.0 and cand["error"]
        assert len(node["ob"]["passages"]) == 1 and node["ob"]["passages"][0] in {
            t for t, _, _ in ex.contexts
        }
        assert rec["lm"]["completion_tokens"] > 0
    lines = out.read_text().splitlines()
    assert [json.loads(x)["question_id"] for x in lines] == [e.question_id for e in examples]
    # metrics agree with evaluate() on the predictions
    s = summarize(records, examples)
    rep = evaluate({r["question_id"]: r["prediction"] for r in records}, examples)
    assert s["em"] == pytest.approx(rep.overall.em) and s["f1"] == pytest.approx(rep.overall.f1)
    assert s["choices"]["leaf_cb"] + s["choices"]["leaf_ob"] == 2
    # kill-like torn file: first record + half of the second; resume from the cache
    torn = lines[0] + "\n" + lines[1][: len(lines[1]) // 2]
    out.write_text(torn)
    eng2 = Engine(smollm2, retriever, cfg, cache=cache)
    records2, new2 = run_file(eng2, examples, out)
    assert [r["question_id"] for r in new2] == [examples[1].question_id]
    assert eng2.stats["lm_calls"] == 0 and eng2.stats["cache_hits"] > 0
    strip = lambda r: {k: v for k, v in r.items() if k not in ("timings", "lm")}
    assert [strip(r) for r in records2] == [strip(r) for r in records]
    assert len(read_run(out)) == 2
