"""A short demo of the feature-keyed HDP (`grammar.hdp`), for ``probtree demo``.

1. The worked example of the official ``hdp`` library (Dirichlet(256, 1) base, categorical
   likelihood, alpha = {1e6, 1e-2}, 100 '+' at child 1 and 100 '-' at child 2, 200 burn-in sweeps
   and 800 sweeps keeping every 5th), printed next to the documented predictive probabilities.
2. A rule HDP keyed by two features with Gamma priors on the concentrations: collapsed Gibbs with
   concentration resampling, then predictions for a full path, a path set with a wildcard and an
   exclusion, and an upper bound. A PNG of the traces is saved when matplotlib is available.
"""

from __future__ import annotations

import pathlib

import jax
import numpy as np

from grammar import hdp

DOCUMENTED = {
    ((1,), "+"): 0.283680, ((2,), "+"): 0.002809, ((3,), "+"): 0.003907,
    ((1,), "a"): 0.002809, ((3,), "a"): 0.003906,
}


def worked_example(seed: int) -> dict:
    base = hdp.DirichletCategorical(tuple(chr(i) for i in range(256)), 1.0)
    model = hdp.HDPModel(base, alpha=(1.0e6, 1.0e-2))
    data = [row for _ in range(100) for row in (((1,), "+"), ((2,), "-"))]
    key = jax.random.key(seed)
    state = hdp.init(model, data, jax.random.fold_in(key, 0))
    state, samples, _ = hdp.run(jax.random.fold_in(key, 1), state, burn_in=200, n_samples=160,
                                thin=5)
    pred = hdp.Predictor.from_samples(state, samples)
    print("1) official hdp worked example (160 posterior samples)")
    print(f"   {'query':<28}{'ours':>10}{'documented':>12}")
    out = {}
    for (path, atom), doc in DOCUMENTED.items():
        where = f"child {path[0]}" if path[0] < 3 else "any other child"
        p = pred.prob(path, atom)
        out[f"{atom}|{where}"] = p
        query = f"P('{atom}' | {where})"
        print(f"   {query:<28}{p:>10.6f}{doc:>12.6f}")
    return out


def rule_hdp(seed: int, out_dir: pathlib.Path) -> dict:
    rules = ["NP -> N", "NP -> DT N", "NP -> NP PP", "NP -> ADJ N"]
    true = {"city": [0.7, 0.2, 0.05, 0.05], "state": [0.1, 0.6, 0.2, 0.1],
            "river": [0.05, 0.15, 0.6, 0.2]}
    rng = np.random.default_rng(seed)
    data = []
    for pred_name, p in true.items():
        for arity in (1, 2):
            data += [((pred_name, arity), rules[i]) for i in rng.choice(4, size=40, p=p)]
    model = hdp.HDPModel.from_prior(hdp.CategoricalBase.uniform(rules), shape=(10.0, 1.0, 1.0),
                                    rate=(1.0, 1.0, 1.0))
    key = jax.random.key(seed + 1)
    state = hdp.init(model, data, jax.random.fold_in(key, 0))
    state, samples, infos = hdp.run(jax.random.fold_in(key, 1), state, burn_in=20,
                                    n_samples=20)
    pred = hdp.Predictor.from_samples(state, samples)
    print("\n2) rule HDP keyed by (first_predicate, arity), 240 observations, 40 sweeps")
    print("   alpha per level (last sample):", np.round(infos[-1].alpha, 3).tolist())
    print("   tables per level (last sample):", infos[-1].tables_per_level.tolist())
    for path in [("city", 1), ("river", 2), ("lake", 1)]:
        probs = ", ".join(f"{r}: {p:.3f}" for r, p in zip(rules, pred.path(path), strict=True))
        print(f"   p(rule | {path}) = {probs}")
    spec = (hdp.Wildcard({"city"}), 2)
    print(f"   path set {spec}:")
    for ps, probs in sorted(pred.path_set(spec), key=lambda e: repr(e[0])):
        print(f"     {ps!r:<45} p('NP -> N') = {probs[0]:.3f}")
    print(f"   upper bound over {spec}: {np.round(pred.bound(spec), 3).tolist()}")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return {"alpha": infos[-1].alpha.tolist()}
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
    ax[0].plot([i.log_joint for i in infos])
    ax[0].set(title="log joint (kept samples)", xlabel="sample")
    for lvl in range(3):
        ax[1].plot([i.alpha[lvl] for i in infos], label=f"level {lvl}")
    ax[1].set(title="concentrations", xlabel="sample", yscale="log")
    ax[1].legend()
    fig.tight_layout()
    path = out_dir / "hdp_traces.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"   saved {path}")
    return {"alpha": infos[-1].alpha.tolist()}


def run(out_dir: pathlib.Path, seed: int) -> None:
    """Runs both parts (about 10-20 s on 2 CPU cores); may write ``hdp_traces.png``."""
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    worked_example(seed)
    rule_hdp(seed, out_dir)


if __name__ == "__main__":
    run(pathlib.Path("."), 0)
