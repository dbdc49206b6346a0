"""Semantic feature functions: discrete keys of a logical form (or LF set) for the rule HDPs.

Each nonterminal of ``english.gram`` declares an ordered feature list; the HDP path of a node
labelled with LF ``x`` is ``(phi_1(x), ..., phi_F(x))``. A feature maps

- a concrete LF to a value (a string: a predicate or function name, a constant, a direction, an
  arity, ``EMPTY`` for "none"),
- an LF *set* (a pattern, see :mod:`grammar.transforms_sets`) to a value when every member agrees,
  or to a :class:`Wildcard` (possibly with excluded values) when they do not,
- ``None`` when the feature is undefined for the LF (the official code returns false there, which
  rules the LF out for that nonterminal). Deviation: where the official code returns false for an
  LF *set* only to prune the parser's search (a conjunction known only from the right, an unknown
  function that may be ``answer``), we return a :class:`Wildcard`, so that the value of a set
  always covers the values of its members.

Values follow ``get_feature`` of the official code: ``function``/``function_only``/
``function_answer``; ``has_function`` (``"true"``), ``has_function_not`` (``"not"``),
``has_function_count_not`` (``"count"``/``"not"``), ``has_function_answer``; ``predicate``,
``predicate_only``, ``first/second/third_predicate``, ``last_predicate``; ``direction`` and
``direction_root`` (``forward``, ``backward``, ``both``, ``self``, ``none``, and for the root
variant ``predicate``/``constant``); ``constant``; ``arity`` (``0``-``3``, ``null`` for a
conjunction);
``arg1..3`` and ``arg1_only..arg3_only`` (the constant or functor in that argument, ``other`` for a
non-predicate); ``arg2_arity``. The syntactic features ``number`` and ``inflection`` read the
attributes of a :class:`~grammar.transforms_syntax.Root` (see
:func:`grammar.transforms_syntax.root_feature`).

References:
    ``get_feature`` and helpers (``get_function``, ``has_function``, ``get_predicate``,
    ``get_direction``, ``get_constant``, ``get_predicate_arity``, ``get_arg_constant``) in
    ``datalog.h`` of github.com/asaparov/parser.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from grammar.logic import LF, Atom, Conj, Empty, Not, Num, Str, Term, Var
from grammar.logic_canonical import function_body, is_function
from grammar.transforms_sets import Any, AnyFunction, AnyPred, Seq, is_free

__all__ = ["Wildcard", "EMPTY", "FEATURES", "feature", "features", "Value"]

EMPTY = "<empty>"
"""The value of a feature that finds nothing (no function, no second conjunct, ...)."""


@dataclass(frozen=True)
class Wildcard:
    """An unknown feature value (the LF set has members with different values), minus
    ``excluded`` values."""

    excluded: frozenset[str] = frozenset()


Value = str | Wildcard | None
_W = Wildcard()


def _fn_parts(x: LF):
    if isinstance(x, Not):
        return "not", x.body
    if is_function(x):
        return x.functor, function_body(x)[1]
    return None


def _function(x: LF, higher_order_only: bool = False) -> Value:
    if isinstance(x, Any):
        return _W
    if isinstance(x, AnyFunction):
        return Wildcard(frozenset(x.excluded))
    if isinstance(x, Seq):
        return _W if not x.prefix and not x.suffix and not x.exact else EMPTY
    f = _fn_parts(x)
    if f is not None:
        if higher_order_only and (isinstance(f[1], Term | AnyPred) and not is_function(f[1])
                                  or isinstance(f[1], Conj) and f[1].items):
            return None
        return f[0]
    if isinstance(x, Term | AnyPred | Empty | Conj):
        return EMPTY
    return None


def _function_answer(x: LF) -> Value:
    if isinstance(x, Any) or isinstance(x, AnyFunction) and "answer" not in x.excluded:
        return _W
    if isinstance(x, Term) and x.functor == "answer" and is_function(x):
        return _function(function_body(x)[1])
    return None


def _has_function(x: LF, named: tuple[str, ...] = ()) -> Value:
    if isinstance(x, Any):
        return _W
    if isinstance(x, AnyFunction):
        return "true" if set(named) <= set(x.excluded) else _W
    if isinstance(x, Seq):
        return _W if not x.prefix and not x.suffix and not x.exact else EMPTY
    f = _fn_parts(x)
    if f is not None:
        return f[0] if f[0] in named else "true"
    if isinstance(x, Term | AnyPred | Empty | Conj):
        return EMPTY
    return None


def _has_function_answer(x: LF) -> Value:
    if isinstance(x, Any) or isinstance(x, AnyFunction) and "answer" not in x.excluded:
        return _W
    if isinstance(x, Term) and x.functor == "answer" and is_function(x):
        return _has_function(function_body(x)[1])
    return None


def _term_predicate(x: LF) -> Value:
    if isinstance(x, Any | AnyPred | AnyFunction):
        return _W if not getattr(x, "excluded", ()) else Wildcard(frozenset(x.excluded))
    if isinstance(x, Term):
        return x.functor
    if isinstance(x, Not):
        return "not"
    return None


def _predicate(i: int, preterminal: bool, allow_function: bool, from_right: bool = False
               ) -> Callable[[LF], Value]:
    def get(x: LF) -> Value:
        if isinstance(x, Any):
            return _W
        if isinstance(x, AnyFunction | Not) or is_function(x):
            if not allow_function:
                return None
            body = x.body if isinstance(x, AnyFunction | Not) else function_body(x)[1]
            return get(body)
        if isinstance(x, Seq | Conj):
            if isinstance(x, Conj) or x.exact:
                known = x.items if isinstance(x, Conj) else x.prefix
                exact = True
            else:
                known = x.suffix if from_right else x.prefix
                exact = False
            if preterminal and len(known) > 1:
                return None
            seq = tuple(reversed(known)) if from_right else known
            if i < len(seq):
                return _term_predicate(seq[i])
            return EMPTY if exact else _W
        if isinstance(x, Term | AnyPred):
            return _term_predicate(x) if i == 0 else EMPTY
        if isinstance(x, Str):
            return "string"
        if isinstance(x, Empty):
            return EMPTY
        return None

    return get


def _direction(preterminal: bool) -> Callable[[LF], Value]:
    def get(x: LF) -> Value:
        if isinstance(x, Any):
            return _W
        if isinstance(x, Empty):
            return EMPTY
        if isinstance(x, AnyFunction | Not) or is_function(x):
            return get(x.body if isinstance(x, AnyFunction | Not) else function_body(x)[1])
        if isinstance(x, Conj | Seq):
            items = x.items if isinstance(x, Conj) else x.prefix
            if not items:
                return EMPTY if isinstance(x, Conj) or x.exact else _W
            return get(items[0])
        if not isinstance(x, Term | AnyPred):
            return None
        args = x.args + (Empty(),) * (3 - len(x.args))
        if not isinstance(args[2], Empty | Any):
            return None
        a0, a1 = args[0], args[1]
        if isinstance(a0, Empty):
            return "none"
        if isinstance(a0, Any):
            if not isinstance(a1, Empty):
                return _W
            # a possibly-empty first argument: "none" or "self"
            return "self" if a0.nonempty else Wildcard(frozenset(
                {"forward", "backward", "both", "predicate", "constant", EMPTY}))
        if not isinstance(a0, Var):
            return None
        if isinstance(a1, Empty):
            return "self"
        if isinstance(a1, Any):
            return _W
        if not preterminal and isinstance(a1, Term):
            return "predicate"
        if not preterminal and isinstance(a1, Atom):
            return "constant"
        if not isinstance(a1, Var):
            return None
        if is_free(a0) or is_free(a1):  # the order of a free pattern variable is unknown
            return "both" if a0 is a1 else Wildcard(frozenset({"both"}))
        k0, k1 = (len(a0.name), a0.name), (len(a1.name), a1.name)
        return "forward" if k0 < k1 else "backward" if k0 > k1 else "both"

    return get


def _constant(constant_only: bool) -> Callable[[LF], Value]:
    def get(x: LF) -> Value:
        if isinstance(x, Any):
            return _W
        if isinstance(x, Atom):
            return x.name
        if constant_only:
            return None
        if isinstance(x, Term | AnyPred):
            return _term_predicate(x)
        if isinstance(x, Str) and x.value:
            return "string"
        return EMPTY

    return get


def _arity(x: LF) -> Value:
    if isinstance(x, Any):
        return _W
    if isinstance(x, Empty):
        return EMPTY
    if isinstance(x, Conj | Seq):
        items = x.items if isinstance(x, Conj) else x.prefix + x.suffix
        exact = isinstance(x, Conj) or x.exact
        if len(items) > 1:
            return "null"
        if not items:
            return EMPTY if exact else _W
        return _arity(items[0]) if exact else _W
    if isinstance(x, Term | AnyPred) and not is_function(x):
        args = list(x.args)
        lo = len(args)
        while lo and isinstance(args[lo - 1], Empty | Any) and not (
                isinstance(args[lo - 1], Any) and args[lo - 1].nonempty):
            lo -= 1
        hi = len(args)
        while hi > lo and isinstance(args[hi - 1], Empty):
            hi -= 1
        if lo == hi:
            return str(lo)
        return Wildcard(frozenset({"null"} | {str(n) for n in range(4) if not lo <= n <= hi}))
    return None


def _arg(i: int, constant_only: bool, arity: bool = False) -> Callable[[LF], Value]:
    const = _constant(constant_only)

    def get(x: LF) -> Value:
        if isinstance(x, Any):
            return _W
        if isinstance(x, Seq) and not x.exact and (constant_only or not x.prefix):
            return _W  # could be a single predicate or start with anything
        if constant_only and isinstance(x, Seq) and len(x.prefix) == 1:
            return get(x.prefix[0])  # an exact one-conjunct list may be a single predicate
        if not constant_only and isinstance(x, Conj | Seq):
            items = x.items if isinstance(x, Conj) else x.prefix
            if not items:
                return "other" if isinstance(x, Conj) or x.exact else _W
            return get(items[0])
        if not isinstance(x, Term | AnyPred) or is_function(x):
            return None if constant_only and not arity else "other"
        args = x.args + (Empty(),) * (3 - len(x.args))
        if isinstance(args[i], Empty):
            return EMPTY
        return _arity(args[i]) if arity else const(args[i])

    return get


FEATURES: dict[str, Callable[[LF], Value]] = {
    "function": lambda x: _function(x),
    "function_only": lambda x: _function(x, higher_order_only=True),
    "function_answer": _function_answer,
    "has_function": lambda x: _has_function(x),
    "has_function_not": lambda x: _has_function(x, ("not",)),
    "has_function_count_not": lambda x: _has_function(x, ("count", "not")),
    "has_function_answer": _has_function_answer,
    "predicate": _predicate(0, True, True),
    "predicate_only": _predicate(0, True, False),
    "first_predicate": _predicate(0, False, True),
    "second_predicate": _predicate(1, False, True),
    "third_predicate": _predicate(2, False, True),
    "last_predicate": _predicate(0, False, True, from_right=True),
    "direction": _direction(True),
    "direction_root": _direction(False),
    "constant": _constant(True),
    "arity": _arity,
    "arg1": _arg(0, False),
    "arg2": _arg(1, False),
    "arg3": _arg(2, False),
    "arg1_only": _arg(0, True),
    "arg2_only": _arg(1, True),
    "arg3_only": _arg(2, True),
    "arg2_arity": _arg(1, False, arity=True),
}
"""Feature name -> function from an LF (or LF pattern) to a :data:`Value`."""


def feature(name: str, lf: LF) -> Value:
    """Computes one feature.

    Raises:
        ValueError: an unknown feature name (listing the known ones).

    Example:
        >>> from grammar.logic import parse
        >>> feature("first_predicate", parse("(city(A),loc(A,B))"))
        'city'
        >>> feature("direction", parse("loc(A,B)")), feature("arity", parse("loc(A,B)"))
        ('forward', '2')
    """
    if name not in FEATURES:
        raise ValueError(f"unknown feature {name!r}; known features: {', '.join(sorted(FEATURES))}")
    if isinstance(lf, Num):
        return None
    return FEATURES[name](lf)


def features(names, lf: LF) -> tuple[Value, ...]:
    """The feature path ``(phi_1(lf), ..., phi_F(lf))`` of a nonterminal's feature list."""
    return tuple(feature(n, lf) for n in names)
