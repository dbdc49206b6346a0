"""Type ontology (``geoqueries880_types`` format) and type checking of Datalog logical forms.

The ontology file has three kinds of line (``#`` starts a comment):

- ``mountain <: place`` — a subtype edge (the subtype relation is its reflexive-transitive closure);
- ``loc : city -> state -> t`` — one signature of a predicate (several lines overload it); a
  higher-order function such as ``largest : polity -> t`` constrains its bound variable; a
  constructor such as ``cityid : city -> state -> city`` types ``const(X, cityid(a, b))``;
- ``alabama : state`` / ``'new york' : city`` — the types of a constant.

An LF type-checks when every variable can be given one type such that each predicate occurrence
matches one of its signatures (argument type a subtype of the parameter type, constants of a
matching declared type, numbers of type ``i``). Predicates and constants the ontology does not
mention are unconstrained, as in the official ``type_check``. Deviation: the official code accepts
a variable whose required types are merely comparable pairwise; we require one type below all of
them (``mountain`` is below both ``place`` and ``nature``), and we solve overloads exactly by
backtracking instead of committing to the first match. The bound variable of a superlative
function (``largest``, ``highest``, ...) may also be a number (type ``i``), as in
``largest(B,(state(A),population(A,B)))``, which the ontology file does not declare.

References:
    ``datalog_ontology``, ``build_context`` and ``type_check`` in ``datalog.h`` of
    github.com/asaparov/parser; Saparov et al. (2017), §5 (type-checking configuration).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from grammar.logic import LF, Anon, Atom, Conj, Disj, List, Not, Num, Term, Var, parse
from grammar.logic_canonical import function_body, is_function

__all__ = ["Ontology", "read_ontology", "parse_ontology", "infer_types", "type_check"]

_MAX_SOLUTIONS = 256


@dataclass(frozen=True)
class Ontology:
    """A subtype lattice plus signatures.

    Attributes:
        supertypes: type -> all its supertypes (reflexive, transitive).
        signatures: predicate/function/constructor name -> tuple of signatures, each a tuple of
            parameter types followed by the result type.
        constants: constant name -> its declared types.
    """

    supertypes: dict[str, frozenset[str]]
    signatures: dict[str, tuple[tuple[str, ...], ...]]
    constants: dict[str, frozenset[str]]

    @property
    def types(self) -> frozenset[str]:
        """Every type that can be given to a variable (all named types except ``t``)."""
        return frozenset(self.supertypes) - {"t"}

    def below(self, t: str) -> frozenset[str]:
        """All subtypes of ``t`` (including ``t``)."""
        return frozenset(s for s, sup in self.supertypes.items() if t in sup)


def parse_ontology(text: str, *, source: str = "<string>") -> Ontology:
    """Parses ontology text (see the module docstring).

    Raises:
        ValueError: a malformed line, naming ``source:line``.
    """
    edges: list[tuple[str, str]] = []
    sigs: dict[str, list[tuple[str, ...]]] = {}
    consts: dict[str, set[str]] = {}
    names: set[str] = set()
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if "<:" in line:
            sub, _, sup = (p.strip() for p in line.partition("<:"))
            if not _is_name(sub) or not _is_name(sup):
                raise ValueError(f"{source}:{lineno}: expected 'subtype <: supertype', got {raw!r}")
            edges.append((sub, sup))
            names.update((sub, sup))
            continue
        m = re.fullmatch(r"('(?:[^'\\]|\\.)*'|[^\s:]+)\s*:\s*(.+)", line)
        if m is None:
            raise ValueError(f"{source}:{lineno}: expected 'name : type' or 'a <: b', got {raw!r}")
        name = m.group(1)
        if name.startswith("'"):
            name = parse(name).name
        parts = [p.strip() for p in m.group(2).split("->")]
        if not all(_is_name(p) for p in parts):
            raise ValueError(f"{source}:{lineno}: malformed type {m.group(2)!r}")
        names.update(parts)
        if len(parts) == 1:
            consts.setdefault(name, set()).add(parts[0])
        else:
            sigs.setdefault(name, []).append(tuple(parts))
    sup: dict[str, set[str]] = {n: {n} for n in names | {"e", "i", "t"}}
    changed = True
    while changed:
        changed = False
        for sub, s in edges:
            new = sup[s] - sup[sub]
            if new:
                sup[sub] |= new
                changed = True
        for n in sup:
            for m2 in list(sup[n]):
                if not sup[m2] <= sup[n]:
                    sup[n] |= sup[m2]
                    changed = True
    return Ontology({k: frozenset(v) for k, v in sup.items()},
                    {k: tuple(v) for k, v in sigs.items()},
                    {k: frozenset(v) for k, v in consts.items()})


def _is_name(s: str) -> bool:
    return re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", s) is not None


def read_ontology(path: str | Path) -> Ontology:
    """Reads an ontology file (e.g. ``grammar/data/geoquery/geoqueries880_types``)."""
    path = Path(path)
    return parse_ontology(path.read_text(), source=str(path))


def _constraints(lf: LF, onto: Ontology, out: list) -> None:
    """Collects (alternatives) constraints: each is a list of {var: allowed types} options."""
    if isinstance(lf, Not):
        _constraints(lf.body, onto, out)
        return
    if isinstance(lf, Conj | Disj | List):
        for x in lf.items:
            _constraints(x, onto, out)
        return
    if not isinstance(lf, Term):
        return
    if is_function(lf):
        i, body = function_body(lf)
        sigs = onto.signatures.get(lf.functor, ())
        var_args = [a for a in lf.args if isinstance(a, Var)]
        if sigs and var_args:
            # superlatives also range over numbers (``largest(B,(state(A),population(A,B)))``),
            # which the ontology file does not declare
            allowed = frozenset().union(*(onto.below(s[0]) for s in sigs if len(s) == 2))
            out.append([{var_args[0]: allowed | {"i"}}])
        _constraints(body, onto, out)
        return
    if lf.functor == "const" and len(lf.args) == 2 and isinstance(lf.args[0], Var):
        options = _value_types(lf.args[1], onto)
        if options is not None:
            out.append([{lf.args[0]: options}])
        return
    sigs = [s for s in onto.signatures.get(lf.functor, ()) if len(s) == len(lf.args) + 1]
    if not onto.signatures.get(lf.functor):
        return
    options = []
    for sig in sigs:
        opt: dict[Var, frozenset[str]] = {}
        ok = True
        for a, t in zip(lf.args, sig[:-1], strict=True):
            allowed = onto.below(t)
            if isinstance(a, Var):
                opt[a] = opt.get(a, allowed) & allowed
            elif isinstance(a, Anon):
                continue
            else:
                got = _value_types(a, onto)
                ok = ok and (got is None or bool(got & allowed))
        if ok:
            options.append(opt)
    out.append(options)


def _value_types(a: LF, onto: Ontology) -> frozenset[str] | None:
    """Possible types of a constant expression (None: unconstrained)."""
    if isinstance(a, Num):
        return frozenset({"i"})
    if isinstance(a, Atom):
        declared = onto.constants.get(a.name)
        return None if declared is None else frozenset().union(*(onto.below(t) for t in declared))
    if isinstance(a, Term):
        sigs = [s for s in onto.signatures.get(a.functor, ()) if len(s) == len(a.args) + 1]
        if not onto.signatures.get(a.functor):
            return None
        result: set[str] = set()
        for sig in sigs:
            if all(isinstance(x, Anon | Var) or (got := _value_types(x, onto)) is None
                   or got & onto.below(t) for x, t in zip(a.args, sig[:-1], strict=True)):
                result |= onto.below(sig[-1])
        return frozenset(result)
    return None


def infer_types(lf: LF, ontology: Ontology) -> dict[str, frozenset[str]] | None:
    """Finds a consistent typing of the variables of ``lf``.

    Args:
        lf: the logical form.
        ontology: from :func:`read_ontology`.

    Returns:
        ``{variable name: feasible types}`` (the union over the consistent choices of overloads,
        enumerating at most ``_MAX_SOLUTIONS`` of them), or ``None`` if no choice is consistent
        (the LF is ill-typed).

    Example:
        >>> onto = parse_ontology("river : river -> t\\nstate : state -> t\\n"
        ...                       "loc : river -> state -> t")
        >>> infer_types(parse("(river(A),loc(A,B),state(B))"), onto)["A"]
        frozenset({'river'})
        >>> infer_types(parse("(state(A),river(A))"), onto) is None
        True
    """
    if not isinstance(ontology, Ontology):
        raise TypeError(f"ontology: expected Ontology, got {type(ontology).__name__}")
    constraints: list[list[dict]] = []
    _constraints(lf, ontology, constraints)
    constraints.sort(key=len)
    universe = ontology.types

    solutions: list[dict[Var, frozenset[str]]] = []

    def solve(k: int, dom: dict[Var, frozenset[str]]) -> None:
        if len(solutions) >= _MAX_SOLUTIONS:
            return
        if k == len(constraints):
            solutions.append(dom)
            return
        for opt in constraints[k]:
            new = dict(dom)
            ok = True
            for v, allowed in opt.items():
                new[v] = new.get(v, universe) & allowed
                if not new[v]:
                    ok = False
                    break
            if ok:
                solve(k + 1, new)

    solve(0, {})
    if not solutions:
        return None
    merged: dict[str, frozenset[str]] = {}
    for sol in solutions:
        for v, t in sol.items():
            merged[v.name] = merged.get(v.name, frozenset()) | t
    return merged


def type_check(lf: LF, ontology: Ontology) -> bool:
    """True when ``lf`` has a consistent typing under ``ontology`` (see :func:`infer_types`)."""
    return infer_types(lf, ontology) is not None
