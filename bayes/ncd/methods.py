"""One entry point for every NCD method: cluster some unlabelled rows given labelled ones.

:func:`discover` is the contract that the estimator, the CLI and the hidden-class tuner share:
given all rows ``x``, labels ``y`` (known-class index, -1 when unlabelled) and a mask of the rows to
cluster, it returns their cluster labels, the number of clusters used (given, or estimated with the
silhouette when ``k="auto"``) and a function assigning new rows to the discovered clusters.

Where each method estimates k (as the official ``Full_notebook_with_k_estimation``): k-means,
NCD k-means and SC in the input space, NCD SC in its spectral embedding, PBN in its
L2-normalised latent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayes.ncd.estimate_k import estimate_k
from bayes.ncd.kmeans import class_means, kmeans, kmeans_predict, ncd_kmeans
from bayes.ncd.pbn import pbn_latent, train_pbn
from bayes.ncd.spectral import (
    _embedding_kmeans,
    select_spectral_params,
    spectral_embedding,
)

__all__ = ["METHODS", "DEFAULT_PARAMS", "Discovery", "discover"]

METHODS = ("pbn", "ncd-kmeans", "ncd-spectral", "kmeans", "spectral")

DEFAULT_PARAMS = {
    "pbn": {
        "latent_dim": 16,
        "lr": 1e-3,
        "w": 0.5,
        "p_dropout": 0.1,
        "epochs": 200,
        "batch_size": 512,
    },
    "ncd-kmeans": {},
    "ncd-spectral": {"min_dist": None, "n_components": None, "backend": "dense", "n_neighbors": 30},
    "kmeans": {},
    "spectral": {"min_dist": 0.6, "n_components": None, "backend": "dense", "n_neighbors": 30},
}


class Discovery(NamedTuple):
    """Attributes: ``labels (m,)`` clusters of the rows asked for, ``k`` clusters used,
    ``predict`` maps ``(n, d)`` new rows to cluster ids, ``info`` method-specific extras."""

    labels: np.ndarray
    k: int
    predict: Callable[[np.ndarray], np.ndarray]
    info: dict


def _pick_k(key, z, k, k_max: int = 30) -> tuple[int, dict]:
    if k != "auto":
        return int(k), {}
    n = z.shape[0]
    ks = np.arange(2, min(k_max, n - 1) + 1)
    if ks.size == 0:
        raise ValueError(f"k='auto' needs at least 3 rows to cluster, got {n}")
    est = estimate_k(key, z, ks)
    return est.k, {"k_scores": dict(zip(est.ks.tolist(), est.scores["silhouette"].tolist()))}


def _nearest_row_predictor(x_ref: np.ndarray, labels: np.ndarray):
    ref = jnp.asarray(x_ref, jnp.float32)

    def predict(x_new):
        xa = jnp.asarray(x_new, jnp.float32)
        d = jnp.sum(xa * xa, 1)[:, None] - 2 * xa @ ref.T + jnp.sum(ref * ref, 1)[None, :]
        return labels[np.asarray(jnp.argmin(d, axis=1))]

    return predict


def discover(
    key: jax.Array,
    method: str,
    x: np.ndarray,
    y: np.ndarray,
    target: np.ndarray,
    k: int | str,
    params: dict | None = None,
) -> Discovery:
    """Clusters ``x[target]`` into novel classes with ``method``.

    Args:
        key: PRNG key.
        method: one of :data:`METHODS`.
        x: ``(n, d)`` float rows (standardised).
        y: ``(n,)`` int known-class index in ``0..C-1`` or -1 (unlabelled).
        target: ``(n,)`` bool, the rows to cluster (normally ``y == -1``).
        k: number of clusters, or ``"auto"`` (silhouette over 2..30).
        params: method hyperparameters overriding :data:`DEFAULT_PARAMS`.

    Returns:
        A :class:`Discovery`.

    Raises:
        ValueError: unknown method or parameter, no target rows, or a method needing known rows
            without any.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    p = dict(DEFAULT_PARAMS[method])
    unknown = set(params or {}) - set(p)
    if unknown:
        raise ValueError(
            f"unknown parameters for {method}: {sorted(unknown)}; expected {sorted(p)}"
        )
    p.update(params or {})
    x = np.asarray(x, np.float32)
    y = np.asarray(y)
    target = np.asarray(target, bool)
    if not target.any():
        raise ValueError("target must select at least one row to cluster")
    known = y >= 0
    if method.startswith("ncd") or method == "pbn":
        if not known.any():
            raise ValueError(f"method {method!r} needs labelled rows (y >= 0)")
    k_sel, k_fit = jax.random.split(key)
    xt = x[target]
    info: dict = {}
    if method in ("kmeans", "ncd-kmeans"):
        k_used, info = _pick_k(k_sel, xt, k)
        if method == "kmeans":
            res = kmeans(k_fit, xt, k_used)
        else:
            cents, _ = class_means(x[known], y[known])
            res = ncd_kmeans(k_fit, xt, k_used, cents)
        centroids = res.centroids
        predict = lambda xn: np.asarray(kmeans_predict(centroids, xn, k_used))
        return Discovery(np.asarray(res.labels), k_used, predict, info)
    if method == "pbn":
        model, curves = train_pbn(
            k_fit,
            x,
            np.where(known, y, -1).astype(np.int32),
            **{n: p[n] for n in DEFAULT_PARAMS["pbn"]},
        )
        k_used, info = _pick_k(k_sel, pbn_latent(model, xt, normalize=True), k)
        res = kmeans(jax.random.fold_in(k_fit, 1), pbn_latent(model, xt), k_used)
        centroids = res.centroids
        predict = lambda xn: np.asarray(kmeans_predict(centroids, pbn_latent(model, xn), k_used))
        info.update(model=model, loss=np.asarray(curves.loss))
        return Discovery(np.asarray(res.labels), k_used, predict, info)
    # spectral methods
    rows = target if method == "spectral" else (target | known)
    xs = x[rows]
    pos = np.flatnonzero(target[rows])
    md, nc = p["min_dist"], p["n_components"]
    if method == "ncd-spectral" and (md is None or nc is None):
        md, nc, _ = select_spectral_params(
            jax.random.fold_in(k_fit, 2),
            x[known],
            y[known],
            xt,
            method=p["backend"],
            n_neighbors=p["n_neighbors"],
        )
        info["selected"] = {"min_dist": md, "n_components": nc}
    if method == "spectral":
        k_used, info_k = _pick_k(k_sel, xt, k)
        nc = k_used if nc is None else nc
    nc = int(min(nc, xs.shape[0] - 2))
    emb = spectral_embedding(
        xs,
        nc,
        min_dist=float(md),
        method=p["backend"],
        n_neighbors=int(min(p["n_neighbors"], xs.shape[0] - 1)),
        key=jax.random.fold_in(k_fit, 3),
    ).embedding[pos]
    if method == "ncd-spectral":
        k_used, info_k = _pick_k(k_sel, emb, k)
    info.update(info_k)
    labels = np.asarray(_embedding_kmeans(jax.random.fold_in(k_fit, 4), emb, k_used, 10))
    return Discovery(labels, k_used, _nearest_row_predictor(xt, labels), info)
