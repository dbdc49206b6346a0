"""Can a grammar derive a sentence together with its logical form? (a coverage check)

Because the transformation functions are deterministic top-down, deciding whether some derivation
of ``(sentence, LF)`` exists needs no LF sets: expand rules from the start symbol, compute each
child's LF with ``apply``, and split the token span among the children (memoised on
(nonterminal, LF, span)). A nonterminal accepts an LF only if every one of its features is
defined on it (the official ``get_feature`` returning false rules the LF out). Closed-class
preterminals match their listed words; open-class preterminals (those without terminal rules:
``V``, ``N_PREDICATE``, ``N_CONSTANT``, ...) accept any LF and any phrase of at most
``max_open_tokens`` tokens without an excluded token, since their lexicon is learned; a number
preterminal accepts the digits of the number in its LF.

This is an upper bound on what a trained parser can produce (it ignores probabilities), useful to
validate the transformation semantics against the official data split: the official grammar is
meant to derive ``geoqueries880_train``/``_test`` and not most of the ``_remaining`` files.

References:
    ``is_parseable`` in ``parser.cpp`` of github.com/asaparov/parser.
"""

from __future__ import annotations

from dataclasses import dataclass

from grammar.features import FEATURES, feature
from grammar.grammar import Grammar, Rule
from grammar.logic import LF, Num
from grammar.transforms import TRANSFORMS, normalize

__all__ = ["derivable", "find_derivation", "Derivation"]


@dataclass(frozen=True)
class Derivation:
    """A derivation tree: the nonterminal, its LF, its token span ``[start, end)``, the rule used
    (None at a preterminal) and the children."""

    nonterminal: str
    lf: LF
    start: int
    end: int
    rule: Rule | None
    children: tuple[Derivation, ...]

    def nodes(self):
        """All nodes in prefix order."""
        yield self
        for c in self.children:
            yield from c.nodes()


def derivable(grammar: Grammar, tokens, lf: LF, *, start: str | None = None,
              max_open_tokens: int = 3) -> bool:
    """True when ``grammar`` has a derivation of ``tokens`` whose root carries ``lf``
    (see :func:`find_derivation`).

    Example:
        >>> from grammar.grammar import read_grammar
        >>> from grammar.logic import parse
        >>> derivable(read_grammar(), "what rivers are in texas ?".split(),
        ...           parse("answer(A,(river(A),loc(A,B),const(B,stateid(texas))))"))
        True
    """
    return find_derivation(grammar, tokens, lf, start=start,
                           max_open_tokens=max_open_tokens) is not None


def find_derivation(grammar: Grammar, tokens, lf: LF, *, start: str | None = None,
                    max_open_tokens: int = 3) -> Derivation | None:
    """The first derivation of ``tokens`` whose root carries ``lf`` (rules in file order,
    leftmost splits first), or None.

    Args:
        grammar: from :func:`grammar.grammar.read_grammar` (semantic functions only).
        tokens: the sentence.
        lf: its logical form (renamed with :func:`grammar.transforms.normalize`).
        start: the start symbol (default: the first declared nonterminal).
        max_open_tokens: longest phrase an open-class preterminal may cover.

    Raises:
        ValueError: an unknown start symbol or a function name that is not a semantic function.
    """
    tokens = tuple(tokens)
    start = start or next(iter(grammar.nonterminals))
    if start not in grammar.nonterminals:
        raise ValueError(f"start: {start!r} is not a declared nonterminal")
    rules: dict[str, list] = {}
    for r in grammar.rules:
        for s in r.rhs:
            for f in s.functions:
                if f not in TRANSFORMS:
                    raise ValueError(f"derivable: {f!r} is not a semantic transformation function")
        rules.setdefault(r.lhs, []).append(r)
    words: dict[str, set] = {}
    for t in grammar.terminal_rules:
        words.setdefault(t.lhs, set()).add(t.tokens)
    memo: dict[tuple, Derivation | None] = {}
    busy: set[tuple] = set()

    def derive(a: str, x: LF, i: int, j: int) -> Derivation | None:
        key = (a, x, i, j)
        if key in memo:
            return memo[key]
        if key in busy:  # a unary cycle on the same LF and span
            return None
        busy.add(key)
        nt = grammar.nonterminals[a]
        span = tokens[i:j]
        out = None
        if any(feature(f, x) is None for f in nt.features if f in FEATURES):
            ok = False
        elif nt.kind == "number_preterminal":
            ok = len(span) == 1 and isinstance(x, Num) and span[0] == str(x.value)
        elif nt.kind != "nonterminal":
            if a in words:
                ok = span in words[a]
            else:
                ok = (len(span) <= max_open_tokens
                      and not set(span) & set(nt.base.excluded_tokens)
                      and " ".join(span) not in nt.base.excluded_phrases)
        else:
            ok = False
            for r in rules.get(a, ()):
                kids = expand(r, x, i, j)
                if kids is not None:
                    out = Derivation(a, x, i, j, r, kids)
                    break
        if ok:
            out = Derivation(a, x, i, j, None, ())
        busy.discard(key)
        memo[key] = out
        return out

    def expand(rule, x: LF, i: int, j: int):
        kids = []
        for s in rule.rhs:
            c = x
            for f in s.functions:
                c = TRANSFORMS[f].apply(c)
                if c is None:
                    return None
            kids.append((s.nonterminal, c))
        return split(kids, i, j)

    def split(kids, i: int, j: int):
        if len(kids) == 1:
            d = derive(kids[0][0], kids[0][1], i, j)
            return None if d is None else (d,)
        (b, c), rest = kids[0], kids[1:]
        for m in range(i + 1, j - len(rest) + 1):
            d = derive(b, c, i, m)
            if d is not None:
                tail = split(rest, m, j)
                if tail is not None:
                    return (d,) + tail
        return None

    if not tokens:
        return None
    return derive(start, normalize(lf), 0, len(tokens))
