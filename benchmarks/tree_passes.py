"""Benchmark: jit-compiled passes over a Forest vs node-by-node Python and networkx.

A forest of 10,000 random trees of 5-30 nodes; one upward logsumexp pass plus one argmax-select
pass (ProbTree-style: the last candidate averages itself with the children's selected values).
Compile time is reported separately. Prints a table, then one JSON line.

Usage: python benchmarks/tree_passes.py [--trees 10000] [--repeats 30] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import math
import time

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np

from probtree import Forest, Tree, upward, upward_select
from probtree.demo import _py_select, _select, random_forest_parents
from probtree.reference import upward_python, upward_select_python


def _networkx_passes(g: nx.DiGraph, root: int, x: np.ndarray, cand: np.ndarray) -> None:
    """The same two passes driven by networkx's post-order traversal."""
    lse: dict[int, float] = {}
    val: dict[int, float] = {}
    for i in nx.dfs_postorder_nodes(g, root):
        kids = list(g.successors(i))
        if kids:
            m = max(lse[c] for c in kids)
            agg = m + math.log(sum(math.exp(lse[c] - m) for c in kids))
            lse[i] = x[i] + agg
        else:
            lse[i] = x[i]
        scores = _py_select(cand[i], sum(val[c] for c in kids), len(kids))
        val[i] = max(scores)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--trees", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    parents = random_forest_parents(args.trees, 5, 30, args.seed)
    t0 = time.perf_counter()
    forest = Forest.from_trees([Tree.from_parents(p) for p in parents])
    build_s = time.perf_counter() - t0
    rng = np.random.default_rng(args.seed)
    x = rng.normal(size=forest.n_nodes).astype(np.float32)
    cand = rng.normal(size=(forest.n_nodes, 3)).astype(np.float32)
    xj, cj = jnp.asarray(x), jnp.asarray(cand)
    nodes = forest.n_real_nodes

    def passes() -> None:
        a = upward(forest, xj, reduce="logsumexp")
        v, c = upward_select(forest, cj, _select)
        jax.block_until_ready((a, v, c))

    t0 = time.perf_counter()
    passes()
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        passes()
        times.append(time.perf_counter() - t0)
    jit_s = float(np.median(times))

    t0 = time.perf_counter()
    for k, p in enumerate(parents):
        sl = forest.tree_slice(k)
        upward_python(p, x[sl].tolist(), reduce="logsumexp")
        upward_select_python(p, cand[sl].tolist(), _py_select)
    py_s = time.perf_counter() - t0

    graphs = [Tree.from_parents(p).to_networkx() for p in parents]
    t0 = time.perf_counter()
    for k, g in enumerate(graphs):
        sl = forest.tree_slice(k)
        _networkx_passes(g, 0, x[sl], cand[sl])
    nx_s = time.perf_counter() - t0

    rows = [
        ("jit passes (Forest)", jit_s),
        ("Python reference", py_s),
        ("networkx traversal", nx_s),
    ]
    print(f"Forest: {forest.n_trees} trees, {nodes} nodes (padded {forest.n_nodes}), "
          f"built in {build_s:.2f} s; jit compile {compile_s:.2f} s (excluded)")
    print(f"{'method':<22} {'seconds':>10} {'nodes/s':>14} {'jit speed-up':>13}")
    for name, s in rows:
        print(f"{name:<22} {s:>10.4f} {nodes / s:>14,.0f} {s / jit_s:>12.1f}x")
    print(json.dumps({
        "benchmark": "tree_passes", "trees": forest.n_trees, "nodes": nodes,
        "compile_s": round(compile_s, 4), "jit_s": round(jit_s, 5), "python_s": round(py_s, 4),
        "networkx_s": round(nx_s, 4), "jit_nodes_per_s": round(nodes / jit_s),
        "python_nodes_per_s": round(nodes / py_s), "networkx_nodes_per_s": round(nodes / nx_s),
        "speedup_vs_python": round(py_s / jit_s, 1), "speedup_vs_networkx": round(nx_s / jit_s, 1),
        "devices": str(jax.devices()[0].platform),
    }))


if __name__ == "__main__":
    main()
