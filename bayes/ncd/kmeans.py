"""Vectorised k-means: k-means++ seeding, Lloyd iterations, many restarts and many k at once.

One kernel serves plain k-means and NCD k-means. The number of clusters ``k`` is a traced value
bounded by a static ``k_max``: inactive centroids are masked out of every assignment, so a sweep
over ``k = 2..30`` with ``n_init`` restarts each is one ``vmap`` of one compiled function.

NCD k-means (Troisemaine et al., 2024, §NCD k-means; official ``models/NCD_Kmeans.py``) is the same
kernel with *fixed centroids*: the known-class means take part in the seeding (each novel centroid
is drawn with probability ∝ D(x)^power, D the distance to the closest of the known centroids and
the novel centroids chosen so far) and are then dropped: Lloyd iterations move only the novel
centroids, on the unlabelled rows only (the official ``update_centroids="unlab_only"`` default).

References:
    Arthur and Vassilvitskii, "k-means++: The Advantages of Careful Seeding", SODA 2007
    (greedy local trials as in scikit-learn, 2 + ⌊ln k⌋ candidates per step).
    Troisemaine et al., "A Practical Approach to Novel Class Discovery in Tabular Data",
    Data Mining and Knowledge Discovery 2024, arXiv 2311.05440.
"""

from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

__all__ = [
    "KMeansState",
    "KMeansResult",
    "kmeans_init",
    "kmeans_step",
    "kmeans",
    "kmeans_sweep",
    "kmeans_predict",
    "class_means",
    "ncd_kmeans",
]


class KMeansState(NamedTuple):
    """State of one Lloyd run.

    Attributes:
        centroids: ``(k_max, d)``; rows ``>= k`` are inactive.
        shift: ``()`` total squared movement of the centroids at the last step.
        iteration: ``()`` int32 number of Lloyd steps taken.
    """

    centroids: jax.Array
    shift: jax.Array
    iteration: jax.Array


class KMeansResult(NamedTuple):
    """Outcome of :func:`kmeans` (the best restart).

    Attributes:
        centroids: ``(k_max, d)`` float32; only the first ``k`` rows are used.
        labels: ``(n,)`` int32 cluster of each row, in ``[0, k)``.
        inertia: ``()`` sum of squared distances to the assigned centroid (or of plain distances
            with ``inertia="distance"``, the official NCD k-means criterion).
        n_iter: ``()`` int32 Lloyd steps of the best restart.
        k: ``()`` int32 number of active clusters.
    """

    centroids: jax.Array
    labels: jax.Array
    inertia: jax.Array
    n_iter: jax.Array
    k: jax.Array


def _sq_dists(x: jax.Array, c: jax.Array) -> jax.Array:
    """``(n, m)`` squared Euclidean distances, clipped at 0."""
    xx = jnp.sum(x * x, axis=1, keepdims=True)
    cc = jnp.sum(c * c, axis=1)[None, :]
    return jnp.maximum(xx - 2.0 * x @ c.T + cc, 0.0)


def _labels(x: jax.Array, centroids: jax.Array, k: jax.Array) -> jax.Array:
    """Nearest active centroid; ``‖x‖²`` is dropped (it does not change the argmin)."""
    active = jnp.arange(centroids.shape[0]) < k
    cc = jnp.where(active, jnp.sum(centroids * centroids, axis=1), jnp.inf)
    return jnp.argmin(cc[None, :] - 2.0 * x @ centroids.T, axis=1).astype(jnp.int32)


def _assign(x: jax.Array, centroids: jax.Array, k: jax.Array) -> tuple[jax.Array, jax.Array]:
    active = jnp.arange(centroids.shape[0]) < k
    d2 = jnp.where(active[None, :], _sq_dists(x, centroids), jnp.inf)
    labels = jnp.argmin(d2, axis=1).astype(jnp.int32)
    return labels, jnp.min(d2, axis=1)


def kmeans_init(
    key: jax.Array,
    x: jax.Array,
    k: jax.Array,
    k_max: int,
    fixed: jax.Array | None = None,
    *,
    power: float = 2.0,
    n_local_trials: int | None = None,
) -> KMeansState:
    """k-means++ seeding of ``k`` (traced, ``<= k_max``) centroids among the rows of ``x``.

    Args:
        key: PRNG key.
        x: ``(n, d)`` float rows.
        k: ``()`` number of centroids to draw.
        k_max: static capacity of the centroid array.
        fixed: optional ``(m, d)`` centroids that count as already chosen (NCD k-means); they
            steer the sampling and are not returned.
        power: sampling ∝ D^power; 2 is k-means++, 1 reproduces the official NCD k-means.
        n_local_trials: candidates drawn per step, the one lowering the potential most is kept;
            default ``2 + ⌊ln k_max⌋`` (scikit-learn).

    Returns:
        A :class:`KMeansState` with the seeded centroids.
    """
    n = x.shape[0]
    trials = n_local_trials or 2 + int(math.log(max(k_max, 1)))
    if fixed is None or fixed.shape[0] == 0:
        d_min = jnp.full((n,), jnp.inf, x.dtype)
    else:
        d_min = jnp.sqrt(jnp.min(_sq_dists(x, fixed), axis=1))

    def body(i, carry):
        key, cents, d_min = carry
        key, sub = jax.random.split(key)
        w = jnp.where(jnp.isinf(d_min), 1.0, d_min**power)
        total = jnp.sum(w)
        p = jnp.where(total > 0, w / jnp.where(total > 0, total, 1.0), 1.0 / n)
        cand = jax.random.choice(sub, n, shape=(trials,), p=p)
        cand_d = jnp.sqrt(_sq_dists(x[cand], x))
        new_min = jnp.minimum(d_min[None, :], cand_d)
        best = jnp.argmin(jnp.sum(new_min**power, axis=1))
        active = i < k
        cents = cents.at[i].set(jnp.where(active, x[cand[best]], x[cand[0]]))
        d_min = jnp.where(active, new_min[best], d_min)
        return key, cents, d_min

    cents = jnp.zeros((k_max, x.shape[1]), x.dtype)
    _, cents, _ = jax.lax.fori_loop(0, k_max, body, (key, cents, d_min))
    return KMeansState(cents, jnp.asarray(jnp.inf, x.dtype), jnp.asarray(0, jnp.int32))


def kmeans_step(state: KMeansState, x: jax.Array, k: jax.Array) -> KMeansState:
    """One Lloyd step: assign every row to its nearest active centroid, move centroids to means.

    An emptied cluster keeps its previous centroid (scikit-learn relocates it to a far point).
    """
    labels = _labels(x, state.centroids, k)
    k_max = state.centroids.shape[0]
    # segment sums, not a one-hot matmul: O(n·d) work instead of O(n·k·d), and no (n, k) buffer
    # per restart when many restarts run under vmap.
    counts = jax.ops.segment_sum(jnp.ones_like(labels, x.dtype), labels, k_max)
    sums = jax.ops.segment_sum(x, labels, k_max)
    new = jnp.where(counts[:, None] > 0, sums / jnp.maximum(counts, 1.0)[:, None], state.centroids)
    shift = jnp.sum((new - state.centroids) ** 2)
    return KMeansState(new, shift, state.iteration + 1)


@partial(jax.jit, static_argnames=("k_max", "max_iter", "power", "n_local_trials", "inertia"))
def _runs(keys, x, k, fixed, tol_abs, *, k_max, max_iter, power, n_local_trials, inertia):
    """All restarts (leading axis of ``keys``) for one ``k``; returns per-restart results."""

    def one(key):
        state = kmeans_init(key, x, k, k_max, fixed, power=power, n_local_trials=n_local_trials)
        state = jax.lax.while_loop(
            lambda s: (s.iteration < max_iter) & (s.shift > tol_abs),
            lambda s: kmeans_step(s, x, k),
            state,
        )
        labels, d2 = _assign(x, state.centroids, k)
        crit = jnp.sum(jnp.sqrt(d2)) if inertia == "distance" else jnp.sum(d2)
        return state.centroids, labels, crit, state.iteration

    return jax.vmap(one)(keys)


def _check_x(x: ArrayLike, name: str = "x") -> jax.Array:
    arr = jnp.asarray(x, jnp.float32)
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty (n, d) array, got shape {arr.shape}")
    if not bool(jnp.all(jnp.isfinite(arr))):
        raise ValueError(f"{name} must contain only finite values")
    return arr


def _tol_abs(x: jax.Array, tol: float) -> jax.Array:
    """scikit-learn's tolerance: ``tol`` times the mean per-feature variance."""
    return jnp.asarray(tol, jnp.float32) * jnp.mean(jnp.var(x, axis=0))


def kmeans(
    key: jax.Array,
    x: ArrayLike,
    k: int,
    *,
    n_init: int = 10,
    max_iter: int = 300,
    tol: float = 1e-4,
    power: float = 2.0,
    inertia: str = "squared",
    fixed_centroids: ArrayLike | None = None,
    n_local_trials: int | None = None,
) -> KMeansResult:
    """k-means with ``n_init`` restarts run together (vmap); the lowest inertia wins.

    Args:
        key: PRNG key.
        x: ``(n, d)`` rows.
        k: number of clusters, ``1 <= k <= n``.
        n_init: restarts.
        max_iter: Lloyd steps per restart.
        tol: stop when the total squared centroid shift is below ``tol`` times the mean feature
            variance (scikit-learn's rule).
        power: seeding exponent (2: k-means++; 1: the official NCD k-means).
        inertia: ``"squared"`` (sum of squared distances) or ``"distance"`` (sum of distances,
            the official NCD k-means criterion) to pick the best restart.
        fixed_centroids: ``(m, d)`` centroids that only steer the seeding (NCD k-means).
        n_local_trials: see :func:`kmeans_init`.

    Returns:
        The best restart as a :class:`KMeansResult`.

    Raises:
        ValueError: on a bad ``x``, ``k``, ``n_init`` or ``inertia``.

    Example:
        >>> x = jnp.array([[0.0], [0.1], [5.0], [5.1]])
        >>> res = kmeans(jax.random.key(0), x, 2, n_init=2)
        >>> sorted(np.bincount(np.asarray(res.labels)).tolist())
        [2, 2]
    """
    xa = _check_x(x)
    if not isinstance(k, (int, np.integer)) or not 1 <= int(k) <= xa.shape[0]:
        raise ValueError(f"k must be an integer in [1, n={xa.shape[0]}], got {k!r}")
    if n_init < 1:
        raise ValueError(f"n_init must be >= 1, got {n_init}")
    if inertia not in ("squared", "distance"):
        raise ValueError(f"inertia must be 'squared' or 'distance', got {inertia!r}")
    fixed = None if fixed_centroids is None else _check_x(fixed_centroids, "fixed_centroids")
    if fixed is not None and fixed.shape[1] != xa.shape[1]:
        raise ValueError(f"fixed_centroids must have d={xa.shape[1]} columns, got {fixed.shape[1]}")
    keys = jax.random.split(key, n_init)
    cents, labels, crit, iters = _runs(
        keys,
        xa,
        jnp.asarray(int(k), jnp.int32),
        fixed,
        _tol_abs(xa, tol),
        k_max=int(k),
        max_iter=max_iter,
        power=float(power),
        n_local_trials=n_local_trials,
        inertia=inertia,
    )
    best = jnp.argmin(crit)
    return KMeansResult(
        cents[best], labels[best], crit[best], iters[best], jnp.asarray(int(k), jnp.int32)
    )


@partial(jax.jit, static_argnames=("k_max", "max_iter", "n_local_trials"))
def _sweep(keys, x, ks, tol_abs, *, k_max, max_iter, n_local_trials):
    def for_k(k, kkeys):
        cents, labels, crit, _ = _runs(
            kkeys,
            x,
            k,
            None,
            tol_abs,
            k_max=k_max,
            max_iter=max_iter,
            power=2.0,
            n_local_trials=n_local_trials,
            inertia="squared",
        )
        best = jnp.argmin(crit)
        return cents[best], labels[best], crit[best]

    return jax.vmap(for_k)(ks, keys)


def kmeans_sweep(
    key: jax.Array,
    x: ArrayLike,
    ks: ArrayLike,
    *,
    n_init: int = 10,
    max_iter: int = 300,
    tol: float = 1e-4,
    n_local_trials: int | None = None,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """k-means for every ``k`` in ``ks`` at once (one compiled vmap over k and restarts).

    Returns:
        ``(centroids (K, k_max, d), labels (K, n) int32, inertia (K,))`` for the best restart
        of each ``k``; ``k_max = max(ks)``.
    """
    xa = _check_x(x)
    ks_np = np.asarray(ks, dtype=np.int64).reshape(-1)
    if ks_np.size == 0 or ks_np.min() < 1 or ks_np.max() > xa.shape[0]:
        raise ValueError(f"ks must be integers in [1, n={xa.shape[0]}], got {ks_np.tolist()}")
    keys = jax.random.split(key, ks_np.size * n_init).reshape(ks_np.size, n_init)
    return _sweep(
        keys,
        xa,
        jnp.asarray(ks_np, jnp.int32),
        _tol_abs(xa, tol),
        k_max=int(ks_np.max()),
        max_iter=max_iter,
        n_local_trials=n_local_trials,
    )


def kmeans_predict(centroids: ArrayLike, x: ArrayLike, k: int | None = None) -> jax.Array:
    """Index of the nearest of the first ``k`` centroids (all when ``k`` is None) for each row."""
    c = jnp.asarray(centroids, jnp.float32)
    xa = _check_x(x)
    if xa.shape[1] != c.shape[1]:
        raise ValueError(f"x must have d={c.shape[1]} columns, got {xa.shape[1]}")
    labels, _ = _assign(xa, c, jnp.asarray(c.shape[0] if k is None else k, jnp.int32))
    return labels


def class_means(x: ArrayLike, y: ArrayLike) -> tuple[jax.Array, np.ndarray]:
    """Per-class means of the rows of ``x`` (``y >= 0``); returns ``(means (C, d), classes)``."""
    xa = _check_x(x)
    ya = np.asarray(y)
    classes = np.unique(ya[ya >= 0])
    means = jnp.stack([jnp.mean(xa[np.flatnonzero(ya == c)], axis=0) for c in classes])
    return means, classes


def ncd_kmeans(
    key: jax.Array,
    x_unlabelled: ArrayLike,
    k: int,
    known_centroids: ArrayLike,
    *,
    n_init: int = 10,
    max_iter: int = 300,
    tol: float = 1e-4,
    power: float = 1.0,
    inertia: str = "distance",
) -> KMeansResult:
    """NCD k-means: known-class centroids seed the novel ones; only novel centroids move.

    The defaults reproduce the official code (seeding ∝ distance, restarts ranked by the sum of
    distances); ``power=2, inertia="squared"`` is the textbook k-means++ variant the paper's text
    describes. The official stopping rule ``(Σ_c ‖Δμ_c‖)² < tol`` is replaced by scikit-learn's
    (squared shift below ``tol`` times the mean feature variance).

    Args:
        key: PRNG key.
        x_unlabelled: ``(n, d)`` unlabelled rows.
        k: number of novel clusters.
        known_centroids: ``(C, d)`` known-class means (see :func:`class_means`).

    Returns:
        A :class:`KMeansResult` over the novel clusters only.
    """
    return kmeans(
        key,
        x_unlabelled,
        k,
        n_init=n_init,
        max_iter=max_iter,
        tol=tol,
        power=power,
        inertia=inertia,
        fixed_centroids=known_centroids,
    )
