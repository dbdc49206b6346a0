"""Test-time settings chosen on meta-validation episodes: the grid every method is tuned on.

The benchmark (``benchmarks/meta.py``) and ``probtree meta eval --select-test-time`` choose each
method's test-time settings the same way: every point of a fixed per-method grid
(:func:`test_time_grid`) is scored on the same meta-validation episodes and the best is kept
(:func:`select_test_time`), before the test classes are evaluated once.
"""

from __future__ import annotations

from typing import Any

import jax
from tqdm import tqdm

from bayes.meta.tasks import Task
from bayes.meta.train import evaluate, learner_config, make_learner

__all__ = ["test_time_grid", "select_test_time"]


def test_time_grid(method: str, task: Task, train: dict | None = None) -> list[dict]:
    """Test-time settings tried on the meta-validation episodes (each method alike).

    Only fields that change prediction, never training: NIW-Meta's prior (mode (n0+3)γ0 or mean
    n0·γ0, and for regression a tenth of it), predictive (S-sample average or plug-in at mᵢ) and
    test SGLD run (steps, step size, temperature, burn-in); MAML's and FOMAML's test inner steps;
    scratch's Adam steps and learning rate. ProtoNet has none. ``train``: the training overrides
    the learner is built with (a chain that keeps the training burn-in must be longer than it).
    """
    if method == "niw":
        # SGLD (steps, step size, temperature, burn-in); None = the training value.
        # Chains of 100+ steps also run with half of them as burn-in (the training burn-in of
        # 2 or 10 states leaves the chain's transient in m̄). Classification also runs at τ = 0
        # (Adam descent with the Gaussian fit to its second half): at any τ > 0 the Adam
        # preconditioner random-walks the weights the support barely constrains by ~ε per step
        # (5-step-chain digits state: val 94.4% after 1000 steps at τ = 1e-4, 98.5% at τ = 0),
        # which is why longer cold runs never helped. (300 cold steps at τ = 1e-4, tried in
        # earlier runs, were never chosen and are replaced by 300 at τ = 0.)
        runs = ([(None, None, None, None), (200, None, None, None), (500, None, None, None),
                 (200, None, None, 0.5), (500, None, None, 0.5)]
                if task.kind == "regression"
                else [(None, None, None, None), (20, None, None, None),
                      (100, 0.01, 1e-4, None), (100, 0.01, 1e-4, 0.5),
                      (100, 0.01, 0.0, 0.5), (300, 0.01, 0.0, 0.5)])
        # A chain that keeps the training burn-in must be longer than it (digits: 25 of 50).
        burnin = learner_config(method, task, **(train or {})).burnin
        runs = [dict(test_sgld_steps=t, test_sgld_step_size=e, test_temperature=c,
                     test_burnin=f) for t, e, c, f in runs
                if t is None or f is not None or t > burnin]
        # Regression also tries a tempered test prior (a tenth of the precision): the training
        # objective's weight samples push n0·γ0 up, and that prior then shrinks the support fit.
        scales = (1.0, 0.1) if task.kind == "regression" else (1.0,)
        return [dict(test_prior=p, test_prior_scale=s, test_predictive=q, **r)
                for p in ("mode", "expected") for s in scales for q in ("samples", "mean")
                for r in runs]
    if method in ("maml", "fomaml"):
        inner = learner_config(method, task).inner_steps
        return [dict(test_steps=n) for n in (inner, 2 * inner, 4 * inner)]
    if method == "scratch":
        return [dict(steps=n, learning_rate=lr) for n in (100, 300, 1000)
                for lr in (3e-3, 1e-2, 3e-2)]
    return [{}]


def select_test_time(
    method: str, task: Task, state: Any, seed: int, val_episodes: int = 200,
    train: dict | None = None, progress: bool = False,
) -> tuple[dict, float, list[tuple[dict, float]]]:
    """The :func:`test_time_grid` point with the best score on meta-validation episodes.

    Every grid point is evaluated on the same ``val_episodes`` episodes of the val classes
    (key ``seed + 12345``), never the test classes; ties keep the earlier point.

    Args:
        method, task, state: the learner's name, its task and its (meta-trained) state.
        seed: the run's seed.
        val_episodes: meta-validation episodes per grid point.
        train: the overrides the learner is built with (under every point; a grid point's
            fields replace the same fields here).
        progress: show a tqdm bar over the grid.

    Returns:
        (chosen overrides, their val score, every (overrides, val score)); the score is the
        accuracy (classification) or MSE (regression).
    """
    sign = 1.0 if task.kind == "classification" else -1.0
    best, best_score, scores = {}, -float("inf"), []
    grid = test_time_grid(method, task, train)
    for over in tqdm(grid, desc=f"test-time grid {method}", unit="setting",
                     disable=not progress, dynamic_ncols=True):
        learner = make_learner(method, task, **{**(train or {}), **over})
        m, _, _ = evaluate(learner, state, task, jax.random.key(seed + 12345),
                           episodes=val_episodes, batch=min(100, val_episodes), split="val")
        score = m["accuracy"] if task.kind == "classification" else m["mse"]
        scores.append((over, score))
        if sign * score > best_score:
            best, best_score = over, sign * score
    return best, sign * best_score, scores
