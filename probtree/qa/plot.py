"""Pictures of reasoned query trees: each node's question, its candidates and scores, the winner.

Drawing uses networkx for the graph and matplotlib (the ``plot`` extra) for the figure; the layout
is a simple tidy tree (leaves spaced evenly, parents centred above their children, root on top).
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from probtree.qa.answers import CANDIDATE_KINDS, Answer
from probtree.qa.querytree import QueryTree

_COLOURS = {"cb": "#1f77b4", "ob": "#2ca02c", "ca": "#d62728"}
_LABELS = {"cb": "CB", "ob": "OB", "ca": "CA"}


def tree_layout(tree: QueryTree) -> dict[int, tuple[float, float]]:
    """Node positions: x by leaf order (parents centred over children), y = -depth."""
    pos: dict[int, tuple[float, float]] = {}
    next_x = [0.0]

    def place(i: int, depth: int) -> float:
        kids = tree.nodes[i].children
        if not kids:
            x = next_x[0]
            next_x[0] += 1.0
        else:
            x = float(np.mean([place(c, depth + 1) for c in kids]))
        pos[i] = (x, -float(depth))
        return x

    place(tree.root, 0)
    return pos


def _node_text(
    question: str,
    answers: Mapping[str, Answer],
    scores: Sequence[float],
    width: int,
) -> list[tuple[str, str | None]]:
    lines: list[tuple[str, str | None]] = [
        (ln, None) for ln in textwrap.wrap(question, width)[:4] or [""]
    ]
    for k, kind in enumerate(CANDIDATE_KINDS):
        a = answers.get(kind)
        if a is None or not np.isfinite(scores[k]):
            continue
        ans = " ".join((a.text or "(none)").split())
        limit = max(12, width - 14)
        ans = ans if len(ans) <= limit else ans[: limit - 3] + "..."
        lines.append((f"{_LABELS[kind]}: {ans} ({scores[k]:.3f})", kind))
    return lines


def draw_query_tree(
    tree: QueryTree,
    answers: Sequence[Mapping[str, Answer]],
    scores: np.ndarray,
    choice: Sequence[int],
    *,
    questions: Sequence[str] | None = None,
    title: str | None = None,
    width: int = 52,
    ax: Any = None,
) -> Any:
    """Draws one reasoned query tree.

    Args:
        tree: the query tree.
        answers: per node ``{"cb": Answer, ...}``.
        scores: ``(n, 3)`` final candidate scores (CA combined; non-finite = absent).
        choice: per node the chosen candidate index.
        questions: per node the question to show (e.g. after substitution); default node texts.
        title: figure title.
        width: characters per text line.
        ax: a matplotlib Axes to draw into (default: a new figure).

    Returns:
        The matplotlib Figure.

    Raises:
        ValueError: lengths that do not match the tree.
    """
    import matplotlib.pyplot as plt
    import networkx as nx
    from matplotlib.patches import FancyBboxPatch

    n = tree.n_nodes
    scores = np.asarray(scores, dtype=float)
    if scores.shape != (n, 3) or len(answers) != n or len(choice) != n:
        raise ValueError(
            f"answers/scores/choice: expected {n} nodes and scores of shape ({n}, 3), got "
            f"{len(answers)}, {scores.shape} and {len(choice)}"
        )
    questions = list(questions) if questions is not None else [nd.text for nd in tree.nodes]
    pos = tree_layout(tree)
    n_leaves = sum(1 for nd in tree.nodes if nd.is_leaf)
    depth = int(-min(y for _, y in pos.values())) + 1
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(6.0, 4.4 * n_leaves), 2.8 * depth + 0.6))
    else:
        fig = ax.figure
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    g.add_edges_from((nd.parent, i) for i, nd in enumerate(tree.nodes) if nd.parent >= 0)
    scaled = {i: (x, y) for i, (x, y) in pos.items()}
    edges = nx.draw_networkx_edges(
        g, scaled, ax=ax, arrows=False, edge_color="#888888", width=1.2, node_size=0
    )
    if edges is not None and hasattr(edges, "set_zorder"):
        edges.set_zorder(0)
    line_h = 0.075
    for i in range(n):
        x, y = scaled[i]
        lines = _node_text(questions[i], answers[i], scores[i], width)
        height = line_h * len(lines) + 0.04
        ax.add_patch(
            FancyBboxPatch(
                (x - 0.46, y - height / 2),
                0.92,
                height,
                boxstyle="round,pad=0.01",
                fc="white",
                ec="#bbbbbb",
                zorder=1,
            )
        )
        top = y + line_h * (len(lines) - 1) / 2
        for j, (text, kind) in enumerate(lines):
            won = kind is not None and CANDIDATE_KINDS[int(choice[i])] == kind
            ax.text(
                x,
                top - j * line_h,
                ("* " if won else "") + text,
                ha="center",
                va="center",
                fontsize=7.5,
                color=_COLOURS.get(kind, "black") if kind else "black",
                fontweight="bold" if (won or kind is None) else "normal",
                bbox=dict(boxstyle="round,pad=0.2", fc="#fff3b0", ec="none") if won else None,
                zorder=2,
            )
    xs = [p[0] for p in scaled.values()]
    ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
    ax.set_ylim(-depth + 0.5, 0.5)
    ax.axis("off")
    if title:
        ax.set_title(textwrap.shorten(title, 140), fontsize=9)
    fig.tight_layout()
    return fig


def save_figure(fig: Any, path: str | Path) -> Path:
    """Saves a figure (format from the suffix: .png, .svg, .pdf) and closes it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    if path.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise ValueError(f"path: expected a .png, .svg or .pdf file name, got {path.name!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path
