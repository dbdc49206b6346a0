"""From a language model's HQDT output to query trees with decomposition confidences.

The model answers the tree-generation prompt with one line of JSON mapping each question to its
sub-questions, possibly followed by a ``.``::

    {"Q": ["Q1", "Q2 about #1?"], "Q1": ["Q1a", "Q1b"]}.

`parse_hqdt` reads it with character positions, and the decomposition confidence of each entry is
the mean log-prob of the tokens overlapping the characters of its sub-question list (brackets and
quotes included). The reference code found that span by scanning OpenAI BPE tokens for ``: ["`` and
``"]`` patterns; character offsets give the same span for any tokenizer.

`build_query_tree` turns a `Decomposition` into a `QueryTree` by a depth-first expansion from its
first key (the model's copy of the question), emitting nodes in post-order. Every failure is a
`DecompositionError` (a ``ValueError``) naming the question and, for JSON faults, line and column;
`parse_many`/`build_many` return those errors per question instead of raising, so one bad output
never sinks a batch.

References:
    Cao et al., "Probabilistic Tree-of-thought Reasoning for Answering Knowledge-intensive Complex
    Questions", Findings of EMNLP 2023, section 3.1 (query tree generation, confidence of a
    decomposition); official code ``src/*/Tree_Generation/2_postprocess.py`` and
    ``3_postprocess_tree.py``, ``src/*/RoHT/1_build_tree.py``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence

from probtree import TreeLimits
from probtree.qa.completion import CompletionLike, check_completion, span_mean_logprob
from probtree.qa.querytree import QueryNode, QueryTree, find_references

_WS = " \t\r\n"
_DECODER = json.JSONDecoder()


class DecompositionError(ValueError):
    """A decomposition that cannot become a query tree (malformed JSON, cycle, bad reference)."""

    def __init__(self, message: str, question: str | None = None) -> None:
        self.question = question
        where = f"question {question[:80]!r}: " if question is not None else ""
        super().__init__(where + message)


@dataclasses.dataclass(frozen=True)
class Decomposition:
    """One parsed HQDT output.

    Attributes:
        entries: ``(parent question, sub-questions, qd_logprob)`` in output order; ``qd_logprob``
            is None when the output had no token log-probs.
        question: the question that was asked (None when unknown).
    """

    entries: tuple[tuple[str, tuple[str, ...], float | None], ...]
    question: str | None = None

    @property
    def root(self) -> str:
        """The first key: the model's own copy of the question, used as the tree's root."""
        return self.entries[0][0]

    def as_dict(self) -> dict[str, tuple[tuple[str, ...], float | None]]:
        return {k: (c, qd) for k, c, qd in self.entries}


def _line_col(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return f"line {line}, column {col}"


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WS:
        i += 1
    return i


def parse_hqdt(
    output: str | CompletionLike,
    question: str | None = None,
    *,
    max_entries: int = 1_000,
    max_children: int = 1_000,
) -> Decomposition:
    """Parses one HQDT output, with the confidence of each decomposition.

    Args:
        output: the model's text, or a completion (``text``, ``tokens``, ``logprobs``,
            ``offsets``) to also compute each entry's ``qd_logprob``.
        question: the question asked (used in error messages and kept on the result).
        max_entries: most keys accepted.
        max_children: most sub-questions per key.

    Returns:
        A `Decomposition`.

    Raises:
        DecompositionError: not one JSON object of string → list-of-strings entries (possibly
            followed by ``.``), an empty or duplicate key, an empty sub-question, or over the
            limits.
            JSON faults name line and column.

    Example:
        >>> d = parse_hqdt('{"Who is X\\'s father?": ["Who is X?", "Who is #1\\'s father?"]}.')
        >>> d.entries[0][1]
        ('Who is X?', "Who is #1's father?")

    References:
        Cao et al. (2023), section 3.1: the decomposition confidence is the mean token log-prob of
        the generated sub-question list (``2_postprocess.py``: tokens ``[start, end]`` of the list).
    """
    completion = None
    if isinstance(output, str):
        text = output
    else:
        check_completion(output, "output")
        completion, text = output, output.text

    def fail(msg: str, pos: int | None = None) -> DecompositionError:
        where = f" at {_line_col(text, pos)}" if pos is not None else ""
        return DecompositionError(msg + where, question)

    i = _skip(text, 0)
    if i >= len(text) or text[i] != "{":
        raise fail("expected a JSON object starting with '{'", i)
    i += 1
    entries: list[tuple[str, tuple[str, ...], float | None]] = []
    seen: set[str] = set()
    while True:
        i = _skip(text, i)
        if i < len(text) and text[i] == "}" and not entries:
            raise fail("the decomposition is an empty object", i)
        if i >= len(text) or text[i] != '"':
            raise fail("expected a question string as key (the output may be truncated)", i)
        try:
            key, i = json.decoder.scanstring(text, i + 1)
        except json.JSONDecodeError as err:
            raise fail(f"bad key string: {err.msg}", err.pos) from None
        key = key.strip()
        if not key:
            raise fail("empty question as key", i)
        if key in seen:
            raise fail(f"duplicate key {key[:60]!r}", i)
        seen.add(key)
        i = _skip(text, i)
        if i >= len(text) or text[i] != ":":
            raise fail("expected ':' after a key", i)
        i = _skip(text, i + 1)
        start = i
        try:
            value, i = _DECODER.raw_decode(text, i)
        except json.JSONDecodeError as err:
            raise fail(f"bad sub-question list: {err.msg}", err.pos) from None
        except RecursionError:
            raise fail("sub-question list nested too deeply", start) from None
        if not isinstance(value, list):
            raise fail(f"expected a list of sub-questions, got {type(value).__name__}", start)
        if len(value) > max_children:
            raise fail(f"{len(value)} sub-questions, more than max_children={max_children}", start)
        children = []
        for c in value:
            if not isinstance(c, str):
                raise fail(f"sub-questions must be strings, got {type(c).__name__}", start)
            if not c.strip():
                raise fail("empty sub-question", start)
            children.append(c.strip())
        qd = span_mean_logprob(completion, start, i) if completion is not None else None
        entries.append((key, tuple(children), qd))
        if len(entries) > max_entries:
            raise fail(f"more than max_entries={max_entries} keys", start)
        i = _skip(text, i)
        if i < len(text) and text[i] == ",":
            i += 1
            continue
        if i < len(text) and text[i] == "}":
            i += 1
            break
        raise fail("expected ',' or '}' (the output may be truncated)", i)
    rest = text[i:].strip()
    if rest not in ("", "."):
        raise fail(f"unexpected text after the decomposition: {rest[:40]!r}", i)
    return Decomposition(entries=tuple(entries), question=question)


def parse_many(
    outputs: Sequence[str | CompletionLike], questions: Sequence[str | None] | None = None
) -> list[Decomposition | DecompositionError]:
    """`parse_hqdt` over a batch; a failure is returned in place, not raised."""
    if questions is not None and len(questions) != len(outputs):
        raise ValueError(
            f"questions: expected {len(outputs)} entries (one per output), got {len(questions)}"
        )
    out: list[Decomposition | DecompositionError] = []
    for j, o in enumerate(outputs):
        q = questions[j] if questions is not None else None
        try:
            out.append(parse_hqdt(o, q))
        except DecompositionError as err:
            out.append(err)
        except (TypeError, ValueError) as err:
            out.append(DecompositionError(str(err), q))
    return out


def _has_placeholder(text: str, placeholder: str) -> bool:
    return bool(find_references(text, placeholder))


def build_query_tree(
    decomposition: Decomposition | Mapping[str, Sequence],
    *,
    question: str | None = None,
    root: str | None = None,
    placeholder: str = "both",
    lookup: Mapping[str, Sequence] | None = None,
    limits: TreeLimits | None = None,
) -> QueryTree:
    """Expands a decomposition into a query tree (post-order, root last).

    Rules, as the reference's cleaning step applies them:

    - an entry that lists its own parent question among its sub-questions (a
      self-decomposition) makes that question a leaf;
    - an entry whose key contains a reference placeholder is ignored (such a sub-question is
      answered after substitution, never decomposed);
    - a question that appears again below itself is a cycle: `DecompositionError`;
    - a reference ``#k`` to a sibling that does not exist: `DecompositionError`. References to a
      later sibling (or the node itself) stay unresolved, as in the reference code.

    Args:
        decomposition: a `Decomposition`, or a mapping ``question -> [children, qd]`` (the
            ``question_decompositions.json`` layout; ``[children]`` alone also works).
        question: the original question (defaults to the decomposition's, then the root).
        root: the root question; default the first key.
        placeholder: reference style (``"hash"``, ``"angle"`` or ``"both"``).
        lookup: compatibility switch: resolve sub-questions through this merged mapping (the
            reference's global ``tree.json``) instead of the decomposition itself, so a question
            decomposed in another tree is expanded here too. Default: trees are independent.
        limits: size limits (default `TreeLimits()`).

    Returns:
        A `QueryTree`.

    Raises:
        DecompositionError: empty decomposition, cycle, bad reference, over the limits.
    """
    limits = limits or TreeLimits()
    entries = _entries(decomposition)
    q = question or getattr(decomposition, "question", None)
    if not entries and root is None:
        raise DecompositionError("empty decomposition", q)
    root_text = root if root is not None else entries[0][0]
    q = q or root_text
    if _has_placeholder(root_text, placeholder):
        raise DecompositionError("the root question contains a reference placeholder", q)
    if lookup is not None:
        table = {k: _entry(v, k, q) for k, v in lookup.items()}
    else:
        table = {}
        for k, children, qd in entries:
            if _has_placeholder(k, placeholder):
                continue
            table[k] = (tuple(children), qd) if k not in children else ((), None)
    nodes: list[QueryNode | None] = []
    parents: list[int] = []

    def expand(text: str, path: tuple[str, ...], depth: int) -> int:
        if depth > limits.max_depth:
            raise DecompositionError(f"tree deeper than limits.max_depth={limits.max_depth}", q)
        children, qd = table.get(text, ((), None))
        kids = []
        for c in children:
            if c in path or c == text:
                raise DecompositionError(f"cycle: {c[:60]!r} is decomposed into itself", q)
            kids.append(expand(c, path + (text,), depth + 1))
        idx = len(nodes)
        if idx >= limits.max_nodes:
            raise DecompositionError(f"more than limits.max_nodes={limits.max_nodes} nodes", q)
        nodes.append(QueryNode(text=text, children=tuple(kids), qd_logprob=qd if kids else None))
        parents.append(-1)
        for k in kids:
            parents[k] = idx
        return idx

    try:
        expand(root_text, (), 0)
    except RecursionError:
        raise DecompositionError("tree too deep to expand", q) from None
    final = tuple(dataclasses.replace(nd, parent=p) for nd, p in zip(nodes, parents))
    for nd in final:
        if nd.parent < 0:
            continue
        n_sibs = len(final[nd.parent].children)
        for k in find_references(nd.text, placeholder):
            if not 1 <= k <= n_sibs:
                raise DecompositionError(
                    f"sub-question {nd.text[:60]!r} refers to sibling {k}, but its parent has "
                    f"{n_sibs} sub-questions",
                    q,
                )
    return QueryTree(question=q, nodes=final, placeholder=placeholder)


def build_many(
    decompositions: Sequence[Decomposition | DecompositionError | Mapping],
    **kwargs,
) -> list[QueryTree | DecompositionError]:
    """`build_query_tree` over a batch; errors (including parse errors passed in) stay in place."""
    out: list[QueryTree | DecompositionError] = []
    for d in decompositions:
        if isinstance(d, DecompositionError):
            out.append(d)
            continue
        try:
            out.append(build_query_tree(d, **kwargs))
        except DecompositionError as err:
            out.append(err)
    return out


def _entry(value: object, key: str, q: str | None) -> tuple[tuple[str, ...], float | None]:
    """``[children, qd]`` or ``[children]`` or ``(children, qd)`` → (children, qd)."""
    if (
        isinstance(value, list | tuple)
        and len(value) in (1, 2)
        and isinstance(value[0], list | tuple)
    ):
        children = value[0]
        qd = value[1] if len(value) == 2 else None
    elif isinstance(value, list | tuple) and all(isinstance(c, str) for c in value):
        children, qd = value, None
    else:
        raise DecompositionError(f"entry {key[:60]!r}: expected [children, qd_logprob]", q)
    if not all(isinstance(c, str) for c in children):
        raise DecompositionError(f"entry {key[:60]!r}: sub-questions must be strings", q)
    if qd is not None and not isinstance(qd, int | float):
        raise DecompositionError(f"entry {key[:60]!r}: qd_logprob must be a number or null", q)
    return tuple(children), (None if qd is None else float(qd))


def _entries(d: Decomposition | Mapping) -> list[tuple[str, tuple[str, ...], float | None]]:
    if isinstance(d, Decomposition):
        return list(d.entries)
    if isinstance(d, Mapping):
        return [(k, *_entry(v, k, None)) for k, v in d.items()]
    raise TypeError(f"decomposition: expected a Decomposition or a mapping, got {type(d).__name__}")
