"""PBN, the projection-based NCD model, in flax NNX with a jit-compiled training loop.

An encoder ``f`` maps standardised rows to a latent; a linear head classifies the known classes
from the L2-normalised latent and a mirror decoder reconstructs the input from it. Training
minimises ``w · CE(known rows) + (1 − w) · Σ_features (x̂ − x)² / |B|`` with AdamW; the novel
classes are then found by k-means on the latent of the unlabelled rows.

The whole training (every epoch, every minibatch) is one compiled function: ``lax.scan`` over
epochs around ``lax.scan`` over batches, with the batch order redrawn from an explicit key each
epoch. A short last batch is padded and masked (BatchNorm statistics and losses ignore padding).

Deviations from the official code (``models/PBN_model.py``), all documented switches or fixes:
  * batches are reshuffled every epoch (``reshuffle=True``); ``reshuffle=False`` keeps one fixed
    permutation as the official code does;
  * a batch without known rows contributes 0 cross-entropy instead of NaN;
  * BatchNorm keeps the biased running variance (PyTorch stores the unbiased one);
  * dropout draws 16-bit noise once per epoch, so its rate is rounded to 1/65536.

References:
    Troisemaine et al., "A Practical Approach to Novel Class Discovery in Tabular Data",
    Data Mining and Knowledge Discovery 2024, arXiv 2311.05440, §PBN.
    Loshchilov and Hutter, "Decoupled Weight Decay Regularization", ICLR 2019 (AdamW).
"""

from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.flatten_util import ravel_pytree
from jax.typing import ArrayLike

__all__ = ["PBN", "PBNInfo", "train_pbn", "pbn_latent"]

# Dropout noise: 16-bit integers halve the random bits drawn per epoch (the dominant cost of a
# training step of this small network on CPU) at a 1/65536 resolution of the dropout rate.
_NOISE_DTYPE = jnp.uint16


def _torch_linear(d_in: int, d_out: int, rngs: nnx.Rngs) -> nnx.Linear:
    """A Linear layer with PyTorch's default init, U(±1/√fan_in) for weights and bias."""
    bound = 1.0 / math.sqrt(d_in)

    def bias_init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return nnx.Linear(
        d_in,
        d_out,
        kernel_init=nnx.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform"),
        bias_init=bias_init,
        rngs=rngs,
    )


class _Block(nnx.Module):
    """Linear → ReLU → BatchNorm → Dropout (inverted; its uniform noise is passed in)."""

    def __init__(self, d_in: int, d_out: int, p_dropout: float, *, rngs: nnx.Rngs):
        self.linear = _torch_linear(d_in, d_out, rngs)
        # momentum/epsilon as PyTorch's BatchNorm1d defaults (0.1 update rate, 1e-5).
        self.norm = nnx.BatchNorm(d_out, momentum=0.9, epsilon=1e-5, rngs=rngs)
        self.p_dropout = p_dropout
        self.width = d_out

    def __call__(self, x, *, train: bool, noise, mask):
        m = None if mask is None else mask[:, None]
        h = self.norm(jax.nn.relu(self.linear(x)), use_running_average=not train, mask=m)
        if train and noise is not None and self.p_dropout > 0:
            # keep iff noise < threshold, noise uniform integer bits: the keep probability is
            # the rate rounded to 1/65536.
            levels = float(jnp.iinfo(_NOISE_DTYPE).max) + 1.0
            threshold = round((1.0 - self.p_dropout) * levels)
            h = jnp.where(noise < threshold, h * (levels / threshold), 0.0)
        return h


class PBN(nnx.Module):
    """Encoder [⌊3d/4⌋, ⌊d/2⌋, latent], linear classifier on the latent, mirror decoder.

    Args:
        n_features: input width d.
        n_known: number of known classes (classifier outputs).
        latent_dim: latent width m.
        p_dropout: dropout rate after each hidden BatchNorm.
        rngs: ``nnx.Rngs`` for the initial parameters.

    Dropout takes its randomness as an explicit ``noise`` array of uniform uint16 bits,
    ``(batch, noise_width)``, so a training loop can draw a whole epoch's noise in one call.

    Example:
        >>> model = PBN(8, 3, 4, rngs=nnx.Rngs(0))
        >>> out = model(jnp.ones((5, 8)), train=False)
        >>> out["logits"].shape, out["reconstruction"].shape
        ((5, 3), (5, 8))
    """

    def __init__(
        self,
        n_features: int,
        n_known: int,
        latent_dim: int,
        *,
        p_dropout: float = 0.1,
        rngs: nnx.Rngs,
    ):
        if n_features < 2 or n_known < 1 or latent_dim < 1:
            raise ValueError(
                f"need n_features >= 2, n_known >= 1, latent_dim >= 1; got {n_features}, "
                f"{n_known}, {latent_dim}"
            )
        if not 0.0 <= p_dropout < 1.0:
            raise ValueError(f"p_dropout must be in [0, 1), got {p_dropout}")
        h1, h2 = max(1, (3 * n_features) // 4), max(1, n_features // 2)
        self.enc1 = _Block(n_features, h1, p_dropout, rngs=rngs)
        self.enc2 = _Block(h1, h2, p_dropout, rngs=rngs)
        self.enc_out = _torch_linear(h2, latent_dim, rngs)
        self.classifier = _torch_linear(latent_dim, n_known, rngs)
        self.dec1 = _Block(latent_dim, h2, p_dropout, rngs=rngs)
        self.dec2 = _Block(h2, h1, p_dropout, rngs=rngs)
        self.dec_out = _torch_linear(h1, n_features, rngs)
        self.noise_width = 2 * (h1 + h2)

    def _noise(self, noise, block: int):
        if noise is None:
            return None
        widths = [self.enc1.width, self.enc2.width, self.dec1.width, self.dec2.width]
        start = sum(widths[:block])
        return noise[:, start : start + widths[block]]

    def encode(self, x, *, train: bool = False, noise=None, mask=None) -> jax.Array:
        """The un-normalised latent ``f(x)``, ``(n, latent_dim)``."""
        h = self.enc1(x, train=train, noise=self._noise(noise, 0), mask=mask)
        h = self.enc2(h, train=train, noise=self._noise(noise, 1), mask=mask)
        return self.enc_out(h)

    def __call__(self, x, *, train: bool, noise=None, mask=None) -> dict:
        """Forward pass; returns ``latent`` (raw), ``z`` (L2-normalised), ``logits``,
        ``reconstruction``. ``noise``: ``(n, noise_width)`` uint16 bits for dropout (none: off);
        ``mask``: ``(n,)`` bool rows that count in the BatchNorm statistics."""
        latent = self.encode(x, train=train, noise=noise, mask=mask)
        z = latent / jnp.maximum(jnp.linalg.norm(latent, axis=1, keepdims=True), 1e-12)
        h = self.dec1(z, train=train, noise=self._noise(noise, 2), mask=mask)
        h = self.dec2(h, train=train, noise=self._noise(noise, 3), mask=mask)
        return {
            "latent": latent,
            "z": z,
            "logits": self.classifier(z),
            "reconstruction": self.dec_out(h),
        }


class PBNInfo(NamedTuple):
    """Per-epoch training curves (mean over the epoch's batches), each ``(epochs,)``."""

    loss: jax.Array
    cross_entropy: jax.Array
    reconstruction: jax.Array


def _batch_loss(model: PBN, xb, yb, mb, noise, w):
    out = model(xb, train=True, noise=noise, mask=mb)
    known = mb & (yb >= 0)
    logp = jax.nn.log_softmax(out["logits"])
    nll = -jnp.take_along_axis(logp, jnp.maximum(yb, 0)[:, None], axis=1)[:, 0]
    ce = jnp.sum(jnp.where(known, nll, 0.0)) / jnp.maximum(jnp.sum(known), 1)
    sq = jnp.sum((out["reconstruction"] - xb) ** 2, axis=1)
    rec = jnp.sum(jnp.where(mb, sq, 0.0)) / jnp.maximum(jnp.sum(mb), 1)
    return w * ce + (1.0 - w) * rec, (ce, rec)


@partial(jax.jit, static_argnames=("graphdef", "epochs", "batch_size", "reshuffle"))
def _train(graphdef, params, rest, key, x, y, lr, w, *, epochs, batch_size, reshuffle):
    n = x.shape[0]
    # A trailing batch of one row is skipped (BatchNorm needs two), as in the official code.
    n_used = n - 1 if (n % batch_size == 1 and n > 1) else n
    n_batches = -(-n_used // batch_size)
    pad = n_batches * batch_size - n_used
    noise_width = nnx.merge(graphdef, params, rest).noise_width
    # AdamW on one flat parameter vector: a handful of fused ops per step instead of a dozen per
    # parameter array, which dominates the step time of a network this small on CPU.
    flat, unravel = ravel_pytree(params)
    opt = optax.adamw(lr, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.01)
    opt_state = opt.init(flat)
    grad_fn = nnx.value_and_grad(_batch_loss, has_aux=True)
    key_perm0, key = jax.random.split(key)
    perm0 = jax.random.permutation(key_perm0, n)

    def batch_step(carry, inp):
        flat, rest, opt_state = carry
        idx, mb, noise = inp
        model = nnx.merge(graphdef, unravel(flat), rest)
        (loss, (ce, rec)), grads = grad_fn(model, x[idx], y[idx], mb, noise, w)
        _, _, rest = nnx.split(model, nnx.Param, ...)
        g_flat, _ = ravel_pytree(grads)
        updates, opt_state = opt.update(g_flat, opt_state, flat)
        return (flat + updates, rest, opt_state), (loss, ce, rec)

    def epoch_step(carry, ekey):
        kperm, knoise = jax.random.split(ekey)
        perm = jax.random.permutation(kperm, n) if reshuffle else perm0
        idx = jnp.concatenate([perm[:n_used], jnp.zeros((pad,), perm.dtype)])
        mask = jnp.arange(n_batches * batch_size) < n_used
        # One draw of dropout noise for the whole epoch (one RNG call instead of one per layer
        # per batch; on CPU bit generation otherwise costs more than the network itself).
        noise = jax.random.bits(knoise, (n_batches, batch_size, noise_width), _NOISE_DTYPE)
        inputs = (idx.reshape(n_batches, batch_size), mask.reshape(n_batches, batch_size), noise)
        carry, (loss, ce, rec) = jax.lax.scan(batch_step, carry, inputs)
        return carry, (jnp.mean(loss), jnp.mean(ce), jnp.mean(rec))

    (flat, rest, _), curves = jax.lax.scan(
        epoch_step, (flat, rest, opt_state), jax.random.split(key, epochs)
    )
    return unravel(flat), rest, PBNInfo(*curves)


@nnx.jit(static_argnums=(1, 2, 3, 4))
def _create(key, n_features: int, n_known: int, latent_dim: int, p_dropout: float) -> PBN:
    """Builds the model in one compiled call (eager init would compile every small op)."""
    return PBN(n_features, n_known, latent_dim, p_dropout=p_dropout, rngs=nnx.Rngs(params=key))


def train_pbn(
    key: jax.Array,
    x: ArrayLike,
    y: ArrayLike,
    *,
    latent_dim: int = 16,
    lr: float = 1e-3,
    w: float = 0.5,
    p_dropout: float = 0.1,
    epochs: int = 200,
    batch_size: int = 512,
    reshuffle: bool = True,
) -> tuple[PBN, PBNInfo]:
    """Trains PBN on known rows (``y`` in ``0..C-1``) and unlabelled rows (``y = -1``).

    Args:
        key: PRNG key (initial weights, batch orders, dropout).
        x: ``(n, d)`` standardised features.
        y: ``(n,)`` int known-class index, or -1 for an unlabelled row.
        latent_dim, lr, w, p_dropout: the four tuned hyperparameters of the paper.
        epochs, batch_size: 200 and 512 in the paper.
        reshuffle: redraw the batch order every epoch (the official code keeps one order).

    Returns:
        ``(model, info)``: the trained :class:`PBN` (evaluation mode is chosen per call) and
        per-epoch :class:`PBNInfo` curves.

    Raises:
        ValueError: on shapes, non-finite values, labels outside ``-1..C-1``, no known rows, or
            hyperparameters out of range.
    """
    xa = np.asarray(x, dtype=np.float32)
    ya = np.asarray(y)
    if xa.ndim != 2 or xa.shape[0] < 2:
        raise ValueError(f"x must be an (n >= 2, d) array, got shape {xa.shape}")
    if not np.all(np.isfinite(xa)):
        raise ValueError("x must contain only finite values")
    if ya.shape != (xa.shape[0],) or not np.issubdtype(ya.dtype, np.integer):
        raise ValueError(f"y must be an int array of shape ({xa.shape[0]},), got {ya.shape}")
    if ya.min() < -1 or not np.any(ya >= 0):
        raise ValueError("y must hold known-class indices >= 0 (at least one) and -1 for novel")
    if not 0.0 <= w <= 1.0 or lr <= 0 or epochs < 1 or batch_size < 2:
        raise ValueError(
            f"need 0 <= w <= 1, lr > 0, epochs >= 1, batch_size >= 2; got w={w}, lr={lr}, "
            f"epochs={epochs}, batch_size={batch_size}"
        )
    n_known = int(ya.max()) + 1
    k_init, k_train = jax.random.split(key)
    model = _create(k_init, xa.shape[1], n_known, int(latent_dim), float(p_dropout))
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    params, rest, info = _train(
        graphdef,
        params,
        rest,
        k_train,
        jnp.asarray(xa),
        jnp.asarray(ya, jnp.int32),
        jnp.asarray(lr, jnp.float32),
        jnp.asarray(w, jnp.float32),
        epochs=int(epochs),
        batch_size=int(min(batch_size, xa.shape[0])),
        reshuffle=reshuffle,
    )
    return nnx.merge(graphdef, params, rest), info


@nnx.jit(static_argnames=("normalize",))
def _latent(model: PBN, x: jax.Array, normalize: bool) -> jax.Array:
    out = model(x, train=False)
    return out["z"] if normalize else out["latent"]


def pbn_latent(model: PBN, x: ArrayLike, *, normalize: bool = False) -> jax.Array:
    """The latent of ``x`` in evaluation mode (BatchNorm running statistics, no dropout).

    ``normalize=False`` gives the raw ``f(x)`` the official code clusters; ``True`` the
    L2-normalised latent it trains on (and computes the silhouette on).
    """
    xa = jnp.asarray(x, jnp.float32)
    if xa.ndim != 2:
        raise ValueError(f"x must be an (n, d) array, got shape {xa.shape}")
    return _latent(model, xa, normalize)
