"""Prototypical networks on the tasks' shared backbone (its embedding, without the head).

Class prototypes are the mean support embeddings; a query's logits are minus its squared
Euclidean distances to the prototypes; the embedding weights θ are trained by Adam on the query
cross-entropy. Classification only (there is no prototype for a regression target).

References:
    Snell, Swersky & Zemel, "Prototypical Networks for Few-shot Learning", NeurIPS 2017,
    eq. (1)-(2).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from bayes.meta.base import MetaLearner, network
from bayes.meta.tasks import Task

__all__ = ["ProtoNetConfig", "ProtoNetState", "ProtoNetInfo", "protonet", "prototype_logits"]


@dataclasses.dataclass(frozen=True)
class ProtoNetConfig:
    learning_rate: float = 1e-3


class ProtoNetState(NamedTuple):
    theta: jax.Array
    opt_state: optax.OptState


class ProtoNetInfo(NamedTuple):
    loss: jax.Array
    accuracy: jax.Array


def prototype_logits(
    z_support: jax.Array, y_support: jax.Array, z_query: jax.Array, n_way: int
) -> jax.Array:
    """Logits ``(n_query, n_way)`` = −‖z_q − c_k‖², c_k the mean support embedding of class k."""
    onehot = jax.nn.one_hot(y_support, n_way, dtype=z_support.dtype)  # (n_s, N)
    protos = (onehot.T @ z_support) / jnp.sum(onehot, axis=0)[:, None]
    d2 = (
        jnp.sum(z_query**2, axis=-1)[:, None]
        - 2.0 * z_query @ protos.T
        + jnp.sum(protos**2, axis=-1)[None, :]
    )
    return -d2


def protonet(task: Task, config: ProtoNetConfig = ProtoNetConfig()) -> MetaLearner:
    """Builds ProtoNet for a classification ``task``.

    Raises:
        ValueError: if ``task`` is a regression task.
    """
    if task.kind != "classification":
        raise ValueError(f"task: ProtoNet needs a classification task, got {task.name!r}")
    net = network(task, embedding=True)
    opt = optax.adam(config.learning_rate)

    def logits(theta, x_s, y_s, x_q):
        return prototype_logits(net.apply(theta, x_s), y_s, net.apply(theta, x_q), task.n_way)

    def batch_loss(theta, episodes):
        def one(x_s, y_s, x_q, y_q):
            lg = logits(theta, x_s, y_s, x_q)
            return jnp.mean(task.point_loss(lg, y_q)), jnp.mean(jnp.argmax(lg, -1) == y_q)

        loss, acc = jax.vmap(one)(*episodes)
        return jnp.mean(loss), jnp.mean(acc)

    def init(key):
        theta = net.init(key)
        return ProtoNetState(theta, opt.init(theta))

    @jax.jit
    def step(key, state, episodes):
        del key
        (loss, acc), grad = jax.value_and_grad(batch_loss, has_aux=True)(state.theta, episodes)
        updates, opt_state = opt.update(grad, state.opt_state, state.theta)
        new = ProtoNetState(optax.apply_updates(state.theta, updates), opt_state)
        return new, ProtoNetInfo(loss, acc)

    @jax.jit
    def predict(key, state, episodes):
        del key
        lg = jax.vmap(logits, in_axes=(None, 0, 0, 0))(
            state.theta, episodes.x_support, episodes.y_support, episodes.x_query
        )
        return jax.nn.softmax(lg, axis=-1)

    return MetaLearner("protonet", init, step, predict, config)
