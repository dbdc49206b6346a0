"""Query trees: a complex question, its sub-questions, and references between siblings.

A `QueryTree` holds its nodes in post-order (children before parents, root last), the order in
which ProbTree answers them, and converts to the core `Tree` (``to_tree``) so many query trees
pack into one `Forest`. Sub-questions may refer to the answer of an earlier sibling with ``#k``
(MuSiQue, 2WikiMultihopQA prompts) or ``<k>`` (HotpotQA prompt), ``k`` 1-based.

References:
    Cao et al., "Probabilistic Tree-of-thought Reasoning for Answering Knowledge-intensive Complex
    Questions", Findings of EMNLP 2023, section 3.1 (query tree), 3.2 (reference assignment).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence

from probtree import Tree, TreeLimits

PLACEHOLDER_PATTERNS = {
    "hash": r"#(\d+)",
    "angle": r"<(\d+)>",
    "both": r"#(\d+)|<(\d+)>",
}
_TRAILING = " \t\r\n.,;:!?"


def _pattern(style: str) -> re.Pattern[str]:
    if style not in PLACEHOLDER_PATTERNS:
        raise ValueError(
            f"placeholder: expected one of {sorted(PLACEHOLDER_PATTERNS)}, got {style!r}"
        )
    return re.compile(PLACEHOLDER_PATTERNS[style])


def find_references(question: str, placeholder: str = "both") -> list[int]:
    """The sibling numbers (1-based) that ``question`` refers to, in order of appearance.

    ``#10`` is the reference 10, never ``#1`` followed by ``0``.

    Example:
        >>> find_references("When did #1 arrive in #10?")
        [1, 10]
    """
    return [k for k, _, _ in _matches(question, placeholder)]


def _matches(question: str, placeholder: str) -> list[tuple[int, int, int]]:
    """``(k, start, end)`` of every placeholder in ``question``."""
    out = []
    for m in _pattern(placeholder).finditer(question):
        digits = next(g for g in m.groups() if g is not None)
        out.append((int(digits[:9]), m.start(), m.end()))
    return out


def clean_answer(answer: str) -> str:
    """An answer as substituted into a question: surrounding whitespace and trailing punctuation
    (``.,;:!?``) removed."""
    return answer.strip().rstrip(_TRAILING).strip()


def substitute_references(
    question: str,
    answers: Mapping[int, str],
    placeholder: str = "both",
    *,
    compat: bool = False,
) -> str:
    """Replaces each reference ``#k``/``<k>`` that has an answer by that answer.

    Substitution is by token: ``#1`` never matches inside ``#10``; references without an answer
    stay as they are. The answer's trailing punctuation is removed (``"UEFA."`` → ``"UEFA"``).

    Args:
        question: the question text with placeholders.
        answers: sibling number (1-based) → answer text.
        placeholder: ``"hash"`` (``#k``), ``"angle"`` (``<k>``) or ``"both"``.
        compat: reproduce the reference code: ``str.replace`` of each placeholder found, in order
            of appearance, with the raw answer (so ``#1`` also rewrites the start of ``#10``, and
            trailing punctuation is kept).

    Returns:
        The question with references substituted.

    Example:
        >>> substitute_references("Where is #1 from, and #10?", {1: "UEFA.", 10: "FIFA"})
        'Where is UEFA from, and FIFA?'
    """
    matches = _matches(question, placeholder)
    if compat:
        out = question
        for k, s, e in matches:
            if k in answers:
                out = out.replace(question[s:e], answers[k])
        return out
    pieces, last = [], 0
    for k, s, e in matches:
        if k not in answers:
            continue
        pieces.append(question[last:s])
        pieces.append(clean_answer(answers[k]))
        last = e
    pieces.append(question[last:])
    return "".join(pieces)


@dataclasses.dataclass(frozen=True)
class QueryNode:
    """One node of a query tree.

    Attributes:
        text: the question as decomposed (with placeholders).
        children: indices of its sub-questions, in order (``#1`` is ``children[0]``).
        parent: index of its parent, ``-1`` at the root.
        qd_logprob: confidence of this node's decomposition (mean token log-prob of its
            sub-question list), None at leaves or when unknown.
    """

    text: str
    children: tuple[int, ...] = ()
    parent: int = -1
    qd_logprob: float | None = None

    @property
    def is_leaf(self) -> bool:
        return not self.children


@dataclasses.dataclass(frozen=True)
class QueryTree:
    """A question's query tree, nodes in post-order (root last).

    Attributes:
        question: the original question this tree answers.
        nodes: the nodes; ``nodes[-1]`` is the root.
        placeholder: the reference style of its sub-questions.
    """

    question: str
    nodes: tuple[QueryNode, ...]
    placeholder: str = "both"

    def __post_init__(self) -> None:
        n = len(self.nodes)
        if n == 0:
            raise ValueError("nodes: a query tree needs at least one node")
        for i, node in enumerate(self.nodes):
            for c in node.children:
                if not 0 <= c < i:
                    raise ValueError(
                        f"nodes[{i}].children: child {c} is not an earlier node (nodes must be in "
                        "post-order)"
                    )
                if self.nodes[c].parent != i:
                    raise ValueError(f"nodes[{c}].parent = {self.nodes[c].parent}, expected {i}")
        if self.nodes[-1].parent != -1:
            raise ValueError("nodes[-1] must be the root (parent -1)")

    @property
    def root(self) -> int:
        return len(self.nodes) - 1

    @property
    def n_nodes(self) -> int:
        return len(self.nodes)

    def position(self, i: int) -> int:
        """1-based position of node ``i`` among its siblings (0 for the root)."""
        p = self.nodes[i].parent
        return 0 if p < 0 else self.nodes[p].children.index(i) + 1

    def sibling_references(self, i: int) -> list[int]:
        """For node ``i``, the node indices its references point to (out-of-range ones dropped)."""
        p = self.nodes[i].parent
        if p < 0:
            return []
        sibs = self.nodes[p].children
        return [
            sibs[k - 1]
            for k in find_references(self.nodes[i].text, self.placeholder)
            if 1 <= k <= len(sibs)
        ]

    def substituted(self, i: int, answers: Sequence[str | None], *, compat: bool = False) -> str:
        """Node ``i``'s question with the answers of its referenced siblings filled in.

        Args:
            i: the node.
            answers: one chosen answer per node (None where not answered yet).
            compat: reference-code substitution (see `substitute_references`).
        """
        node = self.nodes[i]
        if node.parent < 0:
            return node.text
        sibs = self.nodes[node.parent].children
        table = {k + 1: answers[s] for k, s in enumerate(sibs) if answers[s] is not None}
        return substitute_references(node.text, table, self.placeholder, compat=compat)

    def to_tree(self, *, limits: TreeLimits | None = None) -> Tree:
        """The core `Tree` of this query tree (same node order; labels are the node texts)."""
        return Tree.from_parents(
            [nd.parent for nd in self.nodes], labels=[nd.text for nd in self.nodes], limits=limits
        )

    def to_records(self) -> list[dict]:
        """Nodes as the reference's ``trees.json`` records (``idx, question_text, sons, qd_logprob,
        fa``; ``fa`` absent at the root)."""
        out = []
        for i, nd in enumerate(self.nodes):
            rec = {
                "idx": i,
                "question_text": nd.text,
                "sons": list(nd.children),
                "qd_logprob": nd.qd_logprob,
            }
            if nd.parent >= 0:
                rec["fa"] = nd.parent
            out.append(rec)
        return out

    @classmethod
    def from_records(
        cls, question: str, records: Sequence[Mapping], placeholder: str = "both"
    ) -> QueryTree:
        """Builds a query tree from reference-style node records (``released.json`` trees).

        Raises:
            ValueError: missing fields, indices out of order, or inconsistent parents.
        """
        nodes = []
        for i, rec in enumerate(records):
            for key in ("question_text", "sons"):
                if key not in rec:
                    raise ValueError(f"records[{i}]: missing field {key!r}")
            if rec.get("idx", i) != i:
                raise ValueError(f"records[{i}]: idx is {rec.get('idx')}, expected {i}")
            qd = rec.get("qd_logprob")
            nodes.append(
                QueryNode(
                    text=str(rec["question_text"]),
                    children=tuple(int(c) for c in rec["sons"]),
                    parent=int(rec["fa"]) if rec.get("fa") is not None else -1,
                    qd_logprob=None if qd is None else float(qd),
                )
            )
        return cls(question=question, nodes=tuple(nodes), placeholder=placeholder)
