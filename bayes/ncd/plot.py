"""2-D projection plot of discovered clusters next to the true novel classes.

Needs matplotlib (the ``plot`` extra).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bayes.ncd.metrics import hungarian_mapping

__all__ = ["project_2d", "plot_projection"]


def project_2d(z: np.ndarray) -> np.ndarray:
    """First two principal components of ``z`` (``(n, d)`` → ``(n, 2)``)."""
    z = np.asarray(z, np.float64)
    if z.ndim != 2 or z.shape[0] < 2:
        raise ValueError(f"z must be an (n >= 2, d) array, got shape {z.shape}")
    centred = z - z.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    out = centred @ vt[:2].T
    return out if out.shape[1] == 2 else np.pad(out, ((0, 0), (0, 2 - out.shape[1])))


def plot_projection(
    z: np.ndarray,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    path: str | Path,
    *,
    title: str = "",
) -> Path:
    """Saves a PNG with two panels: rows coloured by true novel class, and by discovered cluster
    (clusters recoloured to their Hungarian-matched class so the colours correspond).

    Args:
        z: ``(n, d)`` representation of the novel rows (input features, PBN latent, ...).
        y_true: ``(n,)`` true classes; y_pred: ``(n,)`` discovered clusters.
        path: output PNG path.
        title: figure title.

    Returns:
        The path written.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("plot_projection needs matplotlib: pip install 'probtree[plot]'") from err
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.shape[0] != np.shape(z)[0]:
        raise ValueError("z, y_true and y_pred must describe the same rows")
    xy = project_2d(z)
    classes = np.unique(y_true)
    colour = {c: i for i, c in enumerate(classes)}
    mapping = hungarian_mapping(y_true, y_pred)
    extra = len(classes)
    pred_col = []
    for p in y_pred:
        if p in mapping:
            pred_col.append(colour[mapping[p]])
        else:
            pred_col.append(extra)
    cmap = plt.get_cmap("tab10" if extra < 10 else "tab20")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5), sharex=True, sharey=True)
    for ax, cols, name in [
        (axes[0], [colour[t] for t in y_true], "true novel classes"),
        (axes[1], pred_col, "discovered clusters"),
    ]:
        ax.scatter(xy[:, 0], xy[:, 1], c=[cmap(c % cmap.N) for c in cols], s=6, alpha=0.7)
        ax.set_title(name)
        ax.set_xlabel("PC 1")
    axes[0].set_ylabel("PC 2")
    handles = [
        plt.Line2D([], [], marker="o", ls="", color=cmap(colour[c] % cmap.N), label=str(c))
        for c in classes
    ]
    axes[0].legend(handles=handles, fontsize=8, loc="best")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
