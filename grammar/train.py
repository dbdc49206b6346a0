"""Training the grammar: lexicon, sequential initialisation, MH block resampling, Gibbs, alpha.

``init`` inserts the lexicon items into the HDPs, then visits the training pairs in random order
and draws each derivation from the chart sampler under the growing grammar (adding it at once).
Every ``step`` then

(a) resamples each derivation in random order by Metropolis-Hastings: the old tree is removed,
    its exact sequential probability under the other trees is recorded (re-adding then removing
    it) with its factorised probability (every node's predictive under the other trees); a new
    tree is drawn from the chart sampler (factorised proposal) and added, giving its exact
    sequential probability; the new tree is kept with probability
    ``exp(new_exact - new_factored + old_factored - old_exact)``;
(b) resamples the concentrations of every HDP (auxiliary variables, Gamma priors of the grammar
    file) and runs one collapsed Gibbs sweep over its tables and observations;
(c) reports the log joint of all seatings (the unnormalised log posterior).

State is a :class:`TrainState` (mutable HDP seatings inside, as in :mod:`grammar.hdp`); the model
and its derivations are saved without pickle by :func:`save` / :func:`load` (HDP ``.npz`` files
and a JSON list of derivations).

References:
    ``sample`` and ``resample`` (``parser.h:4117``) in github.com/asaparov/grammar and ``sample``
    in ``parser.cpp`` of github.com/asaparov/parser; Johnson, Griffiths & Goldwater (2007),
    Bayesian inference for PCFGs via MCMC (the MH correction).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from grammar import chart, hdp
from grammar.derivation import (
    GrammarModel,
    Step,
    add_derivation,
    log_prob,
    remove_derivation,
)
from grammar.grammar import Example, LexiconItem, parse_grammar
from grammar.logic import Empty, to_text
from grammar.logic import parse as parse_lf
from probtree import Tree

__all__ = ["TrainState", "Info", "init", "step", "run", "log_posterior", "save", "load"]


@dataclass
class TrainState:
    """Model, examples, their current derivations (None: not derivable) and observation ids."""

    model: GrammarModel
    examples: list[Example]
    trees: list[Tree | None]
    obs: list[list] = field(default_factory=list)
    max_open_tokens: int = 4


class Info(NamedTuple):
    """Diagnostics of one iteration."""

    log_posterior: float
    accepted: int
    proposed: int


def log_posterior(model: GrammarModel) -> float:
    """Sum over HDPs of the log probability of the seating and observations."""
    return float(sum(s.log_joint() for s in model.states.values()))


def init(model: GrammarModel, examples: list[Example], rng: np.random.Generator, *,
         lexicon: list[LexiconItem] = (), max_open_tokens: int = 4) -> TrainState:
    """Adds the lexicon, then samples and adds each example's derivation in random order.

    Examples that the grammar cannot derive keep ``None`` (and are left out of the counts).
    """
    model.add_lexicon(list(lexicon), rng)
    trees: list[Tree | None] = [None] * len(examples)
    obs: list[list] = [[] for _ in examples]
    for i in rng.permutation(len(examples)):
        ex = examples[i]
        t = chart.sample(model, ex.tokens, ex.lf, rng, max_open_tokens=max_open_tokens)
        if t is not None:
            obs[i], _ = add_derivation(model, t, rng)
            trees[i] = t
    return TrainState(model, list(examples), trees, obs, max_open_tokens)


def _exact(model: GrammarModel, tree: Tree, rng) -> float:
    o, lp = add_derivation(model, tree, rng)
    remove_derivation(model, o)
    return lp


def resample(state: TrainState, i: int, rng: np.random.Generator) -> bool:
    """One MH block update of derivation ``i``; returns whether the proposal was accepted."""
    old = state.trees[i]
    if old is None:
        return False
    m = state.model
    remove_derivation(m, state.obs[i])
    old_fact = log_prob(m, old)
    old_exact = _exact(m, old, rng)
    ex = state.examples[i]
    new = chart.sample(m, ex.tokens, ex.lf, rng, max_open_tokens=state.max_open_tokens)
    new_fact = log_prob(m, new)
    obs, new_exact = add_derivation(m, new, rng)
    log_a = new_exact - new_fact + old_fact - old_exact
    if math.log(rng.random() + 1e-300) < min(0.0, log_a):
        state.trees[i], state.obs[i] = new, obs
        return True
    remove_derivation(m, obs)
    state.obs[i], _ = add_derivation(m, old, rng)
    return False


def step(state: TrainState, rng: np.random.Generator, *, gibbs: bool = True) -> Info:
    """One training iteration (MH over every derivation, then alpha + Gibbs per HDP)."""
    acc = prop = 0
    for i in rng.permutation(len(state.examples)):
        if state.trees[i] is not None:
            prop += 1
            acc += resample(state, int(i), rng)
    if gibbs:
        for s in state.model.states.values():
            if s.n_observations:
                if s.model.shape is not None:
                    hdp.sample_alpha(s, rng)
                hdp.sweep(s, rng)
    return Info(log_posterior(state.model), acc, prop)


def run(state: TrainState, rng: np.random.Generator, iterations: int, *,
        progress: bool = False) -> list[Info]:
    """``iterations`` steps, with an optional tqdm bar showing the log posterior."""
    infos = []
    bar = range(iterations)
    if progress:
        from tqdm import tqdm
        bar = tqdm(bar, desc="train", unit="it")
    for _ in bar:
        info = step(state, rng)
        infos.append(info)
        if progress:
            bar.set_postfix(log_post=f"{info.log_posterior:.1f}",
                            accept=f"{info.accepted}/{info.proposed}")
    return infos


def _lf_text(lf) -> str | None:
    return None if isinstance(lf, Empty) else to_text(lf)


def _tree_json(t: Tree) -> dict:
    return {"parent": [int(p) for p in t.parent],
            "steps": [[s.nonterminal, _lf_text(s.lf),
                       list(s.atom) if isinstance(s.atom, tuple) else s.atom] for s in t.labels]}


def _tree_from_json(d: dict) -> Tree:
    steps = [Step(n, Empty() if lf is None else parse_lf(lf),
                  tuple(a) if isinstance(a, list) else a)
             for n, lf, a in d["steps"]]
    return Tree.from_parents(np.asarray(d["parent"], dtype=np.int32), labels=steps)


def save(state: TrainState, directory: str | Path) -> None:
    """Writes the grammar text, every HDP state (``.npz``) and the derivations (JSON)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    (d / "grammar.gram").write_text(state.model.grammar_text)
    names = sorted(state.model.states)
    for i, n in enumerate(names):
        hdp.save(state.model.states[n], d / f"hdp_{i}.npz")
    meta = {"format": "probtree-grammar-model/1", "start": state.model.start,
            "hdps": names, "max_open_tokens": state.max_open_tokens,
            "examples": [[list(e.tokens), to_text(e.lf)] for e in state.examples],
            "derivations": [None if t is None else _tree_json(t) for t in state.trees]}
    tmp = d / "model.json.tmp"
    tmp.write_text(json.dumps(meta))
    tmp.replace(d / "model.json")


def load(directory: str | Path) -> TrainState:
    """Reads a model written by :func:`save`. The derivations are already counted in the loaded
    HDP states; each node is matched to one observation with its path and atom (observations are
    exchangeable), so training can continue with :func:`step`.

    Raises:
        ValueError: not a saved model, an unknown format, or derivations that the HDP states do
            not contain.
    """
    d = Path(directory)
    meta_path = d / "model.json"
    if not meta_path.exists():
        raise ValueError(f"directory: {d} holds no model.json (not a saved model)")
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != "probtree-grammar-model/1":
        raise ValueError(f"{meta_path}: unknown format {meta.get('format')!r}")
    text = (d / "grammar.gram").read_text()
    g = parse_grammar(text, source=str(d / "grammar.gram"))
    states = {n: hdp.load(d / f"hdp_{i}.npz") for i, n in enumerate(meta["hdps"])}
    model = GrammarModel(g, start=meta["start"], states=states, text=text)
    examples = [Example(tuple(t), parse_lf(lf), 0) for t, lf in meta["examples"]]
    trees = [None if t is None else _tree_from_json(t) for t in meta["derivations"]]
    pool: dict[tuple, list[int]] = {}
    for name, st in states.items():
        for o, path, atom in st.observations():
            pool.setdefault((name, path, atom), []).append(o)
    obs: list[list] = []
    for t in trees:
        ids = []
        for s in [] if t is None else t.labels:
            if s.nonterminal in states:
                key = (s.nonterminal, model.path(s.nonterminal, s.lf), s.atom)
                if not pool.get(key):
                    raise ValueError(f"{meta_path}: a derivation node {key} has no observation "
                                     "in the saved HDP states (files do not belong together)")
                ids.append((s.nonterminal, pool[key].pop()))
        obs.append(ids)
    return TrainState(model, examples, trees, obs, meta["max_open_tokens"])
