"""The operations behind the transformation-function names (see :mod:`grammar.transforms`).

Each :class:`Op` has ``apply(lf) -> lf | None`` and ``invert(pattern) -> list[pattern]``. Names are
built from a few primitives: a conjunct operation (select/delete, left/right, ``K`` conjuncts,
keep or delete the head), a *wrapper* saying where it acts (directly, inside ``answer``, inside a
function, keeping or dropping the wrapper), and a handful of special functions.

References:
    ``datalog.h`` (``apply``, ``select_left``, ``delete_left``, ``select_function``, ...) of
    github.com/asaparov/parser.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from grammar.logic import LF, Conj, Empty, Not, Term, Var, variables
from grammar.logic_canonical import _map_children, is_function
from grammar.transforms_sets import (
    ANY,
    Any,
    AnyFunction,
    AnyPred,
    Seq,
    conjuncts,
    free_var,
    is_free,
)

__all__ = ["Op", "OPS", "head_of", "rename_child"]

A, B = Var("A"), Var("B")


def _key(v: Var) -> tuple[int, str]:
    return (len(v.name), v.name)


def head_of(vs) -> Var | None:
    """The head of a set of variables: ``A`` if present, else the smallest; None if empty."""
    vs = [v for v in vs if isinstance(v, Var)]
    if not vs:
        return None
    return A if A in vs else min(vs, key=_key)


def rename_child(x: LF, keep: bool) -> LF:
    """Renames a child LF: the head (``A`` or, for delete-head, the parent's ``B``) becomes
    ``A``; the other variables keep their order and become ``B, C, ...``."""
    anchor = A if keep else B
    others = sorted((v for v in variables(x) if v is not anchor), key=_key)
    mapping = {anchor: A}
    for i, v in enumerate(others):
        mapping[v] = Var(chr(ord("B") + i) if i < 25 else f"A{i - 24}")
    return _rename(x, mapping)


def _rename(x: LF, mapping: dict) -> LF:
    if isinstance(x, Var):
        return mapping.get(x, x)
    if isinstance(x, Seq):
        return Seq(tuple(_rename(a, mapping) for a in x.prefix),
                   tuple(_rename(a, mapping) for a in x.suffix), x.exact)
    if isinstance(x, AnyFunction):
        return AnyFunction(_rename(x.body, mapping), x.excluded)
    if isinstance(x, AnyPred):
        return AnyPred(tuple(_rename(a, mapping) for a in x.args), x.excluded)
    return _map_children(x, lambda a: _rename(a, mapping))


def _unrename(c: LF, keep: bool) -> LF:
    """Inverse renaming for a child pattern: its ``A`` becomes the parent's anchor; every other
    named variable becomes a fresh free variable (its parent name is unknown), in a group of its
    own so that it may coincide with the free variables the pattern already has (which are kept:
    their groups record which of them are known to be distinct)."""
    anchor = A if keep else B
    names = [v for v in variables(c)]
    group = 1 + max((int(v.name[2:]) // 1000 for v in names if is_free(v)), default=-1)
    mapping: dict[Var, Var] = {}
    n = 0
    for v in names:
        if is_free(v):
            continue
        if v is A:
            mapping[v] = anchor
        else:
            n += 1
            mapping[v] = free_var(1000 * group + n)
    return _rename(c, mapping)


# ------------------------------------------------------------------------ conjunct operation

def _as_lf(items: tuple[LF, ...]) -> LF:
    return items[0] if len(items) == 1 else Conj(items)


@dataclass(frozen=True)
class Core:
    """select/delete ``k`` conjuncts from the left/right, keeping or deleting the head."""

    select: bool
    left: bool
    k: int
    keep: bool

    def apply(self, x: LF, extra_parent=(), extra_child=()) -> LF | None:
        items = conjuncts(x)
        if items is None or len(items) < self.k:
            return None
        if self.left:
            part, rest = items[:self.k], items[self.k:]
        else:
            part, rest = items[len(items) - self.k:], items[:len(items) - self.k]
        chosen = part if self.select else rest
        parent_head = head_of(set(variables(x)) | set(extra_parent))
        child_vars = set(extra_child)
        for c in chosen:
            child_vars |= set(variables(c))
        child_head = head_of(child_vars)
        if (parent_head == child_head) != self.keep:
            return None
        if not self.select and len(chosen) == 1 and isinstance(chosen[0], Conj):
            return Conj(chosen)  # a nested conjunction stays one conjunct (keeps invert exact)
        return Conj(()) if not chosen else _as_lf(chosen)

    def invert(self, c: LF) -> list[LF]:
        k = self.k
        if isinstance(c, Empty):
            return []
        if self.select:
            if isinstance(c, Any):
                part = (ANY,) * k
            elif k == 1 and isinstance(c, Seq):
                # a single conjunct described by its (one-element) conjunct list
                known = c.prefix + c.suffix
                if len(known) > 1 or (c.exact and not known):
                    return []
                part = (known[0] if known else ANY,)
            elif k == 1:
                part = (c,)
            elif isinstance(c, Conj) and len(c.items) == k:
                part = c.items
            elif isinstance(c, Seq) and (len(c.prefix) + len(c.suffix) <= k):
                part = c.prefix + (ANY,) * (k - len(c.prefix) - len(c.suffix)) + c.suffix
            else:
                return []
            return [Seq(part, (), False) if self.left else Seq((), part, False)]
        pad = (ANY,) * k
        if isinstance(c, Any):
            return [Seq(pad, (), False) if self.left else Seq((), pad, False)]
        if isinstance(c, Seq):
            if self.left:
                return [Seq(pad + c.prefix, c.suffix, c.exact)]
            return [Seq(c.prefix + pad, (), True) if c.exact else Seq(c.prefix, c.suffix + pad)]
        rest = c.items if isinstance(c, Conj) else (c,)
        return [Seq(pad + rest, (), True) if self.left else Seq(rest + pad, (), True)]


def _fn(x: LF):
    """(functor, variable args, body, rebuild) of a function term or negation; else None."""
    if isinstance(x, Not):
        return "not", (), x.body, lambda b: Not(b)
    if is_function(x):
        i = next(k for k, a in enumerate(x.args) if not isinstance(a, Var))
        args = x.args

        def rebuild(b, args=args, i=i):
            new = list(args)
            new[i] = b
            return Term(x.functor, tuple(new))

        return x.functor, tuple(a for a in args if isinstance(a, Var)), x.args[i], rebuild
    return None


def _is_count(x: LF) -> bool:
    """``count(V, body, W)``: exactly this shape (local variable, body, output variable)."""
    return (isinstance(x, Term) and x.functor == "count" and len(x.args) == 3
            and isinstance(x.args[0], Var) and isinstance(x.args[2], Var) and is_function(x))


def _answer_body(x: LF) -> LF | None:
    """The body of ``answer(A, body)`` (exactly this shape, with the head ``A``), else None."""
    if (isinstance(x, Term) and x.functor == "answer" and len(x.args) == 2 and x.args[0] is A
            and is_function(x)):
        return x.args[1]
    return None


# ----------------------------------------------------------------------------- the Op class

@dataclass(frozen=True)
class Op:
    """A transformation function: ``apply`` on concrete LFs and ``invert`` on patterns."""

    name: str
    apply: Callable[[LF], LF | None]
    invert: Callable[[LF], list[LF]]


def _wrapped(core: Core, wrapper: str) -> tuple[Callable, Callable]:
    keep = core.keep

    def app(x: LF) -> LF | None:
        if wrapper == "none":
            out = core.apply(x)
        elif wrapper in ("answer", "keep_answer"):
            body = _answer_body(x)
            if body is None:
                return None
            out = core.apply(body)
            if wrapper == "keep_answer":
                if out is None or _answer_body(_fn(x)[3](out)) is None:
                    return None
                return rename_child(_fn(x)[3](out), keep)
        elif wrapper in ("count_answer", "function_answer", "answer_keep_function"):
            body = _answer_body(x)
            f = _fn(body) if body is not None else None
            if f is None or (wrapper == "count_answer" and not _is_count(body)) or f[0] == "not":
                return None
            if wrapper == "answer_keep_function":
                out = core.apply(f[2], f[1], f[1])
                if out is None or (not keep and A in f[1]) or _fn(f[3](out)) is None:
                    return None
                return rename_child(f[3](out), keep)
            out = core.apply(f[2], f[1])
        else:  # function wrappers acting on x itself
            f = _fn(x)
            if f is None or (wrapper in ("keep_not", "not") and f[0] != "not"):
                return None
            if wrapper in ("keep_function", "keep_not"):
                out = core.apply(f[2], f[1], f[1])
                if out is None or (not keep and A in f[1]) or _fn(f[3](out)) is None:
                    return None
                return rename_child(f[3](out), keep)
            out = core.apply(f[2], f[1])
        return None if out is None else rename_child(out, keep)

    def inv(c: LF) -> list[LF]:
        if wrapper == "none":
            return core.invert(_unrename(c, keep))
        if wrapper == "answer":
            return [Term("answer", (A, p)) for p in core.invert(_unrename(c, keep))]
        if wrapper == "count_answer":
            return [Term("answer", (A, Term("count", (B, p, free_var(9001)))))
                    for p in core.invert(_unrename(c, keep))]
        if wrapper == "function_answer":
            return [Term("answer", (A, AnyFunction(p, ("answer", "not"))))
                    for p in core.invert(_unrename(c, keep))]
        if wrapper in ("function", "not"):
            ps = core.invert(_unrename(c, keep))
            out = [Not(p) for p in ps]
            return out if wrapper == "not" else out + [AnyFunction(p) for p in ps]
        # wrappers that keep the function around the child's body
        c = _unrename(c, keep)
        if wrapper == "keep_answer":
            if isinstance(c, AnyFunction):
                inner = c.body if "answer" not in c.excluded else None
            else:
                inner = _answer_body(c) if not isinstance(c, Any) else ANY
            return [] if inner is None else [Term("answer", (A, p)) for p in core.invert(inner)]
        if isinstance(c, Any):
            ps = core.invert(ANY)
            if wrapper == "keep_not":
                return [Not(p) for p in ps]
            out = [AnyFunction(p) for p in ps] + ([Not(p) for p in ps]
                                                  if wrapper == "keep_function" else [])
            return [Term("answer", (A, p)) for p in out] if wrapper.startswith("answer") else out
        if isinstance(c, AnyFunction):  # a function with unknown functor around the child body
            if wrapper == "keep_not":
                return [Not(p) for p in core.invert(c.body)]
            out = [AnyFunction(p, c.excluded) for p in core.invert(c.body)]
            return [Term("answer", (A, p)) for p in out] if wrapper.startswith("answer") else out
        f = _fn(c)
        if f is None or (wrapper == "keep_not" and f[0] != "not"):
            return []
        out = [f[3](p) for p in core.invert(f[2])]
        return [Term("answer", (A, p)) for p in out] if wrapper.startswith("answer") else out

    return app, inv


# ----------------------------------------------------------------------------- the registry

def _conj_ops() -> dict[str, tuple]:
    """Names of the conjunct family used by english.gram (and their K/head/wrapper variants)."""
    table: dict[str, tuple] = {}
    for side in ("left", "right"):
        for k in range(1, 8):
            kk = "" if k == 1 else str(k)
            for sel in (True, False):
                verb = "select" if sel else "delete"
                base = f"{verb}_{side}{kk}"
                specs = {
                    "": (True, "none"),
                    "_head" if not sel else "_delete_head": (False, "none"),
                    "_answer" if not sel else "_delete_answer": (True, "answer"),
                    "_answer_head" if not sel else "_delete_answer_head": (False, "answer"),
                    "_count_answer" if not sel else "_delete_count_answer":
                        (False, "count_answer"),
                    "_function_answer" if not sel else "_delete_function_answer":
                        (True, "function_answer"),
                    "_keep_function": (True, "keep_function"),
                    "_head_keep_function": (False, "keep_function"),
                    "_function" if not sel else "_delete_function": (True, "function"),
                    "_function_head": (False, "function"),
                    "_delete_not": (True, "not"),
                    "_not_head": (False, "not"),
                    "_head_keep_not": (True, "keep_not"),
                    "_keep_answer": (True, "keep_answer"),
                    "_answer_keep_function": (True, "answer_keep_function"),
                    "_answer_head_keep_function": (False, "answer_keep_function"),
                }
                for suffix, (keep, wrapper) in specs.items():
                    for disjoint in ("", "_disjoint"):
                        table[base + suffix + disjoint] = (Core(sel, side == "left", k, keep),
                                                           wrapper)
    return table


_OFFICIAL_CONJ_NAMES = frozenset("""
empty identity identity_coord null select_left select_left_coord select_left_delete_features
select_left_concord_singular select_left_disjoint select_left_disjoint_coord select_left2
select_left2_delete_features select_left2_disjoint select_left2_disjoint_concord_singular
select_left2_disjoint_coord select_left3_disjoint select_left4_disjoint select_left5_disjoint
select_left6_disjoint select_left7_disjoint select_left_keep_function
select_left_keep_function_disjoint select_left2_keep_function
select_left2_keep_function_disjoint select_left3_keep_function select_left_delete_head
select_left_delete_head_concord_singular select_left_delete_head_disjoint
select_left_delete_head_disjoint_coord select_left_delete_function
select_left_delete_function_features select_left_delete_answer select_left2_delete_answer
select_left3_delete_answer select_left3_delete_answer_disjoint
select_left5_delete_answer_disjoint select_left_delete_answer_head
select_left_delete_count_answer select_left2_delete_count_answer
select_left3_delete_count_answer select_left_delete_function_answer
select_left2_delete_function_answer select_left3_delete_function_answer select_left_delete_not
select_left_delete_not_features select_right select_right2 select_right2_singular
select_right2_disjoint select_right3_disjoint select_right4_disjoint select_right5_disjoint
select_right6_disjoint select_right7_disjoint select_right_delete_head
select_right_delete_function select_right2_delete_answer select_function
select_function_delete_features select_function_delete_head select_function_delete_head_features
delete_left delete_left_coord delete_left_features delete_left_disjoint
delete_left_disjoint_coord delete_left2 delete_left2_disjoint delete_left2_disjoint_coord
delete_left2_disjoint_features delete_left3_disjoint delete_left3_disjoint_features
delete_left4_disjoint delete_left5_disjoint delete_left6_disjoint delete_left7_disjoint
delete_left_head delete_left_head_features delete_left2_head delete_left2_head_features
delete_left_function delete_left_function_disjoint delete_left2_function
delete_left2_function_disjoint delete_left_function_head delete_left3_function_head
delete_left_keep_answer delete_left_keep_function delete_left_features_keep_function
delete_left_head_keep_function delete_left_head_features_keep_function delete_left_head_keep_not
delete_left_head_features_keep_not delete_left_answer delete_left2_answer delete_left3_answer
delete_left3_answer_disjoint delete_left5_answer_disjoint delete_left_answer_head
delete_left_count_answer delete_left2_count_answer delete_left3_count_answer
delete_left_function_answer delete_left2_function_answer delete_left3_function_answer
delete_left_answer_keep_function delete_left_answer_head_keep_function
delete_left2_answer_keep_function delete_left2_answer_head_keep_function
delete_left3_answer_keep_function delete_left3_answer_head_keep_function delete_right
delete_right2 delete_right2_disjoint delete_right3_disjoint delete_right4_disjoint
delete_right5_disjoint delete_right6_disjoint delete_right7_disjoint delete_right_head
delete_right_head_keep_function delete_right2_answer delete_count delete_count_head
delete_count_head_concord_plural delete_count_answer delete_not delete_not_features
delete_not_infinitive delete_left_not_head delete_left_not_head_features delete_function
delete_function_head delete_function_features delete_answer delete_answer_has_loc select_arg1
select_arg1_singular select_arg1_plural select_arg1_only select_arg1_delete_features
select_arg1_only_delete_features select_arg2 select_arg2_only select_arg2_delete_features
select_arg2_only_delete_features select_arg3 select_arg3_only select_arg3_delete_features
select_arg3_only_delete_features delete_arg1 delete_arg1_singular delete_arg1_plural
delete_arg1_features delete_arg2 delete_arg2_features delete_arg3 delete_args
delete_args_concord_singular delete_args_keep_plural head_arg1_select_arg2
head_arg1_select_arg2_only empty_tuple empty_tuple_only empty_tuple_only_keep_concord_singular
keep_null empty_arg2 empty_args arg2_zero_arity loc two_predicates singular plural uncountable
concord_singular concord_plural concord_uncountable concord_non_singular concord_non_plural
concord_non_plural_keep_singular concord_all keep_concord_singular keep_concord_plural
keep_concord_uncountable delete_not_concord_singular delete_not_concord_plural keep_singular
keep_plural keep_uncountable infinitive present_participle past_participle
keep_present_participle keep_past_participle flip_predicate flip_predicate_past_participle
flip_predicate_keep_past_participle keep_features delete_features
""".split())
"""Names of the official ``function_type`` enum; only those built here are registered."""


def _build() -> dict[str, Op]:
    ops: dict[str, Op] = {}
    for name, (core, wrapper) in _conj_ops().items():
        if name in _OFFICIAL_CONJ_NAMES:
            ops[name] = Op(name, *_wrapped(core, wrapper))
    from grammar.transforms_special import special_functions

    for name, (app, inv) in special_functions().items():
        ops[name] = Op(name, app, inv)
    return ops


OPS: dict[str, Op] = _build()
