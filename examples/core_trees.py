# %% [markdown]
# # probtree core: trees, forests, passes and graphs
#
# A walk through the shared core: build trees from several sources, pack many into a `Forest`,
# run jit-compiled upward/downward passes, and use a sparse `Graph`.

# %%
import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np

from probtree import Forest, Graph, Tree, TreeLimits, downward, upward, upward_select

# %% [markdown]
# ## Building trees
# From a parent array, from nested dicts (e.g. a question decomposition), from networkx.

# %%
query = Tree.from_nested(
    {
        "label": "Who directed the film that won Best Picture in 1998?",
        "children": [
            {"label": "Which film won Best Picture in 1998?"},
            {"label": "Who directed #1?"},
        ],
    }
)
print(query, list(query.labels))
chain = Tree.from_parents([-1, 0, 1, 2])
print(chain.depth, chain.postorder, chain.levelorder)
g = nx.balanced_tree(2, 3, create_using=nx.DiGraph)
binary = Tree.from_networkx(g)
print(binary, "round trip edges equal:", set(binary.to_networkx().edges) == set(g.edges))

# %% [markdown]
# Malformed input is refused with a clear error, and limits stop runaway trees.

# %%
for bad in ([-1, 2, 1], [-1, -1], [-1, 7]):
    try:
        Tree.from_parents(bad)
    except ValueError as err:
        print("ValueError:", err)
try:
    Tree.from_parents([-1] + list(range(50)), limits=TreeLimits(max_depth=10))
except ValueError as err:
    print("ValueError:", err)

# %% [markdown]
# ## Passes
# `upward` reduces children into parents (sum, max, min, logsumexp); `downward` pushes values to
# the leaves; `upward_select` picks the best candidate at each node from the children's choices.

# %%
sizes = upward(binary, jnp.ones(binary.n_nodes))
depth = downward(binary, jnp.ones(binary.n_nodes), root_value=-1.0)
print("subtree sizes", sizes[:4], "depths", depth[:8])
logz = upward(binary, jnp.zeros(binary.n_nodes), reduce="logsumexp")
print("log #leaves under the root:", float(logz[0]), "=", np.log(8))


def aggregate(cand, child_sum, n_children):
    """Candidate 2 averages itself with the children's chosen scores (ProbTree-style)."""
    ca = (cand[:, 2] + child_sum) / (n_children + 1)
    return cand.at[:, 2].set(jnp.where(n_children > 0, ca, -jnp.inf))


cand = jax.random.normal(jax.random.key(0), (binary.n_nodes, 3))
value, choice = upward_select(binary, cand, aggregate)
print("root value", float(value[0]), "choices", choice)

# %% [markdown]
# ## Forests: many trees, one pass
# Trees are packed into padded buckets, so a different batch of similar size reuses the compiled
# pass.

# %%
rng = np.random.default_rng(0)
n_trees = 200 if __import__("os").environ.get("PROBTREE_EXAMPLE_SMALL") else 2000
trees = [
    Tree.from_parents([-1] + [int(rng.integers(0, i)) for i in range(1, int(rng.integers(2, 20)))])
    for _ in range(n_trees)
]
forest = Forest.from_trees(trees)
print(forest)
x = forest.pack([rng.normal(size=t.n_nodes) for t in trees])
lse = upward(forest, x, reduce="logsumexp")
per_tree = forest.unpack(lse)
print("root logsumexp of the first 3 trees:", [round(float(a[0]), 3) for a in per_tree[:3]])

# %% [markdown]
# ## Graphs
# A kNN graph over points, a Gaussian kernel, the normalised Laplacian as a sparse operator.

# %%
pts = np.concatenate([rng.normal(0, 0.3, (40, 2)), rng.normal(3, 0.3, (40, 2))]).astype(np.float32)
knn = Graph.knn(pts, 5)
kern = knn.with_weights(jnp.exp(-(knn.weights**2) / 0.5))
print(knn, "components:", len(set(np.asarray(knn.connected_components()).tolist())))
lap = np.asarray(kern.normalized_laplacian_dense())
evals = np.linalg.eigvalsh(lap)
print("two smallest Laplacian eigenvalues (two clusters -> two near zero):", evals[:3].round(4))
