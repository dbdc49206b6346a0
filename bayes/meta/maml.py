"""MAML (second-order), first-order MAML, and the no-meta-learning baseline, on flat weights.

MAML adapts θ₀ by ``inner_steps`` SGD steps on the support loss and differentiates the query loss
at the adapted weights through the whole inner loop (the graph over inner steps is kept, so
memory grows with ``inner_steps``). FOMAML stops the gradient of the inner gradients (no
second-order terms; the graph of the inner loop is not needed). The "scratch" baseline never
meta-learns: each episode starts from a random initialisation and runs Adam on its support set.

References:
    Finn, Abbeel & Levine, "Model-Agnostic Meta-Learning for Fast Adaptation of Deep Networks",
    ICML 2017 (Algorithm 2; first-order approximation in §5.2).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from bayes.meta.base import MetaLearner, network
from bayes.meta.tasks import Task

__all__ = ["MAMLConfig", "MAMLState", "MAMLInfo", "maml", "ScratchConfig", "scratch"]


@dataclasses.dataclass(frozen=True)
class MAMLConfig:
    """MAML hyper-parameters; ``test_steps=None`` uses ``inner_steps`` at test time."""

    inner_steps: int = 5
    inner_lr: float = 0.01
    first_order: bool = False
    learning_rate: float = 1e-3
    test_steps: int | None = None


class MAMLState(NamedTuple):
    theta: jax.Array
    opt_state: optax.OptState


class MAMLInfo(NamedTuple):
    loss: jax.Array
    support_nll_after: jax.Array


def maml(task: Task, config: MAMLConfig = MAMLConfig()) -> MetaLearner:
    """Builds MAML (``config.first_order=False``) or FOMAML for ``task``.

    Example:
        >>> from bayes.meta.tasks import make_task
        >>> task = make_task("sinusoid")
        >>> learner = maml(task, MAMLConfig(inner_steps=1))
        >>> state = learner.init(jax.random.key(0))
    """
    if config.inner_steps < 0:
        raise ValueError(f"inner_steps: expected >= 0, got {config.inner_steps}")
    net = network(task)
    opt = optax.adam(config.learning_rate)
    test_steps = config.inner_steps if config.test_steps is None else config.test_steps

    def adapt(theta, x, y, steps):
        def body(th, _):
            g = jax.grad(net.nll, argnums=1)(task, th, x, y)
            if config.first_order:
                g = jax.lax.stop_gradient(g)
            return th - config.inner_lr * g, None

        return jax.lax.scan(body, theta, None, length=steps)[0]

    def episode_loss(theta, x_s, y_s, x_q, y_q):
        adapted = adapt(theta, x_s, y_s, config.inner_steps)
        return net.nll(task, adapted, x_q, y_q), net.nll(task, adapted, x_s, y_s)

    def batch_loss(theta, episodes):
        q, s = jax.vmap(episode_loss, in_axes=(None, 0, 0, 0, 0))(theta, *episodes)
        return jnp.mean(q), jnp.mean(s)

    def init(key):
        theta = net.init(key)
        return MAMLState(theta, opt.init(theta))

    @jax.jit
    def step(key, state, episodes):
        del key
        (loss, s_nll), grad = jax.value_and_grad(batch_loss, has_aux=True)(state.theta, episodes)
        updates, opt_state = opt.update(grad, state.opt_state, state.theta)
        return MAMLState(optax.apply_updates(state.theta, updates), opt_state), MAMLInfo(
            loss, s_nll
        )

    @jax.jit
    def predict(key, state, episodes):
        del key

        def one(x_s, y_s, x_q):
            out = net.apply(adapt(state.theta, x_s, y_s, test_steps), x_q)
            return _point_prediction(task, out)

        return jax.vmap(one)(episodes.x_support, episodes.y_support, episodes.x_query)

    return MetaLearner("fomaml" if config.first_order else "maml", init, step, predict, config)


def _point_prediction(task: Task, out: jax.Array) -> jax.Array:
    if task.kind == "classification":
        return jax.nn.softmax(out, axis=-1)
    mean = out[..., 0]
    return jnp.stack([mean, jnp.full_like(mean, task.lik_std**2)], axis=-1)


@dataclasses.dataclass(frozen=True)
class ScratchConfig:
    """Per-episode training from a random init: ``steps`` Adam steps at ``learning_rate``."""

    steps: int = 100
    learning_rate: float = 1e-2


def scratch(task: Task, config: ScratchConfig = ScratchConfig()) -> MetaLearner:
    """The no-meta-learning baseline: ``step`` does nothing; ``predict`` trains from scratch."""
    net = network(task)
    opt = optax.adam(config.learning_rate)

    def init(key):
        return jnp.zeros((), dtype=jnp.int32)

    def step(key, state, episodes):
        return state, MAMLInfo(jnp.zeros(()), jnp.zeros(()))

    @jax.jit
    def predict(key, state, episodes):
        del state

        def one(k, x_s, y_s, x_q):
            theta = net.init(k)

            def body(carry, _):
                th, s = carry
                g = jax.grad(net.nll, argnums=1)(task, th, x_s, y_s)
                u, s = opt.update(g, s, th)
                return (optax.apply_updates(th, u), s), None

            theta, _ = jax.lax.scan(body, (theta, opt.init(theta)), None, length=config.steps)[0]
            return _point_prediction(task, net.apply(theta, x_q))

        keys = jax.random.split(key, episodes.x_support.shape[0])
        return jax.vmap(one)(keys, episodes.x_support, episodes.y_support, episodes.x_query)

    return MetaLearner("scratch", init, step, predict, config)
