"""A scripted stand-in for a language model, shared by the engine tests (not a test module).

Its completions are a deterministic function of the prompt: HQDT prompts get a decomposition
chosen by keywords of the question ("chain", "pair", "deep", "huge", "bad") or, without one, by a
hash of the question; QA prompts get "... So the answer is: ansN." with N a hash of the question
("Unknown" for questions containing "unknowable"; an exception for questions containing "fail").
Token log-probs are hashes of (prompt, position), so CB, OB and CA confidences differ.
"""

from __future__ import annotations

import hashlib
import json
import re

from probtree.lm.base import Completion, Request


def _h(s: str) -> int:
    return int(hashlib.md5(s.encode()).hexdigest()[:8], 16)


def scripted_completion(text: str, seed: str) -> Completion:
    toks = re.findall(r"\s*\S+", text)
    offs, pos = [], 0
    for t in toks:
        offs.append((pos, pos + len(t)))
        pos += len(t)
    lps = [-((_h(f"{seed}|{j}") % 1000) / 1000.0) for j in range(len(toks))]
    return Completion(text, tuple(toks), tuple(lps), tuple(offs), "stop")


def tree_text(q: str) -> str:
    shape = next((k for k in ("bad", "huge", "chain", "pair", "deep", "plain") if k in q),
                 ("chain", "pair", "plain")[_h(q) % 3])
    if shape == "bad":
        return ' {"' + q + '": ["unterminated'
    if shape == "huge":
        return " " + json.dumps({q: [f"part {k} of it?" for k in range(40)]}) + "."
    if shape == "chain":
        kids = [f"Who is the subject of {q}", "What is known about <1>?"]
        return " " + json.dumps({q: kids}) + "."
    if shape == "pair":
        return " " + json.dumps({q: [f"First half of {q}", f"Second half of {q}"]}) + "."
    if shape == "deep":
        a = f"Part A of {q}"
        return " " + json.dumps({q: [a, "Then <1>?"], a: [f"A1 of {q}", "A2 of <1>?"]}) + "."
    return " " + json.dumps({q: [q]}) + "."


def question_of(prompt: str) -> str:
    if prompt.rstrip().endswith("Answer:"):
        return prompt.rsplit("Question:\n", 1)[1].rsplit("\n\nAnswer:", 1)[0]
    return prompt.rsplit("\nQ: ", 1)[1].rsplit("\nA:", 1)[0]


def scripted_text(prompt: str) -> str:
    q = question_of(prompt)
    if "decomposition tree" in prompt[:300] or prompt.startswith("Decompose"):
        return tree_text(q)
    if "fail" in q:
        raise RuntimeError("scripted failure")
    ans = "Unknown" if "unknowable" in q else f"ans{_h(q) % 97}"
    return f" Reading about it gives {ans}. So the answer is: {ans}."


class ScriptedLM:
    """Deterministic fake backend; records every batch it is sent."""

    name = "scripted"

    def __init__(self):
        self.batches: list[list[str]] = []

    def complete(self, requests: list[Request]) -> list[Completion]:
        self.batches.append([r.prompt for r in requests])
        return [scripted_completion(scripted_text(r.prompt), r.prompt) for r in requests]

    def score(self, prompt: str, continuation: str) -> float:
        return 0.0


class AsyncScriptedLM(ScriptedLM):
    """The scripted backend behind an async API (like the HTTP client): ``acomplete`` answers
    after ``delay`` seconds and tracks how many requests were in flight at once."""

    def __init__(self, delay: float = 0.002, concurrency: int = 4):
        super().__init__()
        self.delay, self.concurrency = delay, concurrency
        self.in_flight = self.max_in_flight = 0

    async def acomplete(self, requests, *, return_exceptions: bool = False):
        import asyncio

        self.in_flight += len(requests)
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        await asyncio.sleep(self.delay)
        self.in_flight -= len(requests)
        out = []
        for r in requests:
            self.batches.append([r.prompt])
            try:
                out.append(scripted_completion(scripted_text(r.prompt), r.prompt))
            except RuntimeError as err:
                if not return_exceptions:
                    raise
                out.append(err)
        return out
