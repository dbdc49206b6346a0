"""The HTTP backend's I/O loop: kept-alive connections, one concurrency limit for all callers,
close/restart, pickling and fork.

A tiny starlette server records the client port of every request (a new port is a new TCP
connection) and the most requests it ever held at once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import pickle
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from probtree.lm import Request
from probtree.lm.openai_http import OpenAILM
from probtree.lm.server import serve_in_thread

REPO = Path(__file__).resolve().parents[3]


class _Recorder:
    def __init__(self, delay: float):
        self.delay, self.ports, self.now, self.peak = delay, [], 0, 0
        self.lock = threading.Lock()

    def app(self):
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        async def completions(http):
            body = await http.json()
            with self.lock:
                self.ports.append(http.client.port)
                self.now += 1
                self.peak = max(self.peak, self.now)
            await asyncio.sleep(self.delay)
            with self.lock:
                self.now -= 1
            text = " " + body["prompt"][::-1]
            return JSONResponse({"choices": [{
                "index": 0, "text": text, "finish_reason": "stop",
                "logprobs": {"tokens": [text], "token_logprobs": [-0.5], "text_offset": [0]},
            }]})

        return Starlette(routes=[Route("/v1/completions", completions, methods=["POST"])])


def _reqs(tag: str, n: int) -> list[Request]:
    return [Request(f"{tag}{i}", max_tokens=4) for i in range(n)]


def test_connections_are_reused_across_calls_and_loops():
    rec = _Recorder(0.0)
    with serve_in_thread(rec.app()) as url, OpenAILM(url, concurrency=1) as lm:
        for j in range(4):
            out = lm.complete(_reqs(f"c{j}-", 2))
            assert [c.text for c in out] == [f" 0-{j}c", f" 1-{j}c"]
        # a coroutine on another event loop goes through the same client
        got = asyncio.run(lm.acomplete(_reqs("a", 3)))
        assert [c.text for c in got] == [" 0a", " 1a", " 2a"]
    assert len(rec.ports) == 11
    assert len(set(rec.ports)) == 1  # one kept-alive connection for every call


def test_concurrency_limit_holds_across_threads():
    rec = _Recorder(0.05)
    with serve_in_thread(rec.app()) as url, OpenAILM(url, concurrency=3) as lm:
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            outs = list(pool.map(lambda t: lm.complete(_reqs(f"t{t}-", 4)), range(6)))
    assert [c.text for c in outs[5]] == [f" {i}-5t" for i in range(4)]
    assert len(rec.ports) == 24
    assert rec.peak == 3  # never more than the limit, and the limit is used
    assert len(set(rec.ports)) <= 3


def test_close_restarts_and_pickle_copies_start_their_own_loop():
    rec = _Recorder(0.0)
    with serve_in_thread(rec.app()) as url:
        lm = OpenAILM(url, concurrency=2)
        assert lm.complete(_reqs("x", 1))[0].text == " 0x"
        io = lm._io
        lm.close()
        assert not io.alive and lm._io is None
        assert lm.complete(_reqs("y", 1))[0].text == " 0y"  # a new loop and client
        copy = pickle.loads(pickle.dumps(lm))
        assert copy._io is None and (copy.base_url, copy.concurrency) == (url, 2)
        assert copy.complete(_reqs("z", 1))[0].text == " 0z"
        assert copy._io is not lm._io and copy._io.thread is not lm._io.thread
        copy.close()
        lm.close()
    with pytest.raises(ValueError, match="base_url"):
        OpenAILM("localhost:8000")


def test_forked_child_uses_its_own_loop(tmp_path):
    # a fresh interpreter (no JAX backend started), so os.fork is safe
    code = textwrap.dedent(
        """
        import os, sys
        from probtree.lm import Request
        from probtree.lm.openai_http import OpenAILM
        lm = OpenAILM(sys.argv[1], concurrency=2, timeout=10)
        assert lm.complete([Request("p", max_tokens=2)])[0].text == " p"
        pid = os.fork()
        if pid == 0:
            ok = lm.complete([Request("child", max_tokens=2)])[0].text == " dlihc"
            ok = ok and lm._io.pid == os.getpid()
            os._exit(0 if ok else 3)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        assert lm.complete([Request("parent", max_tokens=2)])[0].text == " tnerap"
        lm.close()
        print("fork ok")
        """
    )
    rec = _Recorder(0.0)
    with serve_in_thread(rec.app()) as url:
        out = subprocess.run([sys.executable, "-c", code, url], capture_output=True, text=True,
                             timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "fork ok" in out.stdout
    assert len(rec.ports) == 3
