"""Episode samplers: N-way K-shot classification over class splits, and regression task families.

Every sampler is a pure function ``sample(key, batch) -> Episodes`` that jit-compiles, so a whole
meta-batch of episodes is drawn in one call on device. Classification episodes relabel the chosen
classes 0..N-1 in a random order; regression episodes draw a fresh function per episode.

References:
    Finn, Abbeel & Levine, "Model-Agnostic Meta-Learning", ICML 2017 (sinusoid task, §5.1).
    Finn, Xu & Levine, "Probabilistic Model-Agnostic Meta-Learning", NeurIPS 2018 (sine/line mix,
    the "SineLine" task of the NIW-Meta README).
    Vinyals et al., "Matching Networks for One Shot Learning", NeurIPS 2016 (N-way K-shot episodes).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

__all__ = ["Episodes", "ClassEpisodeSampler", "sample_sinusoid", "sample_sineline"]


class Episodes(NamedTuple):
    """A batch of episodes (leading axis B). Labels are int32 classes or float targets.

    Attributes:
        x_support: ``(B, n_support, *x_shape)``.
        y_support: ``(B, n_support)``.
        x_query: ``(B, n_query, *x_shape)``.
        y_query: ``(B, n_query)``.
    """

    x_support: jax.Array
    y_support: jax.Array
    x_query: jax.Array
    y_query: jax.Array


class ClassEpisodeSampler:
    """N-way K-shot episodes from the classes of one split of a labelled dataset.

    Python builds an index table (classes x max examples, padded with -1) once; ``sample`` is then
    pure array work: choose ``n_way`` distinct classes, draw ``k_shot + n_query`` distinct
    examples of each (uniform over the class's examples), relabel classes 0..n_way-1.

    Args:
        x: ``(n, *x_shape)`` features.
        y: ``(n,)`` integer labels.
        classes: labels that belong to this split.
        n_way: classes per episode.
        k_shot: support examples per class.
        n_query: query examples per class.
        groups: optional group id of each class (e.g. the digit of a rotated-digit class). With
            ``groups_per_episode`` set, an episode first draws that many distinct groups
            (uniformly), then ``n_way`` distinct classes uniformly among their classes, so
            episodes hold classes of few groups, as a split with few groups has them.
        groups_per_episode: number of groups per episode (needs ``groups``); ``None`` draws the
            ``n_way`` classes uniformly from the whole split (the standard sampler).

    Raises:
        ValueError: if a class has fewer than ``k_shot + n_query`` examples, the split has fewer
            than ``n_way`` classes, or ``groups``/``groups_per_episode`` are inconsistent (wrong
            length, more groups asked than exist, or some choice of groups with fewer than
            ``n_way`` classes).

    Example:
        >>> s = ClassEpisodeSampler(np.eye(6), np.repeat([0, 1, 2], 2), [0, 1, 2], 2, 1, 1)
        >>> s.sample(jax.random.key(0), 4).x_support.shape
        (4, 2, 6)
    """

    def __init__(
        self, x: ArrayLike, y: ArrayLike, classes, n_way: int, k_shot: int, n_query: int,
        groups=None, groups_per_episode: int | None = None,
    ):
        x = np.asarray(x, dtype=np.float32)
        y = np.asarray(y)
        classes = [int(c) for c in classes]
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"x, y: expected equal row counts, got {x.shape[0]}, {y.shape[0]}")
        if n_way < 2 or len(classes) < n_way:
            raise ValueError(f"n_way: expected 2 <= n_way <= {len(classes)} classes, got {n_way}")
        if k_shot < 1 or n_query < 1:
            raise ValueError(f"k_shot, n_query: expected >= 1, got {k_shot}, {n_query}")
        rows = [np.flatnonzero(y == c) for c in classes]
        need = k_shot + n_query
        for c, r in zip(classes, rows):
            if r.size < need:
                raise ValueError(f"class {c} has {r.size} examples; k_shot + n_query = {need}")
        width = max(r.size for r in rows)
        table = np.full((len(classes), width), -1, dtype=np.int32)
        for i, r in enumerate(rows):
            table[i, : r.size] = r
        self.x = jnp.asarray(x)
        self.table = jnp.asarray(table)
        self.classes = jnp.asarray(classes, dtype=jnp.int32)
        self.n_way, self.k_shot, self.n_query = n_way, k_shot, n_query
        self.n_classes = len(classes)
        self.groups, self.grouping = _group_table(classes, groups, groups_per_episode, n_way)

    def sample(self, key: jax.Array, batch: int) -> Episodes:
        """Draws ``batch`` episodes (jit-compatible; ``batch`` is static)."""
        return _sample_class_episodes(
            key, self.x, self.table, self.groups, batch, self.n_way, self.k_shot, self.n_query,
            self.grouping,
        )

    def episode_classes(self, key: jax.Array, batch: int) -> jax.Array:
        """Dataset label of each episode label, ``(batch, n_way)`` int32, for the episodes
        ``sample(key, batch)`` draws: entry ``[b, j]`` is the class relabelled ``j`` in episode
        ``b`` (for error analyses by class, e.g. which confusions a method makes)."""
        return self.classes[_episode_class_rows(
            key, self.groups, self.n_classes, batch, self.n_way, self.grouping)]


def _group_table(classes, groups, groups_per_episode, n_way):
    """Validates the class groups. Returns each class's group index ``(n_classes,)`` and the
    static ``(n_groups, groups_per_episode)``, or ``(None, None)`` for the ungrouped sampler."""
    if groups is None:
        if groups_per_episode is not None:
            raise ValueError("groups_per_episode: needs groups (the group of each class)")
        return None, None
    groups = list(groups)
    if len(groups) != len(classes):
        raise ValueError(f"groups: expected one group per class ({len(classes)}), got "
                         f"{len(groups)}")
    names = sorted(set(groups))
    index = np.array([names.index(g) for g in groups], dtype=np.int32)
    if groups_per_episode is None:
        return None, None
    if not 1 <= groups_per_episode <= len(names):
        raise ValueError(f"groups_per_episode: expected 1..{len(names)} (the split's groups), "
                         f"got {groups_per_episode}")
    sizes = np.sort(np.bincount(index))
    if sizes[:groups_per_episode].sum() < n_way:
        raise ValueError(f"groups_per_episode: {groups_per_episode} groups can hold only "
                         f"{sizes[:groups_per_episode].sum()} classes; n_way = {n_way}")
    return jnp.asarray(index), (len(names), int(groups_per_episode))


def _choose_classes(k_cls, n_classes, n_way, groups=None, grouping=None):
    if grouping is None:
        return jax.random.choice(k_cls, n_classes, (n_way,), replace=False)
    n_groups, groups_per_episode = grouping
    k_grp, k_in = jax.random.split(k_cls)
    # Random order of the group ids; the first ``groups_per_episode`` are this episode's.
    rank = jnp.argsort(jax.random.uniform(k_grp, (n_groups,)))
    chosen = jnp.zeros(n_groups, bool).at[rank[:groups_per_episode]].set(True)
    scores = jnp.where(chosen[groups], jax.random.uniform(k_in, (n_classes,)), 2.0)
    return jnp.argsort(scores)[:n_way]


@functools.partial(jax.jit, static_argnums=(2, 3, 4, 5))
def _episode_class_rows(key, groups, n_classes, batch, n_way, grouping):
    """The table rows ``(batch, n_way)`` :func:`_sample_class_episodes` picks for ``key``."""
    return jax.vmap(lambda k: _choose_classes(
        jax.random.split(k)[0], n_classes, n_way, groups, grouping))(
        jax.random.split(key, batch))


@functools.partial(jax.jit, static_argnums=(4, 5, 6, 7, 8))
def _sample_class_episodes(
    key, x, table, groups, batch, n_way, k_shot, n_query, grouping
) -> Episodes:
    need = k_shot + n_query

    def one(k):
        k_cls, k_ex = jax.random.split(k)
        cls = _choose_classes(k_cls, table.shape[0], n_way, groups, grouping)
        rows = table[cls]  # (n_way, width)
        scores = jax.random.uniform(k_ex, rows.shape)
        scores = jnp.where(rows >= 0, scores, 2.0)
        pick = jnp.argsort(scores, axis=1)[:, :need]
        idx = jnp.take_along_axis(rows, pick, axis=1)  # (n_way, need)
        labels = jnp.broadcast_to(jnp.arange(n_way, dtype=jnp.int32)[:, None], idx.shape)
        s_idx, q_idx = idx[:, :k_shot].reshape(-1), idx[:, k_shot:].reshape(-1)
        s_lab, q_lab = labels[:, :k_shot].reshape(-1), labels[:, k_shot:].reshape(-1)
        return Episodes(x[s_idx], s_lab, x[q_idx], q_lab)

    return jax.vmap(one)(jax.random.split(key, batch))


def _uniform(key, shape, low, high):
    return jax.random.uniform(key, shape, minval=low, maxval=high)


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def sample_sinusoid(key: jax.Array, batch: int, k_shot: int, n_query: int) -> Episodes:
    """MAML sinusoids y = A sin(x − φ), A ~ U[0.1, 5], φ ~ U[0, π], x ~ U[−5, 5], no noise.

    Returns Episodes with x ``(B, n, 1)`` and y ``(B, n)``.
    """
    k_a, k_p, k_x = jax.random.split(key, 3)
    amp = _uniform(k_a, (batch, 1), 0.1, 5.0)
    phase = _uniform(k_p, (batch, 1), 0.0, jnp.pi)
    x = _uniform(k_x, (batch, k_shot + n_query), -5.0, 5.0)
    y = amp * jnp.sin(x - phase)
    return Episodes(x[:, :k_shot, None], y[:, :k_shot], x[:, k_shot:, None], y[:, k_shot:])


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def sample_sineline(
    key: jax.Array, batch: int, k_shot: int, n_query: int, noise_std: float = 0.3
) -> Episodes:
    """SineLine: with prob. ½ a sinusoid A sin(x + φ) (A ~ U[0.1, 5], φ ~ U[0, π]), else a line
    a x + b (a, b ~ U[−3, 3]); x ~ U[−5, 5]; Gaussian noise ``noise_std`` (PMAML constants).
    """
    k_a, k_p, k_l, k_b, k_c, k_x, k_n = jax.random.split(key, 7)
    amp = _uniform(k_a, (batch, 1), 0.1, 5.0)
    phase = _uniform(k_p, (batch, 1), 0.0, jnp.pi)
    slope = _uniform(k_l, (batch, 1), -3.0, 3.0)
    intercept = _uniform(k_b, (batch, 1), -3.0, 3.0)
    is_sine = jax.random.bernoulli(k_c, 0.5, (batch, 1))
    x = _uniform(k_x, (batch, k_shot + n_query), -5.0, 5.0)
    y = jnp.where(is_sine, amp * jnp.sin(x + phase), slope * x + intercept)
    y = y + noise_std * jax.random.normal(k_n, y.shape)
    return Episodes(x[:, :k_shot, None], y[:, :k_shot], x[:, k_shot:, None], y[:, k_shot:])
