"""Completing a root LF set of the set search to concrete logical forms.

A root item of :func:`grammar.parse_sets.parse_sets` carries a pattern (:mod:`grammar.
transforms_sets`): open conjunct lists, wildcard arguments, free variables. :func:`complete` lists
the concrete LFs of the pattern that the training LFs make plausible, read from a
:class:`Vocabulary` of the training LFs (never a test LF):

- open conjunct lists are closed (to ``()`` only if training has ``()`` somewhere);
- a functor takes only arities it has in training;
- an argument takes only the *kinds* of argument its (functor, arity, position) has in training:
  a variable (one of the pattern's or a fresh one), the anonymous ``_``, a constant of a known
  type, a predicate or conjunction body; a wildcard argument is filled accordingly (``cityid
  (houston,*)`` becomes ``cityid(houston,_)``, never ``cityid(houston,B)``), and a completion
  with an argument of a kind never seen there (``const(B,const(portland,B))``) is dropped;
- with ``connected``, a completion in which some variable occurs only once (it connects
  nothing) is dropped unless a training LF has such a variable (none of the 600 GeoQuery
  training LFs does);
- an unknown predicate in an argument (a constant's type) becomes a training type of the same
  arity; an unknown conjunct, function, function body or whole LF has no completion.

These are restrictions to what training shows (stated, like the candidate search's; a test LF
with an argument kind never seen in training cannot be produced), not admissible bounds: they
rule out LFs that the prior scores as possible but that never occur in GeoQuery.

References:
    Saparov, Saraswat & Mitchell (CoNLL 2017), §4; ``datalog.h`` (``DATALOG_ANY`` arguments) in
    github.com/asaparov/parser.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from grammar.logic import LF, Anon, Atom, Conj, Disj, Empty, List, Not, Num, Term, Var
from grammar.logic_canonical import FUNCTIONS, is_function
from grammar.transforms import normalize
from grammar.transforms_sets import Any, AnyFunction, AnyPred, Seq, is_free

__all__ = ["Vocabulary", "complete"]


class Vocabulary:
    """What completion may use: the arities of every functor and the constant types, read from
    training LFs (never from a test LF).

    Args:
        lfs: training logical forms.
        argument_kinds: whether completion restricts each argument to the kinds of argument its
            (functor, arity, position) has in training (see the module); False: only arities.
        connected: whether completion drops LFs with a variable that occurs once, unless a
            training LF has one (see the module; off by default, as the exact search's tests
            range over every variable binding).
    """

    def __init__(self, lfs: Iterable[LF] = (), *, argument_kinds: bool = True,
                 connected: bool = False) -> None:
        self.arities: dict[str, set[int]] = {}
        self.types: set[str] = set()
        self.kinds: dict[tuple[str, int, int], set[str]] = {}
        self.n_lfs = 0
        self.empty_lists = False  # does an empty conjunct list ``()`` occur in training?
        self.singletons = False  # does a variable occur only once in some training LF?
        self.argument_kinds = argument_kinds
        self.connected = connected
        self._possible: dict[LF, bool] = {}
        lfs = list(lfs)
        for lf in lfs:
            self.n_lfs += 1
            self._walk(lf)
            self.singletons = self.singletons or _has_singleton(lf)
        for lf in lfs:
            self._walk_kinds(lf)

    @property
    def allows_empty_list(self) -> bool:
        """Whether completion may close an open list with nothing in it (only if training
        has ``()`` somewhere, or no training LFs were given)."""
        return self.empty_lists or self.n_lfs == 0

    def _walk(self, x: LF) -> None:
        if isinstance(x, Conj) and not x.items:
            self.empty_lists = True
        if isinstance(x, Term):
            self.arities.setdefault(x.functor, set()).add(len(x.args))
            if x.functor == "const" and len(x.args) == 2 and isinstance(x.args[1], Term):
                self.types.add(x.args[1].functor)
        for c in getattr(x, "children", ()) or ():
            self._walk(c)

    def _walk_kinds(self, x: LF) -> None:
        if isinstance(x, Term):
            for k, a in enumerate(x.args):
                self.kinds.setdefault((x.functor, len(x.args), k), set()).add(self.kind(a))
        for c in getattr(x, "children", ()) or ():
            self._walk_kinds(c)

    def kind(self, a: LF) -> str:
        """The kind of an argument: ``var``, ``_``, ``atom``, ``num``, ``const:TYPE`` (a term of
        a constant type), ``function``, ``body`` (a predicate, conjunction or negation) or
        ``other``."""
        if isinstance(a, Var):
            return "var"
        if isinstance(a, Anon):
            return "_"
        if isinstance(a, Atom):
            return "atom"
        if isinstance(a, Num):
            return "num"
        if isinstance(a, Term):
            if a.functor in self.types:
                return "const:" + a.functor
            return "function" if is_function(a) else "body"
        if isinstance(a, Conj | Not):
            return "body"
        return "other"

    def allowed(self, functor: str, arity: int, k: int) -> set[str] | None:
        """The argument kinds of a position in training (None: no restriction known)."""
        if not self.argument_kinds:
            return None
        return self.kinds.get((functor, arity, k))

    def valid(self, x: LF) -> bool:
        """Whether every argument of every term of ``x`` has a kind its position has in
        training (always True without ``argument_kinds``)."""
        if not self.argument_kinds:
            return True
        if isinstance(x, Term):
            for k, a in enumerate(x.args):
                ok = self.allowed(x.functor, len(x.args), k)
                if ok is not None and self.kind(a) not in ok:
                    return False
        return all(self.valid(c) for c in _children(x))

    def possible(self, s: LF) -> bool:
        """False when the pattern ``s`` has a term with a concrete argument of a kind its
        position never has in training (then no completion of ``s``, nor of any set whose
        members contain its members, is :meth:`valid`); memoised."""
        if not self.argument_kinds:
            return True
        hit = self._possible.get(s)
        if hit is None:
            hit = self._possible[s] = self._check(s)
        return hit

    def _check(self, x: LF) -> bool:
        if isinstance(x, Term):
            n = len(x.args)
            while n and isinstance(x.args[n - 1], Empty | Any):
                n -= 1  # trailing wildcards may be absent arguments: the arity is unknown
            exact = n == len(x.args)
            for k, a in enumerate(x.args[:n]):
                if isinstance(a, Any | Seq | AnyPred | AnyFunction | Empty):
                    continue
                if exact:
                    ok = self.allowed(x.functor, n, k)
                else:  # the argument's kind at any arity the functor has from n on
                    ar = [m for m in self.arities.get(x.functor, ()) if m >= n]
                    oks = [self.allowed(x.functor, m, k) for m in ar]
                    ok = None if not oks or None in oks else set().union(*oks)
                if ok is not None and self.kind(a) not in ok:
                    return False
        children = x.children if isinstance(x, Seq | AnyPred | AnyFunction) else _children(x)
        return all(self._check(c) for c in children)


def _children(x: LF):
    if isinstance(x, Term):
        return x.args
    if isinstance(x, Conj | Disj | List):
        return x.items
    if isinstance(x, Not):
        return (x.body,)
    return ()


def complete(s: LF, vocab: Vocabulary, *, limit: int = 2000,
             deadline: float | None = None) -> list[LF]:
    """Concrete LFs of the pattern ``s`` (normalised, deduplicated, at most ``limit``).

    ``deadline`` (a ``time.perf_counter()`` value) stops the enumeration once passed, keeping
    the completions found so far: with the pruning below most generated fillings can be
    rejected, so ``limit`` alone does not bound the time a large pattern takes.

    Open conjunct lists are closed; a wildcard argument of a predicate becomes a variable of the
    pattern or a fresh one, or is dropped where the functor's training arity allows it; an open
    list with no known conjunct closes to ``()``, and a completion contains ``()`` at all, only
    if training LFs contain ``()``; a free
    pattern variable becomes any variable; an unknown predicate in an argument (a constant's type)
    becomes a training type of the same arity. An unknown conjunct, function, function body or
    whole LF has no completion (returns ``[]``).
    """
    anchored: list[Var] = []
    _collect_vars(s, anchored)
    out: dict[LF, None] = {}
    for n_filled, (x, _) in enumerate(_fill(s, tuple(anchored), 0, vocab)):
        if deadline is not None and n_filled % 256 == 255 and time.perf_counter() > deadline:
            break
        if not vocab.allows_empty_list and _has_empty_list(x):
            continue  # e.g. ``const(B,())`` from a literal ``()`` in the set
        if not vocab.valid(x):
            continue  # an argument kind never seen at its position in training
        if vocab.connected and not vocab.singletons and _has_singleton(x):
            continue  # a variable that connects nothing, never seen in training
        out.setdefault(normalize(x), None)
        if len(out) >= limit:
            break
    return list(out)


def _has_singleton(x: LF) -> bool:
    """Whether some variable occurs exactly once in ``x``."""
    seen: dict[Var, int] = {}
    stack = [x]
    while stack:
        y = stack.pop()
        if isinstance(y, Var):
            seen[y] = seen.get(y, 0) + 1
        else:
            stack.extend(_children(y))
    return any(n == 1 for n in seen.values())


def _has_empty_list(x: LF) -> bool:
    if isinstance(x, Conj) and not x.items:
        return True
    return any(_has_empty_list(c) for c in _children(x))


def _collect_vars(x: LF, acc: list) -> None:
    if isinstance(x, Var) and not is_free(x):
        if x not in acc:
            acc.append(x)
        return
    for c in (x.children if isinstance(x, Seq | AnyPred | AnyFunction) else _children(x)):
        _collect_vars(c, acc)


def _var_choices(pool: tuple, fresh: int):
    for v in pool:
        yield v, pool, fresh
    v = Var(f"_N{fresh}")
    yield v, pool + (v,), fresh + 1


def _fill(x: LF, pool: tuple, fresh: int, vocab: Vocabulary, arg=False):
    """Yields ``(concrete, (pool, fresh))`` completions of ``x``; ``arg`` is False outside an
    argument, else True or the argument's ``(functor, arity, position)``."""
    if isinstance(x, Any):
        if not arg:
            return
        ok = vocab.allowed(*arg) if isinstance(arg, tuple) else None
        if ok is None or "var" in ok:
            for v, p, f in _var_choices(pool, fresh):
                yield v, (p, f)
        if ok is not None and "_" in ok:
            yield Anon(), (pool, fresh)
        return
    if is_free(x):
        for v, p, f in _var_choices(pool, fresh):
            yield v, (p, f)
        return
    if isinstance(x, AnyFunction):
        return
    if isinstance(x, AnyPred):
        if not arg:
            return
        for t in sorted(vocab.types):
            yield from _fill(Term(t, x.args), pool, fresh, vocab, arg=True)
        return
    if isinstance(x, Seq):
        items = x.prefix + x.suffix
        if not items and not vocab.allows_empty_list:
            return  # ``()`` never occurs in training (e.g. ``const(B,())`` on GeoQuery)
        for seq, st in _fill_all(items, pool, fresh, vocab, False):
            yield (seq[0] if len(seq) == 1 else Conj(seq)), st
        return
    if isinstance(x, Term):
        if x.functor in FUNCTIONS and any(isinstance(a, Any) and not a.nonempty and k > 0
                                          for k, a in enumerate(x.args)):
            return  # an unknown function body (a variable is never a body)
        args = list(x.args)
        n_fixed = len(args)
        while n_fixed and isinstance(args[n_fixed - 1], Any | Empty) and not (
                isinstance(args[n_fixed - 1], Any) and args[n_fixed - 1].nonempty):
            n_fixed -= 1
        lengths = sorted(a for a in vocab.arities.get(x.functor, {len(args)})
                         if n_fixed <= a <= max(len(args), n_fixed))
        if not lengths and not any(isinstance(a, Any) for a in args):
            lengths = [len(args)]
        for n in lengths:
            head = args[:n] + [Empty()] * (n - len(args))
            if any(isinstance(a, Empty) for a in head):
                continue
            for filled, st in _fill_all(tuple(head), pool, fresh, vocab,
                                        [(x.functor, n, k) for k in range(n)]):
                yield Term(x.functor, filled), st
        return
    if isinstance(x, Conj | Disj | List):
        for filled, st in _fill_all(x.items, pool, fresh, vocab, False):
            yield type(x)(filled), st
        return
    if isinstance(x, Not):
        for b, st in _fill(x.body, pool, fresh, vocab):
            yield Not(b), st
        return
    yield x, (pool, fresh)


def _fill_all(items: tuple, pool: tuple, fresh: int, vocab: Vocabulary, arg):
    """Completions of a tuple; ``arg`` is one flag for every item or a list of positions."""
    if not items:
        yield (), (pool, fresh)
        return
    a0, rest_args = (arg[0], arg[1:]) if isinstance(arg, list) else (arg, arg)
    for first, (p, f) in _fill(items[0], pool, fresh, vocab, a0):
        for rest, st in _fill_all(items[1:], p, f, vocab, rest_args):
            yield (first,) + rest, st

