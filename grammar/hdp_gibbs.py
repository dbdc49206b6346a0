"""Collapsed Gibbs sampling of a feature-keyed HDP, and concentration resampling.

``init(model, data, key)`` seats a dataset sequentially; ``step(key, state)`` resamples the
per-level concentrations (auxiliary variables, if the model has Gamma priors) and then runs one
collapsed Gibbs sweep that reseats every table of every non-root node and every observation, in the
order of the official ``sample_hdp``: children in random order, each child's subtree first, then
the child's tables (customers of this node) in random order, then this node's observations in
random order. Reseating a table moves the whole block of observations below it; the move draws
among the tables of the node and of all its ancestors (a new table at a node is a new customer of
the parent, down to a new root table with a fresh dish from ``H``), which is exactly the
conditional of the Chinese restaurant franchise with the dishes integrated out.

The sweep is sequential by nature and runs in plain Python over the state's arrays (STYLE point
6); `step` is pure: it works on a copy and leaves its input untouched.

References:
    Teh, Jordan, Beal & Blei (2006), Hierarchical Dirichlet processes, JASA, §5.1 and app. A
    (auxiliary-variable sampler for the concentrations).
    Escobar & West (1995), Bayesian density estimation and inference using mixtures, JASA, §6.
    Official code: github.com/asaparov/hdp ``mcmc.h`` (``sample_hdp``, ``sample_nodes``,
    ``sample_alpha_each_level``).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np

from grammar.hdp_seating import rng_from
from grammar.hdp_state import HDPModel, HDPState


class Info(NamedTuple):
    """Diagnostics of one `step`.

    Attributes:
        log_joint: log probability of the seating and observations after the step.
        tables_per_level: ``(F+1,)`` number of occupied tables at each level.
        alpha: ``(F+1,)`` concentrations used by the sweep.
    """

    log_joint: float
    tables_per_level: np.ndarray
    alpha: np.ndarray


def init(
    model: HDPModel, data: Iterable[tuple[Sequence[Hashable], Hashable]], key: Any
) -> HDPState:
    """A new state with ``data`` (``(path, atom)`` pairs) seated sequentially in order.

    Example:
        >>> from grammar.hdp_base import CategoricalBase
        >>> import jax
        >>> m = HDPModel(CategoricalBase.uniform("ab"), alpha=(1.0, 1.0))
        >>> s = init(m, [(("x",), "a"), (("y",), "b")], jax.random.key(0))
        >>> s.n_observations
        2
    """
    state = HDPState(model)
    rng = rng_from(key)
    for path, atom in data:
        state.add(rng, path, atom)
    return state


def tables_per_level(state: HDPState) -> np.ndarray:
    """``(F+1,)`` number of occupied tables at each level."""
    lv = state.node_level
    return np.bincount(lv, weights=state.node_tables, minlength=state.model.n_levels + 1).astype(
        np.int64
    )


def sample_alpha(state: HDPState, rng: np.random.Generator) -> np.ndarray:
    """One auxiliary-variable update of the per-level concentrations (in place; returns them).

    For every node ``j`` with ``N_j > 0`` customers and ``m_j`` tables at level ``l``:
    ``w_j ~ Beta(alpha_l + 1, N_j)``, ``s_j ~ Bernoulli(N_j / (N_j + alpha_l))``, then
    ``alpha_l ~ Gamma(a_l + sum_j (m_j - s_j), rate = b_l - sum_j log w_j)``.

    Raises:
        ValueError: the model has no Gamma priors (``shape``/``rate``).
    """
    model = state.model
    if model.shape is None:
        raise ValueError("model: concentration resampling needs Gamma priors (shape and rate)")
    n = state.node_customers.astype(np.float64)
    m = state.node_tables.astype(np.float64)
    level = state.node_level
    busy = n > 0
    a = state.alpha[level]
    w = np.ones_like(n)
    w[busy] = rng.beta(a[busy] + 1.0, n[busy])
    s = np.zeros_like(n)
    s[busy] = rng.random(int(busy.sum())) < n[busy] / (n[busy] + a[busy])
    k = model.n_levels + 1
    shape = np.asarray(model.shape) + np.bincount(level, weights=np.where(busy, m - s, 0.0),
                                                  minlength=k)
    rate = np.asarray(model.rate) - np.bincount(level, weights=np.log(w), minlength=k)
    new = rng.gamma(shape, 1.0 / rate)
    state.alpha[:] = np.maximum(new, 1e-16)  # as the official code: alpha must stay positive
    return state.alpha


def sweep(state: HDPState, rng: np.random.Generator) -> None:
    """One collapsed Gibbs sweep over all tables and observations, in place."""
    order_children = lambda v: rng.permutation(list(state._children[v].values())).tolist()
    stack: list[tuple[int, bool]] = [(0, False)]
    while stack:
        v, done = stack.pop()
        if not done:
            stack.append((v, True))
            for c in reversed(order_children(v)):
                stack.append((-c - 1, True))  # after c's subtree: reseat c's tables at v
                stack.append((c, False))
            continue
        if v < 0:
            child = -v - 1
            tables = [t for ts in state._groups[child].values() for t in ts]
            for t in rng.permutation(tables).tolist():
                if state._table_node[t] == child and state._table_nobs[t] > 0:
                    _reseat_table(state, t, rng)
            continue
        for o in rng.permutation(state._node_obs[v]).tolist():
            _reseat_obs(state, o, rng)


def _reseat_obs(state: HDPState, o: int, rng: np.random.Generator) -> None:
    block = {state._obs_atom[o]: 1}
    state._detach(state._obs_table[o], block, 1)
    t, _ = state._seat(state._obs_node[o], block, 1, rng)
    state._obs_table[o] = t


def _reseat_table(state: HDPState, t: int, rng: np.random.Generator) -> None:
    block, nb = state._hist[t], state._table_nobs[t]
    state._detach(state._table_parent[t], block, nb)
    p, _ = state._seat(state._node_parent[state._table_node[t]], block, nb, rng)
    state._table_parent[t] = p


def step(key: Any, state: HDPState, *, resample_alpha: bool = True) -> tuple[HDPState, Info]:
    """Concentration update (if the model has priors and ``resample_alpha``) then one sweep.

    Args:
        key: JAX PRNG key (or numpy Generator).
        state: the current state (not modified).
        resample_alpha: resample the per-level concentrations first, as the grammar's training
            does before each sweep.

    Returns:
        ``(new state, Info)``.
    """
    rng = rng_from(key)
    new = state.copy()
    if resample_alpha and new.model.shape is not None:
        sample_alpha(new, rng)
    sweep(new, rng)
    return new, Info(new.log_joint(), tables_per_level(new), new.alpha.copy())


def run(
    key: Any,
    state: HDPState,
    *,
    burn_in: int,
    n_samples: int,
    thin: int = 1,
    resample_alpha: bool = True,
) -> tuple[HDPState, list, list[Info]]:
    """Burn-in sweeps, then ``n_samples * thin`` sweeps keeping a posterior sample every ``thin``.

    The official worked example runs 200 burn-in sweeps and 800 sweeps keeping every 5th
    (``i % 5 == 0``, i.e. the 1st, 6th, ... of the 800): here ``burn_in=200, n_samples=160,
    thin=5`` keeps the 5th, 10th, ... which is the same count at the same spacing.

    Returns:
        ``(final state, samples, infos)`` where ``samples`` are `grammar.hdp_predict.Snapshot`s
        (average their predictives with `grammar.hdp_predict.Predictor.from_samples`).
    """
    from grammar.hdp_predict import snapshot

    if burn_in < 0 or n_samples < 0 or thin < 1:
        raise ValueError("burn_in, n_samples must be >= 0 and thin >= 1")
    rng = rng_from(key)
    state = state.copy()
    infos, samples = [], []
    for i in range(burn_in + n_samples * thin):
        if resample_alpha and state.model.shape is not None:
            sample_alpha(state, rng)
        sweep(state, rng)
        if i >= burn_in and (i - burn_in + 1) % thin == 0:
            samples.append(snapshot(state))
            infos.append(Info(state.log_joint(), tables_per_level(state), state.alpha.copy()))
    return state, samples, infos
