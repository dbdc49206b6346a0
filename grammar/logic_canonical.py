"""Canonical form, equivalence and variable-scope checks for Datalog logical forms.

``canonical(lf)`` maps every LF to a representative of its equivalence class under

1. **conjunct order** (and duplicate conjuncts): conjunctions are sets; nested conjunctions and
   redundant parentheses are flattened; disjunct order is ignored too;
2. **variable renaming**: variables are relabelled ``A, B, C, ...`` in prefix order of the sorted
   form (anonymous ``_`` variables are distinct fresh variables);
3. **function scope**: inside a higher-order function such as ``largest(B, body)`` a conjunct that
   mentions none of the function's variables is moved out of the body, to the innermost enclosing
   function that does bind one of its variables, or else up to the nearest ``answer``/``\\+``
   (which block movement). So ``(state(A),largest(B,(city(B),loc(B,A))))`` and
   ``largest(B,(state(A),city(B),loc(B,A)))`` are equivalent (the example of the official commit
   68a3bd5, whose canonicaliser misses it). The official ``compute_maximal_scope`` makes this
   decision while scanning conjuncts left to right, so its result depends on conjunct order; ours
   does not.

Ordering conjuncts independently of variable names is graph canonisation: variables are coloured by
colour refinement (the multiset of (predicate, argument position, scope) occurrences, refined by
neighbours' colours), conjuncts are sorted by their text with colours in place of names, and ties
between conjuncts that remain indistinguishable are broken by trying their orders and keeping the
lexicographically smallest printed result (up to ``_MAX_TIE_ORDERS`` orders; LFs in GeoQuery and
Jobs need at most a handful).

``equivalent(a, b)`` is ``canonical(a) is canonical(b)`` (hash-consed identity).

References:
    ``canonicalize``, ``compute_maximal_scope``, ``equivalent`` and ``valid_variable_scope`` in
    ``datalog.h`` of github.com/asaparov/parser (the exact-match metric of Saparov et al. 2017).
"""

from __future__ import annotations

import itertools
from functools import lru_cache

from grammar.logic import LF, Anon, Atom, Conj, Disj, List, Not, Term, Var, to_text, variables

__all__ = ["FUNCTIONS", "BOUND_POSITIONS", "canonical", "equivalent", "check_scope",
           "is_function", "function_body"]

FUNCTIONS = frozenset({"answer", "count", "sum", "highest", "lowest", "longest", "shortest",
                       "largest", "smallest", "most", "fewest"})
"""Higher-order functions: one argument is a goal (the body), the others are variables."""

BOUND_POSITIONS = {"count": (0,), "sum": (0,), "most": (1,), "fewest": (1,)}
"""Argument positions of variables that are local to the function (``count(B, body, A)``: ``B``)."""

_BARRIERS = frozenset({"answer"})
_MAX_TIE_ORDERS = 720


def is_function(lf: LF) -> bool:
    """True for a higher-order function term ``f(V..., body)`` with ``f`` in :data:`FUNCTIONS`."""
    return (isinstance(lf, Term) and lf.functor in FUNCTIONS
            and sum(not isinstance(a, Var | Anon) for a in lf.args) == 1)


def function_body(lf: Term) -> tuple[int, LF]:
    """Index and value of the body argument of a higher-order function term."""
    for i, a in enumerate(lf.args):
        if not isinstance(a, Var | Anon):
            return i, a
    raise ValueError(f"function_body: {to_text(lf)} has no body argument")


def _conjuncts(lf: LF) -> list[LF]:
    """Flattens nested conjunctions into a list of conjuncts."""
    if isinstance(lf, Conj):
        out = []
        for x in lf.items:
            out.extend(_conjuncts(x))
        return out
    return [lf]


def _free(lf: LF) -> set[Var]:
    return set(variables(lf))


def _goal(lf: LF) -> tuple[list[LF], list[LF]]:
    """Normalises a goal; returns (conjuncts kept at this level, conjuncts escaping upward)."""
    kept: list[LF] = []
    escaped: list[LF] = []
    for c in _conjuncts(lf):
        if isinstance(c, Not):
            kept.append(Not(_rebuild(_barrier(c.body))))
        elif isinstance(c, Disj):
            kept.append(Disj(tuple(_rebuild(_barrier(x)) for x in c.items)))
        elif is_function(c):
            i, body = function_body(c)
            if c.functor in _BARRIERS:
                inner, out = _barrier(body), []
            else:
                keys = {a for a in c.args if isinstance(a, Var)}
                inner, out = [], []
                items, up = _goal(body)
                for x in items + up:
                    (inner if _free(x) & keys else out).append(x)
            args = list(c.args)
            args[i] = _rebuild(inner, force_tuple=True)
            kept.append(Term(c.functor, args))
            escaped.extend(out)
        else:
            kept.append(_term(c))
    return kept, escaped


def _barrier(lf: LF) -> list[LF]:
    items, up = _goal(lf)
    return items + up


def _rebuild(items: list[LF], force_tuple: bool = False) -> LF:
    uniq = list(dict.fromkeys(items))
    if len(uniq) == 1:
        return uniq[0]
    return Conj(tuple(uniq)) if (uniq or force_tuple) else Conj(())


def _term(lf: LF) -> LF:
    """Canonicalises a non-goal term: atoms lose unneeded quotes; nested goals are normalised."""
    if isinstance(lf, Atom):
        return Atom(lf.name)
    if isinstance(lf, Term):
        return Term(lf.functor, tuple(_rebuild(_barrier(a)) if isinstance(a, Conj | Not) else
                                      _term(a) for a in lf.args))
    if isinstance(lf, List):
        return List(tuple(_term(a) for a in lf.items))
    if isinstance(lf, Conj | Not | Disj):
        return _rebuild(_barrier(lf))
    return lf


# --------------------------------------------------------------------- labelling and sorting

def _fresh_anon(lf: LF) -> LF:
    """Replaces every ``_`` with a distinct fresh variable."""
    names = {v.name for v in variables(lf)}
    counter = itertools.count()

    def fresh() -> Var:
        while True:
            name = f"_G{next(counter)}"
            if name not in names:
                return Var(name)

    def go(x: LF) -> LF:
        if isinstance(x, Anon):
            return fresh()
        return _map_children(x, go)

    return go(lf)


def _map_children(x: LF, fn) -> LF:
    if isinstance(x, Term):
        return Term(x.functor, tuple(fn(a) for a in x.args))
    if isinstance(x, Conj | Disj | List):
        return type(x)(tuple(fn(a) for a in x.items))
    if isinstance(x, Not):
        return Not(fn(x.body))
    return x


def _shape(x: LF, names: dict[Var, str]) -> str:
    """Text of ``x`` with variables written by ``names`` (unknown variables as ``?``)."""
    if isinstance(x, Var):
        return names.get(x, "?")
    if isinstance(x, Term):
        return x.functor + "(" + ",".join(_shape(a, names) for a in x.args) + ")"
    if isinstance(x, Conj):
        return "(" + ",".join(_shape(a, names) for a in x.items) + ")"
    if isinstance(x, Disj):
        return "(" + ";".join(_shape(a, names) for a in x.items) + ")"
    if isinstance(x, List):
        return "[" + ",".join(_shape(a, names) for a in x.items) + "]"
    if isinstance(x, Not):
        return "\\+ " + _shape(x.body, names)
    return to_text(x)


def _colors(lf: LF) -> dict[Var, str]:
    """Colour refinement of variables by their occurrences (name independent)."""
    occ: list[tuple[str, tuple[Var, ...]]] = []

    def visit(x: LF, path: str) -> None:
        if isinstance(x, Term) and not is_function(x):
            vs = [a for a in x.args if isinstance(a, Var)]
            if vs or any(isinstance(a, Term) for a in x.args):
                occ.append((path + "/" + _shape(x, {}), tuple(a if isinstance(a, Var) else None
                                                               for a in x.args)))
            for a in x.args:
                if not isinstance(a, Var):
                    visit(a, path + "/" + x.functor)
        elif isinstance(x, Term):
            occ.append((path + "/" + x.functor + str(len(x.args)),
                        tuple(a if isinstance(a, Var) else None for a in x.args)))
            for a in x.args:
                visit(a, path + "/" + x.functor)
        elif isinstance(x, Not):
            visit(x.body, path + "/not")
        elif isinstance(x, Conj | Disj | List):
            for a in x.items:
                visit(a, path + "/" + type(x).__name__)

    visit(lf, "")
    color = {v: "" for v in variables(lf)}
    for _ in range(len(color) + 1):
        new = {v: [] for v in color}
        for label, vs in occ:
            ctx = ",".join(color[v] if v is not None else "-" for v in vs)
            for pos, v in enumerate(vs):
                if v is not None:
                    new[v].append(f"{label}@{pos}[{ctx}]")
        sig = {v: (color[v], tuple(sorted(s))) for v, s in new.items()}
        rank = {c: str(i) for i, c in enumerate(sorted(set(sig.values())))}
        new = {v: "#" + rank[c] for v, c in sig.items()}
        if len(set(new.values())) == len(set(color.values())):
            color = new
            break
        color = new
    return color


def _sorted(x: LF, names: dict[Var, str], choice: list[int], groups: list[int]) -> LF:
    """Sorts conjunctions/disjunctions by shape; ``choice`` picks an order for tied items."""
    x = _map_children(x, lambda a: _sorted(a, names, choice, groups))
    if isinstance(x, Conj | Disj):
        keyed = sorted(x.items, key=lambda a: _shape(a, names))
        out: list[LF] = []
        for _, grp in itertools.groupby(keyed, key=lambda a: _shape(a, names)):
            grp = list(grp)
            if len(grp) > 1:
                perms = list(itertools.permutations(grp)) if len(grp) <= 5 else [tuple(grp)]
                k = len(groups)
                groups.append(len(perms))
                grp = list(perms[choice[k] % len(perms)] if k < len(choice) else perms[0])
            out.extend(grp)
        return type(x)(tuple(out))
    return x


def _relabel(x: LF) -> LF:
    order = variables(x)
    letters = [_label(i) for i in range(len(order))]
    mapping = dict(zip(order, (Var(n) for n in letters), strict=True))
    return _rename(x, mapping)


def _label(i: int) -> str:
    return chr(ord("A") + i) if i < 26 else f"A{i}"


def _rename(x: LF, mapping: dict[Var, LF]) -> LF:
    if isinstance(x, Var):
        return mapping.get(x, x)
    return _map_children(x, lambda a: _rename(a, mapping))


@lru_cache(maxsize=65536)
def canonical(lf: LF) -> LF:
    """The canonical representative of ``lf`` (see the module docstring for the equivalences).

    Args:
        lf: a logical form.

    Returns:
        A hash-consed LF; ``canonical(a) is canonical(b)`` iff ``a`` and ``b`` are equivalent
        (modulo the documented tie-breaking bound).

    Example:
        >>> from grammar.logic import parse, to_text
        >>> to_text(canonical(parse("answer(X,(loc(X,Y),river(X)))")))
        'answer(A,(loc(A,B),river(A)))'
    """
    if not isinstance(lf, LF):
        raise TypeError(f"canonical: expected an LF, got {type(lf).__name__}")
    x = _fresh_anon(lf)
    x = _rebuild(_barrier(x)) if not isinstance(x, Atom | Var) else x
    colors = _colors(x)
    groups: list[int] = []
    first = _sorted(x, colors, [], groups)
    best = _relabel(first)
    n_orders = 1
    for g in groups:
        n_orders *= g
    if 1 < n_orders <= _MAX_TIE_ORDERS:
        best_text = to_text(best)
        for choice in itertools.product(*(range(g) for g in groups)):
            cand = _relabel(_sorted(x, colors, list(choice), []))
            text = to_text(cand)
            if text < best_text:
                best, best_text = cand, text
    return best


def equivalent(a: LF, b: LF) -> bool:
    """True when ``a`` and ``b`` have the same canonical form."""
    return canonical(a) is canonical(b)


def check_scope(lf: LF) -> list[str]:
    """Variable-scope problems of ``lf`` (empty list when well scoped).

    Rules (those of the official ``valid_variable_scope``, plus two existence checks): a local
    variable of ``count``/``sum`` (first argument) or ``most``/``fewest`` (second argument) must not
    occur before or after its function; every variable argument of ``answer`` and every local
    variable must occur in the function's body.
    """
    problems: list[str] = []
    state: dict[Var, int] = {}  # 1 seen, 2 out of scope

    def visit(x: LF) -> None:
        if isinstance(x, Var):
            if state.get(x) == 2:
                problems.append(f"variable {x.name} used outside the function that binds it")
            state.setdefault(x, 1)
            return
        if is_function(x):
            i, body = function_body(x)
            body_vars = set(variables(body))
            local = [x.args[p] for p in BOUND_POSITIONS.get(x.functor, ())
                     if p < len(x.args) and isinstance(x.args[p], Var)]
            for v in local:
                if v in state:
                    problems.append(f"local variable {v.name} of {x.functor} occurs before it")
            checked = local + ([a for a in x.args if isinstance(a, Var)]
                               if x.functor in _BARRIERS else [])
            for v in checked:
                if v not in body_vars:
                    problems.append(f"variable {v.name} of {x.functor} does not occur in its body")
            for a in x.args:
                visit(a)
            for v in local:
                state[v] = 2
            return
        for c in x.children:
            visit(c)

    visit(lf)
    return problems
