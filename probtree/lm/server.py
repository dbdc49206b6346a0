"""A small OpenAI-compatible server over any backend (starlette + uvicorn), with fault injection.

``probtree lm serve`` uses it to put the bundled model behind the same wire format as vLLM or
llama.cpp's server; the tests use it on loopback, serving the replay data, to check the HTTP
client against real sockets, including injected faults.

Endpoints: ``POST /v1/completions`` (``prompt`` string, ``max_tokens``, ``stop``,
``temperature``, ``seed``, ``logprobs``, and ``echo`` with ``max_tokens: 0`` when the backend has
``echo(text)``), ``POST /v1/chat/completions`` (the messages' contents joined as the prompt,
``logprobs: true``), ``GET /v1/models``.

Faults (for tests): :class:`FaultPlan` maps a prompt to a list of faults applied to successive
requests with that prompt: ``"500"``, ``"429:SECONDS"`` (with ``Retry-After``),
``"sleep:SECONDS"`` (answer late, so the client times out), ``"truncate"`` (half the JSON body).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import threading
import time
from collections.abc import Iterator

from probtree.lm.base import Completion, LanguageModel, Request

__all__ = ["FaultPlan", "make_app", "serve_in_thread"]


class FaultPlan:
    """Faults to inject, by prompt, consumed in order; and counts of what was served.

    Attributes:
        served: ``Counter`` of prompts answered successfully (HTTP 200 with a full body).
        attempts: ``Counter`` of requests received per prompt.
    """

    def __init__(self, faults: dict[str, list[str]] | None = None):
        self._faults = {k: collections.deque(v) for k, v in (faults or {}).items()}
        self._lock = threading.Lock()
        self.served: collections.Counter = collections.Counter()
        self.attempts: collections.Counter = collections.Counter()

    def next_fault(self, prompt: str) -> str | None:
        with self._lock:
            self.attempts[prompt] += 1
            q = self._faults.get(prompt)
            return q.popleft() if q else None

    def mark_served(self, prompt: str) -> None:
        with self._lock:
            self.served[prompt] += 1


def _choice_completions(c: Completion, prompt_len: int = 0) -> dict:
    return {
        "index": 0,
        "text": c.text,
        "finish_reason": c.finish_reason,
        "logprobs": {
            "tokens": list(c.tokens),
            "token_logprobs": list(c.logprobs),
            "text_offset": [prompt_len + a for a, _ in c.offsets],
            "top_logprobs": [{t: lp} for t, lp in zip(c.tokens, c.logprobs)],
        },
    }


def _choice_chat(c: Completion) -> dict:
    return {
        "index": 0,
        "message": {"role": "assistant", "content": c.text},
        "finish_reason": c.finish_reason,
        "logprobs": {
            "content": [
                {"token": t, "logprob": lp, "bytes": list(c.text[a:b].encode("utf-8")),
                 "top_logprobs": []}
                for t, lp, (a, b) in zip(c.tokens, c.logprobs, c.offsets)
            ]
        },
    }


def make_app(
    lm: LanguageModel,
    faults: FaultPlan | None = None,
    model_name: str | None = None,
    api_key: str | None = None,
):
    """A starlette app serving ``lm`` in the OpenAI wire format.

    Backend calls run one at a time in a worker thread (the JAX backend is not re-entrant).
    With ``api_key``, requests must carry ``Authorization: Bearer <api_key>`` (else HTTP 401).
    """
    from starlette.applications import Starlette
    from starlette.requests import Request as HTTPRequest
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    plan = faults or FaultPlan()
    lock = asyncio.Lock()
    name = model_name or lm.name

    def error(status: int, msg: str) -> JSONResponse:
        return JSONResponse({"error": {"message": msg, "type": "invalid_request_error"}}, status)

    async def handle(http: HTTPRequest, chat: bool):
        if api_key is not None and http.headers.get("authorization") != f"Bearer {api_key}":
            return error(401, "invalid or missing API key")
        try:
            body = await http.json()
        except json.JSONDecodeError:
            return error(400, "body is not JSON")
        if chat:
            msgs = body.get("messages")
            if not isinstance(msgs, list) or not msgs:
                return error(400, "messages: expected a non-empty list")
            prompt = "\n".join(str(m.get("content", "")) for m in msgs)
        else:
            prompt = body.get("prompt")
            if isinstance(prompt, list) and len(prompt) == 1:
                prompt = prompt[0]
            if not isinstance(prompt, str):
                return error(400, "prompt: expected a string")
        fault = plan.next_fault(prompt)
        if fault == "500":
            return error(500, "injected server error")
        if fault and fault.startswith("429"):
            secs = fault.split(":", 1)[1] if ":" in fault else "1"
            return JSONResponse({"error": {"message": "rate limited"}}, 429,
                                headers={"Retry-After": secs})
        if fault and fault.startswith("sleep:"):
            await asyncio.sleep(float(fault.split(":", 1)[1]))
        stop = body.get("stop") or ()
        try:
            req = Request(
                prompt=prompt,
                max_tokens=int(body.get("max_tokens", 16)),
                stop=(stop,) if isinstance(stop, str) else tuple(stop),
                temperature=float(body.get("temperature", 1.0)),
                seed=int(body.get("seed") or 0),
            )
        except (TypeError, ValueError) as err:
            return error(400, str(err))
        try:
            async with lock:
                if body.get("echo") and not chat:
                    if req.max_tokens != 0 or not hasattr(lm, "echo"):
                        return error(400, "echo: supported with max_tokens=0 on this backend")
                    comp = await asyncio.to_thread(lm.echo, prompt)
                else:
                    comp = (await asyncio.to_thread(lm.complete, [req]))[0]
        except ValueError as err:
            return error(400, str(err))
        choice = _choice_chat(comp) if chat else _choice_completions(comp)
        payload = {
            "id": f"cmpl-{plan.attempts[prompt]}",
            "object": "chat.completion" if chat else "text_completion",
            "created": int(time.time()),
            "model": name,
            "choices": [choice],
        }
        data = json.dumps(payload).encode("utf-8")
        if fault == "truncate":
            return Response(data[: len(data) // 2], media_type="application/json")
        plan.mark_served(prompt)
        return Response(data, media_type="application/json")

    async def completions(http):
        return await handle(http, chat=False)

    async def chat_completions(http):
        return await handle(http, chat=True)

    async def models(http):
        return JSONResponse({"object": "list", "data": [{"id": name, "object": "model"}]})

    app = Starlette(routes=[
        Route("/v1/completions", completions, methods=["POST"]),
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
    ])
    app.state.faults = plan
    return app


@contextlib.contextmanager
def serve_in_thread(app, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Runs ``app`` with uvicorn in a background thread; yields its ``http://host:port/v1``.

    The server stops when the context exits.
    """
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("serve_in_thread: the server did not start")
        time.sleep(0.02)
    sock = server.servers[0].sockets[0]
    h, p = sock.getsockname()[:2]
    try:
        yield f"http://{h}:{p}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
