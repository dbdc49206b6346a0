"""Hierarchical Dirichlet processes keyed by features (the rule distributions of Saparov et al.).

For one nonterminal, an HDP over discrete atoms (rules) of depth ``F+1``: the root is
``DP(alpha_0, H)``, a node at level ``j`` keyed by feature values ``(v_1, ..., v_j)`` is
``DP(alpha_j, parent)``, with one concentration per level under a ``Gamma(a_j, b_j)`` prior.
Observations are added at feature paths; nodes are created on demand.

The pieces, one module each:

* `grammar.hdp_base`: base distributions (`CategoricalBase`, open `SequenceBase`, and the
  `DirichletCategorical` mixture of the official library's worked example).
* `grammar.hdp_state`: `HDPModel` (hyperparameters) and `HDPState` (Chinese restaurant franchise
  seating in doubling arrays, the node tree as a core `probtree.Tree`).
* `grammar.hdp_seating`: the sequential seating kernel of `HDPState` (``add``, ``remove``,
  ``log_predictive``, ``log_joint``).
* `grammar.hdp_gibbs`: ``init``/``step``/``run`` (collapsed Gibbs sweeps reseating tables at
  every level and observations, auxiliary-variable resampling of the per-level concentrations),
  `Info`.
* `grammar.hdp_predict`: `Predictor` (jit downward pass for every atom at every node, path sets
  with `Wildcard` exclusions, upper bounds by an upward max pass; last state or sample average).
* `grammar.hdp_io`: ``save``/``load`` (npz + JSON, no pickle) and ``summary``.

What the semantic parser uses, per nonterminal::

    state = hdp.init(model, [(features, rule), ...], key)          # or HDPState(model).add(...)
    state, info = hdp.step(key, state)                             # alpha resampling + sweep
    pred = hdp.Predictor.from_state(state)                         # once per state
    pred.prob(features, rule); pred.path(features)                 # full path
    pred.path_set((hdp.ANY, "texas", hdp.Wildcard({"ohio"})))      # partially known LF
    pred.bound((hdp.ANY, hdp.ANY, "x"))                            # admissible upper bound
    obs, logp = state.add(rng, features, rule); state.remove(obs)  # MH on derivations
    state.log_predictive(features, rule)                           # cheap, no Predictor
    hdp.sweep(state, rng); hdp.sample_alpha(state, rng)            # in-place variants of step

Example:
    >>> import jax
    >>> from grammar import hdp
    >>> model = hdp.HDPModel(hdp.CategoricalBase.uniform(["r1", "r2"]), alpha=(10.0, 0.1))
    >>> state = hdp.init(model, [(("a",), "r1")] * 5 + [(("b",), "r2")] * 5, jax.random.key(0))
    >>> state, info = hdp.step(jax.random.key(1), state)
    >>> pred = hdp.Predictor.from_state(state)
    >>> bool(pred.prob(("a",), "r1") > 0.9), bool(pred.prob(("c",), "r1") < 0.6)
    (True, True)

References:
    Teh, Jordan, Beal & Blei (2006), Hierarchical Dirichlet processes, JASA.
    Saparov, Saraswat & Mitchell (2017), A Probabilistic Generative Grammar for Semantic Parsing,
    CoNLL; code github.com/asaparov/hdp (``hdp.h``, ``mcmc.h``).
"""

from grammar.hdp_base import CategoricalBase, DirichletCategorical, SequenceBase
from grammar.hdp_gibbs import Info, init, run, sample_alpha, step, sweep, tables_per_level
from grammar.hdp_io import load, save, summary
from grammar.hdp_predict import ANY, Predictor, Snapshot, Wildcard, is_wildcard, snapshot
from grammar.hdp_state import HDPModel, HDPState

__all__ = [
    "ANY",
    "CategoricalBase",
    "DirichletCategorical",
    "HDPModel",
    "HDPState",
    "Info",
    "Predictor",
    "SequenceBase",
    "Snapshot",
    "Wildcard",
    "init",
    "is_wildcard",
    "load",
    "run",
    "sample_alpha",
    "save",
    "snapshot",
    "step",
    "summary",
    "sweep",
    "tables_per_level",
]
