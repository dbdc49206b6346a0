"""NIW hierarchical Bayesian few-shot meta-learning, with MAML/FOMAML/ProtoNet baselines.

Every method shares the tasks' episode samplers, backbones and evaluation (:mod:`bayes.meta.train`),
so comparisons are like for like. See :mod:`bayes.meta.niw_meta` for the model.

References:
    Kim & Hospedales, "A Hierarchical Bayesian Model for Few-Shot Meta Learning", ICLR 2024.
"""

from bayes.meta.base import MetaLearner
from bayes.meta.calibration import classification_metrics, ece, regression_metrics
from bayes.meta.episodes import ClassEpisodeSampler, Episodes
from bayes.meta.maml import MAMLConfig, ScratchConfig, maml, scratch
from bayes.meta.niw_meta import NIWMetaConfig, local_posterior, niw_meta, sgld_gaussian_fit
from bayes.meta.protonet import ProtoNetConfig, protonet
from bayes.meta.tasks import TASKS, Task, make_task
from bayes.meta.train import evaluate, make_learner, meta_train

__all__ = [
    "MetaLearner",
    "Episodes",
    "ClassEpisodeSampler",
    "Task",
    "TASKS",
    "make_task",
    "NIWMetaConfig",
    "niw_meta",
    "sgld_gaussian_fit",
    "local_posterior",
    "MAMLConfig",
    "maml",
    "ScratchConfig",
    "scratch",
    "ProtoNetConfig",
    "protonet",
    "make_learner",
    "meta_train",
    "evaluate",
    "classification_metrics",
    "regression_metrics",
    "ece",
]
