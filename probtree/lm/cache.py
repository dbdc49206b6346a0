"""A content-addressed on-disk cache of completions (sqlite), and a caching backend wrapper.

The key is the SHA-256 of the backend's name (backend and model), the prompt and the sampling
parameters, so a rerun with the same requests costs nothing, and any change of model, prompt,
temperature, seed, stop strings or length misses. sqlite in WAL mode with a busy timeout makes
the cache safe under concurrent writers (several processes filling one file); each write is one
short transaction, and ``INSERT OR IGNORE`` keeps the first value written for a key.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from probtree.lm.base import Completion, LanguageModel, Request

__all__ = ["CachedLM", "CompletionCache", "cache_key"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS completions (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    value TEXT NOT NULL
)
"""


def cache_key(model: str, request: Request | tuple[str, str]) -> str:
    """The hex SHA-256 key of a request (or of a ``(prompt, continuation)`` score query)."""
    if isinstance(request, Request):
        payload = {"model": model, "prompt": request.prompt, "params": request.params()}
    else:
        payload = {"model": model, "score": list(request)}
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


class CompletionCache:
    """A sqlite file mapping request keys to JSON values.

    Args:
        path: the database file (created with its parent folders if missing).
        timeout: seconds a writer waits for another's lock before failing.
    """

    def __init__(self, path: str | Path, timeout: float = 60.0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._timeout = timeout
        self._local = threading.local()
        with self._conn() as con:
            con.execute(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            self._local.con = con
        return con

    def get_many(self, keys: Sequence[str]) -> dict[str, str]:
        """Values for the keys present."""
        out: dict[str, str] = {}
        con = self._conn()
        for i in range(0, len(keys), 500):
            chunk = list(keys[i : i + 500])
            q = f"SELECT key, value FROM completions WHERE key IN ({','.join('?' * len(chunk))})"
            out.update(con.execute(q, chunk).fetchall())
        return out

    def put_many(self, model: str, items: dict[str, str]) -> None:
        """Stores values (first write of a key wins) in one transaction."""
        if not items:
            return
        con = self._conn()
        con.execute("BEGIN IMMEDIATE")
        try:
            con.executemany(
                "INSERT OR IGNORE INTO completions (key, model, value) VALUES (?, ?, ?)",
                [(k, model, v) for k, v in items.items()],
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def __len__(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM completions").fetchone()[0]

    def close(self) -> None:
        """Closes this thread's connection."""
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None


class CachedLM:
    """Wraps a backend so that each request is computed at most once per cache file.

    Args:
        inner: the backend.
        cache: a :class:`CompletionCache` or a path to one.

    Attributes:
        hits, misses: counts of requests served from the cache and computed.
    """

    def __init__(self, inner: LanguageModel, cache: CompletionCache | str | Path):
        self.inner = inner
        self.cache = cache if isinstance(cache, CompletionCache) else CompletionCache(cache)
        self.name = inner.name
        self.hits = 0
        self.misses = 0

    def __repr__(self) -> str:
        return f"CachedLM({self.inner!r}, cache={str(self.cache.path)!r})"

    def complete(self, requests: Sequence[Request]) -> list[Completion]:
        """Serves cached completions and computes the rest in one batch of the inner backend."""
        keys = [cache_key(self.name, r) for r in requests]
        found = self.cache.get_many(keys)
        todo = [i for i, k in enumerate(keys) if k not in found]
        fresh: dict[str, str] = {}
        if todo:
            # Identical requests within the batch are computed once.
            unique: dict[str, int] = {}
            for i in todo:
                unique.setdefault(keys[i], i)
            results = self.inner.complete([requests[i] for i in unique.values()])
            fresh = {k: json.dumps(c.to_dict()) for k, c in zip(unique, results)}
            self.cache.put_many(self.name, fresh)
        self.hits += len(requests) - len(todo)
        self.misses += len(todo)
        merged = {**found, **fresh}
        return [Completion.from_dict(json.loads(merged[k])) for k in keys]

    def score(self, prompt: str, continuation: str) -> float:
        """Cached :meth:`score` of the inner backend."""
        key = cache_key(self.name, (prompt, continuation))
        found = self.cache.get_many([key])
        if key in found:
            self.hits += 1
            return float(json.loads(found[key]))
        self.misses += 1
        value = float(self.inner.score(prompt, continuation))
        self.cache.put_many(self.name, {key: json.dumps(value)})
        return value
