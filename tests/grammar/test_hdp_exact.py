"""Exact tests of the feature-keyed HDP on tiny cases: hand-computed seatings, brute force."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from grammar import hdp
from grammar.hdp_state import _OBS, HDPState


class Scripted:
    """An rng stub whose ``random()`` returns scripted values (0.0: first option, i.e. an existing
    table at the deepest node; 0.999999: last option, a new root table)."""

    def __init__(self, values):
        self.values = list(values)

    def random(self):
        return self.values.pop(0)


def _hand_state() -> HDPState:
    model = hdp.HDPModel(hdp.CategoricalBase.uniform("abc"), alpha=(2.0, 1.0))
    s = HDPState(model)
    s.add(Scripted([0.5]), ("x",), "a")  # only option: new tables at x and root
    s.add(Scripted([0.999999]), ("x",), "a")  # forced: a second root table serving 'a'
    s.add(Scripted([0.999999]), ("y",), "b")
    return s


@pytest.mark.parametrize("backend", ["jax", "numpy"])
def test_predictive_matches_hand_computed_values(backend):
    s = _hand_state()
    # root: N=3, tables a,a,b of size 1, alpha 2, H = 1/3 each.
    root = np.array([8 / 15, 1 / 3, 2 / 15])
    x = np.array([(2 + 8 / 15) / 3, (1 / 3) / 3, (2 / 15) / 3])
    y = np.array([(8 / 15) / 2, (1 + 1 / 3) / 2, (2 / 15) / 2])
    pred = hdp.Predictor.from_state(s, backend=backend)
    np.testing.assert_allclose(pred.path(()), root, rtol=1e-6)
    np.testing.assert_allclose(pred.path(("x",)), x, rtol=1e-6)
    np.testing.assert_allclose(pred.path(("y",)), y, rtol=1e-6)
    np.testing.assert_allclose(pred.path(("new",)), root, rtol=1e-6)  # falls back to the root
    np.testing.assert_allclose(pred.probs.sum(axis=1), 1.0, atol=1e-6)
    # the sequence of scripted choices has probability 1/3 * 1/9 * 1/6 = 1/162
    assert s.log_joint() == pytest.approx(-math.log(162.0), rel=1e-12)
    # bounds, path sets
    best = np.maximum(np.maximum(root, x), y)
    np.testing.assert_allclose(pred.bound((hdp.ANY,)), best, rtol=1e-6)
    np.testing.assert_allclose(pred.bound((hdp.Wildcard({"x"}),)), np.maximum(root, y), rtol=1e-6)
    entries = dict(pred.path_set((hdp.ANY,)))
    assert set(entries) == {("x",), ("y",), (hdp.Wildcard({"x", "y"}),)}
    np.testing.assert_allclose(entries[(hdp.Wildcard({"x", "y"}),)], root, rtol=1e-6)
    entries = dict(pred.path_set((hdp.Wildcard({"y"}),)))
    assert set(entries) == {("x",), (hdp.Wildcard({"x", "y"}),)}


@pytest.mark.parametrize("backend", ["jax", "numpy"])
def test_open_base_predictive_plus_unseen_mass_sums_to_one(backend):
    base = hdp.SequenceBase(n_tokens=4, end_probability=0.5)
    s = HDPState(hdp.HDPModel(base, alpha=(1.5, 0.7, 0.3)))
    rng = np.random.default_rng(0)
    for i in range(12):
        s.add(rng, (i % 2, i % 3), tuple(rng.integers(4, size=1 + i % 2).tolist()))
    pred = hdp.Predictor.from_state(s, backend=backend)
    for path in [(), (0,), (1, 1), (0, 2), (5, 5)]:
        total = pred.path(path).sum() + pred.unseen_mass(path)
        assert total == pytest.approx(1.0, abs=1e-5)
    # an unregistered atom gets S_n H(x)
    v = pred.node_of((0, 0))
    assert pred.prob((0, 0), (3, 3, 3)) == pytest.approx(
        pred.unseen_scale[v] * math.exp(base.log_prob((3, 3, 3))), rel=1e-6
    )


def _enumerate(state: HDPState, data, prob=1.0, out=None):
    """All seating histories of ``data`` added in order: (probability, final state) leaves."""
    out = [] if out is None else out
    if not data:
        out.append((prob, state))
        return out
    (path, atom), rest = data[0], data[1:]
    a = state.register_atom(atom)
    node = state.node(path, create=True)
    block = {a: 1}
    group = state._group_of(block)
    path_nodes, tabs, weights, shift = state._options(node, block, 1, group)
    for choice, w in enumerate(weights):
        if w == 0.0:
            continue
        s = state.copy()
        t = s._place(path_nodes, tabs, choice, block, 1, group)
        o = s._n_oslots
        s._grow("obs", _OBS, o + 1)
        s._n_oslots += 1
        s._obs_node[o], s._obs_atom[o], s._obs_table[o] = node, a, t
        s._node_obs[node].append(o)
        _enumerate(s, rest, prob * w * math.exp(shift), out)
    return out


def _config_key(state: HDPState):
    """Canonical seating: each table as (node, observations below it)."""
    below: dict[int, set] = {}
    for o in range(state._n_oslots):
        t = state._obs_table[o]
        while t >= 0:
            below.setdefault(t, set()).add(o)
            t = state._table_parent[t]
    return frozenset((state._table_node[t], frozenset(obs)) for t, obs in below.items())


BASES = {
    "constant": hdp.CategoricalBase.uniform("abc"),
    "dirichlet": hdp.DirichletCategorical(tuple("abc"), 0.5),
}
DATA = [(("x", "u"), "a"), (("x", "v"), "a"), (("y", "u"), "b"), (("x", "u"), "a"),
        (("x", "u"), "c")]


@pytest.mark.parametrize("kind", sorted(BASES))
def test_sequential_probability_is_exchangeable_and_matches_log_joint(kind):
    model = hdp.HDPModel(BASES[kind], alpha=(1.3, 0.8, 0.6))
    totals = []
    for perm in [(0, 1, 2, 3, 4), (4, 3, 2, 1, 0), (2, 0, 4, 1, 3)]:
        leaves = _enumerate(HDPState(model), [DATA[i] for i in perm])
        totals.append(sum(p for p, _ in leaves))
        if perm == (0, 1, 2, 3, 4):
            # the distinct seatings' joint probabilities also sum to the marginal
            configs = {}
            for _, s in leaves:
                configs.setdefault(_config_key(s), s.log_joint())
            assert len(configs) >= 15
            total_joint = sum(math.exp(lj) for lj in configs.values())
            assert total_joint == pytest.approx(totals[0], rel=1e-9)
    np.testing.assert_allclose(totals, totals[0], rtol=1e-10)


def test_single_dp_marginal_matches_polya_urn():
    model = hdp.HDPModel(hdp.CategoricalBase(tuple("abc"), (0.5, 0.3, 0.2)), alpha=(1.7,))
    data = [((), x) for x in "abaca"]
    total = sum(p for p, _ in _enumerate(HDPState(model), data))
    h = dict(zip("abc", (0.5, 0.3, 0.2), strict=True))
    ref, counts = 1.0, {}
    for i, (_, x) in enumerate(data):
        ref *= (counts.get(x, 0) + 1.7 * h[x]) / (i + 1.7)
        counts[x] = counts.get(x, 0) + 1
    assert total == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize("kind", sorted(BASES))
def test_gibbs_sweep_leaves_the_exact_posterior_invariant(kind):
    """Frequencies of seatings visited by the sampler match the enumerated posterior.

    4 customers on 2 leaves give a few dozen seatings; we compare the distribution of the
    (root tables, leaf tables) counts. 3000 sweeps with fast mixing give a standard error below
    0.01 per cell; the tolerance 0.035 is > 3.5 standard errors (false-failure rate < 1e-3 per
    cell), while a sampler that e.g. never opens root tables is off by > 0.1.
    """
    model = hdp.HDPModel(BASES[kind], alpha=(1.0, 0.7))
    data = [(("x",), "a"), (("x",), "a"), (("y",), "a"), (("y",), "b")]
    leaves = _enumerate(HDPState(model), data)
    exact: dict = {}
    seen = set()
    for _, s in leaves:
        key = _config_key(s)
        if key in seen:
            continue
        seen.add(key)
        stat = tuple(hdp.tables_per_level(s).tolist())
        exact[stat] = exact.get(stat, 0.0) + math.exp(s.log_joint())
    z = sum(exact.values())
    state = hdp.init(model, data, np.random.default_rng(1))
    rng = np.random.default_rng(2)
    counts: dict = {}
    n = 3000
    for _ in range(n):
        hdp.sweep(state, rng)
        stat = tuple(hdp.tables_per_level(state).tolist())
        counts[stat] = counts.get(stat, 0) + 1
    assert set(counts) <= set(exact)
    for stat, p in exact.items():
        assert counts.get(stat, 0) / n == pytest.approx(p / z, abs=0.035), (stat, counts, exact)


def test_add_then_remove_restores_counts():
    s = _hand_state()
    before = (s.node_customers, s.node_tables, s.log_joint())
    rng = np.random.default_rng(0)
    ids = [s.add(rng, p, a)[0] for p, a in itertools.product([("x",), ("z",)], "abc")]
    for o in reversed(ids):
        s.remove(o)
    np.testing.assert_array_equal(s.node_customers[: len(before[0])], before[0])
    np.testing.assert_array_equal(s.node_tables[: len(before[1])], before[1])
    assert s.log_joint() == pytest.approx(before[2], rel=1e-12)
    with pytest.raises(ValueError, match="obs"):
        s.remove(ids[0])
