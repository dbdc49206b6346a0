"""Plain-Python reference implementations of the passes (node by node, in post-order).

They define what `probtree.passes` must compute and serve as the baseline of
``benchmarks/tree_passes.py``; they are deliberately simple and slow.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

_REDUCE: dict[str, Callable[[list[float]], float]] = {
    "sum": lambda v: math.fsum(v),
    "max": max,
    "min": min,
    "logsumexp": lambda v: (
        -math.inf
        if max(v) == -math.inf
        else max(v) + math.log(math.fsum(math.exp(a - max(v)) for a in v))
    ),
}


def children_lists(parents: Sequence[int]) -> tuple[int, list[list[int]]]:
    """The root and the child list of every node of a parent array."""
    kids: list[list[int]] = [[] for _ in parents]
    root = -1
    for i, p in enumerate(parents):
        if p < 0:
            root = i
        else:
            kids[p].append(i)
    return root, kids


def postorder(root: int, kids: list[list[int]]) -> list[int]:
    """Depth-first post-order (children in order, then the node), without recursion."""
    order: list[int] = []
    stack = [(root, False)]
    while stack:
        i, done = stack.pop()
        if done:
            order.append(i)
        else:
            stack.append((i, True))
            stack.extend((c, False) for c in reversed(kids[i]))
    return order


def upward_python(
    parents: Sequence[int],
    x: Sequence[float],
    reduce: str = "sum",
    combine: Callable[[float, float, int], float] | None = None,
    empty: float = 0.0,
) -> list[float]:
    """``out[i] = combine(x[i], reduce(out[c] for c in children(i)) or empty, n_children)``."""
    combine = combine or (lambda a, agg, k: a + agg)
    red = _REDUCE[reduce]
    root, kids = children_lists(parents)
    out = [0.0] * len(parents)
    for i in postorder(root, kids):
        vals = [out[c] for c in kids[i]]
        out[i] = combine(x[i], red(vals) if vals else empty, len(vals))
    return out


def upward_select_python(
    parents: Sequence[int],
    candidates: Sequence[Sequence[float]],
    combine: Callable[[Sequence[float], float, int], Sequence[float]],
) -> tuple[list[float], list[int]]:
    """Node-by-node argmax-select (ties to the lowest candidate index)."""
    root, kids = children_lists(parents)
    value = [0.0] * len(parents)
    choice = [0] * len(parents)
    for i in postorder(root, kids):
        child_sum = math.fsum(value[c] for c in kids[i])
        scores = list(combine(candidates[i], child_sum, len(kids[i])))
        best = max(range(len(scores)), key=lambda k: (scores[k], -k))
        value[i], choice[i] = scores[best], best
    return value, choice


def downward_python(
    parents: Sequence[int],
    x: Sequence[float],
    combine: Callable[[float, float], float] | None = None,
    root_value: float = 0.0,
) -> list[float]:
    """``out[i] = combine(x[i], out[parent[i]])`` from the root down."""
    combine = combine or (lambda a, pv: a + pv)
    root, kids = children_lists(parents)
    out = [0.0] * len(parents)
    stack = [(root, root_value)]
    while stack:
        i, pv = stack.pop()
        out[i] = combine(x[i], pv)
        stack.extend((c, out[i]) for c in kids[i])
    return out
