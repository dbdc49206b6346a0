"""Semantic transformation functions of ``english.gram``: ``apply`` (top-down) and ``invert``.

A rule ``A -> B1:f1 ... Bk:fk`` gives child ``i`` the logical form ``fi(x_A)``. ``apply(name, lf)``
computes it (``None`` when the function does not apply); ``invert(name, s)`` returns the set of
parent LFs whose image lies in the set ``s`` (a pattern union, see :mod:`grammar.transforms_sets`),
so that a parser can intersect the inverse images of a rule's children. Compositions ``f1,f2`` are
applied left to right and inverted right to left.

**Conventions** (those of the official ``datalog.h``). Variables are ordered by name (``A < B <
... < Z < A1 ...``); ``A`` is the *head* of every nonterminal's LF. The head of an expression is
``A`` if it occurs in it, else its smallest variable. After a transformation the child's variables
are renamed so that its head is ``A``: *keep-head* functions keep ``A``; *delete-head* functions
(names with ``_head``, ``delete_head``) make the parent's ``B`` the child's head; the remaining
variables keep their relative order (``B, C, ...``). Keep-head functions require the selected part
to have the parent's head, delete-head functions a different one.

The families (``K`` conjuncts; ``_disjoint`` variants behave exactly like the plain ones, as in
the official apply, whose ``MergeVariables`` flag is unused):

- ``select_left{K}`` / ``delete_left{K}`` (and ``_right``): keep / drop the first (last) ``K``
  conjuncts;
- ``..._answer``: the same inside ``answer(A, body)`` (dropping ``answer``); ``..._count_answer``
  and ``..._function_answer`` inside ``answer(A, count(...))`` / ``answer(A, f(...))``;
- ``..._keep_function`` / ``..._answer_keep_function`` / ``..._keep_not`` / ``..._keep_answer``:
  inside a function's body, keeping the function;
- ``..._delete_function`` / ``..._function`` / ``..._delete_not`` / ``..._not_head``: inside a
  function's body, dropping the function;
- ``select_function`` (``f(V, ())``), ``delete_function``, ``delete_not``, ``delete_count_head``,
  ``delete_answer``, ``delete_answer_has_loc``;
- ``select_arg{i}``, ``delete_arg{i}``, ``delete_args``, ``head_arg1_select_arg2[_only]``;
- ``identity``, ``null`` (child carries :class:`~grammar.logic.Empty`), ``empty_tuple``,
  ``empty_tuple_only``, ``loc`` (``answer(A, (loc(B, A), ...))`` gives Empty), ``two_predicates``.

Syntactic attributes (grammatical number, concord, inflection) live in
:mod:`grammar.transforms_syntax`, which wraps every function here (attributes copied; ``null``
resets them) and adds the syntactic ones; ``english.gram`` (the no-morphology grammar of every
README experiment) needs none of them.

Deviation: inverses ignore the head constraints and the relative order of renamed variables (they
return free variables), so they are supersets of the exact inverse images — still sound for
parsing, which re-applies the functions.

References:
    ``apply`` and the ``select_left``/``delete_left``/... templates of ``datalog.h`` in
    github.com/asaparov/parser; Saparov, Saraswat & Mitchell (CoNLL 2017), §3.
"""

from __future__ import annotations

from dataclasses import dataclass

from grammar.logic import LF, Conj, Disj, List, Not, Term, Var, variables
from grammar.transforms_ops import OPS, Op
from grammar.transforms_sets import LFSet

__all__ = ["Transform", "TRANSFORMS", "GRAMMAR_FUNCTIONS", "apply", "invert", "compose",
           "normalize"]

GRAMMAR_FUNCTIONS = tuple(sorted(OPS))
"""The semantic transformation-function names defined here (120: every name of the official
enum that is not syntactic, including the 84 used by ``english.gram``)."""


@dataclass(frozen=True)
class Transform:
    """A named transformation function (or a composition of several)."""

    name: str
    ops: tuple[Op, ...]

    def apply(self, lf: LF) -> LF | None:
        """Applies the functions left to right; None when one does not apply."""
        for op in self.ops:
            if lf is None:
                return None
            lf = op.apply(lf)
        return lf

    def invert(self, s: LFSet | LF) -> LFSet:
        """The parent-LF set of a child-LF set, inverting right to left."""
        s = s if isinstance(s, tuple) else (s,)
        for op in reversed(self.ops):
            out: dict[LF, None] = {}
            for p in s:
                for q in op.invert(p):
                    out.setdefault(q, None)
            s = tuple(out)
        return s


TRANSFORMS: dict[str, Transform] = {name: Transform(name, (op,)) for name, op in OPS.items()}
"""Every known function name -> :class:`Transform`."""


def compose(names: str | tuple[str, ...] | list[str]) -> Transform:
    """The composition of comma-separated (or listed) function names.

    Raises:
        ValueError: an unknown name, listing the known ones.
    """
    if isinstance(names, str):
        names = tuple(n.strip() for n in names.split(","))
    ops = []
    for n in names:
        if n not in OPS:
            raise ValueError(f"unknown transformation function {n!r}; known functions: "
                             f"{', '.join(sorted(OPS))}")
        ops.append(OPS[n])
    return Transform(",".join(names), tuple(ops))


def apply(name: str, lf: LF) -> LF | None:
    """Applies the function (or comma-separated composition) ``name`` to a concrete LF.

    Example:
        >>> from grammar.logic import parse, to_text
        >>> lf = parse("answer(A,(city(A),loc(A,B),const(B,stateid(virginia))))")
        >>> to_text(apply("select_left_delete_answer", lf))
        'city(A)'
        >>> to_text(apply("delete_left_answer", lf))
        '(loc(A,B),const(B,stateid(virginia)))'
    """
    if not isinstance(lf, LF):
        raise TypeError(f"lf: expected an LF, got {type(lf).__name__}")
    return compose(name).apply(lf)


def invert(name: str, s: LFSet | LF) -> LFSet:
    """Inverse image of the child set ``s`` under ``name``: a tuple of patterns (a union).

    Example:
        >>> from grammar.logic import parse
        >>> from grammar.transforms_sets import contains
        >>> parent = parse("answer(A,(city(A),loc(A,B),const(B,stateid(virginia))))")
        >>> contains(invert("select_left_delete_answer", parse("city(A)")), parent)
        True
    """
    return compose(name).invert(s)


def normalize(lf: LF) -> LF:
    """Renames variables in first-occurrence order (``A, B, ...``), the head convention above."""
    order = variables(lf)
    names = [chr(ord("A") + i) if i < 26 else f"A{i - 25}" for i in range(len(order))]
    mapping = dict(zip(order, map(Var, names), strict=True))

    def go(x: LF) -> LF:
        if isinstance(x, Var):
            return mapping[x]
        if isinstance(x, Term):
            return Term(x.functor, tuple(go(a) for a in x.args))
        if isinstance(x, Conj | Disj | List):
            return type(x)(tuple(go(a) for a in x.items))
        if isinstance(x, Not):
            return Not(go(x.body))
        return x

    return go(lf)


