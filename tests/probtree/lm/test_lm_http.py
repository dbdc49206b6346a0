"""The OpenAI-compatible HTTP backend against a real server on loopback.

The server (starlette + uvicorn, :mod:`probtree.lm.server`) speaks the OpenAI wire format and
serves the replay data (ProbTree's Llama-3 records), with injected faults: HTTP 500, 429 with
Retry-After, answers slower than the client's timeout, truncated JSON bodies.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import time
from pathlib import Path

import pytest

from probtree.lm import LMError, ReplayLM, Request
from probtree.lm.openai_http import OpenAILM
from probtree.lm.server import FaultPlan, make_app, serve_in_thread

DATA = Path(__file__).resolve().parents[2] / "data" / "lm"
REPLAY = DATA / "llama3_tree_generation_cache.jsonl"
FIX = Path(__file__).resolve().parents[2] / "fixtures"


@pytest.fixture(scope="module")
def replay():
    return ReplayLM(REPLAY)


def _fast(url: str, **kw) -> OpenAILM:
    opts = {"backoff": 0.01, "backoff_max": 2.0, "timeout": 5.0, "max_retries": 3}
    opts.update(kw)
    return OpenAILM(url, model="llama3-replay", **opts)


@pytest.mark.parametrize("chat", [False, True])
def test_round_trip_matches_replay(replay, chat):
    reqs = [Request(p, max_tokens=512, stop=["\n\n"]) for p in replay.prompts[:8]]
    want = replay.complete(reqs)
    with serve_in_thread(make_app(replay)) as url:
        got = _fast(url, chat=chat, concurrency=4).complete(reqs)
    for g, w in zip(got, want):
        assert (g.text, g.tokens, g.offsets, g.finish_reason) == (
            w.text, w.tokens, w.offsets, w.finish_reason
        )
        assert g.logprobs == pytest.approx(w.logprobs, abs=1e-12)


def test_faults_every_request_ends_once(replay):
    prompts = replay.prompts[:6]
    faults = {
        prompts[0]: ["500", "500"],
        prompts[1]: ["429:1"],
        prompts[2]: ["sleep:2.5"],
        prompts[3]: ["truncate"],
        prompts[4]: ["500"] * 10,  # more than the retries
    }
    plan = FaultPlan(faults)
    reqs = [Request(p, max_tokens=512) for p in prompts]
    want = replay.complete(reqs)
    with serve_in_thread(make_app(replay, plan)) as url:
        lm = _fast(url, timeout=1.0, concurrency=6)
        t0 = time.perf_counter()
        got = asyncio.run(lm.acomplete(reqs, return_exceptions=True))
        elapsed = time.perf_counter() - t0
    assert len(got) == len(reqs)
    for i, (g, w) in enumerate(zip(got, want)):
        if i == 4:
            assert isinstance(g, LMError)
            assert "request 4" in str(g) and "HTTP 500" in str(g) and "4 attempts" in str(g)
            assert repr(prompts[4][-30:])[1:-1] in str(g)
        else:
            assert g == dataclasses.replace(w, token_ids=()), f"request {i}"  # ids: not sent
    # Attempts per prompt: faults + 1 success (request 4: 1 + 3 retries, all failing).
    assert [plan.attempts[p] for p in prompts] == [3, 2, 2, 2, 4, 1]
    assert elapsed >= 1.0  # Retry-After: 1 was honoured
    # Raised, not returned, by default; it names the failed request.
    plan2 = FaultPlan({prompts[0]: ["500"] * 10})
    with serve_in_thread(make_app(replay, plan2)) as url:
        with pytest.raises(LMError, match="request 0"):
            _fast(url, max_retries=1).complete(reqs[:2])
    assert plan2.served[prompts[1]] == 1


def test_connection_refused_is_a_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    lm = _fast(f"http://127.0.0.1:{port}/v1", max_retries=2)
    with pytest.raises(LMError, match="request 0 .*3 attempts.*connection error"):
        lm.complete([Request("hello", max_tokens=2)])


def test_api_key_from_env_never_leaks(replay, monkeypatch):
    secret = "sk-test-very-secret-0123"
    monkeypatch.setenv("PT_TEST_API_KEY", secret)
    plan = FaultPlan({replay.prompts[1]: ["500"] * 10})
    with serve_in_thread(make_app(replay, plan, api_key=secret)) as url:
        lm = _fast(url, api_key_env="PT_TEST_API_KEY", max_retries=1)
        ok = lm.complete([Request(replay.prompts[0], max_tokens=5)])[0]
        assert ok.tokens == replay.complete([Request(replay.prompts[0], max_tokens=5)])[0].tokens
        with pytest.raises(LMError) as err:
            lm.complete([Request(replay.prompts[1], max_tokens=5)])
        assert secret not in str(err.value)
        assert secret not in repr(lm) and secret not in str(vars(lm))
        monkeypatch.delenv("PT_TEST_API_KEY")
        with pytest.raises(LMError, match="HTTP 401") as err:  # not retried
            lm.complete([Request(replay.prompts[0], max_tokens=5)])
        assert secret not in str(err.value)


def test_score_through_echo_matches_in_process():
    from probtree.lm.jax_lm import JaxLM
    from probtree.lm.safetensors_loader import load_safetensors

    cfg, params, tok = load_safetensors(FIX / "tiny_llama")
    lm = JaxLM(cfg, params, tok, min_prefix_tokens=0)
    ids = tok.encode("Q: When did the director die?\nA:")
    prompt, cont = tok.decode(ids[:5]), tok.decode(ids[5:])
    with serve_in_thread(make_app(lm)) as url:
        http = _fast(url)
        assert http.score(prompt, cont) == pytest.approx(lm.score(prompt, cont), abs=1e-4)
        with pytest.raises(ValueError, match="completions endpoint"):
            _fast(url, chat=True).score(prompt, cont)
