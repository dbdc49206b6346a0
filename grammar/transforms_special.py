"""The transformation functions that are not conjunct operations (see :mod:`grammar.transforms`).

``identity``, ``null``, ``select_function``, ``delete_function``/``delete_not``/``delete_count``,
``delete_answer``, the argument functions (``select_arg{i}``, ``delete_arg{i}``, ``delete_args``,
``head_arg1_select_arg2``), ``empty_tuple``, ``loc`` and ``two_predicates``: each an
``(apply, invert)`` pair of plain functions.

References:
    ``select_function``, ``delete_function``, ``select_arg``, ``delete_arg``, ``delete_args``,
    ``head_arg_select_arg``, ``check_predicate_answer``, ``tuple_length`` and the ``apply``
    switch in ``datalog.h`` of github.com/asaparov/parser.
"""

from __future__ import annotations

from grammar.logic import LF, Conj, Empty, Not, Term, variables, walk
from grammar.logic_canonical import is_function
from grammar.transforms_ops import (
    A,
    B,
    _answer_body,
    _fn,
    _is_count,
    _unrename,
    head_of,
    rename_child,
)
from grammar.transforms_sets import ANY, Any, AnyFunction, AnyPred, Seq, conjuncts, free_var

__all__ = ["special_functions"]


def _identity():
    return (lambda x: x), (lambda c: [c])


def _null():
    return (lambda x: Empty()), (lambda c: [ANY] if isinstance(c, Empty | Any) else [])


def _select_function(keep: bool):
    def app(x):
        f = _fn(x)
        if f is None:
            return None
        if keep and f[1] and head_of(f[1]) is not A:
            return None
        if not keep and A in f[1]:
            return None
        return rename_child(f[3](Conj(())), keep)

    def inv(c):
        if isinstance(c, Any):
            return [AnyFunction(ANY), Not(ANY)]
        if isinstance(c, AnyFunction):
            return [AnyFunction(ANY, c.excluded)]
        f = _fn(_unrename(c, keep))
        return [] if f is None else [f[3](ANY)]

    return app, inv


def _delete_function(keep: bool, functor: str | None, in_answer: bool = False):
    def app(x):
        if in_answer:
            x = _answer_body(x)
            if x is None:
                return None
        f = _fn(x)
        if f is None or (functor is not None and f[0] != functor):
            return None
        if functor == "count" and not _is_count(x):
            return None
        if (head_of(variables(f[2])) is A) != keep:
            return None
        return rename_child(f[2], keep)

    def inv(c):
        p = _unrename(c, keep)
        if functor == "not":
            out = [Not(p)]
        elif functor == "count":
            # the local variable (when kept) and the output variable may be any variables,
            # independent of the body's free variables (their own group)
            out = [Term("count", (free_var(9001) if keep else B, p, free_var(9002)))]
        else:
            out = [AnyFunction(p), Not(p)]
        return [Term("answer", (A, q)) for q in out] if in_answer else out

    return app, inv


def _delete_answer(need_loc: bool):
    def app(x):
        body = _answer_body(x)
        if body is None:
            return None
        if need_loc and not any(isinstance(n, Term) and n.functor == "loc" for n in walk(body)):
            return None
        return body

    def inv(c):
        # a set can contain loc unless it is concrete and has none (any pattern node may hide one)
        if need_loc and not any(isinstance(n, Term) and n.functor == "loc" or
                                isinstance(n, Any | AnyPred | AnyFunction | Seq)
                                for n in walk(c)):
            return []
        return [Term("answer", (A, c))]

    return app, inv


def _pred_args(x: LF, n: int = 3):
    if isinstance(x, Conj) and len(x.items) == 1:
        x = x.items[0]
    if not isinstance(x, Term) or is_function(x) or len(x.args) > n:
        return None  # the official predicates have at most three arguments
    return x.args + (Empty(),) * (n - len(x.args))


def _trim(args) -> tuple:
    args = list(args)
    while args and isinstance(args[-1], Empty):
        args.pop()
    return tuple(args)


def _select_arg(i: int, only: bool):
    def app(x):
        if isinstance(x, Conj):
            return None
        args = _pred_args(x)
        if args is None or (only and any(not isinstance(a, Empty)
                                         for j, a in enumerate(args) if j != i)):
            return None
        return args[i]

    def inv(c):
        args = [Empty() if only else ANY for _ in range(3)]
        args[i] = c if not isinstance(c, Any) else ANY
        return [AnyPred(tuple(args))]

    return app, inv


def _delete_arg(i: int):
    def app(x):
        if isinstance(x, Conj):
            return None
        args = _pred_args(x)
        if args is None or isinstance(args[i], Empty):
            return None
        new = list(args)
        new[i] = Empty()
        return Term(x.functor, _trim(new))

    def inv(c):
        c = _single(c)
        if c is None:
            return []
        if isinstance(c, Any):
            args = [ANY] * 3
            args[i] = Any(nonempty=True)
            return [AnyPred(tuple(args))]
        if isinstance(c, AnyPred | Term) and len(c.args) <= 3:
            args = list(c.args) + [Empty()] * (3 - len(c.args))
            if not isinstance(args[i], Empty | Any):
                return []
            args[i] = Any(nonempty=True)
            return [AnyPred(tuple(args), c.excluded) if isinstance(c, AnyPred)
                    else Term(c.functor, tuple(args))]
        return []

    return app, inv


def _single(c: LF) -> LF | None:
    """The single-conjunct members of a list pattern: ``(x)`` or ``(x,...)`` give ``x``, an open
    ``(...)`` gives ``*``; None when the pattern has no one-conjunct member."""
    if not isinstance(c, Seq):
        return c
    known = c.prefix + c.suffix
    if len(known) == 1:
        return known[0]
    return ANY if not known and not c.exact else None


def _delete_args():
    def app(x):
        args = _pred_args(x)
        inner = x.items[0] if isinstance(x, Conj) and len(x.items) == 1 else x
        return None if args is None else Term(inner.functor, ())

    def inv(c):
        c = _single(c)
        if c is None:
            return []
        if isinstance(c, Any):
            return [AnyPred((ANY, ANY, ANY))]
        # the child has no arguments: a pattern qualifies if all its arguments may be empty
        if isinstance(c, Term | AnyPred) and len(c.args) <= 3 and all(
                isinstance(a, Empty) or isinstance(a, Any) and not a.nonempty for a in c.args):
            return [AnyPred((ANY, ANY, ANY), c.excluded) if isinstance(c, AnyPred)
                    else Term(c.functor, (ANY, ANY, ANY))]
        return []

    return app, inv


def _head_arg1_select_arg2(only: bool):
    def app(x):
        args = _pred_args(x)
        if args is None or args[0] is not A or isinstance(args[1], Empty):
            return None
        if only and not isinstance(args[2], Empty):
            return None
        return args[1]

    def inv(c):
        return [AnyPred((A, c if not isinstance(c, Any) else Any(nonempty=True),
                         Empty() if only else ANY))]

    return app, inv


def _empty_tuple(only: bool):
    def app(x):
        if only:
            return Conj(()) if isinstance(x, Empty) or x is Conj(()) else None
        ok = isinstance(x, Conj | Not) or (isinstance(x, Term))
        return Conj(()) if ok else None

    def inv(c):
        if isinstance(c, Seq) and c.exact and not c.prefix:
            c = Conj(())
        if not (c is Conj(()) or isinstance(c, Any)):
            return []
        return [Conj(()), Empty()] if only else [Any(nonempty=True)]

    return app, inv


def _loc():
    def app(x):
        body = _answer_body(x)
        items = conjuncts(body) if body is not None else None
        if not items:
            return None
        first = items[0]
        if isinstance(first, Term) and first.functor == "loc" and first.args[:2] == (B, A) \
                and len(first.args) == 2:
            return Empty()
        return None

    def inv(c):
        if not isinstance(c, Empty | Any):
            return []
        return [Term("answer", (A, Seq((Term("loc", (B, A)),), (), False)))]

    return app, inv


def _two_predicates():
    def app(x):
        return x if isinstance(x, Conj) and len(x.items) == 2 else None

    def inv(c):
        if isinstance(c, Any):
            return [Seq((ANY, ANY), (), True)]
        if isinstance(c, Conj) and len(c.items) == 2:
            return [c]
        if isinstance(c, Seq) and len(c.prefix) + len(c.suffix) <= 2:
            return [Seq(c.prefix + (ANY,) * (2 - len(c.prefix) - len(c.suffix)) + c.suffix,
                        (), True)]
        return []

    return app, inv


def special_functions() -> dict[str, tuple]:
    """Name -> (apply, invert) of every special function."""
    special = {
        "identity": _identity(),
        "null": _null(),
        "select_function": _select_function(True),
        "select_function_delete_head": _select_function(False),
        "delete_function": _delete_function(True, None),
        "delete_function_head": _delete_function(False, None),
        "delete_not": _delete_function(True, "not"),
        "delete_count": _delete_function(True, "count"),
        "delete_count_head": _delete_function(False, "count"),
        "delete_count_answer": _delete_function(True, "count", in_answer=True),
        "delete_answer": _delete_answer(False),
        "delete_answer_has_loc": _delete_answer(True),
        "delete_args": _delete_args(),
        "head_arg1_select_arg2": _head_arg1_select_arg2(False),
        "head_arg1_select_arg2_only": _head_arg1_select_arg2(True),
        "empty_tuple": _empty_tuple(False),
        "empty_tuple_only": _empty_tuple(True),
        "loc": _loc(),
        "two_predicates": _two_predicates(),
    }
    for i in range(3):
        special[f"select_arg{i + 1}"] = _select_arg(i, False)
        special[f"select_arg{i + 1}_only"] = _select_arg(i, True)
        special[f"delete_arg{i + 1}"] = _delete_arg(i)
    for i in range(3):
        special[f"select_arg{i + 1}"] = _select_arg(i, False)
        special[f"select_arg{i + 1}_only"] = _select_arg(i, True)
        special[f"delete_arg{i + 1}"] = _delete_arg(i)
    return special
