"""ProbTree selection: one jit upward pass over a Forest vs the reference's node-by-node loop.

Loads every bundled released tree (HotpotQA + MuSiQue, 1,000 trees, 3,362 nodes), optionally
tiled ``--scale`` times, and times, in one run on the same candidates:

- the node-by-node Python loop of the reference design (`probtree.qa.select_reference`, trees one
  after another, nodes in post-order, on plain Python floats);
- `probtree.qa.select`: all trees packed in one `Forest`, selection as one jit-compiled
  `upward_select` pass (compile time reported apart; timings are warm, median of repeats).

Both must agree on every node's choice. Prints a table, then one JSON line.

Usage: ``python benchmarks/probtree_select.py [--quick] [--scale 10]``
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import jax
import numpy as np

from probtree import Forest
from probtree.qa import (
    DATASET_PLACEHOLDER,
    bundled_path,
    load_released,
    pack_candidates,
    select,
    select_reference,
)


def _timeit(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--scale", type=int, default=1, help="tile the trees this many times")
    args = parser.parse_args()
    repeats = 3 if args.quick else 15

    released = []
    for ds in ("hotpotqa", "musique"):
        released += load_released(
            bundled_path(f"{ds}_released.json.gz"), placeholder=DATASET_PLACEHOLDER[ds]
        )
    released = released * max(1, args.scale)
    trees = [r.tree for r in released]
    n_nodes = sum(t.n_nodes for t in trees)

    start = time.perf_counter()
    forest = Forest.from_trees([t.to_tree() for t in trees])
    cands = pack_candidates(forest, trees, [r.answers for r in released])
    jax.block_until_ready(cands)
    pack_s = time.perf_counter() - start

    start = time.perf_counter()
    sel = select(forest, cands)
    jax.block_until_ready(sel)
    compile_s = time.perf_counter() - start
    jit_s = _timeit(lambda: jax.block_until_ready(select(forest, cands)), repeats)

    scores = [s.astype(np.float64).tolist() for s in forest.unpack(np.asarray(cands.scores))]
    states = [s.tolist() for s in forest.unpack(np.asarray(cands.state))]
    loop_s = _timeit(lambda: select_reference(trees, scores, states), repeats)
    _, ref_choice = select_reference(trees, scores, states)
    got = [list(map(int, c)) for c in forest.unpack(np.asarray(sel.choice))]
    agree = sum(a == b for x, y in zip(got, ref_choice) for a, b in zip(x, y)) / n_nodes

    device = jax.devices()[0]
    rows = [
        ("trees / nodes", f"{len(trees)} / {n_nodes}"),
        ("forest rows (bucketed) / depth", f"{forest.n_nodes} / {forest.max_depth}"),
        ("pack (Forest + candidates)", f"{pack_s * 1e3:9.2f} ms"),
        ("jit compile (first call)", f"{compile_s * 1e3:9.2f} ms"),
        ("jit upward_select pass (warm)", f"{jit_s * 1e3:9.3f} ms"),
        ("python node-by-node loop", f"{loop_s * 1e3:9.3f} ms"),
        ("speed-up loop / jit", f"{loop_s / jit_s:9.1f} x"),
        ("choice agreement", f"{agree:.4f}"),
    ]
    print(
        f"ProbTree selection benchmark ({device.platform}, {platform.processor() or 'cpu'}, "
        f"median of {repeats})"
    )
    for name, value in rows:
        print(f"  {name:<34} {value}")
    print(
        json.dumps(
            {
                "benchmark": "probtree_select",
                "device": device.platform,
                "n_trees": len(trees),
                "n_nodes": n_nodes,
                "pack_ms": round(pack_s * 1e3, 3),
                "compile_ms": round(compile_s * 1e3, 3),
                "jit_ms": round(jit_s * 1e3, 4),
                "loop_ms": round(loop_s * 1e3, 4),
                "ratio": round(loop_s / jit_s, 2),
                "agreement": agree,
                "repeats": repeats,
            }
        )
    )


if __name__ == "__main__":
    main()
