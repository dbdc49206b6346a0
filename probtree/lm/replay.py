"""A backend that serves recorded completions, for deterministic tests and offline reruns.

Two record formats are read from JSON Lines files:

* ProbTree's LLM cache (``{"input": [prompt, model, ...], "response": [choice]}``, where a choice
  is an OpenAI chat choice with ``message.content`` and ``logprobs.tokens/token_logprobs`` or a
  legacy completions choice with ``text`` and the same ``logprobs``), as released with the
  reproduction of ProbTree on Llama-3 (``llama3_tree_generation_cache.jsonl``);
* this package's own records, ``{"prompt": ..., "completion": Completion.to_dict()}``, written by
  :func:`write_records`.

Tokens that lie past the recorded text (such as a trailing ``<|eot_id|>``) are dropped, so the
spans always index into ``text``. A request's ``stop`` strings and ``max_tokens`` are applied to
the recorded completion, as the model would have.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from probtree.lm.base import Completion, Request, apply_stop, truncate

__all__ = ["ReplayLM", "completion_from_choice", "write_records"]


def completion_from_choice(choice: dict) -> Completion:
    """Converts one OpenAI-style choice (chat or legacy completions) into a :class:`Completion`.

    Raises:
        ValueError: the choice carries no text or no token log-probs.
    """
    if "message" in choice:
        text = choice["message"].get("content") or ""
    elif "text" in choice:
        text = choice["text"]
    else:
        raise ValueError(f"choice: expected a 'message' or 'text' field, got keys {list(choice)}")
    lp = choice.get("logprobs") or {}
    if "content" in lp and isinstance(lp["content"], list):  # chat wire format
        tokens = [t["token"] for t in lp["content"]]
        logprobs = [float(t["logprob"]) for t in lp["content"]]
        ids: list[int] = []
    elif "tokens" in lp:
        tokens = list(lp["tokens"])
        logprobs = [float(x) for x in lp["token_logprobs"]]
        ids = [int(x) for x in lp.get("token_ids") or []]
    else:
        raise ValueError("choice: expected token log-probs under 'logprobs'")
    offsets: list[tuple[int, int]] = []
    pos = 0
    for tok in tokens:
        if not text.startswith(tok, pos) or (tok == "" and pos >= len(text)):
            break
        offsets.append((pos, pos + len(tok)))
        pos += len(tok)
    n = len(offsets)
    reason = choice.get("finish_reason") or "stop"
    if reason not in ("stop", "length"):
        reason = "stop"
    return Completion(
        text=text,
        tokens=tuple(tokens[:n]),
        logprobs=tuple(logprobs[:n]),
        offsets=tuple(offsets),
        finish_reason=reason,
        token_ids=tuple(ids[:n]) if len(ids) >= n else (),
    )


def _read(path: Path) -> dict[str, Completion]:
    table: dict[str, Completion] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                if "completion" in rec:
                    prompt, comp = rec["prompt"], Completion.from_dict(rec["completion"])
                else:
                    prompt = rec["input"][0]
                    comp = completion_from_choice(rec["response"][0])
            except (KeyError, IndexError, TypeError, ValueError, json.JSONDecodeError) as err:
                raise ValueError(f"{path}:{lineno}: not a replay record ({err})") from err
            table.setdefault(prompt, comp)
    return table


def write_records(path: str | Path, prompts: Sequence[str], completions: Sequence[Completion]):
    """Writes ``(prompt, completion)`` pairs as replay records (JSON Lines)."""
    if len(prompts) != len(completions):
        raise ValueError("write_records: prompts and completions differ in length")
    with open(path, "w", encoding="utf-8") as f:
        for p, c in zip(prompts, completions):
            f.write(json.dumps({"prompt": p, "completion": c.to_dict()}) + "\n")


class ReplayLM:
    """Serves recorded completions, looked up by exact prompt.

    Args:
        source: a JSON Lines file (or several) of records.
        name: the model name reported (part of cache keys).

    Raises:
        FileNotFoundError: a file does not exist.
        ValueError: a line is not a record.

    Example:
        >>> lm = ReplayLM("tests/data/lm/llama3_tree_generation_cache.jsonl")  # doctest: +SKIP
        >>> lm.complete([Request(prompt=lm.prompts[0])])[0].text[:2]  # doctest: +SKIP
        '{"'
    """

    def __init__(self, source: str | Path | Iterable[str | Path], name: str | None = None):
        paths = [Path(source)] if isinstance(source, (str, Path)) else [Path(p) for p in source]
        self._table: dict[str, Completion] = {}
        for p in paths:
            if not p.is_file():
                raise FileNotFoundError(f"replay file not found: {p}")
            for k, v in _read(p).items():
                self._table.setdefault(k, v)
        self.name = name or "replay:" + ",".join(p.name for p in paths)

    @property
    def prompts(self) -> list[str]:
        """The recorded prompts, in file order."""
        return list(self._table)

    def __len__(self) -> int:
        return len(self._table)

    def lookup(self, prompt: str) -> Completion:
        """The recorded completion of ``prompt`` (no stop or length applied)."""
        try:
            return self._table[prompt]
        except KeyError:
            head = prompt[-80:]
            raise ValueError(f"replay: no recorded completion for prompt ending {head!r}") from None

    def complete(self, requests: Sequence[Request]) -> list[Completion]:
        """Serves each request's recorded completion, with its stop strings and length applied."""
        out = []
        for req in requests:
            if not isinstance(req, Request):
                raise TypeError(f"requests: expected Request items, got {type(req).__name__}")
            c = self.lookup(req.prompt)
            text, toks, lps, offs, ids = (
                c.text, c.tokens, c.logprobs, c.offsets, c.token_ids
            )
            reason = c.finish_reason
            hit = apply_stop(text, offs, req.stop)
            if hit is not None:
                text, toks, lps, offs, ids = truncate(text, toks, lps, offs, ids, *hit)
                reason = "stop"
            if len(toks) > req.max_tokens:
                n = req.max_tokens
                cut = offs[n - 1][1] if n else 0
                text, toks, lps, offs, ids = truncate(text, toks, lps, offs, ids, cut, n)
                reason = "length"
            out.append(Completion(text, toks, lps, offs, reason, ids))
        return out

    def score(self, prompt: str, continuation: str) -> float:
        """Sum of the recorded log-probs of ``continuation``.

        Raises:
            ValueError: the prompt was not recorded, or ``continuation`` does not end on a token
                boundary of the recorded text.
        """
        c = self.lookup(prompt)
        if not c.text.startswith(continuation):
            raise ValueError("replay.score: continuation is not a prefix of the recorded text")
        total = 0.0
        for lp, (a, b) in zip(c.logprobs, c.offsets):
            if b <= len(continuation):
                total += lp
            elif a < len(continuation):
                raise ValueError("replay.score: continuation ends inside a recorded token")
        return total
