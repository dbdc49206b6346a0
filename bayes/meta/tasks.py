"""The four offline benchmark tasks: sinusoid, SineLine, Letter and digits few-shot episodes.

A :class:`Task` bundles an episode sampler per split, the backbone every method shares and the
per-point loss, so NIW-Meta, MAML, FOMAML, ProtoNet and the from-scratch baseline run like for
like. Datasets ship with the package (``bayes/data``): the UCI Letter Recognition data (CC BY 4.0)
and scikit-learn's bundled 8x8 digits (BSD-3).

Class splits (fixed, documented):
    * Letter: 26 letters split 16/5/5 for meta-train/val/test by alphabet order (A-P, Q-U, V-Z);
      features are the 16 integer attributes scaled to [-1, 1] (``x / 7.5 - 1``).
    * Digits: 10 digits x 4 rotations (0, 90, 180, 270 degrees) = 40 classes, Omniglot-style; the
      split is by digit so no digit leaks across splits: digits 0-5 train (24 classes), 6-7 val,
      8-9 test (8 classes each). Pixels scaled to [0, 1].
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from bayes.meta.backbones import MLP, ConvNet
from bayes.meta.episodes import ClassEpisodeSampler, Episodes, sample_sineline, sample_sinusoid

__all__ = [
    "Task", "make_task", "load_letter", "load_digits_rotated", "digits_error_kind",
    "DIGITS_ERROR_KINDS", "TASKS",
]

TASKS = ("sinusoid", "sineline", "letter", "digits")
SPLITS = ("train", "val", "test")
_DATA = Path(__file__).resolve().parents[1] / "data"


@dataclasses.dataclass(frozen=True)
class Task:
    """A few-shot benchmark: samplers, shared backbone and loss.

    Attributes:
        name: task name.
        kind: ``"regression"`` or ``"classification"``.
        n_way: classes per episode (1 for regression).
        k_shot: support examples per class.
        n_query: query examples per class.
        samplers: split name -> ``sample(key, batch) -> Episodes``.
        make_backbone: ``(rngs, embedding: bool) -> nnx.Module`` (embedding drops the head).
        lik_std: Gaussian likelihood noise for regression (the per-point loss is its NLL).
    """

    name: str
    kind: str
    n_way: int
    k_shot: int
    n_query: int
    samplers: dict
    make_backbone: Callable[[nnx.Rngs, bool], nnx.Module]
    lik_std: float = 0.5

    def sample(self, key: jax.Array, batch: int, split: str = "train") -> Episodes:
        """Draws ``batch`` episodes from ``split``."""
        if split not in self.samplers:
            raise ValueError(f"split: expected one of {sorted(self.samplers)}, got {split!r}")
        return self.samplers[split](key, batch)

    def episode_classes(self, key: jax.Array, batch: int, split: str = "train") -> jax.Array:
        """Dataset label of each episode label ``(batch, n_way)`` for ``sample(key, batch, split)``
        (classification tasks; see :meth:`ClassEpisodeSampler.episode_classes`).

        Raises:
            ValueError: unknown ``split``, or a split not drawn by a :class:`ClassEpisodeSampler`.
        """
        if split not in self.samplers:
            raise ValueError(f"split: expected one of {sorted(self.samplers)}, got {split!r}")
        sampler = getattr(self.samplers[split], "__self__", None)
        if not isinstance(sampler, ClassEpisodeSampler):
            raise ValueError(f"split: {self.name!r} {split!r} episodes have no classes (expected "
                             "a classification task sampled by ClassEpisodeSampler)")
        return sampler.episode_classes(key, batch)

    def point_loss(self, out: jax.Array, y: jax.Array) -> jax.Array:
        """Per-point negative log-likelihood ``(n,)`` of outputs ``out`` for targets ``y``."""
        if self.kind == "regression":
            z = (y - out[..., 0]) / self.lik_std
            return 0.5 * z**2 + jnp.log(self.lik_std) + 0.5 * jnp.log(2 * jnp.pi)
        logp = jax.nn.log_softmax(out, axis=-1)
        return -jnp.take_along_axis(logp, y[..., None].astype(jnp.int32), axis=-1)[..., 0]


def load_letter() -> tuple[np.ndarray, np.ndarray]:
    """UCI Letter Recognition: ``x (20000, 16) float32`` in [-1, 1], ``y (20000,)`` 0..25."""
    path = _DATA / "letter-recognition.data"
    rows = path.read_text().split()
    y = np.array([ord(r[0]) - ord("A") for r in rows], dtype=np.int32)
    x = np.array(",".join(r[2:] for r in rows).split(","), dtype=np.float32).reshape(len(rows), 16)
    return x / 7.5 - 1.0, y


def load_digits_rotated() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn digits x 4 rotations: ``x (7188, 8, 8)`` in [0, 1], ``y`` = 4·digit + r."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images.astype(np.float32) / 16.0
    xs, ys = [], []
    for r in range(4):
        xs.append(np.rot90(images, k=r, axes=(1, 2)))
        ys.append(4 * digits.target + r)
    return np.concatenate(xs), np.concatenate(ys).astype(np.int32)


DIGITS_ERROR_KINDS = ("same digit, 180°", "same digit, ±90°", "other digit")


def digits_error_kind(true: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Kind of each confusion between rotated-digit classes (labels ``4·digit + r``, r the number
    of quarter turns, as :func:`load_digits_rotated` builds them): -1 for a correct prediction,
    else an index into :data:`DIGITS_ERROR_KINDS`. The 180° kind is the one an upright and an
    upside-down 0, 1 or 8 make, which nearly look alike.
    """
    true, pred = np.asarray(true), np.asarray(pred)
    same_digit = true // 4 == pred // 4
    half_turn = (true - pred) % 4 == 2
    kind = np.where(same_digit, np.where(half_turn, 0, 1), 2)
    return np.where(true == pred, -1, kind)


def make_task(
    name: str, *, n_way: int = 5, k_shot: int | None = None, n_query: int | None = None,
    trainval: bool = False, digits_per_episode: int | None = None,
) -> Task:
    """Builds a benchmark task by name (one of :data:`TASKS`).

    Defaults: regression 10-shot with 10 query points (MAML's sinusoid setting, 1-40-40-1 MLP,
    likelihood noise 0.5); classification ``n_way``-way 5-shot with 10 queries per class
    (Letter: 16-64-64-N MLP; digits: two 3x3 conv blocks of 16 filters, each normalised per
    example (:class:`~bayes.meta.backbones.ConvNet` ``norm=True``), + linear head).

    ``trainval``: the meta-train split also draws the val classes (classification only): the
    usual final-model protocol of meta-training on train + val once model selection and the
    test-time settings have been fixed on val (the val sampler is unchanged, so validating such a
    task would score classes it trained on).

    ``digits_per_episode`` (digits only): each meta-train episode first draws this many digits,
    then its ``n_way`` classes among their rotations, so meta-training episodes have the
    structure of the val and test episodes, whose splits hold two digits each (every 5-way test
    episode holds one digit in at least three rotations, two of them 180° apart). ``None``: the
    standard sampler, ``n_way`` classes uniformly from the 24 training classes. The val and test
    samplers are unchanged.

    Raises:
        ValueError: unknown ``name``, ``trainval`` for a regression task, ``digits_per_episode``
            for another task or one the training digits cannot serve, or sizes the data cannot
            serve.
    """
    if digits_per_episode is not None and name != "digits":
        raise ValueError(f"digits_per_episode: only the digits task has digits; got {name!r} "
                         "(expected digits_per_episode=None)")
    if name in ("sinusoid", "sineline"):
        k = 10 if k_shot is None else k_shot
        q = 10 if n_query is None else n_query
        if trainval:
            raise ValueError(f"trainval: {name} is an infinite family of regression tasks with "
                             "no class split; expected trainval=False")
        fn = sample_sinusoid if name == "sinusoid" else sample_sineline
        # Regression tasks are infinite families; splits differ only by the key stream.
        samplers = {
            s: (lambda key, b, i=i: fn(jax.random.fold_in(key, i), b, k, q))
            for i, s in enumerate(SPLITS)
        }
        backbone = lambda rngs, emb: MLP(1, (40, 40), None if emb else 1, rngs=rngs)
        return Task(name, "regression", 1, k, q, samplers, backbone)
    if name == "letter":
        x, y = load_letter()
        splits = {"train": range(0, 16), "val": range(16, 21), "test": range(21, 26)}
        backbone = lambda rngs, emb: MLP(16, (64, 64), None if emb else n_way, rngs=rngs)
    elif name == "digits":
        x, y = load_digits_rotated()
        splits = {"train": range(0, 24), "val": range(24, 32), "test": range(32, 40)}
        backbone = lambda rngs, emb: ConvNet(8, 16, 2, None if emb else n_way, norm=True,
                                             rngs=rngs)
    else:
        raise ValueError(f"name: expected one of {TASKS}, got {name!r}")
    if trainval:
        splits["train"] = [*splits["train"], *splits["val"]]
    k = 5 if k_shot is None else k_shot
    q = 10 if n_query is None else n_query
    # digits_per_episode groups the meta-train classes by digit (class 4·digit + r).
    grouped = {"train": dict(groups=[c // 4 for c in splits["train"]],
                             groups_per_episode=digits_per_episode)
               } if digits_per_episode is not None else {}
    samplers = {s: ClassEpisodeSampler(x, y, c, n_way, k, q, **grouped.get(s, {})).sample
                for s, c in splits.items()}
    return Task(name, "classification", n_way, k, q, samplers, backbone)
