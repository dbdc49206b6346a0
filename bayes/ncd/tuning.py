"""Hyperparameter tuning by k-fold cross-validation with hidden known classes.

The labels of the novel classes are never available, so hyperparameters are chosen on the known
classes: in each fold a subset of the known classes is *hidden* (their rows join the unlabelled
set, labels removed), the method is trained on the remaining known classes plus that unlabelled
set, and its clustering of the hidden rows is scored against their labels (Hungarian accuracy).
A configuration's score is the mean over folds; random search over a search space picks the best.
With ``k="auto"`` the number of hidden classes is estimated inside every fold (the paper's
Algorithm 1), so the chosen hyperparameters are the ones that work when k is unknown.

Folds: ``"partition"`` splits the shuffled known classes into ``n_folds`` disjoint groups;
``"combinations"`` draws ``n_folds`` distinct random combinations of ``n_hidden`` classes (the
official ``create_known_unknown_classes_splits``). The splitter only ever sees known classes.

References:
    Troisemaine et al., "A Practical Approach to Novel Class Discovery in Tabular Data", 2024,
    §4 "Hyperparameter optimization" (Figure 4) and §6 (Algorithm 1).
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import jax
import numpy as np

from bayes.ncd.methods import discover
from bayes.ncd.metrics import cluster_accuracy

__all__ = [
    "SEARCH_SPACES",
    "TuneResult",
    "hidden_class_folds",
    "fold_labels",
    "sample_params",
    "cross_validate",
    "tune",
]

# name -> ("loguniform" | "uniform" | "int", low, high) or a list of choices.
SEARCH_SPACES = {
    "pbn": {
        "lr": ("loguniform", 1e-4, 1e-2),
        "w": ("uniform", 0.0, 1.0),
        "p_dropout": ("uniform", 0.0, 0.5),
        "latent_dim": ("int", 4, 64),
    },
    "ncd-spectral": {"min_dist": ("uniform", 0.01, 0.99), "n_components": ("int", 2, 64)},
    "spectral": {"min_dist": ("uniform", 0.01, 0.99)},
    "kmeans": {},
    "ncd-kmeans": {},
}


class TuneResult(NamedTuple):
    """Attributes: ``params`` the best configuration, ``score`` its mean hidden-class accuracy,
    ``trials`` a list of ``(params, mean score, per-fold scores, per-fold k used)``,
    ``folds`` the hidden classes of each fold."""

    params: dict
    score: float
    trials: list
    folds: list


def hidden_class_folds(
    known_classes,
    *,
    n_folds: int = 3,
    n_hidden: int | None = None,
    mode: str = "partition",
    seed: int = 0,
) -> list[tuple[int, ...]]:
    """Which known classes each fold hides.

    Args:
        known_classes: the known class ids (never the novel ones).
        n_folds: number of folds.
        n_hidden: classes hidden per fold (``"combinations"`` only; default ``⌊C / 2⌋``).
        mode: ``"partition"`` (disjoint groups covering every class) or ``"combinations"``.
        seed: seed of the shuffle / draws.

    Raises:
        ValueError: if a fold would hide every known class or fewer than one, or if too few
            distinct combinations exist.
    """
    classes = sorted({int(c) for c in known_classes})
    c = len(classes)
    rng = np.random.default_rng(seed)
    if mode == "partition":
        if not 2 <= n_folds <= c:
            raise ValueError(f"n_folds must be in [2, {c}] for {c} known classes, got {n_folds}")
        order = rng.permutation(classes)
        return [tuple(sorted(int(v) for v in g)) for g in np.array_split(order, n_folds)]
    if mode != "combinations":
        raise ValueError(f"mode must be 'partition' or 'combinations', got {mode!r}")
    r = n_hidden if n_hidden is not None else c // 2
    if not 1 <= r <= c - 1:
        raise ValueError(f"n_hidden must be in [1, {c - 1}] for {c} known classes, got {r}")
    total = math.comb(c, r)
    if n_folds > total:
        raise ValueError(f"only {total} combinations of {r} among {c} classes, asked {n_folds}")
    if total <= 10_000:
        combos = list(itertools.combinations(classes, r))
        pick = rng.choice(len(combos), n_folds, replace=False)
        return [tuple(combos[i]) for i in sorted(pick)]
    seen: set = set()
    while len(seen) < n_folds:
        seen.add(tuple(sorted(int(v) for v in rng.choice(classes, r, replace=False))))
    return sorted(seen)


def fold_labels(y: np.ndarray, hidden) -> tuple[np.ndarray, np.ndarray]:
    """Training labels of one fold and the mask of its hidden rows.

    Args:
        y: ``(n,)`` int labels, -1 for unlabelled (novel) rows.
        hidden: the known classes to hide.

    Returns:
        ``(y_fold, hidden_mask)``: the remaining known classes renumbered ``0..C'-1`` in sorted
        order, hidden and unlabelled rows -1.
    """
    y = np.asarray(y)
    hidden_set = {int(h) for h in hidden}
    present = set(np.unique(y[y >= 0]).tolist())
    if not hidden_set <= present:
        raise ValueError(f"hidden classes {sorted(hidden_set - present)} are not known classes")
    keep = sorted(present - hidden_set)
    y_fold = np.full(y.shape, -1, np.int32)
    for i, cls in enumerate(keep):
        y_fold[y == cls] = i
    return y_fold, np.isin(y, list(hidden_set))


def sample_params(rng: np.random.Generator, space: dict) -> dict:
    """One random configuration from a search space (see :data:`SEARCH_SPACES`)."""
    out = {}
    for name, spec in space.items():
        if isinstance(spec, list):
            out[name] = spec[int(rng.integers(len(spec)))]
        elif spec[0] == "loguniform":
            out[name] = float(np.exp(rng.uniform(np.log(spec[1]), np.log(spec[2]))))
        elif spec[0] == "uniform":
            out[name] = float(rng.uniform(spec[1], spec[2]))
        elif spec[0] == "int":
            out[name] = int(rng.integers(spec[1], spec[2] + 1))
        else:
            raise ValueError(f"search space entry {name!r}: unknown kind {spec[0]!r}")
    return out


def cross_validate(
    key: jax.Array,
    method: str,
    x: np.ndarray,
    y: np.ndarray,
    folds: list,
    params: dict,
    *,
    k: str = "true",
) -> tuple[float, list[float], list[int]]:
    """Mean hidden-class accuracy of one configuration over the folds.

    ``k="true"`` clusters the hidden rows into as many clusters as hidden classes; ``"auto"``
    estimates it in each fold.
    """
    scores, ks = [], []
    for i, hidden in enumerate(folds):
        y_fold, mask = fold_labels(y, hidden)
        kk = len(hidden) if k == "true" else "auto"
        res = discover(jax.random.fold_in(key, i), method, x, y_fold, mask, kk, params)
        scores.append(cluster_accuracy(np.asarray(y)[mask], res.labels))
        ks.append(res.k)
    return float(np.mean(scores)), scores, ks


def tune(
    key: jax.Array,
    method: str,
    x: np.ndarray,
    y: np.ndarray,
    *,
    space: dict | None = None,
    n_trials: int = 20,
    n_folds: int = 3,
    n_hidden: int | None = None,
    mode: str = "partition",
    k: str = "true",
    fixed: dict | None = None,
    seed: int = 0,
) -> TuneResult:
    """Random search of ``method``'s hyperparameters by hidden-known-class cross-validation.

    Args:
        key: PRNG key.
        method: see :data:`bayes.ncd.methods.METHODS`.
        x: ``(n, d)`` rows; y: ``(n,)`` known-class ids or -1. Novel rows stay unlabelled in every
            fold (they shape the training as in the final fit) and are never scored.
        space: search space (default :data:`SEARCH_SPACES` ``[method]``).
        n_trials: configurations tried (1 if the space is empty).
        n_folds, n_hidden, mode: see :func:`hidden_class_folds`.
        k: ``"true"`` or ``"auto"`` (estimate k inside each fold).
        fixed: parameters held fixed in every trial (e.g. ``{"epochs": 50}``).
        seed: seed of the folds and of the search.

    Returns:
        A :class:`TuneResult`.
    """
    if k not in ("true", "auto"):
        raise ValueError(f"k must be 'true' or 'auto', got {k!r}")
    y = np.asarray(y)
    folds = hidden_class_folds(
        np.unique(y[y >= 0]), n_folds=n_folds, n_hidden=n_hidden, mode=mode, seed=seed
    )
    space = SEARCH_SPACES[method] if space is None else space
    rng = np.random.default_rng(seed + 1)
    trials = []
    for t in range(n_trials if space else 1):
        params = {**sample_params(rng, space), **(fixed or {})}
        mean, scores, ks = cross_validate(
            jax.random.fold_in(key, t), method, x, y, folds, params, k=k
        )
        trials.append((params, mean, scores, ks))
    best = max(trials, key=lambda tr: tr[1])
    return TuneResult(best[0], best[1], trials, folds)
