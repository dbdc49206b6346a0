"""The language-model protocol: requests, completions, and helpers every backend shares.

A backend is anything with ``complete(requests) -> list[Completion]`` and
``score(prompt, continuation) -> float``. A :class:`Completion` carries the generated text with one
log-prob and one character span per token, which is what ProbTree needs to turn a generated
decomposition or answer into a confidence (the mean log-prob of a span of tokens).

References:
    Zhang et al., "Reasoning over Hierarchical Question Decomposition Tree for Explainable
    Question Answering" (ACL 2023): confidences are means of token log-probs over text spans.
"""

from __future__ import annotations

import codecs
import dataclasses
import math
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

__all__ = [
    "Completion",
    "LanguageModel",
    "LMError",
    "Request",
    "apply_stop",
    "token_offsets",
]

FINISH_REASONS = ("stop", "length")


class LMError(RuntimeError):
    """A request could not be completed (after any retries); the message names the request."""


@dataclasses.dataclass(frozen=True)
class Request:
    """One completion request.

    Args:
        prompt: the text to continue.
        max_tokens: most tokens to generate (>= 0).
        stop: strings that end the completion; the text stops before the first one found.
        temperature: 0 for greedy decoding, > 0 to sample from ``softmax(logits / temperature)``.
        seed: seed of the sampling key for this request (used when ``temperature > 0``).
    """

    prompt: str
    max_tokens: int = 64
    stop: tuple[str, ...] = ()
    temperature: float = 0.0
    seed: int = 0

    def __post_init__(self):
        if not isinstance(self.prompt, str):
            raise TypeError(f"Request.prompt: expected str, got {type(self.prompt).__name__}")
        if isinstance(self.stop, str):
            object.__setattr__(self, "stop", (self.stop,))
        elif self.stop is None:
            object.__setattr__(self, "stop", ())
        else:
            object.__setattr__(self, "stop", tuple(self.stop))
        for s in self.stop:
            if not isinstance(s, str) or not s:
                raise ValueError(f"Request.stop: expected non-empty strings, got {s!r}")
        if not isinstance(self.max_tokens, int) or self.max_tokens < 0:
            raise ValueError(f"Request.max_tokens: expected an int >= 0, got {self.max_tokens!r}")
        t = float(self.temperature)
        if not math.isfinite(t) or t < 0:
            raise ValueError(f"Request.temperature: expected a finite float >= 0, got {t!r}")
        object.__setattr__(self, "temperature", t)
        if not isinstance(self.seed, int):
            raise TypeError(f"Request.seed: expected int, got {type(self.seed).__name__}")

    def params(self) -> dict:
        """The sampling parameters as a JSON-able dict (the prompt excluded)."""
        return {
            "max_tokens": self.max_tokens,
            "stop": list(self.stop),
            "temperature": self.temperature,
            "seed": self.seed,
        }


@dataclasses.dataclass(frozen=True)
class Completion:
    """A generated continuation with per-token log-probs.

    Attributes:
        text: the generated text (stop string excluded).
        tokens: the token strings, ``len(tokens) == len(logprobs) == len(offsets)``.
        logprobs: log-prob of each token under the model (natural log, temperature 1).
        offsets: ``(start, end)`` character span of each token in ``text``; spans are contiguous
            and non-overlapping. A token that only completes part of a multi-byte character has
            an empty span.
        finish_reason: ``"stop"`` (a stop string or end-of-sequence) or ``"length"``.
        token_ids: the token ids where the backend knows them, else empty.
    """

    text: str
    tokens: tuple[str, ...]
    logprobs: tuple[float, ...]
    offsets: tuple[tuple[int, int], ...]
    finish_reason: str
    token_ids: tuple[int, ...] = ()

    def __post_init__(self):
        n = len(self.tokens)
        if len(self.logprobs) != n or len(self.offsets) != n:
            raise ValueError(
                "Completion: tokens, logprobs and offsets must have equal lengths, got "
                f"{n}, {len(self.logprobs)}, {len(self.offsets)}"
            )
        if self.token_ids and len(self.token_ids) != n:
            raise ValueError(f"Completion.token_ids: expected {n} ids, got {len(self.token_ids)}")
        if self.finish_reason not in FINISH_REASONS:
            raise ValueError(
                f"Completion.finish_reason: expected one of {FINISH_REASONS}, "
                f"got {self.finish_reason!r}"
            )

    @property
    def logprob(self) -> float:
        """Total log-prob of the completion."""
        return float(sum(self.logprobs))

    def span_logprobs(self, start: int, end: int) -> list[float]:
        """Log-probs of the tokens whose spans overlap the characters ``[start, end)``."""
        return [
            lp for lp, (a, b) in zip(self.logprobs, self.offsets) if a < end and b > start
        ]

    def to_dict(self) -> dict:
        """A JSON-able dict (inverse of :meth:`from_dict`)."""
        return {
            "text": self.text,
            "tokens": list(self.tokens),
            "logprobs": list(self.logprobs),
            "offsets": [list(o) for o in self.offsets],
            "finish_reason": self.finish_reason,
            "token_ids": list(self.token_ids),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Completion:
        """Builds a completion from :meth:`to_dict` output."""
        return cls(
            text=d["text"],
            tokens=tuple(d["tokens"]),
            logprobs=tuple(float(x) for x in d["logprobs"]),
            offsets=tuple((int(a), int(b)) for a, b in d["offsets"]),
            finish_reason=d["finish_reason"],
            token_ids=tuple(int(x) for x in d.get("token_ids", ())),
        )


@runtime_checkable
class LanguageModel(Protocol):
    """What every backend provides.

    ``name`` identifies backend and model (it is part of cache keys).
    """

    name: str

    def complete(self, requests: Sequence[Request]) -> list[Completion]:
        """Completes a batch of requests; the i-th completion answers the i-th request."""
        ...

    def score(self, prompt: str, continuation: str) -> float:
        """Log-prob of ``continuation`` given ``prompt`` (sum over its tokens)."""
        ...


def token_offsets(pieces: Sequence[bytes]) -> tuple[str, list[tuple[int, int]]]:
    """Decodes byte pieces as UTF-8 and returns the text and each piece's character span.

    A piece that ends inside a multi-byte character contributes the characters it completes
    (possibly none), so spans are contiguous and cover the text. Invalid bytes become U+FFFD.

    Args:
        pieces: the bytes of each token, in order.

    Returns:
        ``(text, offsets)``.
    """
    dec = codecs.getincrementaldecoder("utf-8")(errors="replace")
    parts: list[str] = []
    offsets: list[tuple[int, int]] = []
    pos = 0
    for piece in pieces:
        s = dec.decode(piece)
        parts.append(s)
        offsets.append((pos, pos + len(s)))
        pos += len(s)
    tail = dec.decode(b"", final=True)
    if tail:
        parts.append(tail)
        if offsets:
            a, b = offsets[-1]
            offsets[-1] = (a, b + len(tail))
    return "".join(parts), offsets


def apply_stop(
    text: str, offsets: Sequence[tuple[int, int]], stop: Sequence[str], *, search_from: int = 0
) -> tuple[int, int] | None:
    """Finds the first stop string in ``text`` and where to cut.

    Args:
        text: the text generated so far.
        offsets: each token's span in ``text``.
        stop: the stop strings.
        search_from: character index from which a stop string may start (an optimisation for
            incremental checks; earlier text was already searched).

    Returns:
        ``None`` when no stop string occurs, else ``(cut, n_tokens)``: the text is cut at ``cut``
        (the stop string excluded) and the first ``n_tokens`` tokens are kept, i.e. every token
        that starts before ``cut`` (a token straddling the cut keeps its log-prob, its span is
        clipped to ``cut``).
    """
    best = None
    for s in stop:
        i = text.find(s, max(0, search_from - len(s) + 1))
        if i >= 0 and (best is None or i < best):
            best = i
    if best is None:
        return None
    n = 0
    for a, _ in offsets:
        if a >= best:
            break
        n += 1
    return best, n


def truncate(
    text: str,
    tokens: Sequence[str],
    logprobs: Sequence[float],
    offsets: Sequence[tuple[int, int]],
    token_ids: Sequence[int],
    cut: int,
    n: int,
) -> tuple[str, tuple, tuple, tuple, tuple]:
    """Applies a cut from :func:`apply_stop`: keeps ``n`` tokens and clips spans to ``cut``."""
    offs = tuple((min(a, cut), min(b, cut)) for a, b in offsets[:n])
    return (
        text[:cut],
        tuple(tokens[:n]),
        tuple(logprobs[:n]),
        offs,
        tuple(token_ids[:n]),
    )
