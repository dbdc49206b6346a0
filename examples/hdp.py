# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Hierarchical Dirichlet processes keyed by features
#
# The semantic parser of Saparov, Saraswat & Mitchell (CoNLL 2017) chooses each grammar rule from a
# hierarchical Dirichlet process (HDP) whose levels are indexed by features of the logical form:
# the root is `DP(alpha_0, H)` over rules, a node keyed by feature values `(v_1, ..., v_j)` is
# `DP(alpha_j, parent)`. `grammar.hdp` implements this structure: Chinese-restaurant-franchise
# state, collapsed Gibbs sampling with concentration resampling, a jit-compiled posterior
# predictive for every rule at every node (a downward pass over the node `Tree`), path sets for
# partially known features and upper bounds (an upward max pass).

# %%
import os
import tempfile

import jax
import numpy as np

from grammar import hdp

SMALL = os.environ.get("PROBTREE_EXAMPLE_SMALL") == "1"
SWEEPS = 10 if SMALL else 50

# %% [markdown]
# ## A rule distribution for one nonterminal
# Rules of `NP`, keyed by two features of the logical form (say, its first predicate and its
# arity). Each feature combination has its own preferences; the HDP shares strength upwards.

# %%
rules = ["NP -> N", "NP -> DT N", "NP -> NP PP", "NP -> ADJ N", "NP -> NP CNJ NP"]
prefs = {
    "city": [0.6, 0.25, 0.05, 0.05, 0.05],
    "state": [0.1, 0.6, 0.2, 0.05, 0.05],
    "river": [0.05, 0.15, 0.6, 0.15, 0.05],
    "mountain": [0.05, 0.05, 0.2, 0.6, 0.1],
}
rng = np.random.default_rng(0)
data = [((pred, arity), rules[i])
        for pred, p in prefs.items() for arity in (1, 2)
        for i in rng.choice(len(rules), size=30, p=p)]

# Gamma(a_j, b_j) priors per level (root first), as in the grammar files; alpha starts at a/b.
model = hdp.HDPModel.from_prior(hdp.CategoricalBase.uniform(rules),
                                shape=(10.0, 1.0, 1.0), rate=(1.0, 1.0, 1.0))
state = hdp.init(model, data, jax.random.key(0))
print(hdp.summary(state))

# %% [markdown]
# ## Collapsed Gibbs sampling with concentration resampling
# `step(key, state)` is pure: it resamples the per-level concentrations (auxiliary variables) and
# then reseats every table and observation once. `run` does burn-in and keeps samples.

# %%
state, info = hdp.step(jax.random.key(1), state)
print(info)
state, samples, infos = hdp.run(jax.random.key(2), state, burn_in=SWEEPS // 2,
                                n_samples=SWEEPS // 2)
print("alpha (last):", np.round(infos[-1].alpha, 3), "tables per level:",
      infos[-1].tables_per_level)

# %% [markdown]
# ## Predictions
# `Predictor.from_state` uses the last state (what the official parser does);
# `Predictor.from_samples` averages the predictive over the kept samples.

# %%
last = hdp.Predictor.from_state(state)
avg = hdp.Predictor.from_samples(state, samples)
for path in [("river", 1), ("river", 3), ("lake", 1)]:  # ("lake", 1) falls back to the root
    print(path, np.round(avg.path(path), 3), " last state:", np.round(last.path(path), 3))
print("P(NP -> NP PP | river, 1) =", round(avg.prob(("river", 1), "NP -> NP PP"), 4))

# %% [markdown]
# ## Path sets and upper bounds
# When the parser only knows some features, a level is a `Wildcard` (optionally excluding
# values). `path_set` lists every consistent stored path plus the "any other value" remainder;
# `bound` is the exact maximum over them, from the upward max pass.

# %%
spec = (hdp.Wildcard({"city"}), 2)
for path_set, probs in avg.path_set(spec):
    print(path_set, np.round(probs, 3))
print("upper bound:", np.round(avg.bound(spec), 3))
print("bound over everything:", np.round(avg.bound((hdp.ANY, hdp.ANY)), 3))

# %% [markdown]
# ## Sequential add/remove, and safe serialisation
# The parser's training adds and removes the rules of one derivation at a time.

# %%
obs, logp = state.add(rng, ("city", 1), "NP -> N")
print("log p of the added rule:", round(logp, 4))
state.remove(obs)
with tempfile.TemporaryDirectory() as tmp:
    hdp.save(state, f"{tmp}/np.npz")
    loaded = hdp.load(f"{tmp}/np.npz")
print("log joint before/after save:", round(state.log_joint(), 6), round(loaded.log_joint(), 6))
