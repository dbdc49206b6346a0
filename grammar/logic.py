"""Datalog logical forms (GeoQuery/Jobs Prolog style): a hash-consed AST, a lark parser, a printer.

A logical form (LF) is a Prolog-style goal such as
``answer(A,(state(A),next_to(A,B),const(B,stateid('new mexico'))))``. The AST is immutable and
*hash-consed*: structurally equal LFs are the same Python object, so equality is ``is`` and hashing
is O(1) after construction (the hash of a node is computed once from its children's hashes).

Node types: :class:`Var` (``A``, ``B1``, ``_Foo``), :class:`Anon` (``_``), :class:`Atom` (``texas``,
``'new mexico'``), :class:`Num` (``150000``, ``2.5``), :class:`Str` (``"text"``), :class:`Term`
(``loc(A,B)``, ``largest(A,(...))``; ``river()`` is a predicate whose arguments were deleted by a
transformation), :class:`Conj` (``(a,b,c)``; ``()`` is the empty tuple used by
the lexicon, e.g. ``highest(A,())``), :class:`Disj` (``(a;b)``), :class:`Not` (``\\+ g``) and
:class:`List` (``[a,b]``, used by ``parse([tokens], LF).`` records).

Example:
    >>> lf = parse("answer(A,(state(A),next_to(A,B),const(B,stateid('new mexico'))))")
    >>> to_text(lf)
    "answer(A,(state(A),next_to(A,B),const(B,stateid('new mexico'))))"
    >>> lf is parse(to_text(lf))
    True

References:
    Saparov, Saraswat & Mitchell, "A Probabilistic Generative Grammar for Semantic Parsing",
    CoNLL 2017 (the LF language of §3 and the official ``datalog.h`` of github.com/asaparov/parser,
    whose ``datalog_expression`` this AST mirrors; ours keeps the Prolog surface syntax exactly).
"""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Iterator

import lark

__all__ = [
    "LF", "Var", "Anon", "Atom", "Num", "Str", "Term", "Conj", "Disj", "Not", "List", "Empty",
    "parse", "parse_records", "to_text", "variables", "walk", "MAX_DEPTH",
]

MAX_DEPTH = 200
"""Deepest nesting the parser accepts (deeper input raises ``ValueError``, not RecursionError)."""

# Hash-consing table: a cache (weak values), so it holds no state a user can observe except
# object identity of equal LFs, which is the point.
_TABLE: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_LOCK = threading.Lock()
_PLAIN_ATOM = re.compile(r"(?:[a-z][A-Za-z0-9_]*|[?!])\Z")


class LF:
    """Base class of all logical-form nodes (immutable, hash-consed; ``==`` is ``is``)."""

    __slots__ = ("_hash", "depth", "__weakref__")
    _fields: tuple[str, ...] = ()

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other):
        return self is other

    def __hash__(self):
        return self._hash

    def __reduce__(self):
        return (type(self), tuple(getattr(self, f) for f in self._fields))

    def __repr__(self):
        return f"{type(self).__name__}({to_text(self)!r})"

    def __str__(self):
        return to_text(self)

    @property
    def children(self) -> tuple[LF, ...]:
        """Direct sub-LFs (arguments, conjuncts, negated goal, list items)."""
        return ()


def _intern(cls, values: tuple, depth: int = 1):
    key = (cls, *values)
    obj = _TABLE.get(key)
    if obj is not None:
        return obj
    with _LOCK:  # two threads must not create two copies of one LF
        obj = _TABLE.get(key)
        if obj is None:
            obj = object.__new__(cls)
            for name, value in zip(cls._fields, values, strict=True):
                object.__setattr__(obj, name, value)
            object.__setattr__(obj, "_hash", hash(key))
            object.__setattr__(obj, "depth", depth)
            _TABLE[key] = obj
    return obj


def _check_children(what: str, items) -> tuple[LF, ...]:
    items = tuple(items)
    for x in items:
        if not isinstance(x, LF):
            raise TypeError(f"{what}: expected LF children, got {type(x).__name__}")
    return items


class Var(LF):
    """A variable (``A``, ``B1``, ``_X``); named by its text."""

    __slots__ = ("name",)
    _fields = ("name",)

    def __new__(cls, name: str):
        if (not isinstance(name, str) or name == "_"
                or not re.fullmatch(r"[A-Z_][A-Za-z0-9_]*", name)):
            raise ValueError(f"Var name: expected an upper-case or _-prefixed identifier, "
                             f"got {name!r}")
        return _intern(cls, (name,))


class Anon(LF):
    """The anonymous variable ``_`` (every occurrence is a distinct fresh variable)."""

    __slots__ = ()

    def __new__(cls):
        return _intern(cls, ())


class Atom(LF):
    """An atom such as ``texas`` or ``'new mexico'``; ``quoted`` records source quotes."""

    __slots__ = ("name", "quoted")
    _fields = ("name", "quoted")

    def __new__(cls, name: str, quoted: bool | None = None):
        if not isinstance(name, str):
            raise TypeError(f"Atom name: expected str, got {type(name).__name__}")
        needs = _PLAIN_ATOM.match(name) is None
        quoted = needs if quoted is None else (bool(quoted) or needs)
        return _intern(cls, (name, quoted))


class Num(LF):
    """A number constant (``int`` or ``float``)."""

    __slots__ = ("value",)
    _fields = ("value",)

    def __new__(cls, value: int | float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"Num value: expected int or float, got {type(value).__name__}")
        return _intern(cls, (value,))


class Str(LF):
    """A double-quoted string constant."""

    __slots__ = ("value",)
    _fields = ("value",)

    def __new__(cls, value: str):
        if not isinstance(value, str):
            raise TypeError(f"Str value: expected str, got {type(value).__name__}")
        return _intern(cls, (value,))


class Term(LF):
    """A compound term ``functor(args...)``: a predicate, a constant constructor or a function."""

    __slots__ = ("functor", "args")
    _fields = ("functor", "args")

    def __new__(cls, functor: str, args=()):
        if not isinstance(functor, str) or not functor:
            raise ValueError(f"Term functor: expected a non-empty str, got {functor!r}")
        args = _check_children("Term args", args)
        return _intern(cls, (functor, args), 1 + max((a.depth for a in args), default=0))

    @property
    def children(self):
        return self.args


class _Seq(LF):
    __slots__ = ("items",)
    _fields = ("items",)

    def __new__(cls, items=()):
        items = _check_children(f"{cls.__name__} items", items)
        return _intern(cls, (items,), 1 + max((a.depth for a in items), default=0))

    @property
    def children(self):
        return self.items


class Conj(_Seq):
    """A conjunction / tuple ``(a,b,...)``; ``Conj(())`` is the empty tuple ``()``."""

    __slots__ = ()


class Disj(_Seq):
    """A disjunction ``(a;b;...)``."""

    __slots__ = ()


class List(_Seq):
    """A list ``[a,b,...]`` (only used by data records, e.g. the token list of ``parse/2``)."""

    __slots__ = ()


class Empty(LF):
    """An absent value (printed ``$empty``): the LF of a constituent that carries no meaning
    (transformation ``null``) and a deleted predicate argument. Never produced by :func:`parse`."""

    __slots__ = ()

    def __new__(cls):
        return _intern(cls, ())


class Not(LF):
    """Negation as failure ``\\+ goal``."""

    __slots__ = ("body",)
    _fields = ("body",)

    def __new__(cls, body: LF):
        (body,) = _check_children("Not body", (body,))
        return _intern(cls, (body,), 1 + body.depth)

    @property
    def children(self):
        return (self.body,)


# ----------------------------------------------------------------------------------- printing

def _atom_text(name: str, quoted: bool) -> str:
    if not quoted:
        return name
    return "'" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"


def to_text(lf: LF) -> str:
    """Prints an LF in the Prolog surface syntax (no spaces except after ``\\+``).

    Args:
        lf: the logical form.

    Returns:
        The text; ``parse(to_text(lf)) is lf`` for every LF built by :func:`parse`.
    """
    if isinstance(lf, Var):
        return lf.name
    if isinstance(lf, Anon):
        return "_"
    if isinstance(lf, Atom):
        return _atom_text(lf.name, lf.quoted)
    if isinstance(lf, Num):
        return repr(lf.value)
    if isinstance(lf, Str):
        return '"' + lf.value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(lf, Term):
        head = lf.functor if _PLAIN_ATOM.match(lf.functor) else _atom_text(lf.functor, True)
        return head + "(" + ",".join(to_text(a) for a in lf.args) + ")"
    if isinstance(lf, Conj):
        return "(" + ",".join(to_text(a) for a in lf.items) + ")"
    if isinstance(lf, Disj):
        return "(" + ";".join(to_text(a) for a in lf.items) + ")"
    if isinstance(lf, List):
        return "[" + ",".join(to_text(a) for a in lf.items) + "]"
    if isinstance(lf, Not):
        return "\\+ " + to_text(lf.body)
    if isinstance(lf, Empty):
        return "$empty"
    text = getattr(lf, "_text", None)
    if text is not None:
        return text()
    raise TypeError(f"to_text: expected an LF, got {type(lf).__name__}")


def walk(lf: LF) -> Iterator[LF]:
    """Yields every node of ``lf`` in prefix order (iteratively)."""
    stack = [lf]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node.children))


def variables(lf: LF) -> tuple[Var, ...]:
    """The distinct named variables of ``lf`` in prefix (first-occurrence) order."""
    seen: dict[Var, None] = {}
    for node in walk(lf):
        if isinstance(node, Var):
            seen.setdefault(node, None)
    return tuple(seen)


# ------------------------------------------------------------------------------------ parsing

_GRAMMAR = r"""
?expr: disj
?disj: conj (";" conj)*            -> disj
?conj: unary ("," unary)*          -> conj
?unary: NEG unary                  -> neg
      | primary
?primary: "(" ")"                  -> empty
        | "(" expr ")"             -> paren
        | "[" "]"                  -> empty_list
        | "[" unary ("," unary)* "]" -> list
        | name "(" unary ("," unary)* ")" -> term
        | name "(" ")"             -> term
        | name
        | VAR                      -> var
        | NUMBER                   -> num
        | STRING                   -> string
?name: ATOM                        -> atom
     | QATOM                       -> qatom
records: (expr ".")*

NEG: "\\+"
VAR: /[A-Z_][A-Za-z0-9_]*/
ATOM: /[a-z][A-Za-z0-9_]*/ | /[?!]/
QATOM: /'(?:[^'\\\n]|\\.|'')*'/
NUMBER: /-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?/
STRING: /"(?:[^"\\\n]|\\.)*"/
COMMENT: /%[^\n]*/ | /\/\*(.|\n)*?\*\//
%import common.WS
%ignore WS
%ignore COMMENT
"""


def _unquote(text: str) -> str:
    body = text[1:-1].replace("''", "'")
    return re.sub(r"\\(.)", r"\1", body)


def _guard(node: LF) -> LF:
    if node.depth > MAX_DEPTH:
        raise ValueError(f"logical form nested deeper than MAX_DEPTH={MAX_DEPTH}")
    return node


class _Build(lark.Transformer):
    def disj(self, items):
        return items[0] if len(items) == 1 else _guard(Disj(items))

    def conj(self, items):
        return items[0] if len(items) == 1 else _guard(Conj(items))

    def neg(self, items):
        return _guard(Not(items[1]))

    def empty(self, _):
        return Conj(())

    def paren(self, items):
        return items[0]

    def empty_list(self, _):
        return List(())

    def list(self, items):
        return _guard(List(items))

    def term(self, items):
        head, *args = items
        return _guard(Term(head.name, tuple(a for a in args if isinstance(a, LF))))

    def atom(self, items):
        return Atom(str(items[0]), False)

    def qatom(self, items):
        return Atom(_unquote(str(items[0])), True)

    def var(self, items):
        text = str(items[0])
        return Anon() if text == "_" else Var(text)

    def num(self, items):
        text = str(items[0])
        if re.fullmatch(r"-?[0-9]+", text):
            return Num(int(text))
        return Num(float(text))

    def string(self, items):
        return Str(_unquote(str(items[0])))

    def records(self, items):
        return items


_PARSER = lark.Lark(_GRAMMAR, start=["expr", "records"], parser="lalr", transformer=_Build(),
                    propagate_positions=False, maybe_placeholders=False)


_TOKEN_NAMES = {"LPAR": "'('", "RPAR": "')'", "LSQB": "'['", "RSQB": "']'", "COMMA": "','",
                "SEMICOLON": "';'", "DOT": "'.'", "NEG": "'\\+'", "VAR": "variable",
                "ATOM": "atom", "QATOM": "quoted atom", "NUMBER": "number", "STRING": "string",
                "$END": "end of input"}


def _run(text: str, start: str, source: str):
    if not isinstance(text, str):
        raise TypeError(f"text: expected str, got {type(text).__name__}")
    try:
        return _PARSER.parse(text, start=start)
    except lark.exceptions.UnexpectedInput as err:
        line, col = getattr(err, "line", -1), getattr(err, "column", -1)
        expected = sorted(_TOKEN_NAMES.get(t, t) for t in
                          (getattr(err, "expected", None) or getattr(err, "allowed", None) or []))
        what = f"; expected one of {', '.join(expected)}" if expected else ""
        got = getattr(err, "token", None)
        if got is not None and getattr(got, "type", "") == "$END":
            got = " end of input"
            line, col = text.count("\n") + 1, len(text) - text.rfind("\n")
        elif got is not None:
            got = f" {str(got)!r}"
        elif getattr(err, "char", None) is not None:
            got = f" character {err.char!r}"
        else:
            got = ""
        raise ValueError(f"{source}:{line}:{col}: invalid logical form: unexpected"
                         f"{got or ' character'}{what}") from None
    except lark.exceptions.VisitError as err:  # raised by a transformer callback
        raise ValueError(f"{source}: {err.orig_exc}") from None
    except ValueError as err:  # raised by a transformer callback (depth guard)
        raise ValueError(f"{source}: {err}") from None
    except RecursionError:
        raise ValueError(f"{source}: logical form nested too deeply") from None


def parse(text: str, *, source: str = "<string>") -> LF:
    """Parses one logical form.

    Args:
        text: Prolog-style text such as ``"answer(A,(river(A),loc(A,B)))"``.
        source: a name used in error messages (e.g. the file name).

    Returns:
        The hash-consed LF.

    Raises:
        ValueError: malformed input, with ``source:line:column`` and the expected tokens.
        TypeError: ``text`` is not a string.

    Example:
        >>> parse("\\\\+ (loc(A,B),river(A))").body.items[1]
        Term('river(A)')
    """
    return _run(text, "expr", source)


def parse_records(text: str, *, source: str = "<string>") -> list[LF]:
    """Parses a sequence of ``term.`` records (``%`` and ``/* */`` comments are skipped).

    Raises:
        ValueError: malformed input, with ``source:line:column``.
    """
    return _run(text, "records", source)
