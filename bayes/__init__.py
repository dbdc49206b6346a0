"""Hierarchical Bayesian learning on the probtree core.

- `bayes.niw`: Normal-Inverse-Wishart distributions (full and diagonal) as numpyro
  `Distribution`s, conjugate updates, Student-t posterior predictive, expected KL.
- `bayes.meta`: NIW hierarchical Bayesian few-shot meta-learning with MAML/FOMAML/ProtoNet
  baselines, episode samplers, tasks and calibration (Kim & Hospedales, ICLR 2024).
- `bayes.ncd`: novel class discovery in tabular data: PBN, NCD k-means, NCD spectral clustering,
  estimating the number of novel classes, k-fold tuning with hidden known classes
  (Troisemaine et al., 2023).

Subpackages are imported on demand (``import bayes.meta``), so ``import bayes`` stays light.
"""

from bayes.niw import DiagonalNormalInverseWishart, NormalInverseWishart

__all__ = ["DiagonalNormalInverseWishart", "NormalInverseWishart"]
