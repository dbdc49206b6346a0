"""Leaf items of the set search from the LFs that training put at each preterminal.

The exact leaves of :func:`grammar.parse_sets.parse_sets` come from each preterminal's HDP path
set over the words: every stored feature path gives an item whose LF set is ``*`` narrowed to
that path's feature values (``(state(*,*,*),...)`` for ``N_PREDICATE`` at ``predicate_only =
state``), plus the remainder path (``*``). On GeoQuery that is exact but loose in two ways that
make the search slow: the variables of a leaf are unknown (wildcards that completion enumerates),
and every open-class word has mass at every stored path through the HDP's base distribution
(about ``e^-9`` per token), so each word starts dozens of items.

A :class:`LeafLexicon` replaces the leaves of every preterminal *with features* (the featureless
ones, ``WHAT``, ``QUESTION``, ..., keep the exact ``*`` leaf: their rule probability does not
depend on the LF) by the concrete LFs seen at that preterminal in the training derivations and
the lexicon (``state(A)``, ``next_to(A,B)``, ``next_to(B,A)``, ``largest(A,())``, ``texas``, ...,
with the head-variable convention of :mod:`grammar.transforms` already applied, so the variables
are fixed), each scored by its exact predictive ``log p(words | B, path(x))``. Then a per-span
pruning keeps only the leaves with non-negligible mass:

    keep ``(B, i, j, x)`` iff ``log p(y_i..j | B, x) >= seg(i, j) - beam``,

where ``seg(i, j)`` is the best score of any segmentation of the span into leaves (a Viterbi pass
over the best leaf of each sub-span, featureless leaves included). A word seen in training at
some preterminal scores near 0 there, so its base-distribution readings (``e^-9`` and below) are
dropped; an unknown word keeps every reading within ``beam`` of its best; a multi-word span is
kept only if it is not explained ``beam`` nats better by shorter leaves (``new jersey`` as one
constant is kept, ``states border`` as one constant is not).

**Deviation (stated, not admissible).** The search with a leaf lexicon is not exact: an LF whose
derivation needs a leaf LF never seen at that preterminal in training, or a leaf pruned by the
beam, cannot be produced. It is much weaker than the candidate search's restriction (whole
training LF structures): leaves recombine into LF structures that never occur in training.

References:
    Saparov, Saraswat & Mitchell (CoNLL 2017), §4 (the parser's leaf items); Klein & Manning
    (2003) on the cost of loose A* bounds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from grammar.derivation import GrammarModel
from grammar.features import EMPTY
from grammar.grammar import LexiconItem
from grammar.logic import LF, Atom
from grammar.transforms import normalize

__all__ = ["LeafLexicon"]


class LeafLexicon:
    """The leaf LFs of each featured preterminal and the pruning beam.

    Args:
        lfs: ``{preterminal: LFs}``: the LFs a preterminal may carry (training leaf LFs).
        beam: nats below the span's best segmentation a leaf may score and be kept (must be
            ``>= 0``; ``math.inf`` keeps every training leaf LF).

    Raises:
        ValueError: a negative beam or an empty LF list.
    """

    def __init__(self, lfs: dict[str, Iterable[LF]], *, beam: float = 6.0) -> None:
        if not beam >= 0:
            raise ValueError(f"beam: expected a non-negative number of nats, got {beam}")
        self.beam = float(beam)
        self.lfs: dict[str, tuple[LF, ...]] = {}
        for b, xs in lfs.items():
            xs = tuple(dict.fromkeys(xs))
            if not xs:
                raise ValueError(f"lfs: preterminal {b!r} has no LFs")
            self.lfs[b] = xs

    @classmethod
    def from_training(cls, model: GrammarModel, trees: Iterable,
                      lexicon: Iterable[LexiconItem] = (), *, beam: float = 6.0) -> LeafLexicon:
        """The leaf LFs of the featured preterminals in training derivations and the lexicon.

        Args:
            model: the grammar model.
            trees: training derivations (:class:`probtree.Tree` of :class:`~grammar.derivation.
                Step`, None entries skipped), e.g. ``TrainState.trees``.
            lexicon: lexicon items (their LFs, normalised, at their preterminal). A preterminal
                whose only feature is ``constant`` also gets the constant of every path its
                HDP has observations at (so a saved model's lexicon constants are found
                without the lexicon file).
            beam: see the class.
        """
        out: dict[str, dict[LF, None]] = {}

        def add(b: str, x: LF) -> None:
            if (model.kind(b) == "preterminal" and model.grammar.nonterminals[b].features
                    and model.path(b, x) is not None):
                out.setdefault(b, {})[x] = None

        for t in trees:
            if t is None:
                continue
            for s in t.labels:
                add(s.nonterminal, s.lf)
        for it in lexicon:
            if it.nonterminal in model.grammar.nonterminals:
                add(it.nonterminal, normalize(it.lf))
        for b, st in model.states.items():  # lexicon constants kept only as HDP observations
            if model.grammar.nonterminals[b].features == ("constant",):
                for _, path, _ in st.observations():
                    if path[0] != EMPTY:
                        add(b, Atom(path[0]))
        return cls({b: list(xs) for b, xs in out.items()}, beam=beam)

    def featured(self, model: GrammarModel, b: str) -> bool:
        """Whether the leaves of ``b`` come from this lexicon (a preterminal with features)."""
        return model.kind(b) == "preterminal" and bool(model.grammar.nonterminals[b].features)

    def prune(self, model: GrammarModel, items: list[tuple[str, int, int, LF, float]], n: int
              ) -> list[tuple[str, int, int, LF, float]]:
        """Keeps the items of featured preterminals within ``beam`` of their span's best
        segmentation (see the module); every item counts in the segmentation, the others are
        kept as they are.

        Args:
            model: the grammar model.
            items: leaf items ``(preterminal, start, end, LF, log p)``.
            n: the sentence length.
        """
        best: dict[tuple[int, int], float] = {}
        for _, i, j, _, lp in items:
            if lp > best.get((i, j), -math.inf):
                best[(i, j)] = lp
        seg: dict[tuple[int, int], float] = {}
        for width in range(1, n + 1):
            for i in range(n - width + 1):
                j = i + width
                v = best.get((i, j), -math.inf)
                for m in range(i + 1, j):
                    v = max(v, seg[(i, m)] + seg[(m, j)])
                seg[(i, j)] = v
        return [it for it in items if not self.featured(model, it[0])
                or it[4] >= seg[(it[1], it[2])] - self.beam]
