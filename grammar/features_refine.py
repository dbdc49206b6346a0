"""Refining an LF set to the members whose feature has a given value (``set_feature``).

When the parser chooses a path of the rule HDP, the feature values along the path become known,
and the chart item's LF set can be narrowed: ``refine(name, s, value)`` returns a pattern union
``r`` with ``{x in s : phi(x) = value} ⊆ r ⊆ s``. It is exact for the predicate-position features
(``predicate``, ``predicate_only``, ``first/second/third_predicate``, ``last_predicate``) whenever
the inspected conjunct lies in a known part of the set (an unknown functor ``?p(...)`` becomes the
given one, an unknown conjunct ``*`` becomes ``value(*,*,*)``, an open conjunct list is split into
"ends here" and "goes on"); elsewhere, and for the other features, it drops the patterns whose
value differs and keeps the others unchanged (a sound superset).

References:
    ``set_feature``, ``set_predicate`` and ``exclude_features`` in ``datalog.h`` of
    github.com/asaparov/parser.
"""

from __future__ import annotations

from grammar.features import EMPTY, FEATURES
from grammar.logic import LF, Atom, Conj, Empty, Not, Term
from grammar.logic_canonical import FUNCTIONS, function_body, is_function
from grammar.transforms_sets import ANY, Any, AnyFunction, AnyPred, LFSet, Seq, free_var

__all__ = ["refine"]

_INDEX = {"predicate": (0, True, True, False), "predicate_only": (0, True, False, False),
          "first_predicate": (0, False, True, False), "second_predicate": (1, False, True, False),
          "third_predicate": (2, False, True, False), "last_predicate": (0, False, True, True)}


def refine(name: str, s: LFSet | LF, value: str) -> LFSet:
    """The members of ``s`` whose feature ``name`` is ``value`` (as a pattern union; see the module
    docstring for when the result is exact).

    Raises:
        ValueError: an unknown feature name.

    Example:
        >>> from grammar.logic import parse, to_text
        >>> s = (Seq((parse("city(A)"),), (), False),)
        >>> [to_text(p) for p in refine("second_predicate", s, "loc")]
        ['(city(A),loc(*,*,*),...)']
        >>> [to_text(p) for p in refine("second_predicate", s, EMPTY)]
        ['(city(A))']
    """
    if name not in FEATURES:
        raise ValueError(f"unknown feature {name!r}; known features: {', '.join(sorted(FEATURES))}")
    out: dict[LF, None] = {}
    for p in (s if isinstance(s, tuple) else (s,)):
        for r in _refine_one(name, p, value):
            out.setdefault(r, None)
    return tuple(out)


def _refine_one(name: str, p: LF, value: str, depth: int = 0) -> list[LF]:
    v = FEATURES[name](p)
    if v == value:
        return [p]
    if v is None or isinstance(v, str) or value in v.excluded:
        return []
    if isinstance(p, Any) and depth < 8:
        parts = _split_any(name, p, value)
        if parts is not None:
            return [r for q in parts for r in _refine_one(name, q, value, depth + 1)]
    if name in _INDEX and depth < 8:
        i, preterminal, allow_function, from_right = _INDEX[name]
        parts = _set_predicate(p, value, i, preterminal, allow_function, from_right)
        if parts is not None:  # a partition of p (restricted to the possible members)
            return [r for q in parts for r in _refine_one(name, q, value, depth + 1)]
    return [p]


_FUNCTION_SHAPES = {f: (2, 1) for f in FUNCTIONS} | {"count": (3, 1), "sum": (3, 1),
                                                      "most": (3, 2), "fewest": (3, 2)}
"""Arity and body position of each higher-order function (``count(B, body, A)``, ...)."""


def _split_any(name: str, p: Any, value: str) -> list[LF] | None:
    """A cover of the members of ``*`` that can have ``value``: for ``constant`` the atom itself,
    for the predicate-position features a conjunct list, a function and a negation (None: no
    finer cover than ``*``)."""
    if name == "constant":
        return [Atom(value)] if value != EMPTY else []
    if name in ("function", "function_only") and value != EMPTY:
        if value == "not":
            return [Not(ANY)]
        if value in _FUNCTION_SHAPES:  # f(V..., body): free variables, a wildcard body
            n, body = _FUNCTION_SHAPES[value]
            return [Term(value, tuple(ANY if k == body else free_var(k + 1) for k in range(n)))]
        return None
    if name not in _INDEX or value == "string":
        return None
    i, _, allow_function, _ = _INDEX[name]
    if value == EMPTY:  # nothing at position 0: Empty or the empty conjunct list
        return [Empty(), Seq((), (), True)] if i == 0 and not allow_function else None
    parts: list[LF] = [Seq((), (), False)]
    if allow_function:
        parts += [AnyFunction(ANY), Not(ANY)]
    return parts


def _element(e: LF, value: str) -> list[LF] | None:
    """Members of the single-conjunct pattern ``e`` whose functor is ``value`` (None: unknown)."""
    if isinstance(e, AnyPred):
        return [] if value in e.excluded or value == EMPTY else [Term(value, e.args)]
    if isinstance(e, Any):
        if value == EMPTY:
            return []
        if value == "not":
            return [Not(ANY)]
        return [Term(value, (ANY, ANY, ANY))]
    return None


def _set_predicate(p: LF, value: str, i: int, preterminal: bool, allow_function: bool,
                   from_right: bool) -> list[LF] | None:
    if isinstance(p, AnyFunction | Not) or is_function(p):
        if not allow_function:
            return []
        if isinstance(p, AnyFunction):
            inner = _set_predicate(p.body, value, i, preterminal, True, from_right)
            return None if inner is None else [AnyFunction(b, p.excluded) for b in inner]
        if isinstance(p, Not):
            inner = _set_predicate(p.body, value, i, preterminal, True, from_right)
            return None if inner is None else [Not(b) for b in inner]
        k, body = function_body(p)
        inner = _set_predicate(body, value, i, preterminal, True, from_right)
        if inner is None:
            return None
        out = []
        for b in inner:
            args = list(p.args)
            args[k] = b
            out.append(Term(p.functor, tuple(args)))
        return out
    if isinstance(p, AnyPred):
        return _element(p, value) if i == 0 else None
    if isinstance(p, Conj):
        p = Seq(p.items, (), True)
    if not isinstance(p, Seq):
        return None  # Any, or a concrete LF (whose value is already known)
    items = p.prefix if not from_right else (p.prefix if p.exact else p.suffix)
    if from_right:
        items = tuple(reversed(items))
    if i < len(items):
        pos = i
        new = _element(items[pos], value)
        if new is None:
            return None
        out = []
        for e in new:
            lst = list(items)
            lst[pos] = e
            if from_right:
                lst.reverse()
            if not from_right or p.exact:
                out.append(Seq(tuple(lst), p.suffix if not p.exact else (), p.exact))
            else:
                out.append(Seq(p.prefix, tuple(lst), False))
        return out
    if p.exact or (from_right and p.suffix) or (not from_right and p.suffix):
        return None
    # an open list known only up to here: split it into "ends here" and "goes on"
    if from_right:
        return [Seq(p.prefix, (), True), Seq(p.prefix, (ANY,), False)]
    return [Seq(p.prefix, (), True), Seq(p.prefix + (ANY,), (), False)]
