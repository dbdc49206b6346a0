"""A scikit-learn-style estimator for novel class discovery.

``NovelClassDiscovery(method=..., k=...).fit(X, y)`` takes ``y`` with a class label for each
labelled (known-class) row and ``-1`` for each unlabelled row; it discovers the novel classes among
the unlabelled rows (``labels_``) and ``predict`` assigns new rows, assumed novel, to them.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> centers = np.array([[0, 0], [6, 0], [0, 6], [6, 6]], float)
    >>> X = np.concatenate([c + rng.normal(size=(30, 2)) for c in centers])
    >>> y = np.repeat([0, 1, -1, -1], 30)
    >>> est = NovelClassDiscovery(method="ncd-kmeans", k=2).fit(X, y)
    >>> sorted(np.bincount(est.labels_).tolist())
    [30, 30]
"""

from __future__ import annotations

import jax
import numpy as np

from bayes.ncd.methods import DEFAULT_PARAMS, METHODS, discover
from bayes.ncd.tuning import tune

__all__ = ["NovelClassDiscovery"]


class NovelClassDiscovery:
    """Discovers novel classes in tabular data (PBN, NCD k-means, NCD SC, k-means, SC).

    Args:
        method: one of ``"pbn"``, ``"ncd-kmeans"``, ``"ncd-spectral"``, ``"kmeans"``,
            ``"spectral"``.
        k: number of novel classes, or ``"auto"`` (silhouette over 2..30, in the method's space).
        params: method hyperparameters (see :data:`bayes.ncd.methods.DEFAULT_PARAMS`).
        tune: choose ``params`` first by hidden-known-class cross-validation
            (:func:`bayes.ncd.tuning.tune`).
        tune_trials, tune_folds: budget of that search.
        standardize: z-score features with the training mean and standard deviation.
        seed: integer seed of every random choice.

    Attributes (after ``fit``):
        labels_: cluster of each unlabelled training row, in ``[0, k_)``.
        k_: number of novel clusters used.
        known_classes_: the labels of the known classes, in order.
        params_: the hyperparameters used (tuned ones when ``tune``).
        info_: method extras (silhouette scores, training curve, tuning trials).
    """

    def __init__(
        self,
        method: str = "pbn",
        k: int | str = "auto",
        params: dict | None = None,
        *,
        tune: bool = False,
        tune_trials: int = 10,
        tune_folds: int = 3,
        standardize: bool = True,
        seed: int = 0,
    ):
        self.method = method
        self.k = k
        self.params = params
        self.tune = tune
        self.tune_trials = tune_trials
        self.tune_folds = tune_folds
        self.standardize = standardize
        self.seed = seed

    def get_params(self, deep: bool = True) -> dict:
        """The constructor arguments (scikit-learn convention)."""
        names = (
            "method",
            "k",
            "params",
            "tune",
            "tune_trials",
            "tune_folds",
            "standardize",
            "seed",
        )
        return {n: getattr(self, n) for n in names}

    def set_params(self, **params) -> NovelClassDiscovery:
        """Sets constructor arguments; returns ``self``."""
        valid = self.get_params()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"unknown parameter {name!r}; expected one of {sorted(valid)}")
            setattr(self, name, value)
        return self

    def _validate(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.k != "auto" and (not isinstance(self.k, int | np.integer) or self.k < 1):
            raise ValueError(f"k must be a positive int or 'auto', got {self.k!r}")
        unknown = set(self.params or {}) - set(DEFAULT_PARAMS[self.method])
        if unknown:
            raise ValueError(f"unknown params for {self.method}: {sorted(unknown)}")

    def _transform(self, X) -> np.ndarray:
        x = np.asarray(X, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.n_features_in_:
            raise ValueError(f"X must have shape (n, {self.n_features_in_}), got {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("X must contain only finite values")
        return (x - self.mean_) / self.scale_

    def fit(self, X, y) -> NovelClassDiscovery:
        """Learns from known rows (``y`` = class label) and unlabelled rows (``y = -1``).

        Raises:
            ValueError: bad shapes, non-finite values, no unlabelled rows, a method needing known
                rows without any, a known class with fewer than 2 rows, or ``k`` larger than the
                number of unlabelled rows.
        """
        self._validate()
        x = np.asarray(X, dtype=np.float32)
        y = np.asarray(y)
        if x.ndim != 2 or x.shape[0] < 3:
            raise ValueError(f"X must be a 2-D array with at least 3 rows, got shape {x.shape}")
        if y.shape != (x.shape[0],) or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"y must be an int array of shape ({x.shape[0]},), got {y.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("X must contain only finite values")
        unlab = y == -1
        if not unlab.any():
            raise ValueError("y must mark at least one unlabelled row with -1")
        self.known_classes_, counts = np.unique(y[~unlab], return_counts=True)
        if np.any(self.known_classes_ < 0):
            raise ValueError("y must be -1 (unlabelled) or a non-negative class label")
        if np.any(counts < 2):
            bad = self.known_classes_[counts < 2].tolist()
            raise ValueError(f"every known class needs at least 2 rows; classes {bad} have 1")
        if self.k != "auto" and self.k > unlab.sum():
            raise ValueError(f"k={self.k} exceeds the {int(unlab.sum())} unlabelled rows")
        self.n_features_in_ = x.shape[1]
        self.mean_ = x.mean(axis=0) if self.standardize else np.zeros(x.shape[1], np.float32)
        std = x.std(axis=0) if self.standardize else np.ones(x.shape[1], np.float32)
        self.scale_ = np.where(std > 0, std, 1.0).astype(np.float32)
        xs = self._transform(x)
        y_int = np.full(y.shape, -1, np.int32)
        for i, c in enumerate(self.known_classes_):
            y_int[y == c] = i
        key = jax.random.key(self.seed)
        params = dict(self.params or {})
        self.info_ = {}
        if self.tune:
            res = tune(
                jax.random.fold_in(key, 1),
                self.method,
                xs,
                y_int,
                n_trials=self.tune_trials,
                n_folds=min(self.tune_folds, len(self.known_classes_)),
                k="true" if self.k != "auto" else "auto",
                fixed=params,
                seed=self.seed,
            )
            params = res.params
            self.info_["tuning"] = res
        self.params_ = params
        found = discover(key, self.method, xs, y_int, unlab, self.k, params)
        self.labels_ = found.labels
        self.k_ = found.k
        self._predict = found.predict
        self.info_.update(found.info)
        return self

    def predict(self, X) -> np.ndarray:
        """Novel cluster (``0..k_-1``) of each row of ``X``, assumed to be a novel-class row.

        k-means, NCD k-means and PBN use the nearest discovered centroid (PBN in its latent);
        the spectral methods, which have no out-of-sample map, use the cluster of the nearest
        unlabelled training row.
        """
        if not hasattr(self, "labels_"):
            raise ValueError("call fit before predict")
        return np.asarray(self._predict(self._transform(X)))

    def fit_predict(self, X, y) -> np.ndarray:
        """``fit(X, y).labels_``."""
        return self.fit(X, y).labels_
