"""Protocol types, offsets and stop strings, the replay backend, the sqlite cache, load(spec)."""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

import pytest

from probtree.lm import (
    CachedLM,
    Completion,
    CompletionCache,
    ReplayLM,
    Request,
    load,
    parse_spec,
)
from probtree.lm.base import apply_stop, token_offsets
from probtree.lm.replay import write_records

DATA = Path(__file__).resolve().parents[2] / "data" / "lm"
REPLAY = DATA / "llama3_tree_generation_cache.jsonl"


def test_request_validation():
    r = Request("hi", max_tokens=3, stop="\n", temperature=0)
    assert r.stop == ("\n",) and r.temperature == 0.0
    with pytest.raises(ValueError, match="max_tokens"):
        Request("hi", max_tokens=-1)
    with pytest.raises(ValueError, match="temperature"):
        Request("hi", temperature=-0.5)
    with pytest.raises(ValueError, match="stop"):
        Request("hi", stop=[""])
    with pytest.raises(TypeError, match="prompt"):
        Request(3)  # type: ignore[arg-type]


def test_completion_validation_and_roundtrip():
    c = Completion("ab", ("a", "b"), (-0.5, -1.0), ((0, 1), (1, 2)), "stop", (5, 6))
    assert Completion.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    assert c.logprob == pytest.approx(-1.5, abs=1e-12)
    assert c.span_logprobs(1, 2) == [-1.0]
    with pytest.raises(ValueError, match="equal lengths"):
        Completion("a", ("a",), (), ((0, 1),), "stop")
    with pytest.raises(ValueError, match="finish_reason"):
        Completion("", (), (), (), "eos")


def test_token_offsets_split_utf8():
    e = "é".encode()  # two bytes, split over two tokens
    text, offs = token_offsets([b"caf", e[:1], e[1:], b" ok"])
    assert text == "café ok"
    assert offs == [(0, 3), (3, 3), (3, 4), (4, 7)]
    text, offs = token_offsets([b"a", b"\xff"])  # invalid byte -> U+FFFD, span kept
    assert text == "a\ufffd" and offs == [(0, 1), (1, 2)]


def test_apply_stop_keeps_tokens_starting_before_cut():
    text, offs = "abc\n\nxyz", [(0, 2), (2, 4), (4, 6), (6, 8)]
    assert apply_stop(text, offs, ["\n\n"]) == (3, 2)
    assert apply_stop(text, offs, ["zz"]) is None
    assert apply_stop(text, offs, ["x", "c"]) == (2, 1)


def test_replay_serves_released_llama3_records():
    lm = ReplayLM(REPLAY)
    assert len(lm) == 24
    raw = [json.loads(line) for line in REPLAY.read_text().splitlines()]
    reqs = [Request(r["input"][0], max_tokens=512) for r in raw[:5]]
    outs = lm.complete(reqs)
    for r, c in zip(raw, outs):
        choice = r["response"][0]
        assert c.text == choice["message"]["content"]
        # The trailing <|eot_id|> lies past the text and is dropped; the rest is kept verbatim.
        n = len(c.tokens)
        assert n == len(choice["logprobs"]["tokens"]) - 1
        assert list(c.logprobs) == choice["logprobs"]["token_logprobs"][:n]
        assert list(c.token_ids) == choice["logprobs"]["token_ids"][:n]
        assert "".join(c.text[a:b] for a, b in c.offsets) == c.text
        assert c.finish_reason == "stop"
    # Stop strings and max_tokens are applied as a model would.
    c = lm.complete([Request(reqs[0].prompt, max_tokens=512, stop=['", "'])])[0]
    assert c.text == outs[0].text[: outs[0].text.index('", "')]
    assert c.offsets[-1][1] <= len(c.text)
    c = lm.complete([Request(reqs[0].prompt, max_tokens=3)])[0]
    assert len(c.tokens) == 3 and c.finish_reason == "length"
    assert c.text == "".join(outs[0].tokens[:3])
    # score of a token-aligned prefix is the sum of its recorded log-probs.
    k = 6
    prefix = outs[0].text[: outs[0].offsets[k - 1][1]]
    assert lm.score(reqs[0].prompt, prefix) == pytest.approx(sum(outs[0].logprobs[:k]), abs=1e-9)
    with pytest.raises(ValueError, match="no recorded completion"):
        lm.complete([Request("never seen")])


def test_replay_roundtrips_own_records(tmp_path):
    lm = ReplayLM(REPLAY)
    prompts = lm.prompts[:3]
    outs = lm.complete([Request(p, max_tokens=100) for p in prompts])
    write_records(tmp_path / "r.jsonl", prompts, outs)
    again = ReplayLM(tmp_path / "r.jsonl").complete([Request(p, max_tokens=100) for p in prompts])
    assert again == outs
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"x": 1}\n')
    with pytest.raises(ValueError, match="bad.jsonl:1"):
        ReplayLM(bad)


class _Counting:
    """A backend that counts calls (wraps replay)."""

    def __init__(self):
        self.inner = ReplayLM(REPLAY)
        self.name = "counting"
        self.calls = 0

    def complete(self, requests):
        self.calls += len(requests)
        return self.inner.complete(requests)

    def score(self, prompt, continuation):
        self.calls += 1
        return self.inner.score(prompt, continuation)


def test_cache_hits_and_keys(tmp_path):
    inner = _Counting()
    lm = CachedLM(inner, tmp_path / "c.sqlite")
    p = inner.inner.prompts[:4]
    reqs = [Request(x, max_tokens=50) for x in p] + [Request(p[0], max_tokens=50)]
    first = lm.complete(reqs)
    assert inner.calls == 4  # the duplicate is computed once
    second = lm.complete(reqs)
    assert second == first and inner.calls == 4
    assert (lm.hits, lm.misses) == (5, 5)
    lm.complete([Request(p[0], max_tokens=49)])  # any parameter change misses
    assert inner.calls == 5
    # A new process (new object) on the same file reuses everything.
    lm2 = CachedLM(_Counting(), tmp_path / "c.sqlite")
    assert lm2.complete(reqs) == first and lm2.inner.calls == 0
    s = lm.score(p[0], first[0].text[: first[0].offsets[2][1]])
    assert lm2.score(p[0], first[0].text[: first[0].offsets[2][1]]) == s
    assert lm2.inner.calls == 0


def _writer(path: str, start: int, n: int) -> None:
    cache = CompletionCache(path, timeout=60)
    for i in range(start, start + n):
        cache.put_many("m", {f"k{i % 50}": json.dumps(i)})


def test_cache_concurrent_writers(tmp_path):
    path = str(tmp_path / "c.sqlite")
    CompletionCache(path)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, k * 100, 100)) for k in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    cache = CompletionCache(path)
    assert len(cache) == 50
    got = cache.get_many([f"k{i}" for i in range(50)])
    # Every key holds one of the values written for it, never a torn one.
    for i in range(50):
        assert json.loads(got[f"k{i}"]) % 50 == i


def test_parse_spec_and_load(tmp_path):
    assert parse_spec("openai:http://h:1/v1,model=m,chat=true,concurrency=4") == (
        "openai", "http://h:1/v1", {"model": "m", "chat": True, "concurrency": 4}
    )
    assert parse_spec("smollm2,max_batch=8")[2] == {"max_batch": 8}
    with pytest.raises(ValueError, match="key=value"):
        parse_spec("smollm2,oops")
    with pytest.raises(ValueError, match="bad value"):
        parse_spec("openai:http://h/v1,chat=maybe")
    with pytest.raises(ValueError, match="unknown spec"):
        load("no/such/model")
    with pytest.raises(ValueError, match="do not apply"):
        load(f"replay:{REPLAY},max_batch=3")
    lm = load(f"replay:{REPLAY},cache={tmp_path / 'x.sqlite'}")
    assert isinstance(lm, CachedLM) and isinstance(lm.inner, ReplayLM)
    http = load("openai:http://127.0.0.1:9/v1,model=m,api_key_env=PT_TEST_KEY")
    assert http.name == "openai:m"
