"""The interface every meta-learner implements, and helpers they share.

A :class:`MetaLearner` is a triple of pure functions built by a factory that closes over the task
and hyper-parameters (optax/blackjax style):

* ``init(key) -> state``;
* ``step(key, state, episodes) -> (state, info)``: one meta-update on a batch of episodes
  (vmapped inside; jit-compiled; shards over devices when ``episodes`` is sharded);
* ``predict(key, state, episodes) -> out``: predictions for the query sets, ``(B, n_query, C)``:
  class probabilities (C = n_way) for classification, ``[mean, variance]`` (C = 2) for regression.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from bayes.meta.backbones import flatten
from bayes.meta.tasks import Task

__all__ = ["MetaLearner", "Network", "network", "predictive_from_samples"]


class MetaLearner(NamedTuple):
    """Pure ``init``/``step``/``predict`` functions of one meta-learning method."""

    name: str
    init: Callable[[jax.Array], Any]
    step: Callable[[jax.Array, Any, Any], tuple[Any, Any]]
    predict: Callable[[jax.Array, Any, Any], jax.Array]
    config: Any = None  # the hyper-parameter dataclass it was built from (None: unknown)


class Network(NamedTuple):
    """A task's backbone as flat weights: ``apply(theta, x)`` and a fresh-init function."""

    apply: Callable[[jax.Array, jax.Array], jax.Array]
    init: Callable[[jax.Array], jax.Array]
    dim: int

    def nll(self, task: Task, theta: jax.Array, x: jax.Array, y: jax.Array) -> jax.Array:
        """Mean per-point negative log-likelihood of one episode's ``(x, y)``."""
        return jnp.mean(task.point_loss(self.apply(theta, x), y))


def network(task: Task, *, embedding: bool = False) -> Network:
    """Flattens the task's shared backbone (``embedding=True`` drops the head, for ProtoNet)."""
    theta, apply = flatten(task.make_backbone(nnx.Rngs(0), embedding))

    def init(key: jax.Array) -> jax.Array:
        return flatten(task.make_backbone(nnx.Rngs(key), embedding))[0]

    return Network(apply, init, int(theta.shape[0]))


def predictive_from_samples(task: Task, outs: jax.Array) -> jax.Array:
    """Averages network outputs ``(S, n, out)`` over weight samples into predictions ``(n, C)``.

    Classification: mean of the softmax probabilities. Regression: the predictive mean and the
    variance of the Gaussian mixture (spread of the sample means + likelihood noise).
    """
    if task.kind == "classification":
        return jnp.mean(jax.nn.softmax(outs, axis=-1), axis=0)
    means = outs[..., 0]
    var = jnp.var(means, axis=0) + task.lik_std**2
    return jnp.stack([jnp.mean(means, axis=0), var], axis=-1)
