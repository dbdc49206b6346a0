"""Grammar files (``english.gram`` format), lexicons and data sets (``parse(...)`` records).

Grammar file lines (``#`` starts a comment):

- a declaration ``NAME KIND {features} {a_0, ..., a_F} {b_0, ..., b_F} BASE`` with ``KIND`` one of
  ``nonterminal``, ``preterminal``, ``number_preterminal``, ``string_preterminal``; the two number
  lists are the Gamma(shape a, rate b) priors of the HDP concentration at every level (one more
  than there are features), and ``BASE`` is ``{excluded tokens} atom_count end_probability
  [noun|verb|adjective|adverb] {excluded phrases}``;
- a rule ``NAME -> B1:f1[,f2...] B2:g ... [prior]``: every right-hand symbol carries a
  composition of transformation functions, and the rule an optional prior probability in the
  base distribution;
- a terminal rule ``NAME -> "one or more words"``.

A lexicon is a list of ``parse(NONTERMINAL, [tokens], LF).`` items; a data set a list of
``parse([tokens], LF).`` records. Errors name the file, the line and what was expected; unknown
transformation and feature names are refused with the list of known ones.

References:
    ``hdp_grammar_io.h`` of github.com/asaparov/grammar and ``english.gram`` of
    github.com/asaparov/parser (Saparov et al., CoNLL 2017, §3-4).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from grammar.logic import LF, Atom, List, Num, Term, Var, parse_records, to_text

__all__ = ["BaseSpec", "Nonterminal", "Symbol", "Rule", "TerminalRule", "Grammar", "LexiconItem",
           "Example", "parse_grammar", "read_grammar", "parse_lexicon", "read_lexicon",
           "parse_examples", "read_examples", "KINDS", "DATA_DIR"]

KINDS = ("nonterminal", "preterminal", "number_preterminal", "string_preterminal")
DATA_DIR = Path(__file__).resolve().parent / "data"
"""The bundled data: ``english.gram``, ``lexicon`` and ``geoquery/``."""


@dataclass(frozen=True)
class BaseSpec:
    """Base distribution of a nonterminal's rules (``rule_list_prior<terminal_prior<...>>``)."""

    excluded_tokens: tuple[str, ...]
    atom_count: int
    end_probability: float
    part_of_speech: str | None
    excluded_phrases: tuple[str, ...]


@dataclass(frozen=True)
class Nonterminal:
    """A declared (pre)terminal: its features, Gamma priors per HDP level and base spec."""

    name: str
    kind: str
    features: tuple[str, ...]
    alpha_shape: tuple[float, ...]
    alpha_rate: tuple[float, ...]
    base: BaseSpec
    line: int


@dataclass(frozen=True)
class Symbol:
    """A right-hand-side symbol with its composition of transformation functions."""

    nonterminal: str
    functions: tuple[str, ...]


@dataclass(frozen=True)
class Rule:
    """A rule with nonterminal right-hand side; ``prior`` is the optional base probability."""

    lhs: str
    rhs: tuple[Symbol, ...]
    prior: float | None
    line: int


@dataclass(frozen=True)
class TerminalRule:
    """A terminal rule ``lhs -> "tokens"``."""

    lhs: str
    tokens: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class Grammar:
    """A parsed grammar file."""

    nonterminals: dict[str, Nonterminal]
    rules: tuple[Rule, ...]
    terminal_rules: tuple[TerminalRule, ...]
    source: str

    def count(self, kind: str) -> int:
        """Number of declared symbols of ``kind`` (one of :data:`KINDS`)."""
        if kind not in KINDS:
            raise ValueError(f"kind: expected one of {KINDS}, got {kind!r}")
        return sum(n.kind == kind for n in self.nonterminals.values())

    @property
    def function_names(self) -> frozenset[str]:
        """Every transformation-function name used by a rule."""
        return frozenset(f for r in self.rules for s in r.rhs for f in s.functions)

    @property
    def feature_names(self) -> frozenset[str]:
        """Every feature name declared by a nonterminal."""
        return frozenset(f for n in self.nonterminals.values() for f in n.features)

    def rules_of(self, lhs: str) -> tuple[Rule | TerminalRule, ...]:
        """All rules (nonterminal and terminal) with left-hand side ``lhs``."""
        return tuple(r for r in self.rules + self.terminal_rules if r.lhs == lhs)


_NAME = r"[A-Za-z_][A-Za-z0-9_']*"
_BRACES = re.compile(r"\{([^{}]*)\}")


def _fail(source: str, line: int, msg: str) -> ValueError:
    return ValueError(f"{source}:{line}: {msg}")


def _strip_comment(raw: str) -> str:
    out, quoted = [], False
    for ch in raw:
        if ch == '"':
            quoted = not quoted
        if ch == "#" and not quoted:
            break
        out.append(ch)
    return "".join(out).strip()


def _numbers(text: str, source: str, line: int, what: str) -> tuple[float, ...]:
    items = [x.strip() for x in text.split(",") if x.strip()]
    try:
        return tuple(float(x) for x in items)
    except ValueError:
        raise _fail(source, line, f"expected numbers in the {what} list, got {{{text}}}") from None


def _strings(text: str, source: str, line: int) -> tuple[str, ...]:
    items = [x.strip() for x in re.findall(r'"[^"]*"|[^,]+', text) if x.strip()]
    if not all(x.startswith('"') and x.endswith('"') and len(x) >= 2 for x in items):
        raise _fail(source, line, f"expected a list of quoted strings, got {{{text}}}")
    return tuple(x[1:-1] for x in items)


def _declaration(text: str, source: str, line: int) -> Nonterminal:
    m = re.fullmatch(rf"({_NAME})\s+({'|'.join(KINDS)})\s+(.*)", text, flags=re.S)
    if m is None:
        raise _fail(source, line, f"expected 'NAME {'|'.join(KINDS)} {{features}} ...', "
                                  f"got {text!r}")
    name, kind, rest = m.groups()
    lists = []
    for _ in range(3):
        b = _BRACES.match(rest)
        if b is None:
            raise _fail(source, line, f"{name}: expected a {{...}} list (features, Gamma shapes, "
                                      f"Gamma rates), got {rest[:40]!r}")
        lists.append(b.group(1))
        rest = rest[b.end():].lstrip()
    features = tuple(x.strip() for x in lists[0].split(",") if x.strip())
    shape = _numbers(lists[1], source, line, "Gamma shape")
    rate = _numbers(lists[2], source, line, "Gamma rate")
    if len(shape) != len(features) + 1 or len(rate) != len(features) + 1:
        raise _fail(source, line, f"{name}: expected {len(features) + 1} Gamma shapes and rates "
                                  f"(features + 1), got {len(shape)} and {len(rate)}")
    b = re.fullmatch(r"\{([^{}]*)\}\s*(\S+)\s+(\S+)\s*(noun|verb|adjective|adverb)?\s*"
                     r"\{([^{}]*)\}", rest)
    if b is None:
        raise _fail(source, line, f"{name}: expected the base distribution '{{excluded tokens}} "
                                  f"atom_count end_probability [part of speech] {{excluded "
                                  f"phrases}}', got {rest!r}")
    try:
        atoms, end = int(b.group(2)), float(b.group(3))
    except ValueError:
        raise _fail(source, line, f"{name}: expected an integer atom count and a float end "
                                  f"probability, got {b.group(2)!r} {b.group(3)!r}") from None
    base = BaseSpec(_strings(b.group(1), source, line), atoms, end, b.group(4),
                    _strings(b.group(5), source, line))
    return Nonterminal(name, kind, features, shape, rate, base, line)


def _rule(text: str, source: str, line: int) -> Rule | TerminalRule:
    lhs, _, rhs = (p.strip() for p in text.partition("->"))
    if not re.fullmatch(_NAME, lhs):
        raise _fail(source, line, f"expected a nonterminal name before '->', got {lhs!r}")
    if rhs.startswith('"'):
        m = re.fullmatch(r'"([^"]+)"', rhs)
        if m is None:
            raise _fail(source, line, f"expected one quoted terminal string, got {rhs!r}")
        return TerminalRule(lhs, tuple(m.group(1).split()), line)
    parts = rhs.split()
    prior = None
    if parts and re.fullmatch(r"[0-9.eE+-]+", parts[-1]):
        prior = float(parts.pop())
    if not parts:
        raise _fail(source, line, f"{lhs}: expected right-hand symbols 'NAME:function'")
    symbols = []
    for p in parts:
        m = re.fullmatch(rf"({_NAME}):({_NAME}(?:,{_NAME})*)", p)
        if m is None:
            raise _fail(source, line, f"expected 'NAME:function[,function...]', got {p!r}")
        symbols.append(Symbol(m.group(1), tuple(m.group(2).split(","))))
    return Rule(lhs, tuple(symbols), prior, line)


def parse_grammar(text: str, *, source: str = "<string>", functions=None,
                  features=None) -> Grammar:
    """Parses grammar text and resolves every name.

    Args:
        text: the grammar file contents.
        source: the file name used in errors.
        functions: known transformation-function names (default: every semantic and syntactic
            function, :data:`grammar.transforms_syntax.SYNTAX_FUNCTIONS`).
        features: known feature names (default: :data:`grammar.features.FEATURES` plus the
            syntactic ``number`` and ``inflection``).

    Returns:
        The :class:`Grammar`.

    Raises:
        ValueError: ``source:line: ...`` for malformed lines, undeclared symbols, terminal rules of
            non-preterminals, or unknown function / feature names (listing the known ones).
    """
    if functions is None:
        from grammar.transforms_syntax import SYNTAX_FUNCTIONS as functions
    if features is None:
        from grammar.features import FEATURES
        from grammar.transforms_syntax import ROOT_FEATURES
        features = set(FEATURES) | set(ROOT_FEATURES)
    decls: dict[str, Nonterminal] = {}
    rules: list[Rule] = []
    terms: list[TerminalRule] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = _strip_comment(raw)
        if not line:
            continue
        if "->" in line and not re.match(rf"{_NAME}\s+({'|'.join(KINDS)})\b", line):
            r = _rule(line, source, lineno)
            (terms if isinstance(r, TerminalRule) else rules).append(r)
        else:
            d = _declaration(line, source, lineno)
            if d.name in decls:
                raise _fail(source, lineno, f"{d.name} declared twice (first on line "
                                            f"{decls[d.name].line})")
            decls[d.name] = d
    for d in decls.values():
        for f in d.features:
            if f not in features:
                raise _fail(source, d.line, f"{d.name}: unknown feature {f!r}; known features: "
                                            f"{', '.join(sorted(features))}")
    for r in rules:
        if r.lhs not in decls:
            raise _fail(source, r.line, f"undeclared nonterminal {r.lhs!r}")
        for s in r.rhs:
            if s.nonterminal not in decls:
                raise _fail(source, r.line, f"undeclared symbol {s.nonterminal!r}")
            for f in s.functions:
                if f not in functions:
                    raise _fail(source, r.line, f"unknown transformation function {f!r}; known "
                                                f"functions: {', '.join(sorted(functions))}")
    for t in terms:
        if t.lhs not in decls or decls[t.lhs].kind == "nonterminal":
            raise _fail(source, t.line, f"terminal rule for {t.lhs!r}, which is not a declared "
                                        f"preterminal")
    return Grammar(decls, tuple(rules), tuple(terms), source)


def read_grammar(path: str | Path = DATA_DIR / "english.gram", **kwargs) -> Grammar:
    """Reads a grammar file (default: the bundled ``english.gram``); see :func:`parse_grammar`."""
    path = Path(path)
    return parse_grammar(path.read_text(), source=str(path), **kwargs)


@dataclass(frozen=True)
class LexiconItem:
    """``parse(NONTERMINAL, [tokens], LF).``"""

    nonterminal: str
    tokens: tuple[str, ...]
    lf: LF
    line: int


@dataclass(frozen=True)
class Example:
    """``parse([tokens], LF).``: a sentence with its logical form."""

    tokens: tuple[str, ...]
    lf: LF
    line: int


def _records(text: str, source: str):
    """Yields (line number, record) for one-record-per-line files (comments allowed)."""
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("%"):
            continue
        try:
            recs = parse_records(line, source=f"{source}:{lineno}")
        except ValueError as err:
            raise ValueError(str(err).replace(f"{source}:{lineno}:1:",
                                              f"{source}:{lineno}:")) from None
        for rec in recs:
            yield lineno, rec


def _tokens(x: LF, source: str, line: int) -> tuple[str, ...]:
    if not isinstance(x, List) or not all(isinstance(t, Atom | Num) for t in x.items):
        raise _fail(source, line, f"expected a token list [w1,w2,...], got {to_text(x)}")
    return tuple(t.name if isinstance(t, Atom) else to_text(t) for t in x.items)


def parse_lexicon(text: str, *, source: str = "<string>", grammar: Grammar | None = None
                  ) -> list[LexiconItem]:
    """Parses ``parse(NONTERMINAL, [tokens], LF).`` lines.

    Raises:
        ValueError: ``source:line: ...`` for malformed items or (given ``grammar``) undeclared
            nonterminals.
    """
    items = []
    for lineno, rec in _records(text, source):
        if not (isinstance(rec, Term) and rec.functor == "parse" and len(rec.args) == 3
                and isinstance(rec.args[0], Var | Atom)):
            raise _fail(source, lineno, f"expected parse(NONTERMINAL, [tokens], LF), "
                                        f"got {to_text(rec)}")
        name = rec.args[0].name
        if grammar is not None and name not in grammar.nonterminals:
            raise _fail(source, lineno, f"undeclared nonterminal {name!r} in lexicon item")
        items.append(LexiconItem(name, _tokens(rec.args[1], source, lineno), rec.args[2], lineno))
    return items


def read_lexicon(path: str | Path, *, grammar: Grammar | None = None) -> list[LexiconItem]:
    """Reads a lexicon file; see :func:`parse_lexicon`."""
    path = Path(path)
    return parse_lexicon(path.read_text(), source=str(path), grammar=grammar)


def parse_examples(text: str, *, source: str = "<string>") -> list[Example]:
    """Parses ``parse([tokens], LF).`` records (GeoQuery/Jobs data files).

    Raises:
        ValueError: ``source:line: ...`` for malformed records.
    """
    out = []
    for lineno, rec in _records(text, source):
        if not (isinstance(rec, Term) and rec.functor == "parse" and len(rec.args) == 2):
            raise _fail(source, lineno, f"expected parse([tokens], LF), got {to_text(rec)[:60]}")
        out.append(Example(_tokens(rec.args[0], source, lineno), rec.args[1], lineno))
    return out


def read_examples(path: str | Path) -> list[Example]:
    """Reads a data file such as ``grammar/data/geoquery/geoqueries880``."""
    path = Path(path)
    return parse_examples(path.read_text(), source=str(path))
