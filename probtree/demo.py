"""`probtree demo`, core part: trees, forests, passes and graphs on real inputs.

1. The installed ``probtree`` source tree as a `Tree` (folders and files, sizes as inputs): an
   upward sum gives every folder's total size, an argmax pass its largest entry, a downward pass
   every file's depth.
2. A `Forest` of 10,000 random trees: one jit-compiled logsumexp pass plus one argmax-select pass,
   timed against the node-by-node Python reference.
3. Zachary's karate club (shipped with networkx) as a `Graph`: normalised Laplacian, spectral
   split into two groups, agreement with the club's real split.
"""

from __future__ import annotations

import time
from pathlib import Path

import jax.numpy as jnp
import networkx as nx
import numpy as np

import probtree
from probtree.forest import Forest
from probtree.graph import Graph
from probtree.passes import downward, upward, upward_argmax, upward_select
from probtree.reference import upward_python, upward_select_python
from probtree.tree import Tree


def _folder_tree(root: Path) -> tuple[Tree, np.ndarray]:
    paths = [root]
    parents = [-1]
    sizes = [0.0]
    queue = [(root, 0)]
    while queue:
        folder, idx = queue.pop(0)
        for entry in sorted(folder.iterdir()):
            if entry.name.startswith((".", "__pycache__")):
                continue
            paths.append(entry)
            parents.append(idx)
            sizes.append(float(entry.stat().st_size) if entry.is_file() else 0.0)
            if entry.is_dir():
                queue.append((entry, len(paths) - 1))
    labels = [str(p.relative_to(root.parent)) for p in paths]
    return Tree.from_parents(parents, labels=labels), np.asarray(sizes, np.float32)


def random_forest_parents(n_trees: int, lo: int, hi: int, seed: int) -> list[list[int]]:
    """Parent arrays of random recursive trees with ``lo..hi`` nodes each."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_trees):
        n = int(rng.integers(lo, hi + 1))
        u = rng.random(n)
        out.append([-1] + [int(u[i] * i) for i in range(1, n)])
    return out


def _select(cand, child_sum, n_children):
    """A ProbTree-style select: the last candidate averages itself with the children."""
    agg = (cand[:, -1] + child_sum) / (n_children + 1)
    return cand.at[:, -1].set(jnp.where(n_children > 0, agg, -jnp.inf))


def run(out_dir: Path, seed: int) -> None:
    """Runs the core demo, printing what it computed."""
    # 1. A real tree: the package's own files.
    root = Path(probtree.__file__).resolve().parent
    tree, sizes = _folder_tree(root)
    total = np.asarray(upward(tree, jnp.asarray(sizes)))
    largest, best = upward_argmax(tree, jnp.asarray(sizes))
    depth = np.asarray(downward(tree, jnp.ones(tree.n_nodes), root_value=-1.0))
    print(f"Source tree of {root.name}/: {tree.n_nodes} nodes, depth {tree.max_depth}")
    print(f"  {'folder':<28} {'total KiB':>10}  largest entry")
    for i in range(tree.n_nodes):
        if tree.children_of(i):
            win = tree.labels[int(best[i])]
            print(f"  {tree.labels[i]:<28} {total[i] / 1024:>10.1f}  {win}")
    deepest = int(np.argmax(depth))
    print(f"  deepest file: {tree.labels[deepest]} (depth {int(depth[deepest])})")
    assert abs(total[tree.root] - sizes.sum()) <= 1e-3 * sizes.sum()

    # 2. A forest of 10,000 random trees, both passes at once.
    parents = random_forest_parents(10_000, 5, 30, seed)
    forest = Forest.from_trees([Tree.from_parents(p) for p in parents])
    rng = np.random.default_rng(seed)
    x = rng.normal(size=forest.n_nodes).astype(np.float32)
    cand = rng.normal(size=(forest.n_nodes, 3)).astype(np.float32)
    xj, cj = jnp.asarray(x), jnp.asarray(cand)
    upward(forest, xj, reduce="logsumexp").block_until_ready()
    upward_select(forest, cj, _select)[0].block_until_ready()
    t0 = time.perf_counter()
    lse = upward(forest, xj, reduce="logsumexp").block_until_ready()
    value, choice = upward_select(forest, cj, _select)
    choice.block_until_ready()
    jit_s = time.perf_counter() - t0
    n_check = 500
    refs = []
    t0 = time.perf_counter()
    for k in range(n_check):
        sl = forest.tree_slice(k)
        refs.append(upward_python(parents[k], x[sl].tolist(), reduce="logsumexp"))
        upward_select_python(parents[k], cand[sl].tolist(), _py_select)
    py_s = (time.perf_counter() - t0) * forest.n_trees / n_check
    lse_np = np.asarray(lse)
    for k, ref in enumerate(refs):
        np.testing.assert_allclose(lse_np[forest.tree_slice(k)], ref, rtol=1e-4, atol=1e-4)
    nodes = forest.n_real_nodes
    shares = np.bincount(np.asarray(choice)[:nodes], minlength=3) / nodes
    print(f"\nForest: {forest.n_trees} trees, {nodes} nodes (padded to {forest.n_nodes})")
    print(f"  jit logsumexp + select passes: {jit_s * 1e3:8.1f} ms  ({nodes / jit_s:,.0f} nodes/s)")
    print(f"  Python reference (estimated):  {py_s * 1e3:8.1f} ms  ({nodes / py_s:,.0f} nodes/s)")
    print(f"  speed-up {py_s / jit_s:.0f}x; results checked on {n_check} trees to 1e-4")
    print(f"  candidate shares at the nodes: {np.round(shares, 3).tolist()}")

    # 3. A real graph: Zachary's karate club.
    club = nx.karate_club_graph()
    g = Graph.from_networkx(club)
    lap = np.asarray(g.normalized_laplacian_dense())
    _, vecs = np.linalg.eigh(lap)
    fiedler = vecs[:, 1] * np.sqrt(np.asarray(g.degree()) + 1e-12) ** -1
    split = fiedler > 0
    truth = np.array([club.nodes[i]["club"] == "Officer" for i in range(len(club))])
    agree = max(np.mean(split == truth), np.mean(split != truth))
    comps = len(set(np.asarray(g.connected_components()).tolist()))
    print(f"\nKarate club: {g.n_nodes} members, {g.n_edges // 2} friendships, {comps} component")
    print(f"  spectral split (Fiedler vector of L_sym) matches the real club split: {agree:.1%}")


def _py_select(cand, child_sum, k):
    if k == 0:
        return [cand[0], cand[1], -float("inf")]
    return [cand[0], cand[1], (cand[2] + child_sum) / (k + 1)]
