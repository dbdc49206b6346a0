"""Benchmark of the feature-keyed HDP (grammar.hdp).

* Posterior predictive of every atom at every node of an HDP with ~10,000 nodes and 500 atoms:
  the jit-compiled downward pass (plus the upward max pass for bounds, which it also computes)
  against a per-node Python loop over tables (`grammar.hdp_predict.predictive_reference`).
* Collapsed Gibbs sweep throughput: customers (observations + tables) reseated per second.

Usage: ``python benchmarks/hdp.py [--quick] [--seed N]``. Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import jax
import numpy as np

from grammar import hdp
from grammar.hdp_predict import (
    _numpy_pass,
    _pass,
    pass_inputs,
    predictive_arrays,
    predictive_reference,
    snapshot,
)


def build(n_groups: int, n_children: int, n_atoms: int, obs_per_leaf: int, seed: int):
    """Two feature levels: ``n_groups`` x ``n_children`` leaves; each group prefers a few atoms."""
    atoms = [f"rule{i}" for i in range(n_atoms)]
    model = hdp.HDPModel(hdp.CategoricalBase.uniform(atoms), alpha=(100.0, 1.0, 0.5),
                         shape=(100.0, 1.0, 1.0), rate=(1.0, 1.0, 1.0))
    rng = np.random.default_rng(seed)
    state = hdp.HDPState(model)
    for g in range(n_groups):
        favourite = rng.choice(n_atoms, size=8, replace=False)
        for c in range(n_children):
            for _ in range(obs_per_leaf):
                a = favourite[rng.integers(8)] if rng.random() < 0.8 else rng.integers(n_atoms)
                state.add(rng, (g, c), atoms[int(a)])
    return state


def timeit(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="~1,000 nodes instead of ~10,000")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    groups, children = (20, 49) if args.quick else (100, 99)
    t0 = time.perf_counter()
    state = build(groups, children, 500, 3, args.seed)
    build_s = time.perf_counter() - t0
    tree, snap, log_h = state.tree(), snapshot(state), state.log_base()

    def jit_pass(bounds=False):
        p, b = predictive_arrays(tree, snap, log_h, bounds=bounds)
        return p

    t0 = time.perf_counter()
    p = jit_pass()
    compile_s = time.perf_counter() - t0
    jit_s = timeit(jit_pass, 10)
    jit_pass(True)
    jit_bounds_s = timeit(lambda: jit_pass(True), 10)
    inputs = pass_inputs(tree, snap, log_h)
    device_s = timeit(lambda: _pass(*inputs, bounds=False)[0].block_until_ready(), 10)
    loop_s = timeit(lambda: predictive_reference(state), 5)
    level_s = timeit(lambda: _numpy_pass(state, snap, log_h), 5)
    err = float(np.abs(p[: state.n_nodes, 1:] - predictive_reference(state)).max())
    pred_s = timeit(lambda: hdp.Predictor.from_state(state), 3)

    rng = np.random.default_rng(args.seed + 1)
    n_customers = state.n_observations + int(state.node_tables[state.node_level > 0].sum())
    sweeps = 2 if args.quick else 1
    t0 = time.perf_counter()
    for _ in range(sweeps):
        hdp.sweep(state, rng)
    sweep_s = (time.perf_counter() - t0) / sweeps

    rows = [
        ("nodes", f"{state.n_nodes}"),
        ("atoms", "500"),
        ("observations", f"{state.n_observations}"),
        ("build by sequential seating (s)", f"{build_s:.2f}"),
        ("jit pass: first call incl. compile (s)", f"{compile_s:.3f}"),
        ("jit pass, device arrays only: predictive (s)", f"{device_s:.4f}"),
        ("jit pass incl. host inputs and numpy output (s)", f"{jit_s:.4f}"),
        ("jit pass + upward max pass (bounds), incl. host I/O (s)", f"{jit_bounds_s:.4f}"),
        ("per-node Python loop, predictive only (s)", f"{loop_s:.4f}"),
        ("numpy level-by-level pass (backend='numpy') (s)", f"{level_s:.4f}"),
        ("speed-up (loop / jit device)", f"{loop_s / device_s:.1f}x"),
        ("speed-up (loop / jit incl. transfer)", f"{loop_s / jit_s:.1f}x"),
        ("max |jit - loop|", f"{err:.2e}"),
        ("Predictor.from_state incl. transfers (s)", f"{pred_s:.4f}"),
        ("Gibbs sweep (s)", f"{sweep_s:.2f}"),
        ("Gibbs customers reseated per second", f"{n_customers / sweep_s:,.0f}"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"HDP benchmark on {platform.machine()} CPU, jax {jax.__version__}, "
          f"{jax.devices()[0].platform}")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(json.dumps({
        "nodes": state.n_nodes, "atoms": 500, "observations": state.n_observations,
        "device_s": device_s, "numpy_level_s": level_s, "jit_s": jit_s,
        "jit_bounds_s": jit_bounds_s, "loop_s": loop_s,
        "speedup_device": loop_s / device_s, "speedup": loop_s / jit_s, "compile_s": compile_s,
        "max_abs_err": err, "predictor_s": pred_s, "sweep_s": sweep_s,
        "customers_per_s": n_customers / sweep_s, "quick": args.quick,
    }))


if __name__ == "__main__":
    main()
