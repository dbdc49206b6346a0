# ---
# jupytext:
#   text_representation:
#     extension: .py
#     format_name: percent
# ---

# %% [markdown]
# # Novel class discovery in tabular data
#
# Known classes are labelled; the unlabelled rows belong to *novel* classes we want to discover.
# This notebook runs NCD k-means and PBN (Troisemaine et al., 2024) on the bundled Pendigits data
# (known digits 1, 2, 4, 8, 9; novel 0, 3, 5, 6, 7), estimates the number of novel classes, and
# tunes PBN by cross-validation with hidden known classes, never looking at the novel labels.

# %%
import os

import jax
import numpy as np

from bayes.ncd.datasets import hyperparameters, load_dataset
from bayes.ncd.estimator import NovelClassDiscovery
from bayes.ncd.metrics import clustering_scores
from bayes.ncd.tuning import tune

SMALL = os.environ.get("PROBTREE_EXAMPLE_SMALL") == "1"
EPOCHS = 20 if SMALL else 200

data = load_dataset("pendigits")
rows = np.random.default_rng(0).permutation(len(data.y_train))[: 1200 if SMALL else None]
x, y_true = data.x_train[rows], data.y_train[rows]
y = np.where(np.isin(y_true, data.known), y_true, -1)  # novel rows unlabelled
print(x.shape, "known:", data.known, "novel:", data.novel, "unlabelled rows:", (y == -1).sum())

# %% [markdown]
# ## NCD k-means with the true number of novel classes

# %%
est = NovelClassDiscovery(method="ncd-kmeans", k=5).fit(x, y)
print(clustering_scores(y_true[y == -1], est.labels_))

# %% [markdown]
# ## PBN with k estimated by the silhouette in its latent space

# %%
hp = hyperparameters("pendigits", "PBN", "Estimated k")
pbn = NovelClassDiscovery(method="pbn", k="auto", params={**hp, "epochs": EPOCHS}).fit(x, y)
print("estimated k:", pbn.k_)
print(clustering_scores(y_true[y == -1], pbn.labels_))
x_test_novel = data.x_test[data.novel_mask()]
print(
    "test novel rows:", clustering_scores(data.y_test[data.novel_mask()], pbn.predict(x_test_novel))
)

# %% [markdown]
# ## Tuning by hidden-known-class cross-validation
#
# Each fold hides some known digits among the unlabelled rows and scores how well PBN clusters
# them. The novel digits are never scored.

# %%
# lr and w are traced inside the compiled training loop, so searching only them (small run)
# reuses one compilation; latent_dim and p_dropout change the network and recompile.
space = {"lr": ("loguniform", 1e-4, 1e-2), "w": ("uniform", 0.0, 1.0)} if SMALL else None
fixed = {"epochs": EPOCHS, **({"latent_dim": 12, "p_dropout": 0.05} if SMALL else {})}
result = tune(
    jax.random.key(0), "pbn", x, y, space=space, n_trials=2 if SMALL else 8, n_folds=2, fixed=fixed
)
print("hidden classes per fold:", result.folds)
for params, score, _, _ in result.trials:
    print(
        {k: round(v, 4) if isinstance(v, float) else v for k, v in params.items()},
        f"hidden-class ACC {score:.3f}",
    )
print("best:", result.params)
