"""Base distributions H of a feature-keyed HDP, and the likelihood of observations under a dish.

A dish is what a root table serves. Two families are supported, matching the two ways the
official ``hdp`` library is used (Saparov et al. 2017):

* **constant likelihood** (``kind == "constant"``): a dish *is* an atom (a grammar rule, a token
  sequence), observations equal their table's dish. The base is either an explicit prior over
  listed atoms (`CategoricalBase`) or an open distribution such as the geometric-length token
  sequence distribution (`SequenceBase`), in which case atoms are registered as they are observed
  and the rest of the mass is reported as "unseen" mass.
* **Dirichlet-categorical mixture** (``kind == "dirichlet"``): a dish is a categorical
  distribution over ``n_atoms`` symbols drawn from a symmetric Dirichlet, integrated out
  (collapsed). This is the ``dirichlet`` + ``dense_categorical`` pair of the library's worked
  example.

Observations are handled in "blocks": a table of the franchise carries the multiset of the
observations seated below it (``{atom_id: count}``), and reseating the table moves the whole block.

References:
    Teh, Jordan, Beal & Blei (2006), Hierarchical Dirichlet processes, JASA, §5 (CRF).
    Saparov, Saraswat & Mitchell (2017), A Probabilistic Generative Grammar for Semantic Parsing,
    CoNLL; official code github.com/asaparov/hdp (``mcmc.h``) and asaparov/grammar
    (``rule_list_prior``, ``sequence_distribution``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Hashable, Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

NEG_INF = -math.inf


@runtime_checkable
class AtomBase(Protocol):
    """What a constant-likelihood base must provide to plug into `grammar.hdp_state.HDPState`.

    ``kind`` is ``"constant"``; ``is_open`` says whether atoms are registered on first sight
    (open) or all listed up front in ``atoms`` (closed); ``log_prob(atom)`` is ``log H(atom)``
    (``-inf`` for impossible atoms); ``to_dict()`` is a JSON description (only the built-in bases
    can be read back by `grammar.hdp_io.load`). `CategoricalBase` and `SequenceBase` implement it;
    a grammar can supply e.g. a rule-list prior over token sequences.
    """

    kind: ClassVar[str]
    is_open: ClassVar[bool]

    def log_prob(self, atom: Hashable) -> float: ...

    def to_dict(self) -> dict[str, Any]: ...


@dataclasses.dataclass(frozen=True)
class CategoricalBase:
    """Explicit prior over a closed list of atoms (constant likelihood).

    Attributes:
        atoms: the atoms, hashable and distinct (rules, words, ...).
        probs: ``(A,)`` prior probabilities, normalised at construction.

    Example:
        >>> base = CategoricalBase.uniform(["S -> NP VP", "S -> VP"])
        >>> base.log_prob("S -> VP") == math.log(0.5)
        True
    """

    atoms: tuple
    probs: tuple
    kind = "constant"
    is_open = False

    def __post_init__(self) -> None:
        atoms = tuple(self.atoms)
        if not atoms:
            raise ValueError("atoms: expected at least one atom, got an empty sequence")
        if len(set(atoms)) != len(atoms):
            raise ValueError("atoms: expected distinct atoms, got duplicates")
        p = np.asarray(self.probs, dtype=np.float64)
        if p.shape != (len(atoms),):
            raise ValueError(f"probs: expected shape ({len(atoms)},), got {p.shape}")
        if not np.all(np.isfinite(p)) or np.any(p < 0) or p.sum() <= 0:
            raise ValueError("probs: expected finite non-negative weights with a positive sum")
        object.__setattr__(self, "atoms", atoms)
        object.__setattr__(self, "probs", tuple((p / p.sum()).tolist()))

    @classmethod
    def uniform(cls, atoms: Sequence[Hashable]) -> CategoricalBase:
        """Uniform prior over ``atoms``."""
        return cls(tuple(atoms), tuple([1.0] * len(atoms)))

    @classmethod
    def from_weights(
        cls, atoms: Sequence[Hashable], weights: Sequence[float | None]
    ) -> CategoricalBase:
        """Listed priors; atoms whose weight is ``None`` share the remaining mass uniformly.

        This is the ``rule_list_prior`` of the official grammar code: rules with an explicit prior
        probability keep it, the remaining mass ``1 - sum(explicit)`` is split evenly.
        """
        if len(weights) != len(atoms):
            raise ValueError(f"weights: expected {len(atoms)} entries, got {len(weights)}")
        given = sum(w for w in weights if w is not None)
        free = sum(1 for w in weights if w is None)
        if given > 1.0 + 1e-12 or (free and given >= 1.0):
            raise ValueError(f"weights: explicit priors sum to {given}, leaving no mass")
        rest = (1.0 - given) / free if free else 0.0
        return cls(tuple(atoms), tuple(rest if w is None else float(w) for w in weights))

    def log_prob(self, atom: Hashable) -> float:
        """``log H(atom)``; ``-inf`` for an atom not in the list."""
        try:
            p = self.probs[self.atoms.index(atom)]
        except ValueError:
            return NEG_INF
        return math.log(p) if p > 0 else NEG_INF

    def to_dict(self) -> dict[str, Any]:
        return {"type": "categorical", "atoms": list(self.atoms), "probs": list(self.probs)}


@dataclasses.dataclass(frozen=True)
class SequenceBase:
    """Open base over token sequences: uniform tokens and a geometric length (constant likelihood).

    ``H(w_1..w_L) = prod_i u(w_i) * (1 - end)^(L-1) * end`` with ``u`` uniform over
    ``n_tokens`` token types. Tokens in ``excluded_tokens`` and whole sequences in
    ``excluded_phrases`` get probability 0 (the remaining mass is not renormalised, as in the
    official ``sequence_distribution``; the predictive therefore reports the leftover "unseen"
    mass separately and it can be slightly below the true open mass).

    Attributes:
        n_tokens: size of the token vocabulary (``atom_count`` in the grammar files).
        end_probability: probability of stopping after each token, in ``(0, 1]``.
        excluded_tokens: tokens that never appear.
        excluded_phrases: sequences (tuples of tokens) that are never drawn.
    """

    n_tokens: int
    end_probability: float
    excluded_tokens: frozenset = frozenset()
    excluded_phrases: frozenset = frozenset()
    kind = "constant"
    is_open = True

    def __post_init__(self) -> None:
        if int(self.n_tokens) < 1:
            raise ValueError(f"n_tokens: expected a positive integer, got {self.n_tokens}")
        if not 0.0 < float(self.end_probability) <= 1.0:
            raise ValueError(
                f"end_probability: expected a value in (0, 1], got {self.end_probability}"
            )
        object.__setattr__(self, "excluded_tokens", frozenset(self.excluded_tokens))
        object.__setattr__(
            self, "excluded_phrases", frozenset(tuple(p) for p in self.excluded_phrases)
        )

    def log_prob(self, atom: Hashable) -> float:
        """``log H(sequence)``; the atom must be a non-empty tuple of tokens."""
        if not isinstance(atom, tuple) or not atom:
            raise TypeError(f"atom: expected a non-empty tuple of tokens, got {atom!r}")
        if atom in self.excluded_phrases or any(t in self.excluded_tokens for t in atom):
            return NEG_INF
        n, end = len(atom), float(self.end_probability)
        if end == 1.0 and n > 1:
            return NEG_INF
        stop = 0.0 if end == 1.0 else (n - 1) * math.log1p(-end)
        return -n * math.log(self.n_tokens) + stop + math.log(end)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "sequence",
            "n_tokens": int(self.n_tokens),
            "end_probability": float(self.end_probability),
            "excluded_tokens": sorted(self.excluded_tokens, key=repr),
            "excluded_phrases": sorted((list(p) for p in self.excluded_phrases), key=repr),
        }


@dataclasses.dataclass(frozen=True)
class DirichletCategorical:
    """Dishes are categorical distributions over ``atoms`` with a symmetric Dirichlet prior.

    A dish with observation counts ``c`` (total ``C``) predicts a symbol ``x`` with
    ``(c_x + beta) / (C + A beta)``; a block ``m`` (total ``M``) has the Dirichlet-multinomial
    likelihood ``Gamma(C + A beta) / Gamma(C + M + A beta) prod_x Gamma(c_x + m_x + beta) /
    Gamma(c_x + beta)``.

    Attributes:
        atoms: the symbols (e.g. the 256 byte values); ``A = len(atoms)``.
        concentration: ``beta``, the Dirichlet parameter of every symbol.
    """

    atoms: tuple
    concentration: float = 1.0
    kind = "dirichlet"
    is_open = False

    def __post_init__(self) -> None:
        atoms = tuple(self.atoms)
        if not atoms or len(set(atoms)) != len(atoms):
            raise ValueError("atoms: expected a non-empty sequence of distinct symbols")
        if not float(self.concentration) > 0:
            raise ValueError(f"concentration: expected > 0, got {self.concentration}")
        object.__setattr__(self, "atoms", atoms)
        object.__setattr__(self, "concentration", float(self.concentration))

    @property
    def probs(self) -> tuple:
        """Prior predictive of one symbol (uniform)."""
        return tuple([1.0 / len(self.atoms)] * len(self.atoms))

    def log_prob(self, atom: Hashable) -> float:
        return -math.log(len(self.atoms)) if atom in self.atoms else NEG_INF

    def log_lik_block(
        self, hist: dict[int, int], total: int, block: dict[int, int], block_total: int
    ) -> float:
        """Log Dirichlet-multinomial probability of ``block`` given a dish's counts ``hist``."""
        beta = self.concentration
        if block_total == 1:
            (x,) = block
            return math.log((hist.get(x, 0) + beta) / (total + len(self.atoms) * beta))
        lg = math.lgamma
        out = lg(total + len(self.atoms) * beta) - lg(total + block_total + len(self.atoms) * beta)
        for x, m in block.items():
            c = hist.get(x, 0)
            out += lg(c + m + beta) - lg(c + beta)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"type": "dirichlet", "atoms": list(self.atoms), "concentration": self.concentration}


Base = CategoricalBase | SequenceBase | DirichletCategorical | AtomBase


def base_from_dict(d: dict[str, Any], decode: Any = lambda x: x) -> Base:
    """Inverse of ``base.to_dict()``; ``decode`` maps stored atoms back (e.g. lists to tuples)."""
    kind = d.get("type")
    if kind == "categorical":
        return CategoricalBase(tuple(decode(a) for a in d["atoms"]), tuple(d["probs"]))
    if kind == "sequence":
        return SequenceBase(
            int(d["n_tokens"]),
            float(d["end_probability"]),
            frozenset(decode(t) for t in d["excluded_tokens"]),
            frozenset(tuple(decode(t) for t in p) for p in d["excluded_phrases"]),
        )
    if kind == "dirichlet":
        return DirichletCategorical(tuple(decode(a) for a in d["atoms"]), d["concentration"])
    raise ValueError(f"base: unknown base type {kind!r} (expected categorical/sequence/dirichlet)")
