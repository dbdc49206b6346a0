"""Resumable runs: partial lines, resume without duplicates, and a SIGKILLed `probtree qa run`
through a loopback OpenAI-compatible server with injected faults (errors, timeouts, truncated
JSON bodies) giving the same records as an uninterrupted run."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from qa_engine_fakes import ScriptedLM

from probtree.qa.datasets import bundled_path
from probtree.qa.engine import Engine, EngineConfig
from probtree.qa.runs import open_run, read_run, summarize

VOLATILE = ("timings", "lm")


def _strip(rec: dict) -> dict:
    return {k: v for k, v in rec.items() if k not in VOLATILE}


def _ircot_sample(path: Path, n: int) -> Path:
    with gzip.open(bundled_path("hotpotqa_ircot_test_500.jsonl.gz"), "rt") as fh:
        lines = [next(fh) for _ in range(n)]
    path.write_text("".join(lines))
    return path


def test_open_run_drops_partial_line_and_duplicates(tmp_path):
    out = tmp_path / "run.jsonl"
    _, w = open_run(out)
    w.write({"question_id": "a", "x": 1})
    w.write({"question_id": "b", "x": 2})
    w.close()
    with open(out, "ab") as fh:
        fh.write(b'{"question_id": "a", "x": 3}\n{"question_id": "c", "x"')  # dup + torn line
    recs, w = open_run(out)
    w.close()
    assert [r["question_id"] for r in recs] == ["a", "b"] and recs[0]["x"] == 1
    assert out.read_bytes().endswith(b'"x": 3}\n')  # torn tail removed, whole lines kept
    assert len(read_run(out)) == 3
    (tmp_path / "bad.jsonl").write_text('{"question_id": "a"}\nnot json\n{"question_id": "b"}\n')
    with pytest.raises(ValueError, match="line 2"):
        open_run(tmp_path / "bad.jsonl")


def test_summary_metrics_and_shares():
    from probtree.qa.datasets import Example

    ex = [Example("1", "a plain question?", ("ans0",)), Example("2", "a pair question?", ("x",))]
    recs = Engine(ScriptedLM(), None, EngineConfig()).run(ex)
    s = summarize(recs)
    em = [float(r["prediction"] == r["gold"][0]) for r in recs]
    assert s["n"] == 2 and s["em"] == pytest.approx(100 * sum(em) / 2)
    n_leaf = sum(not n["sons"] for r in recs for n in r["tree"])
    assert s["nodes"] == {"leaf": n_leaf, "nonleaf": sum(len(r["tree"]) for r in recs) - n_leaf}
    assert s["choices"]["leaf_cb"] + s["choices"]["leaf_ob"] == n_leaf
    assert s["shares"]["leaf_cb"] == pytest.approx(s["choices"]["leaf_cb"] / n_leaf, abs=1e-4)


class _Faults:
    """Deterministic faults by prompt: first attempts fail with HTTP 500, a truncated JSON body or
    a late answer (client timeout) by a hash of the prompt; prompts about `PERMANENT` always fail;
    every answer is delayed so that the run lasts a few seconds."""

    PERMANENT = "Dorian Gray"

    def __init__(self):
        from probtree.lm.server import FaultPlan

        class Plan(FaultPlan):
            def next_fault(plan, prompt):
                super().next_fault(prompt)
                if self.PERMANENT in prompt.rsplit("Q:", 1)[-1]:
                    return "500"
                h = int(hashlib.md5(prompt.encode()).hexdigest()[:6], 16) % 6
                if plan.attempts[prompt] == 1:
                    return {0: "500", 1: "truncate", 2: "sleep:0.6"}.get(h, "sleep:0.04")
                return "sleep:0.04"

        self.plan = Plan()


def _cli(data: Path, url: str, out: Path) -> list[str]:
    model = f"openai:{url},max_retries=3,timeout=0.4,backoff=0.01,backoff_max=0.05"
    return [sys.executable, "-m", "probtree.cli", "qa", "run", "--data", str(data), "--model",
            model, "--out", str(out), "--concurrency", "4", "--max-active", "1", "--no-progress"]


def _serve():
    from probtree.lm.server import make_app, serve_in_thread

    faults = _Faults()
    return serve_in_thread(make_app(ScriptedLM(), faults=faults.plan)), faults.plan


def test_sigkill_and_resume_through_faulty_loopback_server(tmp_path):
    pytest.importorskip("uvicorn")
    n = 5
    data = _ircot_sample(tmp_path / "q.jsonl", n)
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    full = tmp_path / "full.jsonl"
    ctx, plan = _serve()
    with ctx as url:
        done = subprocess.run(_cli(data, url, full), capture_output=True, text=True, env=env,
                              timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["n"] == n and summary["new"] == n
    assert summary["lm_errors"] == 2  # the permanently failing question's CB and OB
    assert plan.attempts and any(v > 1 for v in plan.attempts.values())  # faults were retried

    killed = tmp_path / "killed.jsonl"
    ctx, _ = _serve()
    with ctx as url:
        proc = subprocess.Popen(_cli(data, url, killed), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + 200
        while time.monotonic() < deadline and proc.poll() is None:
            if killed.exists() and killed.read_bytes().count(b"\n") >= 2:
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the run finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        n_before = killed.read_bytes().count(b"\n")
        assert 2 <= n_before < n
        again = subprocess.run(_cli(data, url, killed), capture_output=True, text=True, env=env,
                               timeout=240)
    assert again.returncode == 0, again.stderr[-2000:]
    resumed = json.loads(again.stdout.strip().splitlines()[-1])
    assert resumed["new"] == n - n_before and resumed["n"] == n
    a, b = read_run(full), read_run(killed)
    assert len(b) == n and len({r["question_id"] for r in b}) == n
    by_id = {r["question_id"]: _strip(r) for r in a}
    assert {r["question_id"]: _strip(r) for r in b} == by_id
    for key in ("em", "f1", "choices", "lm_errors"):
        assert resumed[key] == summary[key]


def test_cli_run_errors(tmp_path, capsys):
    from probtree.cli import main

    data = _ircot_sample(tmp_path / "q.jsonl", 2)
    base = ["qa", "run", "--data", str(data), "--out", str(tmp_path / "o.jsonl"), "--no-progress"]
    assert main(base + ["--model", "smollm2", "--concurrency", "2"]) == 2
    assert "--concurrency" in capsys.readouterr().err
    assert main(base + ["--model", "replay:/nonexistent.jsonl"]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(base + ["--model", "smollm2", "--limit", "0"]) == 2
    assert "--limit" in capsys.readouterr().err
