"""An OpenAI-compatible HTTP backend (vLLM, llama.cpp server, SGLang, OpenAI-style APIs).

Requests go to ``{base_url}/completions`` (legacy completions with ``logprobs``) or, with
``chat=True``, to ``{base_url}/chat/completions`` with ``logprobs: true`` (the prompt sent as
one user message). Calls run concurrently with :mod:`httpx`'s async client, at most
``concurrency`` at a time. Failures that may pass (HTTP 429 and 5xx, timeouts, connection errors,
a body that is not the expected JSON) are retried with exponential backoff and full jitter,
honouring a ``Retry-After`` header; other HTTP errors fail at once. After the last attempt the
error names the request (its index and the end of its prompt) and what went wrong.

One backend owns one event loop, running in a daemon thread started on first use, and one
``httpx.AsyncClient`` on that loop, so connections are kept alive and reused across calls and
the ``concurrency`` limit holds across every caller (threads calling :meth:`OpenAILM.complete`,
or coroutines of other event loops awaiting :meth:`OpenAILM.acomplete`). :meth:`OpenAILM.close`
(or leaving a ``with`` block, or interpreter exit) stops it; the next call starts a new one. A
pickled or forked copy starts its own loop and client (nothing of them is copied).

``sniffio`` should be installed (the ``lm`` extra does): without it httpcore retries a failing
``import sniffio`` on every pool operation, which costs ~0.5 ms of CPU per request.

The API key is read from an environment variable (``OPENAI_API_KEY`` by default) at each call;
it is never stored on the object, and never appears in reprs, errors, logs or cache keys.

References:
    OpenAI API reference, "Completions" and "Chat Completions" (logprobs fields).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import random
import threading
import time
import weakref
from collections.abc import Coroutine, Sequence

import httpx

from probtree.lm.base import Completion, LMError, Request, token_offsets
from probtree.lm.replay import completion_from_choice

__all__ = ["OpenAILM"]

_RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())


def _parse_choice(choice: dict) -> Completion:
    lp = choice.get("logprobs") or {}
    content = lp.get("content") if isinstance(lp, dict) else None
    if isinstance(content, list) and content and all(
        isinstance(t.get("bytes"), list) for t in content
    ):
        # Chat format with token bytes: exact spans even for tokens that split characters.
        _, offs = token_offsets([bytes(t["bytes"]) for t in content])
        text = choice["message"].get("content") or ""
        reason = choice.get("finish_reason")
        return Completion(
            text=text,
            tokens=tuple(t["token"] for t in content),
            logprobs=tuple(float(t["logprob"]) for t in content),
            offsets=tuple((min(a, len(text)), min(b, len(text))) for a, b in offs),
            finish_reason="length" if reason == "length" else "stop",
        )
    return completion_from_choice(choice)


class OpenAILM:
    """Client of an OpenAI-compatible server.

    Args:
        base_url: e.g. ``"http://127.0.0.1:8000/v1"``.
        model: the ``model`` field sent (servers with one model may ignore it).
        chat: use ``/chat/completions`` instead of ``/completions``.
        api_key_env: name of the environment variable holding the key (unset: no key sent).
        concurrency: most requests in flight.
        max_retries: retries after the first attempt.
        timeout: seconds per attempt.
        backoff: base delay (s); attempt ``k`` waits ``uniform(0, min(backoff_max,
            backoff * 2**k))`` unless the server sent ``Retry-After``.
        backoff_max: cap of one delay (s), also applied to ``Retry-After``.
        seed: seed of the jitter.
        transport: an ``httpx.AsyncBaseTransport`` (tests).

    Example:
        >>> lm = OpenAILM("http://127.0.0.1:8000/v1", model="smollm2")  # doctest: +SKIP
        >>> lm.complete([Request("Q: 2+2?\\nA:", max_tokens=4, stop=["\\n"])])  # +SKIP
    """

    def __init__(
        self,
        base_url: str,
        model: str = "default",
        *,
        chat: bool = False,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8,
        max_retries: int = 5,
        timeout: float = 60.0,
        backoff: float = 0.5,
        backoff_max: float = 30.0,
        seed: int = 0,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url: expected an http(s) URL, got {base_url!r}")
        if concurrency < 1 or max_retries < 0 or timeout <= 0:
            raise ValueError("concurrency >= 1, max_retries >= 0 and timeout > 0 are required")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.chat = bool(chat)
        self.api_key_env = api_key_env
        self.concurrency = int(concurrency)
        self.max_retries = int(max_retries)
        self.timeout = float(timeout)
        self.backoff = float(backoff)
        self.backoff_max = float(backoff_max)
        self._rng = random.Random(seed)
        self._transport = transport
        self._ssl = None
        self._lock = threading.Lock()
        self._io: _LoopThread | None = None
        self.name = f"openai:{model}" + (":chat" if chat else "")
        self.attempts = 0

    def __repr__(self) -> str:
        return (
            f"OpenAILM(base_url={self.base_url!r}, model={self.model!r}, chat={self.chat}, "
            f"api_key_env={self.api_key_env!r})"
        )

    def _headers(self) -> dict[str, str]:
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _payload(self, req: Request) -> tuple[str, dict]:
        body = {
            "model": self.model,
            "max_tokens": req.max_tokens,
            "temperature": req.temperature,
            "seed": req.seed,
        }
        if req.stop:
            body["stop"] = list(req.stop)
        if self.chat:
            body["messages"] = [{"role": "user", "content": req.prompt}]
            body["logprobs"] = True
            return "/chat/completions", body
        body["prompt"] = req.prompt
        body["logprobs"] = 1
        return "/completions", body

    def _delay(self, attempt: int) -> float:
        return self._rng.uniform(0.0, min(self.backoff_max, self.backoff * 2**attempt))

    async def _call(self, client: httpx.AsyncClient, path: str, body: dict, what: str, parse):
        last = "no attempt"
        for attempt in range(self.max_retries + 1):
            self.attempts += 1
            delay = None
            try:
                resp = await client.post(self.base_url + path, json=body, headers=self._headers())
            except httpx.TimeoutException as err:
                last = f"timeout after {self.timeout:g} s ({type(err).__name__})"
            except httpx.TransportError as err:
                last = f"connection error ({type(err).__name__})"
            else:
                if resp.status_code in _RETRY_STATUS or resp.status_code >= 500:
                    last = f"HTTP {resp.status_code}"
                    ra = _retry_after(resp)
                    delay = None if ra is None else min(ra, self.backoff_max)
                elif resp.status_code >= 400:
                    raise LMError(
                        f"{what}: HTTP {resp.status_code} from {self.base_url}{path}: "
                        f"{resp.text[:300]}"
                    )
                else:
                    try:
                        return parse(resp.json())
                    except (json.JSONDecodeError, KeyError, IndexError, TypeError,
                            ValueError) as err:
                        last = f"malformed response ({type(err).__name__}: {str(err)[:100]})"
            if attempt < self.max_retries:
                await asyncio.sleep(self._delay(attempt) if delay is None else delay)
        raise LMError(f"{what}: failed after {self.max_retries + 1} attempts; last error: {last}")

    def _client(self) -> httpx.AsyncClient:
        limits = httpx.Limits(
            max_connections=self.concurrency, max_keepalive_connections=self.concurrency
        )
        if self._ssl is None:
            # Building an SSL context costs ~25 ms of CPU: do it once per backend.
            self._ssl = httpx.create_ssl_context()
        return httpx.AsyncClient(
            timeout=self.timeout, limits=limits, transport=self._transport, verify=self._ssl
        )

    # ------------------------------------------------------------------ the I/O loop
    def _loop_thread(self) -> _LoopThread:
        """The backend's I/O loop, started on first use (again in a forked child)."""
        io = self._io
        if io is not None and io.pid == os.getpid() and io.alive:
            return io
        if io is not None and io.pid != os.getpid():
            self._lock = threading.Lock()  # a lock copied by fork may be held forever
        with self._lock:
            io = self._io
            if io is None or io.pid != os.getpid() or not io.alive:
                io = _LoopThread(self._client(), self.concurrency)
                self._io = io
        return io

    def _submit(self, coro_fn, *args):
        """Runs ``coro_fn(client, sem, *args)`` on the I/O loop; a concurrent future."""
        io = self._loop_thread()
        return io, asyncio.run_coroutine_threadsafe(coro_fn(io.client, io.sem, *args), io.loop)

    async def _on_loop(self, coro_fn, *args):
        """Awaits ``coro_fn(client, sem, *args)`` from any event loop."""
        io = self._loop_thread()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - only called from coroutines
            running = None
        if running is io.loop:
            return await coro_fn(io.client, io.sem, *args)
        _, fut = self._submit(coro_fn, *args)
        return await asyncio.wrap_future(fut)

    def _blocking(self, coro_fn, *args):
        if self._io is not None and threading.current_thread() is self._io.thread:
            raise RuntimeError("OpenAILM: a blocking call from its own I/O loop would deadlock")
        return self._submit(coro_fn, *args)[1].result()

    def close(self) -> None:
        """Closes the connections and stops the I/O loop (the next call starts a new one)."""
        with self._lock:
            io, self._io = self._io, None
        if io is not None and io.pid == os.getpid():
            io.stop()

    def __enter__(self) -> OpenAILM:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_io"], state["_ssl"] = None, None
        del state["_lock"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    async def acomplete(
        self, requests: Sequence[Request], *, return_exceptions: bool = False
    ) -> list[Completion | LMError]:
        """Completes all requests concurrently.

        Args:
            requests: the requests.
            return_exceptions: put an :class:`LMError` in the place of each failed request
                instead of raising the first one (after every request has finished).

        Raises:
            LMError: a request failed after its retries (names the request).
        """
        requests = list(requests)
        for i, r in enumerate(requests):
            if not isinstance(r, Request):
                raise TypeError(f"requests[{i}]: expected Request, got {type(r).__name__}")
        return await self._on_loop(self._gather, requests, return_exceptions)

    async def _gather(self, client, sem, requests, return_exceptions):
        async def one(i, req):
            path, body = self._payload(req)
            what = f"request {i} (prompt ending {req.prompt[-60:]!r})"
            async with sem:
                return await self._call(
                    client, path, body, what, lambda d: _parse_choice(d["choices"][0])
                )

        results = await asyncio.gather(
            *(one(i, r) for i, r in enumerate(requests)), return_exceptions=True
        )
        for r in results:
            if isinstance(r, BaseException) and not isinstance(r, LMError):
                raise r
        if not return_exceptions:
            for r in results:
                if isinstance(r, LMError):
                    raise r
        return list(results)

    def complete(self, requests: Sequence[Request]) -> list[Completion]:
        """Synchronous :meth:`acomplete` (runs on the backend's I/O loop; thread-safe)."""
        requests = list(requests)
        for i, r in enumerate(requests):
            if not isinstance(r, Request):
                raise TypeError(f"requests[{i}]: expected Request, got {type(r).__name__}")
        return self._blocking(self._gather, requests, False)

    async def ascore(self, prompt: str, continuation: str) -> float:
        """Log-prob of ``continuation`` after ``prompt``, from an ``echo`` completions request.

        Sums the echoed log-probs of the tokens that start at or after ``len(prompt)``; the split
        therefore follows the server's tokenization of ``prompt + continuation``.

        Raises:
            ValueError: with ``chat=True`` (chat endpoints do not echo prompts).
            LMError: the request failed, or the server does not return echoed log-probs.
        """
        if self.chat:
            raise ValueError("score: needs the completions endpoint (chat=False)")
        body = {
            "model": self.model, "prompt": prompt + continuation, "max_tokens": 0,
            "echo": True, "logprobs": 0, "temperature": 0.0,
        }

        def parse(d):
            lp = d["choices"][0]["logprobs"]
            offs, vals = lp["text_offset"], lp["token_logprobs"]
            base = offs[0] if offs else 0
            return float(sum(v for o, v in zip(offs, vals)
                             if v is not None and o - base >= len(prompt)))

        async def go(client, sem):
            async with sem:
                return await self._call(client, "/completions", body, "score request", parse)

        return await self._on_loop(go)

    def score(self, prompt: str, continuation: str) -> float:
        """Synchronous :meth:`ascore` (runs on the backend's I/O loop)."""
        return _run(self.ascore(prompt, continuation))


def _run(coro: Coroutine):
    """Runs a coroutine to completion from synchronous code (in a thread if a loop runs here)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict = {}

    def target():
        try:
            box["v"] = asyncio.run(coro)
        except BaseException as err:  # re-raised in the caller's thread
            box["e"] = err

    t = threading.Thread(target=target)
    t.start()
    t.join()
    if "e" in box:
        raise box["e"]
    return box["v"]


class _LoopThread:
    """An event loop in a daemon thread with one HTTP client and the concurrency semaphore.

    The thread's target holds no reference to this object, so dropping the backend (and with it
    this object) stops the thread through the finalizer, which also runs at interpreter exit.
    """

    def __init__(self, client: httpx.AsyncClient, concurrency: int):
        self.pid = os.getpid()
        self.client = client
        self.loop = loop = asyncio.new_event_loop()
        self.sem = asyncio.Semaphore(concurrency)  # binds to ``loop`` on first contended use
        self.thread = threading.Thread(
            target=_serve_forever, args=(loop,), name="OpenAILM-io", daemon=True
        )
        self.thread.start()
        self._finalizer = weakref.finalize(self, _stop, loop, self.thread, client, self.pid)

    @property
    def alive(self) -> bool:
        return self.thread.is_alive() and not self.loop.is_closed()

    def stop(self) -> None:
        self._finalizer()


def _serve_forever(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    loop.run_forever()


def _stop(loop: asyncio.AbstractEventLoop, thread: threading.Thread, client, pid: int) -> None:
    """Closes the client's connections, stops the loop and joins its thread (best effort)."""
    if pid != os.getpid() or loop.is_closed():
        return
    if thread is threading.current_thread():  # dropped from a callback of its own loop
        loop.create_task(client.aclose()).add_done_callback(lambda _: loop.stop())
        return
    if thread.is_alive():
        try:
            asyncio.run_coroutine_threadsafe(client.aclose(), loop).result(timeout=5)
        except Exception:  # noqa: BLE001 -- best effort at shutdown
            pass
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
    if not thread.is_alive():
        loop.close()
