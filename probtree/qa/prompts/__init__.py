"""ProbTree's few-shot prompts (package data) and how a query is appended to each.

Five prompts drive the method: tree generation (HQDT), closed-book CoT (CB), open-book CoT with
retrieved passages for leaves (single-hop) and non-leaves (multi-hop), and child aggregation (CA).
``PromptSet.load("hotpotqa")`` / ``"musique"`` are the official prompts with the official stop
strings and placeholders; ``"small"`` holds short variants (1-2 examples) for small local models.

Query layouts, as in the reference code:

- tree / CB: ``prompt + "\\nQ: {q}\\nA:"``;
- OB: ``prompt + "\\n"`` then ``"\\n#{i} Wikipedia Title: {title}\\nText: {text}"`` per passage,
  then ``"\\nQ: {q}\\nA:"``;
- CA: ``prompt + "\\nContext:\\n{ctx}\\n\\nQuestion:\\n{q}\\n\\nAnswer:"`` with one line
  ``"{child question} {child answer}."`` per child.

References:
    Cao et al., "Probabilistic Tree-of-thought Reasoning for Answering Knowledge-intensive Complex
    Questions", Findings of EMNLP 2023; official code ``Tree_Generation/0_get_prompt.py``,
    ``RoHT/question_answering.py`` (prompts MIT-licensed, see ``LICENSE-ProbTree.txt``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from importlib import resources

__all__ = ["PROMPT_SETS", "PromptSet"]

PROMPT_SETS = ("hotpotqa", "musique", "small")
_FILES = {
    "tree": "tree_generation.txt",
    "cb": "closed_book.txt",
    "ob_single": "open_book_singlehop.txt",
    "ob_multi": "open_book_multihop.txt",
    "ca": "child_aggregate.txt",
}
_STOPS = {
    "hotpotqa": {"tree": ("\n\n",), "cb": ("\n\n",), "ob": ("\n\n\n",), "ca": ("\n\n\n",)},
    "musique": {"tree": ("\n\n",), "cb": ("Q:",), "ob": ("\n\n",), "ca": ("\n\n\n",)},
    # the small set stops at the next few-shot block too, so short budgets are not wasted
    "small": {"tree": ("\n",), "cb": ("\n",), "ob": ("\n",), "ca": ("\n",)},
}
_PLACEHOLDER = {"hotpotqa": "angle", "musique": "hash", "small": "angle"}


def _read(name: str, file: str) -> str:
    text = (resources.files("probtree.qa.prompts") / name / file).read_text(encoding="utf-8")
    return "\n".join(line.strip() for line in text.strip().splitlines())


@dataclasses.dataclass(frozen=True)
class PromptSet:
    """The five prompts, their stop strings and the reference placeholder style.

    Attributes:
        name: the set's name.
        tree, cb, ob_single, ob_multi, ca: the few-shot prompt texts.
        stops: stop strings per call kind (``"tree"``, ``"cb"``, ``"ob"``, ``"ca"``).
        placeholder: reference style the tree prompt teaches (``"angle"`` ``<k>`` or ``"hash"``).
    """

    name: str
    tree: str
    cb: str
    ob_single: str
    ob_multi: str
    ca: str
    stops: dict
    placeholder: str

    @classmethod
    def load(cls, name: str) -> PromptSet:
        """A bundled prompt set (`PROMPT_SETS`).

        Raises:
            ValueError: an unknown name.
        """
        if name not in PROMPT_SETS:
            raise ValueError(f"prompts: expected one of {PROMPT_SETS}, got {name!r}")
        texts = {k: _read(name, f) for k, f in _FILES.items()}
        return cls(name=name, stops=_STOPS[name], placeholder=_PLACEHOLDER[name], **texts)

    def tree_prompt(self, question: str) -> str:
        """The HQDT tree-generation prompt for ``question``."""
        return f"{self.tree}\nQ: {question.strip()}\nA:"

    def cb_prompt(self, question: str) -> str:
        """The closed-book chain-of-thought prompt."""
        return f"{self.cb}\nQ: {question.strip()}\nA:"

    def ob_prompt(self, question: str, passages: Sequence[tuple[str, str]], multihop: bool) -> str:
        """The open-book prompt with ``(title, text)`` passages (multi-hop variant for
        non-leaves)."""
        head = self.ob_multi if multihop else self.ob_single
        ctx = "".join(
            f"\n#{i} Wikipedia Title: {t}\nText: {x}" for i, (t, x) in enumerate(passages, 1)
        )
        return f"{head}\n{ctx}\nQ: {question.strip()}\nA:"

    def ca_prompt(self, question: str, pairs: Sequence[tuple[str, str]]) -> str:
        """The child-aggregating prompt; ``pairs`` are the children's (question, answer)."""
        lines = []
        for q, a in pairs:
            a = a.strip()
            lines.append(f"{q.strip()} {a}{'' if a.endswith(('.', '?', '!')) else '.'}")
        ctx = "\n".join(lines)
        return f"{self.ca}\nContext:\n{ctx}\n\nQuestion:\n{question.strip()}\n\nAnswer:"
