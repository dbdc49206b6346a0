"""Few-shot evaluation figures: accuracy ± 95% CI over episodes, ECE, NLL, MSE, reliability diagram.

The confidence interval is the usual few-shot one, 1.96 x (std of per-episode accuracy)/√E over
E test episodes. ECE uses equal-width confidence bins over all pooled query predictions.

References:
    Guo, Pleiss, Sun & Weinberger, "On Calibration of Modern Neural Networks", ICML 2017 (ECE,
    reliability diagrams).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = [
    "classification_metrics",
    "regression_metrics",
    "episode_accuracy",
    "episode_mse",
    "error_breakdown",
    "ci95",
    "ece",
    "reliability_diagram",
]


def ci95(per_episode: np.ndarray) -> float:
    """Half-width of the 95% CI of the mean of per-episode figures (NaN for one episode)."""
    n = per_episode.shape[0]
    return float(1.96 * per_episode.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")


def episode_accuracy(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Accuracy of every episode ``(E,)`` from ``probs (E, n, C)`` and ``labels (E, n)``."""
    return (np.asarray(probs).argmax(-1) == np.asarray(labels)).mean(axis=1)


def error_breakdown(
    probs: np.ndarray, labels: np.ndarray, classes: np.ndarray, kind: Callable, n_kinds: int
) -> np.ndarray:
    """Error rate of every episode by kind of confusion, ``(E, n_kinds)``.

    Args:
        probs: ``(E, n, C)`` predicted class probabilities (episode labels 0..C-1).
        labels: ``(E, n)`` true episode labels.
        classes: ``(E, C)`` dataset class of each episode label (``Task.episode_classes``).
        kind: ``kind(true_class, predicted_class) -> int array``, -1 for a correct prediction,
            else a kind in ``0..n_kinds-1`` (e.g. :func:`bayes.meta.tasks.digits_error_kind`).
        n_kinds: number of kinds.

    Returns:
        Share of each episode's queries misclassified with each kind; the rows sum to the
        episode's error rate, 1 − accuracy.

    Raises:
        ValueError: mismatched shapes, or a kind outside ``-1..n_kinds-1``.
    """
    probs, labels, classes = np.asarray(probs), np.asarray(labels), np.asarray(classes)
    if probs.shape[:2] != labels.shape or classes.shape != (probs.shape[0], probs.shape[2]):
        raise ValueError(f"probs, labels, classes: expected (E, n, C), (E, n), (E, C), got "
                         f"{probs.shape}, {labels.shape}, {classes.shape}")
    true = np.take_along_axis(classes, labels, axis=1)
    pred = np.take_along_axis(classes, probs.argmax(-1), axis=1)
    kinds = np.asarray(kind(true, pred))
    correct = true == pred
    if np.any(kinds[correct] != -1) or np.any((kinds[~correct] < 0) | (kinds[~correct] >= n_kinds)):
        raise ValueError(f"kind: expected -1 exactly for correct predictions and 0..{n_kinds - 1} "
                         "for errors")
    return np.stack([(kinds == k).mean(axis=1) for k in range(n_kinds)], axis=1)


def episode_mse(pred: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """MSE of every episode ``(E,)`` from ``pred (E, n, 2)`` = [mean, var] and ``targets``."""
    return ((np.asarray(pred)[..., 0] - np.asarray(targets)) ** 2).mean(axis=1)


def ece(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """Expected calibration error of ``probs (n, C)`` against integer ``labels (n,)``."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels)
    conf = probs.max(axis=-1)
    correct = (probs.argmax(axis=-1) == labels).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        sel = bins == b
        if sel.any():
            total += sel.mean() * abs(correct[sel].mean() - conf[sel].mean())
    return float(total)


def classification_metrics(probs, labels) -> dict:
    """Accuracy, its 95% CI, ECE and NLL from ``probs (E, n, C)`` and ``labels (E, n)``."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels)
    if probs.ndim != 3 or labels.shape != probs.shape[:2]:
        raise ValueError(f"probs, labels: expected (E, n, C) and (E, n), got {probs.shape}, "
                         f"{labels.shape}")
    acc = episode_accuracy(probs, labels)
    p_true = np.take_along_axis(probs, labels[..., None], axis=-1)[..., 0]
    return {
        "accuracy": float(acc.mean()),
        "ci95": ci95(acc),
        "ece": ece(probs.reshape(-1, probs.shape[-1]), labels.reshape(-1)),
        "nll": float(-np.log(np.maximum(p_true, 1e-12)).mean()),
        "episodes": int(probs.shape[0]),
    }


def regression_metrics(pred, targets) -> dict:
    """MSE (± 95% CI over episodes) and Gaussian NLL from ``pred (E, n, 2)`` = [mean, var]."""
    pred = np.asarray(pred, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    if pred.ndim != 3 or pred.shape[-1] != 2 or targets.shape != pred.shape[:2]:
        raise ValueError(f"pred, targets: expected (E, n, 2) and (E, n), got {pred.shape}, "
                         f"{targets.shape}")
    mean, var = pred[..., 0], pred[..., 1]
    mse = episode_mse(pred, targets)
    nll = 0.5 * (np.log(2 * np.pi * var) + (targets - mean) ** 2 / var)
    return {
        "mse": float(mse.mean()),
        "ci95": ci95(mse),
        "nll": float(nll.mean()),
        "episodes": int(pred.shape[0]),
    }


def reliability_diagram(probs, labels, path: str | Path, n_bins: int = 15, title: str = "") -> Path:
    """Saves a reliability diagram (accuracy vs confidence per bin) as a PNG; returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    probs = np.asarray(probs, dtype=np.float64).reshape(-1, np.shape(probs)[-1])
    labels = np.asarray(labels).reshape(-1)
    conf = probs.max(-1)
    correct = probs.argmax(-1) == labels
    edges = np.linspace(0, 1, n_bins + 1)
    bins = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    accs = [correct[bins == b].mean() if (bins == b).any() else 0.0 for b in range(n_bins)]
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.bar(edges[:-1], accs, width=1 / n_bins, align="edge", edgecolor="k", label="accuracy")
    ax.plot([0, 1], [0, 1], "r--", label="perfect calibration")
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(f"{title} ECE={ece(probs, labels, n_bins):.3f}")
    ax.legend(loc="upper left")
    path = Path(path)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
