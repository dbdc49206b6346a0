"""Novel class discovery in tabular data (Troisemaine et al., 2024; arXiv 2311.05440).

Known classes are labelled; the unlabelled rows belong to novel classes to be discovered. This
package holds PBN (the projection-based NCD model, flax NNX), NCD k-means, NCD spectral clustering
(dense and sparse kNN-graph back ends), k-means and spectral baselines, estimation of the number of
novel classes, hyperparameter tuning by cross-validation with hidden known classes, metrics, the
bundled datasets, a scikit-learn-style estimator and the ``probtree ncd`` CLI.
"""

from bayes.ncd.datasets import hyperparameters, load_dataset
from bayes.ncd.estimate_k import KEstimate, estimate_k, estimate_k_kmacc, partition_scores
from bayes.ncd.estimator import NovelClassDiscovery
from bayes.ncd.kmeans import (
    KMeansResult,
    class_means,
    kmeans,
    kmeans_predict,
    kmeans_sweep,
    ncd_kmeans,
)
from bayes.ncd.methods import METHODS, discover
from bayes.ncd.metrics import (
    adjusted_rand_index,
    balanced_cluster_accuracy,
    cluster_accuracy,
    clustering_scores,
    normalized_mutual_info,
)
from bayes.ncd.pbn import PBN, pbn_latent, train_pbn
from bayes.ncd.spectral import (
    mst_sigma,
    ncd_spectral_clustering,
    select_spectral_params,
    spectral_clustering,
    spectral_embedding,
)
from bayes.ncd.tuning import cross_validate, hidden_class_folds, tune

__all__ = [
    "KEstimate",
    "KMeansResult",
    "METHODS",
    "NovelClassDiscovery",
    "PBN",
    "adjusted_rand_index",
    "balanced_cluster_accuracy",
    "class_means",
    "cluster_accuracy",
    "clustering_scores",
    "cross_validate",
    "discover",
    "estimate_k",
    "estimate_k_kmacc",
    "hidden_class_folds",
    "hyperparameters",
    "kmeans",
    "kmeans_predict",
    "kmeans_sweep",
    "load_dataset",
    "mst_sigma",
    "ncd_kmeans",
    "ncd_spectral_clustering",
    "normalized_mutual_info",
    "partition_scores",
    "pbn_latent",
    "select_spectral_params",
    "spectral_clustering",
    "spectral_embedding",
    "train_pbn",
    "tune",
]
