"""Compact sets of logical forms: LFs with wildcard parts, open conjunct lists and free variables.

The parser builds a chart item's LF bottom-up as the set of parent LFs consistent with its
children, so the inverse of a transformation function must return a *set*. Enumerating is
impossible (the set is infinite), so a set is a union of *patterns*. A pattern is an ordinary LF
(see :mod:`grammar.logic`) that may contain, anywhere:

- :class:`Any` (``*``): any LF; ``Any(nonempty=True)`` (``+``) anything but :class:`~grammar.logic.
  Empty`; ``Any(excluded=("answer",))`` anything whose top functor is not excluded;
- :class:`Seq`: a conjunct list whose first items match ``prefix`` and last items match
  ``suffix``; ``exact`` means nothing lies between (``(a,b)``), otherwise any number of conjuncts
  may (``(a,...)``, ``(...,b)``, ``(a,...,b)``). An LF's conjunct list is its items if it is a
  conjunction, ``[x]`` for a single predicate ``x``;
- :class:`AnyFunction`: a higher-order function term with any functor (or one not excluded) whose
  body matches a pattern;
- *free variables*, named ``_P1, _P2, ...``: they match any variable, injectively (within one
  group of a thousand: an intersection renames the second pattern's free variables to
  ``_P1001, ...``, since a free variable of one pattern may denote the same variable as a free
  variable of the other); every other variable is *anchored* and matches only itself.

``contains(s, lf)`` tests membership; ``intersect(s, t)`` returns a pattern union for the
intersection (free variables are unified with what they meet; the result may be a slight
over-approximation, which is safe for a parser that re-checks with ``contains``).

References:
    ``DATALOG_ANY``, ``DATALOG_NON_EMPTY``, tuple positions ``POSITION_LEFT/RIGHT/EXACT``, excluded
    label lists and ``intersect`` in ``datalog.h`` of github.com/asaparov/parser.
"""

from __future__ import annotations

import itertools

from grammar.logic import LF, Conj, Disj, Empty, List, Not, Term, Var, _intern, to_text, variables
from grammar.logic_canonical import is_function

__all__ = ["Any", "Seq", "AnyFunction", "AnyPred", "LFSet", "free_var", "is_free", "conjuncts",
           "match", "contains", "intersect", "ANY"]


class Any(LF):
    """Any LF (``*``); ``nonempty`` excludes Empty; ``excluded`` lists forbidden top functors."""

    __slots__ = ("nonempty", "excluded")
    _fields = ("nonempty", "excluded")

    def __new__(cls, nonempty: bool = False, excluded: tuple[str, ...] = ()):
        return _intern(cls, (bool(nonempty), tuple(sorted(set(excluded)))))

    def _text(self) -> str:
        base = "+" if self.nonempty else "*"
        return base + ("\\{" + ",".join(self.excluded) + "}" if self.excluded else "")


class Seq(LF):
    """A conjunct-list pattern: ``prefix``, then anything (unless ``exact``), then ``suffix``."""

    __slots__ = ("prefix", "suffix", "exact")
    _fields = ("prefix", "suffix", "exact")

    def __new__(cls, prefix=(), suffix=(), exact: bool = False):
        prefix, suffix = tuple(prefix), tuple(suffix)
        if exact and suffix:
            prefix, suffix = prefix + suffix, ()
        depth = 1 + max((x.depth for x in prefix + suffix), default=0)
        return _intern(cls, (prefix, suffix, bool(exact)), depth)

    @property
    def children(self):
        return self.prefix + self.suffix

    def _text(self) -> str:
        parts = [to_text(x) for x in self.prefix]
        if not self.exact:
            parts.append("...")
        parts += [to_text(x) for x in self.suffix]
        return "(" + ",".join(parts) + ")"


class AnyFunction(LF):
    """A higher-order function term with unknown functor (not in ``excluded``) and variables."""

    __slots__ = ("body", "excluded")
    _fields = ("body", "excluded")

    def __new__(cls, body: LF, excluded: tuple[str, ...] = ()):
        return _intern(cls, (body, tuple(sorted(set(excluded)))), 1 + body.depth)

    @property
    def children(self):
        return (self.body,)

    def _text(self) -> str:
        ex = "\\{" + ",".join(self.excluded) + "}" if self.excluded else ""
        return f"?f{ex}(...,{to_text(self.body)})"


ANY = Any()
LFSet = tuple  # a union of patterns: tuple[LF, ...]


def free_var(i: int) -> Var:
    """The ``i``-th free pattern variable ``_P{i}``."""
    return Var(f"_P{i}")


def is_free(v: LF) -> bool:
    """True for a free pattern variable."""
    return isinstance(v, Var) and v.name.startswith("_P") and v.name[2:].isdigit()


def conjuncts(x: LF) -> tuple[LF, ...] | None:
    """The conjunct list of an LF: items of a conjunction, ``(x,)`` for a predicate, else None."""
    if isinstance(x, Conj):
        return x.items
    if isinstance(x, Term) and not is_function(x) or isinstance(x, AnyPred):
        return (x,)
    return None


def _group(v: Var) -> int:
    """Free variables ``_P{i}`` fall in groups of 1000 (one per pattern an intersection came
    from); injectivity holds within a group only."""
    return int(v.name[2:]) // 1000


def _bind(env: dict, p: Var, x: LF) -> dict | None:
    if not isinstance(x, Var):
        return None
    if not is_free(p):
        return env if p is x else None
    if p in env:
        return env if env[p] is x else None
    group = _group(p)
    if any(w is x and _group(q) == group for q, w in env.items()):
        return None
    new = dict(env)
    new[p] = x
    return new


def match(p: LF, x: LF, env: dict | None = None) -> dict | None:
    """Matches a pattern against a concrete LF; returns the variable binding or None."""
    env = {} if env is None else env
    if isinstance(p, Any):
        if p.nonempty and isinstance(x, Empty):
            return None
        if p.excluded and isinstance(x, Term) and x.functor in p.excluded:
            return None
        return env
    if isinstance(p, Var):
        return _bind(env, p, x)
    if isinstance(p, Seq):
        items = conjuncts(x)
        if items is None:
            return None
        n, m = len(p.prefix), len(p.suffix)
        if (p.exact and len(items) != n) or len(items) < n + m:
            return None
        pairs = list(zip(p.prefix, items[:n])) + list(zip(p.suffix, items[len(items) - m:]))
        for q, y in pairs:
            env = match(q, y, env)
            if env is None:
                return None
        return env
    if isinstance(p, AnyFunction):
        if not is_function(x) or x.functor in p.excluded:
            return None
        body = next(a for a in x.args if not isinstance(a, Var))
        return match(p.body, body, env)
    if isinstance(p, AnyPred):
        if not isinstance(x, Term) or is_function(x) or x.functor in p.excluded:
            return None
        pa, xa = _pad(p.args, x.args)
        for q, y in zip(pa, xa, strict=True):
            env = match(q, y, env)
            if env is None:
                return None
        return env
    if type(p) is not type(x):
        return None
    if isinstance(p, Term):
        if p.functor != x.functor:
            return None
        pa, xa = _pad(p.args, x.args)
        if pa is None:
            return None
        for q, y in zip(pa, xa, strict=True):
            env = match(q, y, env)
            if env is None:
                return None
        return env
    if isinstance(p, Conj | Disj | List):
        if len(p.items) != len(x.items):
            return None
        for q, y in zip(p.items, x.items, strict=True):
            env = match(q, y, env)
            if env is None:
                return None
        return env
    if isinstance(p, Not):
        return match(p.body, x.body, env)
    return env if p is x else None


def _pad(a: tuple, b: tuple):
    """Pads argument tuples with Empty (a missing trailing argument is an empty one)."""
    n = max(len(a), len(b))
    return a + (Empty(),) * (n - len(a)), b + (Empty(),) * (n - len(b))


def contains(s: LFSet | LF, lf: LF) -> bool:
    """True when the concrete ``lf`` belongs to the pattern (union) ``s``."""
    patterns = s if isinstance(s, tuple) else (s,)
    return any(match(p, lf) is not None for p in patterns)


# ------------------------------------------------------------------------------ intersection

def _rename_free(p: LF, offset: int) -> LF:
    if is_free(p):
        return Var(f"_P{int(p.name[2:]) + offset}")
    if isinstance(p, Term):
        return Term(p.functor, tuple(_rename_free(a, offset) for a in p.args))
    if isinstance(p, Conj | Disj | List):
        return type(p)(tuple(_rename_free(a, offset) for a in p.items))
    if isinstance(p, Not):
        return Not(_rename_free(p.body, offset))
    if isinstance(p, Seq):
        return Seq(tuple(_rename_free(a, offset) for a in p.prefix),
                   tuple(_rename_free(a, offset) for a in p.suffix), p.exact)
    if isinstance(p, AnyFunction):
        return AnyFunction(_rename_free(p.body, offset), p.excluded)
    if isinstance(p, AnyPred):
        return AnyPred(tuple(_rename_free(a, offset) for a in p.args), p.excluded)
    return p


def _walk_subst(x: LF, sub: dict) -> LF:
    while isinstance(x, Var) and x in sub:
        x = sub[x]
    return x


def _apply(p: LF, sub: dict) -> LF:
    p = _walk_subst(p, sub)
    if isinstance(p, Term):
        return Term(p.functor, tuple(_apply(a, sub) for a in p.args))
    if isinstance(p, Conj | Disj | List):
        return type(p)(tuple(_apply(a, sub) for a in p.items))
    if isinstance(p, Not):
        return Not(_apply(p.body, sub))
    if isinstance(p, Seq):
        return Seq(tuple(_apply(a, sub) for a in p.prefix), tuple(_apply(a, sub) for a in p.suffix),
                   p.exact)
    if isinstance(p, AnyFunction):
        return AnyFunction(_apply(p.body, sub), p.excluded)
    if isinstance(p, AnyPred):
        return AnyPred(tuple(_apply(a, sub) for a in p.args), p.excluded)
    return p


def _meet(p: LF, q: LF, sub: dict) -> list[tuple[LF, dict]]:
    """All (pattern, substitution) pairs describing p ∩ q."""
    p, q = _walk_subst(p, sub), _walk_subst(q, sub)
    if p is q:
        return [(p, sub)]
    if isinstance(q, Any) and not isinstance(p, Any):
        p, q = q, p
    if isinstance(p, Any):
        if isinstance(q, Any):
            return [(Any(p.nonempty or q.nonempty, p.excluded + q.excluded), sub)]
        if p.nonempty and isinstance(q, Empty):
            return []
        if p.excluded and isinstance(q, Term) and q.functor in p.excluded:
            return []
        return [(q, sub)]
    if is_free(q) and not is_free(p):
        p, q = q, p
    if is_free(p):
        if isinstance(q, Var):
            new = dict(sub)
            new[p] = q
            return [(q, new)]
        return []
    if isinstance(p, Var) or isinstance(q, Var):
        return []
    if isinstance(q, Seq) and not isinstance(p, Seq):
        p, q = q, p
    if isinstance(p, Seq):
        items = conjuncts(q) if not isinstance(q, Seq) else None
        if isinstance(q, Seq):
            return _meet_seqs(p, q, sub)
        if items is None:
            return []
        return [(_unseq(r, q), s) for r, s in _meet_seqs(p, Seq(items, (), True), sub)]
    if isinstance(q, AnyFunction) and not isinstance(p, AnyFunction):
        p, q = q, p
    if isinstance(p, AnyFunction):
        if isinstance(q, AnyFunction):
            return [(AnyFunction(b, p.excluded + q.excluded), s)
                    for b, s in _meet(p.body, q.body, sub)]
        if not is_function(q) or q.functor in p.excluded:
            return []
        i = next(k for k, a in enumerate(q.args) if not isinstance(a, Var))
        out = []
        for b, s in _meet(p.body, q.args[i], sub):
            args = list(q.args)
            args[i] = b
            out.append((Term(q.functor, tuple(args)), s))
        return out
    if isinstance(q, AnyPred) and not isinstance(p, AnyPred):
        p, q = q, p
    if isinstance(p, AnyPred):
        if isinstance(q, AnyPred):
            pa, qa = _pad(p.args, q.args)
            return [(AnyPred(r, p.excluded + q.excluded), s) for r, s in _meet_all(pa, qa, sub)]
        if not isinstance(q, Term) or is_function(q) or q.functor in p.excluded:
            return []
        pa, qa = _pad(p.args, q.args)
        return [(Term(q.functor, _trim(r)), s) for r, s in _meet_all(pa, qa, sub)]
    if type(p) is not type(q):
        return []
    if isinstance(p, Term):
        if p.functor != q.functor:
            return []
        pa, qa = _pad(p.args, q.args)
        return [(Term(p.functor, _trim(r)), s) for r, s in _meet_all(pa, qa, sub)]
    if isinstance(p, Conj | Disj | List):
        if len(p.items) != len(q.items):
            return []
        return [(type(p)(r), s) for r, s in _meet_all(p.items, q.items, sub)]
    if isinstance(p, Not):
        return [(Not(b), s) for b, s in _meet(p.body, q.body, sub)]
    return []


def _trim(args: tuple) -> tuple:
    args = list(args)
    while args and isinstance(args[-1], Empty):
        args.pop()
    return tuple(args)


def _unseq(r: LF, original: LF) -> LF:
    """Turns an exact Seq result back into the concrete form of ``original``."""
    if isinstance(r, Seq) and r.exact and not isinstance(original, Conj) and len(r.prefix) == 1:
        return r.prefix[0]
    if isinstance(r, Seq) and r.exact:
        return Conj(r.prefix)
    return r


def _meet_all(ps, qs, sub) -> list[tuple[tuple, dict]]:
    results = [((), sub)]
    for p, q in zip(ps, qs, strict=True):
        results = [(acc + (r,), s2) for acc, s in results for r, s2 in _meet(p, q, s)]
        if not results:
            return []
    return results


def _meet_seqs(p: Seq, q: Seq, sub) -> list[tuple[LF, dict]]:
    out = []
    lo = max(len(p.prefix) + len(p.suffix), len(q.prefix) + len(q.suffix))
    hi_p = len(p.prefix) if p.exact else None
    hi_q = len(q.prefix) if q.exact else None
    fixed = [h for h in (hi_p, hi_q) if h is not None]
    if fixed:
        lengths = [fixed[0]] if all(f == fixed[0] for f in fixed) else []
    else:
        lengths = list(range(lo, len(p.prefix) + len(p.suffix) + len(q.prefix) + len(q.suffix)))
    for n in lengths:
        if n < lo:
            continue
        for r, s in _meet_all(_expand(p, n), _expand(q, n), sub):
            out.append((Seq(r, (), True), s))
    if not fixed:  # the open case: longest prefix and suffix, anything between
        a = max(p.prefix, q.prefix, key=len)
        b = max(p.suffix, q.suffix, key=len)
        pre = _meet_all(tuple(_expand_prefix(p, len(a))), tuple(_expand_prefix(q, len(a))), sub)
        for pr, s in pre:
            suf = _meet_all(tuple(_expand_suffix(p, len(b))), tuple(_expand_suffix(q, len(b))), s)
            out.extend((Seq(pr, sf, False), s2) for sf, s2 in suf)
    return out


def _expand(p: Seq, n: int) -> tuple:
    mid = n - len(p.prefix) - len(p.suffix)
    return p.prefix + (ANY,) * mid + p.suffix


def _expand_prefix(p: Seq, n: int) -> list:
    return list(p.prefix[:n]) + [ANY] * (n - len(p.prefix))


def _expand_suffix(p: Seq, n: int) -> list:
    return [ANY] * (n - len(p.suffix)) + list(p.suffix[-n:] if n else [])


def intersect(s: LFSet | LF, t: LFSet | LF) -> LFSet:
    """Intersection of two pattern unions (a union of patterns; ``()`` when empty).

    Example:
        >>> from grammar.logic import parse
        >>> left = Seq((parse("city(A)"),), (), False)
        >>> right = Seq((ANY, parse("loc(A,B)")), (), True)
        >>> to_text(intersect(left, right)[0])
        '(city(A),loc(A,B))'
    """
    ps = s if isinstance(s, tuple) else (s,)
    qs = t if isinstance(t, tuple) else (t,)
    out: dict[LF, None] = {}
    top = max((_group(v) for p in ps for v in variables(p) if is_free(v)), default=-1)
    for p, q in itertools.product(ps, qs):
        q = _rename_free(q, 1000 * (top + 1))
        for r, sub in _meet(p, q, {}):
            out.setdefault(_apply(r, sub) if sub else r, None)
    return tuple(out)


class AnyPred(LF):
    """A predicate (non-function term) with any functor not in ``excluded`` and the given
    (padded to three) argument patterns."""

    __slots__ = ("args", "excluded")
    _fields = ("args", "excluded")

    def __new__(cls, args: tuple, excluded: tuple[str, ...] = ()):
        args = tuple(args)
        return _intern(cls, (args, tuple(sorted(set(excluded)))),
                       1 + max((a.depth for a in args), default=0))

    @property
    def children(self):
        return self.args

    def _text(self) -> str:
        ex = "\\{" + ",".join(self.excluded) + "}" if self.excluded else ""
        return f"?p{ex}(" + ",".join(to_text(a) for a in self.args) + ")"
