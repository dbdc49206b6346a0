"""Small flax NNX backbones and their flat-vector functional form.

Meta-learners here treat θ as one flat vector of every weight of the network (NIW-Meta puts a
diagonal Gaussian on it; MAML adapts it; ProtoNet trains it as an embedding). :func:`flatten`
turns an NNX module into ``(theta0 (d,), apply(theta, x))`` with ``nnx.split`` and
``jax.flatten_util.ravel_pytree``; ``apply`` is pure, so it vmaps over episodes and samples.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx
from jax.flatten_util import ravel_pytree

__all__ = ["MLP", "ConvNet", "flatten"]


class MLP(nnx.Module):
    """ReLU multilayer perceptron; ``n_out=None`` returns the last hidden layer (an embedding).

    Args:
        n_in: input features.
        hidden: hidden widths.
        n_out: outputs, or ``None`` for an embedding network.
        rngs: NNX random streams (keyword-only).
    """

    def __init__(self, n_in: int, hidden: Sequence[int], n_out: int | None, *, rngs: nnx.Rngs):
        widths = [n_in, *hidden]
        self.layers = nnx.List(
            [nnx.Linear(a, b, rngs=rngs) for a, b in zip(widths[:-1], widths[1:])]
        )
        self.head = nnx.Linear(widths[-1], n_out, rngs=rngs) if n_out is not None else None

    def __call__(self, x: jax.Array) -> jax.Array:
        for layer in self.layers:
            x = jax.nn.relu(layer(x))
        return self.head(x) if self.head is not None else x


class ConvNet(nnx.Module):
    """Conv-(norm)-ReLU-maxpool blocks for small square images ``(n, h, w)``, then a linear head.

    For 8x8 digits two blocks of ``channels`` filters give a 2x2xC feature map (flattened).
    ``n_out=None`` returns the flattened features (a ProtoNet embedding).

    ``norm=True`` normalises each example's feature map after every convolution (layer norm over
    height, width and channels, then a learned per-channel scale and shift), the per-example
    stand-in for the batch norm of the standard few-shot conv backbone (Vinyals et al. 2016;
    Finn et al. 2017). Per-example statistics keep ``apply`` a function of one input at a time,
    so support and query never mix (no transductive batch statistics) and a flat θ holds every
    parameter (no running averages).
    """

    def __init__(
        self,
        image_size: int,
        channels: int,
        n_blocks: int,
        n_out: int | None,
        *,
        norm: bool = False,
        rngs: nnx.Rngs,
    ):
        chans = [1] + [channels] * n_blocks
        self.convs = nnx.List(
            [nnx.Conv(a, b, kernel_size=(3, 3), rngs=rngs) for a, b in zip(chans[:-1], chans[1:])]
        )
        self.norms = nnx.List(
            [nnx.LayerNorm(channels, epsilon=1e-5, reduction_axes=(-3, -2, -1), feature_axes=-1,
                           rngs=rngs) for _ in range(n_blocks)]
            if norm else []
        )
        side = image_size // (2**n_blocks)
        if side < 1:
            raise ValueError(f"n_blocks: {n_blocks} poolings do not fit image_size {image_size}")
        n_feat = side * side * channels
        self.head = nnx.Linear(n_feat, n_out, rngs=rngs) if n_out is not None else None

    def __call__(self, x: jax.Array) -> jax.Array:
        x = x[..., None]
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if len(self.norms):
                x = self.norms[i](x)
            x = nnx.max_pool(jax.nn.relu(x), window_shape=(2, 2), strides=(2, 2))
        x = x.reshape(x.shape[:-3] + (-1,))
        return self.head(x) if self.head is not None else x


def flatten(module: nnx.Module) -> tuple[jax.Array, Callable[[jax.Array, jax.Array], jax.Array]]:
    """Flat parameters and a pure ``apply(theta, x)`` for an NNX module.

    Returns:
        ``theta0`` ``(d,) float32`` (the module's current weights, in ``nnx.split`` order) and
        ``apply(theta (d,), x) -> outputs``.

    Example:
        >>> theta, apply = flatten(MLP(1, [8], 1, rngs=nnx.Rngs(0)))
        >>> theta.shape, apply(theta, jnp.zeros((3, 1))).shape
        ((25,), (3, 1))
    """
    graphdef, state = nnx.split(module)
    theta0, unravel = ravel_pytree(state)

    def apply(theta: jax.Array, x: jax.Array) -> jax.Array:
        return nnx.merge(graphdef, unravel(theta))(x)

    return jnp.asarray(theta0), apply
