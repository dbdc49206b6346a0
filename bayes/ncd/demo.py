"""Demo: discover the 5 novel digits of optdigits (bundled UCI data) with NCD k-means and PBN."""

from __future__ import annotations

import time
from pathlib import Path

import jax
import numpy as np

from bayes.ncd.datasets import hyperparameters, load_dataset
from bayes.ncd.estimate_k import estimate_k
from bayes.ncd.kmeans import class_means, kmeans, kmeans_predict, ncd_kmeans
from bayes.ncd.metrics import clustering_scores
from bayes.ncd.pbn import pbn_latent, train_pbn


def run(out_dir: Path, seed: int) -> None:
    """Runs the demo, prints what it did and saves ``ncd_projection.png`` into ``out_dir``."""
    key = jax.random.key(seed)
    data = load_dataset("optdigits")
    y = data.ncd_train_labels()
    nov_tr, nov_te = data.novel_mask("train"), data.novel_mask("test")
    x_nov_te, y_nov_te = data.x_test[nov_te], data.y_test[nov_te]
    print(
        f"optdigits: {len(y)} training rows ({int(nov_tr.sum())} unlabelled), known digits "
        f"{list(data.known)}, novel digits {list(data.novel)} (labels hidden)"
    )

    start = time.perf_counter()
    res = kmeans(jax.random.fold_in(key, 0), data.x_train[nov_tr], 5)
    km = clustering_scores(y_nov_te, kmeans_predict(res.centroids, x_nov_te))
    cents, _ = class_means(data.x_train, y)
    res = ncd_kmeans(jax.random.fold_in(key, 1), data.x_train[nov_tr], 5, cents)
    nkm = clustering_scores(y_nov_te, kmeans_predict(res.centroids, x_nov_te))
    print(f"k-means      ACC {100 * km['acc']:.1f}%  ({time.perf_counter() - start:.1f} s)")
    print(f"NCD k-means  ACC {100 * nkm['acc']:.1f}%  (known-digit means seed the novel ones)")

    start = time.perf_counter()
    hp = hyperparameters("optdigits", "PBN")
    model, info = train_pbn(jax.random.fold_in(key, 2), data.x_train, y, **hp)
    loss = np.asarray(info.loss)
    print(
        f"PBN trained 200 epochs in {time.perf_counter() - start:.1f} s (incl. compile); "
        f"loss {loss[0]:.2f} -> {loss[-1]:.2f}"
    )
    z_tr = pbn_latent(model, data.x_train[nov_tr], normalize=True)
    est = estimate_k(jax.random.fold_in(key, 3), z_tr, np.arange(2, 13), n_repeats=1)
    print(f"silhouette over k = 2..12 on the latent of the unlabelled rows: k̂ = {est.k} (true 5)")
    z = pbn_latent(model, x_nov_te)
    for k in sorted({5, est.k}):
        pred = np.asarray(kmeans(jax.random.fold_in(key, 4), z, k).labels)
        s = clustering_scores(y_nov_te, pred)
        print(
            f"PBN, k = {k}: ACC {100 * s['acc']:.1f}%  NMI {100 * s['nmi']:.1f}  "
            f"ARI {100 * s['ari']:.1f} on {len(y_nov_te)} test rows of novel digits"
        )
    pred = np.asarray(kmeans(jax.random.fold_in(key, 4), z, 5).labels)
    try:
        from bayes.ncd.plot import plot_projection

        path = plot_projection(
            z,
            y_nov_te,
            pred,
            Path(out_dir) / "ncd_projection.png",
            title="optdigits novel digits in PBN's latent (PCA)",
        )
        print(f"saved {path}")
    except ImportError:
        print("matplotlib not installed: no picture")
