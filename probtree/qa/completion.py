"""Language-model completions as the reasoning engine sees them: text plus per-token log-probs.

Any backend (an HTTP client, a local JAX decoder, a replay cache) hands the engine an object with
``text``, ``tokens``, ``logprobs`` and ``offsets`` (each token's character span in ``text``). The
engine never looks at token boundaries for meaning: every confidence is computed from character
spans, so the same code scores GPT-style BPE, Llama-3 or SentencePiece output alike.

References:
    Cao et al., "Probabilistic Tree-of-thought Reasoning for Answering Knowledge-intensive Complex
    Questions", Findings of EMNLP 2023 (ProbTree), section 3 (confidences from token log-probs).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Protocol, runtime_checkable


@runtime_checkable
class CompletionLike(Protocol):
    """What the engine needs from a completion (duck-typed; `probtree.lm` objects fit).

    Attributes:
        text: the generated text.
        tokens: the generated tokens, as strings.
        logprobs: the log-probability of each token, same length as ``tokens``.
        offsets: ``(start, end)`` character span of each token in ``text``.
    """

    text: str
    tokens: Sequence[str]
    logprobs: Sequence[float]
    offsets: Sequence[tuple[int, int]]


@dataclasses.dataclass(frozen=True)
class Completion:
    """A plain completion record satisfying `CompletionLike`.

    Attributes:
        text: the generated text.
        tokens: tokens as strings.
        logprobs: per-token log-probabilities.
        offsets: per-token ``(start, end)`` character spans in ``text``.
    """

    text: str
    tokens: tuple[str, ...] = ()
    logprobs: tuple[float, ...] = ()
    offsets: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        check_completion(self, "completion")

    @classmethod
    def from_tokens(
        cls, tokens: Sequence[str], logprobs: Sequence[float], text: str | None = None
    ) -> Completion:
        """Builds a completion whose offsets come from concatenating ``tokens``.

        This is the layout of OpenAI-style ``logprobs`` records (``tokens`` + ``token_logprobs``).
        When ``text`` is given (e.g. the chat ``message.content``), tokens past its end (special
        tokens such as ``<|eot_id|>``) are dropped; the kept tokens must spell out ``text``.

        Args:
            tokens: the tokens as strings.
            logprobs: one log-prob per token (``None`` entries, as OpenAI gives for a first token
                of an echoed prompt, count as 0.0).
            text: optional text the tokens should spell; defaults to ``"".join(tokens)``.

        Returns:
            A `Completion`.

        Raises:
            ValueError: lengths differ, or the tokens do not spell ``text``.

        Example:
            >>> c = Completion.from_tokens(["Hi", " there"], [-0.1, -0.2])
            >>> c.offsets
            ((0, 2), (2, 8))
        """
        tokens = [str(t) for t in tokens]
        if len(tokens) != len(logprobs):
            raise ValueError(
                f"tokens and logprobs must have the same length, got {len(tokens)} and "
                f"{len(logprobs)}"
            )
        joined = "".join(tokens)
        if text is None:
            text = joined
        if not joined.startswith(text):
            raise ValueError("tokens: the concatenated tokens do not start with `text`")
        offsets: list[tuple[int, int]] = []
        pos = 0
        for tok in tokens:
            if pos >= len(text):
                break
            offsets.append((pos, pos + len(tok)))
            pos += len(tok)
        if offsets and offsets[-1][1] > len(text):
            raise ValueError("tokens: a token straddles the end of `text`")
        kept = len(offsets)
        lps = tuple(0.0 if lp is None else float(lp) for lp in logprobs[:kept])
        return cls(text=text, tokens=tuple(tokens[:kept]), logprobs=lps, offsets=tuple(offsets))


def check_completion(completion: object, name: str = "completion") -> None:
    """Checks that ``completion`` looks like a `CompletionLike`, with consistent lengths.

    Raises:
        TypeError: a field is missing or ``text`` is not a string.
        ValueError: the three token sequences differ in length, or an offset is outside ``text``.
    """
    for field in ("text", "tokens", "logprobs", "offsets"):
        if not hasattr(completion, field):
            raise TypeError(
                f"{name}: expected an object with text, tokens, logprobs and offsets; "
                f"{type(completion).__name__} has no `{field}`"
            )
    text = completion.text  # type: ignore[attr-defined]
    if not isinstance(text, str):
        raise TypeError(f"{name}.text: expected str, got {type(text).__name__}")
    n = len(completion.tokens)  # type: ignore[attr-defined]
    if len(completion.logprobs) != n or len(completion.offsets) != n:  # type: ignore[attr-defined]
        raise ValueError(
            f"{name}: tokens, logprobs and offsets must have the same length, got {n}, "
            f"{len(completion.logprobs)} and {len(completion.offsets)}"  # type: ignore[attr-defined]
        )
    for i, (s, e) in enumerate(completion.offsets):  # type: ignore[attr-defined]
        if not (0 <= s <= e <= len(text)):
            raise ValueError(
                f"{name}.offsets[{i}] = ({s}, {e}) is outside the text of length {len(text)}"
            )


def span_mean_logprob(completion: CompletionLike, start: int, end: int) -> float | None:
    """Mean log-prob of the tokens whose character span overlaps ``[start, end)``.

    A token counts when it shares at least one character with the span, so a token such as
    ``' ["'`` or ``'"]}'`` that carries a bracket of the span is included, as in the reference
    implementation's token scan. Zero-width tokens are counted when they sit inside the span.

    Args:
        completion: the completion.
        start: first character of the span.
        end: one past the last character.

    Returns:
        The mean log-prob, or None when no token overlaps the span.
    """
    total, count = 0.0, 0
    for (s, e), lp in zip(completion.offsets, completion.logprobs):
        overlaps = (s < end and e > start) if e > s else (start <= s < end)
        if overlaps:
            total += float(lp)
            count += 1
    if count == 0:
        return None
    mean = total / count
    return mean if math.isfinite(mean) else None


def prefix_mean_logprob(completion: CompletionLike, end: int) -> float | None:
    """Mean log-prob of the tokens that end at or before character ``end`` (and are non-empty
    or start before ``end``); None when there are none."""
    vals = [
        float(lp)
        for (s, e), lp in zip(completion.offsets, completion.logprobs)
        if e <= end and (e > s or s < end)
    ]
    if not vals:
        return None
    mean = sum(vals) / len(vals)
    return mean if math.isfinite(mean) else None
