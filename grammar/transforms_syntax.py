"""Syntactic attributes of logical forms and the transformation functions that touch them.

In the official grammar with morphology (``english_with_morphology.gram``) every nonterminal's LF
carries three syntactic attributes besides its Datalog expression: the grammatical number of the
phrase (``index``), the number its head must agree with (``concord``) and the verb inflection
(``inf``). :class:`Root` bundles them with an LF; :class:`RootSet` is a set of roots (an LF pattern
union plus, per attribute, the allowed values or ``None`` for any). The syntactic functions
(``singular``, ``concord_plural``, ``keep_past_participle``, ``infinitive``, ``*_features``,
``*_coord``, ``flip_predicate``, ...) combine one of the semantic operations of
:mod:`grammar.transforms` with a rule on the attributes; every plain semantic function copies the
attributes, except ``null``, which resets them (``index=all, concord=none, inf=none``, the values
of a freshly read LF).

Number values: ``sg pl uncountable non_sg non_pl all none``; inflection values:
``past_participle present_participle infinitive default_tense noun adjective comparative
superlative none``.

References:
    ``datalog_expression_root`` and the first half of ``apply`` in ``datalog.h`` of
    github.com/asaparov/parser; ``grammatical_number`` / ``inflection`` in
    github.com/asaparov/grammar ``morphology.h``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from grammar.features import Value, Wildcard
from grammar.features import feature as _lf_feature
from grammar.logic import LF, Conj, Empty, Term, Var
from grammar.logic_canonical import is_function
from grammar.transforms import TRANSFORMS, Transform
from grammar.transforms_sets import ANY, Any, AnyPred, LFSet, Seq

__all__ = ["NUMBERS", "INFLECTIONS", "Root", "RootSet", "SyntaxTransform", "SYNTAX_FUNCTIONS",
           "ROOT_FEATURES", "apply_root", "invert_root", "root_feature", "known_function"]

NUMBERS = ("sg", "pl", "uncountable", "non_sg", "non_pl", "all", "none")
INFLECTIONS = ("past_participle", "present_participle", "infinitive", "default_tense", "noun",
               "adjective", "comparative", "superlative", "none")
ROOT_FEATURES = ("number", "inflection")
_ATTRS = ("index", "concord", "inf")


@dataclass(frozen=True)
class Root:
    """An LF with its syntactic attributes (defaults: those of an LF read from a data file)."""

    lf: LF
    index: str = "all"
    concord: str = "none"
    inf: str = "none"

    def __post_init__(self):
        for name, allowed in (("index", NUMBERS), ("concord", NUMBERS), ("inf", INFLECTIONS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}: expected one of {allowed}, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class RootSet:
    """A set of roots: an LF pattern union and, per attribute, allowed values (None: any)."""

    lfs: LFSet
    index: frozenset[str] | None = None
    concord: frozenset[str] | None = None
    inf: frozenset[str] | None = None

    def __contains__(self, root: Root) -> bool:
        from grammar.transforms_sets import contains
        return contains(self.lfs, root.lf) and all(
            getattr(self, a) is None or getattr(root, a) in getattr(self, a) for a in _ATTRS)


# ----------------------------------------------------------------------- attribute rules

Attrs = tuple[str, str, str]
Sets = tuple[frozenset | None, frozenset | None, frozenset | None]


@dataclass(frozen=True)
class _Rule:
    """Attribute rule: ``requires`` (allowed parent values), ``sets`` (child values)."""

    requires: tuple = ()   # ((attr index, frozenset of allowed values), ...)
    sets: tuple = ()       # ((attr index, value), ...)
    coord: bool = False

    def apply(self, a: Attrs) -> Attrs | None:
        for i, allowed in self.requires:
            if a[i] not in allowed:
                return None
        out = list(a)
        if self.coord:
            index, concord = a[0], a[1]
            if concord == "none" or (index == "sg" and concord == "pl"):
                return None
            out[0] = concord
        for i, v in self.sets:
            out[i] = v
        return tuple(out)

    def invert(self, s: Sets) -> Sets | None:
        out = list(s)
        for i, v in self.sets:
            if s[i] is not None and v not in s[i]:
                return None
            out[i] = None
        if self.coord:
            both = (s[0] if s[0] is not None else frozenset(NUMBERS)) & (
                s[1] if s[1] is not None else frozenset(NUMBERS))
            both -= {"none"}
            if not both:
                return None
            out[0], out[1] = None, frozenset(both)
        for i, allowed in self.requires:
            out[i] = allowed if out[i] is None else out[i] & allowed
            if not out[i]:
                return None
        return tuple(out)


_COPY = _Rule()
_RESET = _Rule(sets=((0, "all"), (1, "none"), (2, "none")))


def _set(attr: int, value: str) -> _Rule:
    return _Rule(sets=((attr, value),))


def _keep(attr: int, allowed: tuple[str, ...], value: str) -> _Rule:
    return _Rule(requires=((attr, frozenset(allowed)),), sets=((attr, value),))


# --------------------------------------------------------------- semantic-only operations

def _flip_apply(x: LF) -> LF | None:
    if isinstance(x, Conj):
        if not x.items:
            return None
        first = _flip_apply(x.items[0])
        return None if first is None else Conj((first,) + x.items[1:])
    if not isinstance(x, Term) or is_function(x) or len(x.args) < 2 or len(x.args) > 3:
        return None
    a0, a1 = x.args[0], x.args[1]
    if not isinstance(a0, Var) or not isinstance(a1, Var):
        return None
    if len(x.args) == 3 and not isinstance(x.args[2], Empty):
        return None
    return Term(x.functor, (a1, a0))


def _flip_invert(c: LF) -> list[LF]:
    if isinstance(c, Any):
        return [Seq((AnyPred((ANY, ANY, Empty())),), (), False)]
    if isinstance(c, Seq) and c.prefix:
        return [Seq(tuple(_flip_invert(c.prefix[0])[:1]) + c.prefix[1:], c.suffix, c.exact)]
    flipped = _flip_apply(c)
    return [] if flipped is None else [flipped]


def _filter(pred: Callable[[LF], bool]) -> Transform:
    """A semantic identity restricted to LFs satisfying ``pred``."""
    from grammar.transforms_ops import Op
    op = Op("filter", lambda x: x if pred(x) else None,
            lambda c: [c] if isinstance(c, Any | AnyPred) or pred(c) else [])
    return Transform("filter", (op,))


def _args(x: LF):
    if isinstance(x, Term) and not is_function(x) and len(x.args) <= 3:
        return x.args + (Empty(),) * (3 - len(x.args))
    return None


def _empty_arg2(x):
    a = _args(x)
    return a is not None and isinstance(a[1], Empty)


def _empty_args(x):
    a = _args(x)
    return a is not None and all(isinstance(v, Empty) for v in a)


def _arg2_zero_arity(x):
    a = _args(x)
    return a is not None and (isinstance(a[1], Empty) or isinstance(a[1], Term) and not a[1].args)


def _keep_null(x):
    return isinstance(x, Empty)


def _semantic(name: str) -> Transform:
    if name == "flip_predicate":
        from grammar.transforms_ops import Op
        return Transform(name, (Op(name, _flip_apply, _flip_invert),))
    if name == "keep_features":
        return Transform(name, TRANSFORMS["null"].ops)
    return TRANSFORMS[name]


# ------------------------------------------------------------------------------ registry

@dataclass(frozen=True)
class SyntaxTransform:
    """A function acting on roots: a semantic transform plus an attribute rule."""

    name: str
    semantic: Transform
    rule: _Rule

    def apply(self, root: Root) -> Root | None:
        attrs = self.rule.apply((root.index, root.concord, root.inf))
        lf = self.semantic.apply(root.lf)
        if attrs is None or lf is None:
            return None
        return Root(lf, *attrs)

    def invert(self, s: RootSet) -> RootSet | None:
        attrs = self.rule.invert((s.index, s.concord, s.inf))
        lfs = self.semantic.invert(s.lfs)
        if attrs is None or not lfs:
            return None
        return RootSet(lfs, *attrs)


def _table() -> dict[str, SyntaxTransform]:
    sg, pl = "sg", "pl"
    entries: dict[str, tuple[str, _Rule]] = {}
    features = {
        "delete_features": "identity",
        "select_left_delete_features": "select_left",
        "select_left2_delete_features": "select_left2",
        "select_left_delete_function_features": "select_left_delete_function",
        "select_left_delete_not_features": "select_left_delete_not",
        "select_function_delete_features": "select_function",
        "select_function_delete_head_features": "select_function_delete_head",
        "delete_left_features": "delete_left",
        "delete_left2_disjoint_features": "delete_left2_disjoint",
        "delete_left3_disjoint_features": "delete_left3_disjoint",
        "delete_left_head_features": "delete_left_head",
        "delete_left2_head_features": "delete_left2_head",
        "delete_left_features_keep_function": "delete_left_keep_function",
        "delete_left_head_features_keep_function": "delete_left_head_keep_function",
        "delete_left_head_features_keep_not": "delete_left_head_keep_not",
        "delete_left_not_head_features": "delete_left_not_head",
        "delete_function_features": "delete_function",
        "delete_not_features": "delete_not",
        "delete_arg1_features": "delete_arg1",
        "delete_arg2_features": "delete_arg2",
    }
    for i in (1, 2, 3):
        features[f"select_arg{i}_delete_features"] = f"select_arg{i}"
        features[f"select_arg{i}_only_delete_features"] = f"select_arg{i}_only"
    for name, sem in features.items():
        entries[name] = (sem, _RESET)
    entries["keep_features"] = ("keep_features", _COPY)
    for sem, name in (("identity", "singular"), ("select_right2", "select_right2_singular"),
                      ("select_arg1", "select_arg1_singular"),
                      ("delete_arg1", "delete_arg1_singular")):
        entries[name] = (sem, _set(0, sg))
    for sem, name in (("identity", "plural"), ("select_arg1", "select_arg1_plural"),
                      ("delete_arg1", "delete_arg1_plural")):
        entries[name] = (sem, _set(0, pl))
    entries["uncountable"] = ("identity", _set(0, "uncountable"))
    for sem, name in (("identity", "concord_singular"),
                      ("select_left", "select_left_concord_singular"),
                      ("select_left2_disjoint", "select_left2_disjoint_concord_singular"),
                      ("select_left_delete_head", "select_left_delete_head_concord_singular"),
                      ("delete_not", "delete_not_concord_singular"),
                      ("delete_args", "delete_args_concord_singular")):
        entries[name] = (sem, _set(1, sg))
    for sem, name in (("identity", "concord_plural"), ("delete_not", "delete_not_concord_plural"),
                      ("delete_count_head", "delete_count_head_concord_plural")):
        entries[name] = (sem, _set(1, pl))
    entries["concord_uncountable"] = ("identity", _set(1, "uncountable"))
    entries["concord_non_singular"] = ("identity", _set(1, "non_sg"))
    entries["concord_non_plural"] = ("identity", _set(1, "non_pl"))
    entries["concord_non_plural_keep_singular"] = (
        "identity", _Rule(requires=((0, frozenset({sg})),), sets=((1, "non_pl"),)))
    entries["concord_all"] = ("identity", _Rule(requires=((0, frozenset(NUMBERS) - {sg}),),
                                                sets=((1, "all"),)))
    keep_sg = (sg, "non_pl", "all")
    entries["keep_concord_singular"] = ("identity", _keep(1, keep_sg, sg))
    entries["empty_tuple_only_keep_concord_singular"] = ("empty_tuple_only", _keep(1, keep_sg, sg))
    entries["keep_concord_plural"] = ("identity", _keep(1, (pl, "non_sg", "all"), pl))
    entries["keep_concord_uncountable"] = (
        "identity", _keep(1, ("uncountable", "non_sg", "non_pl", "all"), "uncountable"))
    entries["keep_singular"] = ("identity", _keep(0, (sg, "non_pl"), sg))
    entries["keep_plural"] = ("identity", _keep(0, (pl, "non_sg"), pl))
    entries["delete_args_keep_plural"] = ("delete_args", _keep(0, (pl, "non_sg"), pl))
    entries["keep_uncountable"] = (
        "identity", _keep(0, ("uncountable", "non_sg", "non_pl"), "uncountable"))
    entries["present_participle"] = ("identity", _set(2, "present_participle"))
    entries["past_participle"] = ("identity", _set(2, "past_participle"))
    entries["flip_predicate_past_participle"] = ("flip_predicate", _set(2, "past_participle"))
    keep_pp = ("past_participle", "none")
    entries["keep_present_participle"] = (
        "identity", _keep(2, ("present_participle", "none"), "present_participle"))
    entries["keep_past_participle"] = ("identity", _keep(2, keep_pp, "past_participle"))
    entries["flip_predicate_keep_past_participle"] = (
        "flip_predicate", _keep(2, keep_pp, "past_participle"))
    entries["infinitive"] = ("identity", _set(2, "infinitive"))
    entries["delete_not_infinitive"] = ("delete_not", _set(2, "infinitive"))
    entries["flip_predicate"] = ("flip_predicate", _COPY)
    coord = _Rule(coord=True)
    for sem in ("identity", "select_left", "select_left_disjoint",
                "select_left_delete_head_disjoint", "select_left2_disjoint", "delete_left",
                "delete_left_disjoint",
                "delete_left2_disjoint"):
        entries[f"{sem}_coord"] = (sem, coord)
    out = {name: SyntaxTransform(name, _semantic(sem), rule)
           for name, (sem, rule) in entries.items()}
    for name, pred in (("empty_arg2", _empty_arg2), ("empty_args", _empty_args),
                       ("arg2_zero_arity", _arg2_zero_arity), ("keep_null", _keep_null)):
        out[name] = SyntaxTransform(name, _filter(pred), _COPY)
    for name, tr in TRANSFORMS.items():
        out.setdefault(name, SyntaxTransform(name, tr, _RESET if name == "null" else _COPY))
    return out


SYNTAX_FUNCTIONS: dict[str, SyntaxTransform] = _table()
"""Every function name acting on roots: the syntactic ones and every plain semantic one."""


def known_function(name: str) -> bool:
    """True for a name usable in a grammar file (semantic or syntactic)."""
    return name in SYNTAX_FUNCTIONS


def _compose(name: str) -> list[SyntaxTransform]:
    out = []
    for n in (x.strip() for x in name.split(",")):
        if n not in SYNTAX_FUNCTIONS:
            raise ValueError(f"unknown transformation function {n!r}; known functions: "
                             f"{', '.join(sorted(SYNTAX_FUNCTIONS))}")
        out.append(SYNTAX_FUNCTIONS[n])
    return out


def apply_root(name: str, root: Root) -> Root | None:
    """Applies a function (or comma-separated composition) to a root, left to right.

    Example:
        >>> from grammar.logic import parse
        >>> apply_root("plural", Root(parse("river(A)"))).index
        'pl'
        >>> apply_root("keep_singular", Root(parse("river(A)"), index="pl")) is None
        True
    """
    for tr in _compose(name):
        root = tr.apply(root)
        if root is None:
            return None
    return root


def invert_root(name: str, s: RootSet | Root) -> RootSet | None:
    """The set of parent roots whose image lies in ``s`` (None when empty), right to left."""
    if isinstance(s, Root):
        s = RootSet((s.lf,), frozenset({s.index}), frozenset({s.concord}), frozenset({s.inf}))
    for tr in reversed(_compose(name)):
        s = tr.invert(s)
        if s is None:
            return None
    return s


def root_feature(name: str, root: Root | RootSet) -> Value:
    """Features of a root: ``number`` and ``inflection`` read the attributes; every other
    feature reads the LF (for a set, the value common to its patterns or a wildcard)."""
    if name == "number":
        concord, index = _one(root, "concord"), _one(root, "index")
        if concord is None:
            return Wildcard()
        if concord == "non_sg":
            return Wildcard(frozenset({"sg"}))
        if concord == "non_pl":
            return Wildcard(frozenset({"pl"}))
        return Wildcard() if index is None else index
    if name == "inflection":
        inf = _one(root, "inf")
        return Wildcard() if inf is None else inf
    lfs = (root.lf,) if isinstance(root, Root) else root.lfs
    values = {_lf_feature(name, lf) for lf in lfs}
    return values.pop() if len(values) == 1 else Wildcard()


def _one(root, attr):
    v = getattr(root, attr)
    if isinstance(root, Root):
        return v
    return next(iter(v)) if v is not None and len(v) == 1 else None
