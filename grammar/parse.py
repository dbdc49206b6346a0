"""Parsing: ``argmax_{x, t} p(x) p(y, t | x)`` by bounds + best-first search over candidate LFs.

1. **Bounds pass** (LF unknown): for every span and nonterminal an upper bound on the log inside
   score maximised over all LFs, from the HDP path-set maxima (:meth:`grammar.hdp.Predictor.bound`
   with every feature a wildcard) and, for unregistered words, the largest unseen-atom mass times
   the base probability. The root cell bounds ``max_{x,t} log p(y, t | x)``.
2. **A* over candidate LFs.** Each candidate gets the admissible priority ``log p(x) + b(x)``,
   where ``b(x)`` scores the top ``depth`` levels of the derivation exactly under ``x`` (the rules
   that apply to ``x`` and their HDP probabilities at ``x``'s feature paths, every split) and the
   levels below with the LF-free bounds of step 1. Candidates are popped in decreasing priority
   and scored by the exact Viterbi chart (:func:`grammar.chart.viterbi`, items shared across
   candidates through one memo); the search stops when the next priority is below the k-th best
   score found, so the k-best list is exact over the candidate set. A per-sentence time limit
   returns the best parses found so far (flagged ``timed_out``).

**Deviation from the paper.** The official parser builds LFs bottom-up as *sets* (intersecting the
inverse images of the transformation functions) and searches chart items keyed by (nonterminal,
span, LF set); that search is :func:`grammar.parse_sets.parse_sets` (exact on small grammars,
too slow on GeoQuery within a per-sentence limit, see its docstring). Here the LF space is an
explicit candidate set: either given (a tiny domain, where the result is the exact argmax over
every LF), or, for GeoQuery, :class:`CandidateSpace` — every training LF with its constants
replaced by constants the trained lexicon recognises in the sentence. LFs whose structure never
occurs in training are therefore out of reach. The gold LF is never used at test time. Rule
probabilities come from ``model.log_rule``; pass a :class:`grammar.rule_table.RuleTable` as the
model to read them from one jit predictive pass per HDP instead.

References:
    ``parse`` (``MODE_COMPUTE_BOUNDS``, ``MODE_PARSE``) in ``parser.h`` of
    github.com/asaparov/grammar; Saparov, Saraswat & Mitchell (CoNLL 2017), §4.
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from grammar import hdp
from grammar.chart import viterbi
from grammar.derivation import NEG_INF, GrammarModel
from grammar.logic import LF, Anon, Atom, Conj, Not, Term, walk
from grammar.transforms import normalize
from probtree import Tree

__all__ = ["Parse", "ParseResult", "sentence_bounds", "parse", "CandidateSpace",
           "unknown_words", "check_query"]


@dataclass(frozen=True)
class Parse:
    """One parse: the LF, its derivation and ``log p(x)``, ``log p(y, t | x)`` and their sum."""

    lf: LF
    derivation: Tree
    log_prior: float
    log_likelihood: float

    @property
    def score(self) -> float:
        return self.log_prior + self.log_likelihood


@dataclass(frozen=True)
class ParseResult:
    """k-best parses (best first) and search diagnostics."""

    parses: tuple[Parse, ...]
    unknown_words: tuple[str, ...]
    n_candidates: int
    n_scored: int
    timed_out: bool
    seconds: float
    root_bound: float = field(default=NEG_INF)
    n_items: int = 0  # chart items popped (the set search)
    source: str | None = None  # which search gave the best parse (union / cascade)

    @property
    def best(self) -> Parse | None:
        return self.parses[0] if self.parses else None


def _predictors(model: GrammarModel) -> dict[str, hdp.Predictor]:
    return {n: hdp.Predictor.from_state(s, backend="numpy") for n, s in model.states.items()}


def _atom_bound(pred: hdp.Predictor, cache: dict, atom) -> float:
    if "all" not in cache:
        f = pred.state.model.n_levels
        cache["all"] = pred.bound((hdp.ANY,) * f)
        cache["unseen"] = float(np.max(pred.unseen_bound))
    a = pred.state.atom_id(atom)
    if a is not None:
        p = float(cache["all"][a])
    else:
        p = cache["unseen"] * pred._unseen(atom)
    return math.log(p) if p > 0 else NEG_INF


def sentence_bounds(model: GrammarModel, tokens, *, max_open_tokens: int = 4,
                    predictors: dict | None = None) -> dict[tuple[str, int, int], float]:
    """Upper bounds ``(A, i, j) -> max_{x, t} log p(tokens[i:j], t | A, x)`` (LF unknown)."""
    tokens = tuple(tokens)
    preds = predictors if predictors is not None else _predictors(model)
    caches: dict[str, dict] = {n: {} for n in preds}
    n = len(tokens)
    out: dict[tuple[str, int, int], float] = {}
    nts = [a for a in model.grammar.nonterminals if model.kind(a) == "nonterminal"]
    rule_b = {a: [(_atom_bound(preds[a], caches[a], atom), tuple(b for b, _ in kids))
                  for atom, kids in model.rules.get(a, ())] for a in nts}

    def best_split(kids, i, j):
        if len(kids) == 1:
            return out.get((kids[0], i, j), NEG_INF)
        best = NEG_INF
        for m in range(i + 1, j - len(kids) + 2):
            left = out.get((kids[0], i, m), NEG_INF)
            if left > NEG_INF:
                best = max(best, left + best_split(kids[1:], m, j))
        return best

    for length in range(1, n + 1):
        for i in range(0, n - length + 1):
            j = i + length
            span = tokens[i:j]
            for a in model.grammar.nonterminals:
                k = model.kind(a)
                if k == "number_preterminal":
                    ok = length == 1 and _is_number(span[0])
                    out[(a, i, j)] = 0.0 if ok else NEG_INF
                elif k != "nonterminal":
                    if model.is_open(a) and length > max_open_tokens:
                        out[(a, i, j)] = NEG_INF
                    else:
                        out[(a, i, j)] = _atom_bound(preds[a], caches[a], span)
            for _ in range(len(nts) + 1):  # relax unary chains to a fixed point
                changed = False
                for a in nts:
                    best = out.get((a, i, j), NEG_INF)
                    for rb, kids in rule_b[a]:
                        if rb == NEG_INF or len(kids) > length:
                            continue
                        s = rb + best_split(kids, i, j)
                        if s > best + 1e-12:
                            best, changed = s, True
                    out[(a, i, j)] = best
                if not changed:
                    break
    return out


class _LFBound:
    """Admissible bound of the Viterbi score of a concrete LF: the rules of the top ``depth``
    levels are scored under the LF (exactly, as in the chart), the rest by the LF-free bounds."""

    def __init__(self, model: GrammarModel, tokens, bounds: dict, max_open: int) -> None:
        self.model, self.tokens, self.bounds, self.max_open = model, tuple(tokens), bounds, max_open
        self.memo: dict = {}

    def __call__(self, a: str, x: LF, i: int, j: int, d: int) -> float:
        m = self.model
        if m.kind(a) != "nonterminal":
            if m.is_open(a) and j - i > self.max_open:
                return NEG_INF
            return m.log_rule(a, x, self.tokens[i:j])
        if d <= 0:
            return self.bounds.get((a, i, j), NEG_INF)
        key = (a, x, i, j, d)
        if key in self.memo:
            return self.memo[key]
        self.memo[key] = NEG_INF  # a unary cycle contributes nothing (as in the chart)
        best = NEG_INF
        if m.path(a, x) is not None:
            for atom, kids in m.expansions(a, x):
                if len(kids) > j - i:
                    continue
                lr = m.log_rule(a, x, atom)
                if lr > NEG_INF:
                    best = max(best, lr + self._split(kids, i, j, d - 1))
        self.memo[key] = best
        return best

    def _split(self, kids, i: int, j: int, d: int) -> float:
        if len(kids) == 1:
            return self(kids[0][0], kids[0][1], i, j, d)
        key = ("split", kids, i, j, d)
        if key in self.memo:
            return self.memo[key]
        best = NEG_INF
        for m in range(i + 1, j - len(kids) + 2):
            left = self(kids[0][0], kids[0][1], i, m, d)
            if left > NEG_INF:
                best = max(best, left + self._split(kids[1:], m, j, d))
        self.memo[key] = best
        return best


def _is_number(tok: str) -> bool:
    try:
        float(tok)
    except ValueError:
        return False
    return True


def unknown_words(model: GrammarModel, tokens) -> tuple[str, ...]:
    """Tokens that no closed-class preterminal lists and no open one has ever emitted."""
    known: set[str] = set()
    for words in model.words.values():
        for w in words:
            known.update(w)
    for name, st in model.states.items():
        if model.is_open(name):
            for a in st.atoms:
                if isinstance(a, tuple):
                    known.update(a)
    return tuple(dict.fromkeys(t for t in tokens if t not in known and not _is_number(t)))


def check_query(tokens, k: int) -> tuple[str, ...]:
    """The sentence as a tuple, after checking it is non-empty and ``k >= 1``.

    Raises:
        ValueError: ``k < 1`` or an empty sentence.
    """
    if k < 1:
        raise ValueError(f"k: expected a positive integer, got {k}")
    tokens = tuple(tokens)
    if not tokens:
        raise ValueError("tokens: expected a non-empty sentence")
    return tokens


def parse(model: GrammarModel, tokens, candidates: Iterable[LF], *,
          log_prior: Callable[[LF], float] | None = None, k: int = 1,
          time_limit: float | None = None, max_open_tokens: int = 4,
          predictors: dict | None = None, depth: int = 2) -> ParseResult:
    """k-best parses of ``tokens`` over the LF set ``candidates``.

    Args:
        model: the trained grammar model.
        tokens: the sentence.
        candidates: the LF hypothesis space (see the module docstring).
        log_prior: ``log p(x)`` (default uniform: 0); ``-inf`` rules an LF out.
        k: how many parses to return.
        time_limit: seconds; past it the best parses found so far are returned.
        max_open_tokens: longest phrase an open-class preterminal may emit.
        predictors: cached ``{name: Predictor}`` for the bounds pass (built when omitted).
        depth: levels of the derivation scored with the candidate's own LF in its A* bound
            (below them, the LF-free bounds pass); 0 gives the plain ``log p(x) + root bound``.

    Returns:
        A :class:`ParseResult`.

    Raises:
        ValueError: ``k < 1`` or an empty sentence.
    """
    t0 = time.perf_counter()
    timed_out = False
    tokens = check_query(tokens, k)
    prior = log_prior or (lambda x: 0.0)
    bounds = sentence_bounds(model, tokens, max_open_tokens=max_open_tokens,
                             predictors=predictors)
    root = bounds.get((model.start, 0, len(tokens)), NEG_INF)
    n = len(tokens)
    lfb = _LFBound(model, tokens, bounds, max_open_tokens)
    scored = []
    n_cand = 0
    for x in dict.fromkeys(normalize(c) for c in candidates):
        n_cand += 1
        if time_limit is not None and time.perf_counter() - t0 > time_limit:
            timed_out = True
            break
        lp = prior(x)
        if lp == NEG_INF or root == NEG_INF:
            continue
        b = lfb(model.start, x, 0, n, depth)
        if b > NEG_INF:
            scored.append((lp + b, lp, x))
    scored.sort(key=lambda p: -p[0])
    best: list[tuple[float, int, Parse]] = []  # min-heap of the k best
    memo: dict = {}
    n_scored, tie = 0, itertools.count()
    for bound, lp, x in scored:
        if timed_out or (len(best) == k and bound < best[0][0]):
            break
        if time_limit is not None and time.perf_counter() - t0 > time_limit:
            timed_out = True
            break
        ll, tree = viterbi(model, tokens, x, memo=memo, max_open_tokens=max_open_tokens)
        n_scored += 1
        if tree is None:
            continue
        item = (lp + ll, next(tie), Parse(x, tree, lp, ll))
        if len(best) < k:
            heapq.heappush(best, item)
        elif item[0] > best[0][0]:
            heapq.heapreplace(best, item)
    parses = tuple(p for _, _, p in sorted(best, key=lambda b: (-b[0], b[1])))
    return ParseResult(parses, unknown_words(model, tokens), n_cand, n_scored, timed_out,
                       time.perf_counter() - t0, root)


def _const_slots(lf: LF) -> list[LF]:
    """The constant terms ``K`` of every ``const(V, K)`` in ``lf`` (in order, repeated)."""
    return [x.args[1] for x in walk(lf)
            if isinstance(x, Term) and x.functor == "const" and len(x.args) == 2]


def _name_of(k: LF) -> str | None:
    if isinstance(k, Term) and k.args and isinstance(k.args[0], Atom):
        return k.args[0].name
    if isinstance(k, Atom):
        return k.name
    return None


def _replace(lf: LF, mapping: dict) -> LF:
    if lf in mapping:
        return mapping[lf]
    if isinstance(lf, Term):
        return Term(lf.functor, tuple(_replace(a, mapping) for a in lf.args))
    if isinstance(lf, Conj):
        return Conj(tuple(_replace(a, mapping) for a in lf.items))
    if isinstance(lf, Not):
        return Not(_replace(lf.body, mapping))
    return lf


class CandidateSpace:
    """Candidate LFs for a sentence: training LFs with constants swapped for recognised ones.

    Args:
        model: the trained grammar model; every observation of a preterminal keyed by the
            ``constant`` feature maps a token sequence to a constant name.
        train_lfs: the training logical forms (the structures).
        max_span: longest token span looked up as a constant mention.
    """

    def __init__(self, model: GrammarModel, train_lfs: Iterable[LF], *, max_span: int = 4
                 ) -> None:
        self.max_span = max_span
        self.names: dict[tuple[str, ...], set[str]] = {}
        self.second_names: set[str] = set()
        """Names emitted by preterminals that only fill second arguments (``*_ARG2``)."""
        for name, st in model.states.items():
            feats = model.grammar.nonterminals[name].features
            if "constant" not in feats:
                continue
            i = feats.index("constant")
            for _, path, atom in st.observations():
                if isinstance(atom, tuple) and isinstance(path[i], str):
                    self.names.setdefault(atom, set()).add(path[i])
                    if name.endswith("_ARG2"):
                        self.second_names.add(path[i])
        self.templates: dict[LF, list[LF]] = {}
        self.terms: dict[str, set[LF]] = {}
        for lf in train_lfs:
            lf = normalize(lf)
            slots = list(dict.fromkeys(_const_slots(lf)))
            self.templates.setdefault(lf, slots)
            for s in slots:
                nm = _name_of(s)
                if nm is not None:
                    self.terms.setdefault(nm, set()).add(s)
        self.shapes: dict[str, set[LF]] = {}
        for terms in self.terms.values():
            for t in terms:
                if isinstance(t, Term):
                    self.shapes.setdefault(t.functor, set()).add(t)

    def mentions(self, tokens) -> list[str]:
        """Constant names whose words occur in ``tokens``."""
        tokens = tuple(tokens)
        out: dict[str, None] = {}
        for i in range(len(tokens)):
            for j in range(i + 1, min(len(tokens), i + self.max_span) + 1):
                for nm in sorted(self.names.get(tokens[i:j], ())):
                    out.setdefault(nm, None)
        return list(out)

    def _fillers(self, name: str, slot: LF, second: list[str]) -> list[LF]:
        """Terms for constant ``name`` in ``slot``: those seen with this name and type in
        training, and the slot's own shape with the name as first argument (second argument:
        the slot's, ``_``, or a second-argument constant mentioned in the sentence)."""
        functor = getattr(slot, "functor", None)
        out = dict.fromkeys(t for t in self.terms.get(name, ())
                            if getattr(t, "functor", None) == functor)
        if isinstance(slot, Term) and slot.args:
            out.setdefault(Term(slot.functor, (Atom(name),) + slot.args[1:]), None)
            if len(slot.args) == 2:
                for b in ["_"] + second:
                    arg = Anon() if b == "_" else Atom(b)
                    out.setdefault(Term(slot.functor, (Atom(name), arg)), None)
        return list(out)

    def __call__(self, tokens) -> list[LF]:
        """Every candidate LF for ``tokens`` (deduplicated)."""
        names = self.mentions(tokens)
        second = [nm for nm in names if nm in self.second_names]
        out: dict[LF, None] = {}
        for lf, slots in self.templates.items():
            if len(slots) > len(names):
                continue
            if not slots:
                out.setdefault(lf, None)
                continue
            for assign in itertools.permutations(names, len(slots)):
                choices = [self._fillers(nm, s, second)
                           for nm, s in zip(assign, slots, strict=True)]
                for fill in itertools.product(*choices):
                    out.setdefault(_replace(lf, dict(zip(slots, fill, strict=True))), None)
        return list(out)
