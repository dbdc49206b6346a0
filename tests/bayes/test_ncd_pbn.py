"""PBN: architecture, the jit-compiled training loop, and discovery on planted clusters."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from bayes.ncd.kmeans import kmeans
from bayes.ncd.metrics import cluster_accuracy
from bayes.ncd.pbn import PBN, _create, _train, pbn_latent, train_pbn


def _data(seed=0, n_per=40, d=8):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=4.0, size=(5, d))
    x = np.concatenate([c + rng.normal(size=(n_per, d)) for c in centers]).astype(np.float32)
    x = (x - x.mean(0)) / x.std(0)
    y_true = np.repeat(np.arange(5), n_per)
    return x, y_true, np.where(y_true < 3, y_true, -1).astype(np.int32)


def test_architecture_matches_paper():
    model = _create(jax.random.key(0), 16, 5, 11, 0.2)  # compiled init: no eager op compiles
    assert model.enc1.linear.kernel.shape == (16, 12)  # ⌊3d/4⌋
    assert model.enc2.linear.kernel.shape == (12, 8)  # ⌊d/2⌋
    assert model.enc_out.kernel.shape == (8, 11)
    assert model.classifier.kernel.shape == (11, 5)
    assert model.dec1.linear.kernel.shape == (11, 8)
    assert model.dec_out.kernel.shape == (12, 16)
    out = nnx.jit(lambda m, x: m(x, train=False))(model, jnp.ones((4, 16)))
    np.testing.assert_allclose(np.linalg.norm(np.asarray(out["z"]), axis=1), 1.0, atol=1e-5)
    # PyTorch's default init bound 1/sqrt(fan_in)
    assert float(jnp.max(jnp.abs(model.enc1.linear.kernel[...]))) <= 1 / 4 + 1e-6


def test_training_learns_and_discovers_novel_classes(key):
    x, y_true, y = _data()
    model, info = train_pbn(
        key, x, y, latent_dim=6, lr=5e-3, w=0.5, p_dropout=0.05, epochs=40, batch_size=64
    )
    loss = np.asarray(info.loss)
    assert loss.shape == (40,) and np.all(np.isfinite(loss))
    assert loss[-5:].mean() < 0.5 * loss[:5].mean()
    novel = y == -1
    z = pbn_latent(model, x[novel])
    labels = kmeans(key, z, 2, n_init=5).labels
    assert cluster_accuracy(y_true[novel], np.asarray(labels)) >= 0.95
    # the normalised latent is the raw one divided by its norm
    zn = pbn_latent(model, x[novel], normalize=True)
    np.testing.assert_allclose(zn, z / jnp.linalg.norm(z, axis=1, keepdims=True), atol=1e-5)


def test_training_is_deterministic_and_compiles_once(key):
    x, _, y = _data(seed=1)
    kw = dict(latent_dim=6, lr=5e-3, w=0.5, p_dropout=0.05, epochs=40, batch_size=64)
    _, a = train_pbn(key, x, y, **kw)  # same shapes as the test above
    size = _train._cache_size()
    _, b = train_pbn(key, x, y, **kw)
    _, c = train_pbn(key, x, y, **{**kw, "lr": 1e-3, "w": 0.9})  # traced lr / w: no recompile
    assert _train._cache_size() == size
    np.testing.assert_allclose(a.loss, b.loss, rtol=1e-6)
    assert not np.allclose(a.loss, c.loss)


def test_batches_without_known_rows_stay_finite(key):
    # 2 known rows among 200: most batches of 64 have no known row (the official loss is NaN
    # there). Same shapes and settings as above, so no new compile.
    x, _, _ = _data(seed=2)
    y = np.full(len(x), -1, np.int32)
    y[:2] = [0, 2]
    _, info = train_pbn(
        key, x, y, latent_dim=6, lr=5e-3, w=0.5, p_dropout=0.05, epochs=40, batch_size=64
    )
    assert np.all(np.isfinite(np.asarray(info.loss)))


def test_bad_input(key):
    x, _, y = _data()
    with pytest.raises(ValueError, match="y must"):
        train_pbn(key, x, np.full(len(x), -1, np.int32))
    with pytest.raises(ValueError, match="finite"):
        train_pbn(key, np.full_like(x, np.nan), y)
    with pytest.raises(ValueError, match="w"):
        train_pbn(key, x, y, w=1.5)
    with pytest.raises(ValueError, match="p_dropout"):
        PBN(4, 2, 2, p_dropout=1.0, rngs=nnx.Rngs(jax.random.key(0)))
