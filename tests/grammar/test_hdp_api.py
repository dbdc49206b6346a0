"""API tests of the HDP: references for the jit pass, path sets and bounds, purity, errors, I/O."""

from __future__ import annotations

import itertools

import jax
import networkx as nx
import numpy as np
import pytest

from grammar import hdp, hdp_base
from grammar.hdp_predict import _pass, predictive_reference
from grammar.hdp_state import HDPState, fine_bucket

KEYS = ["p", "q", "r"]


def _random_state(kind: str, seed: int = 0, n: int = 60) -> HDPState:
    base = (hdp.CategoricalBase.uniform("abcde") if kind == "constant"
            else hdp.DirichletCategorical(tuple("abcde"), 0.7))
    model = hdp.HDPModel(base, alpha=(2.0, 0.9, 0.4), shape=(2.0, 1.0, 1.0), rate=(1.0,) * 3)
    rng = np.random.default_rng(seed)
    data = [((KEYS[rng.integers(3)], int(rng.integers(3))), "abcde"[rng.integers(5)])
            for _ in range(n)]
    state = hdp.init(model, data, rng)
    for _ in range(3):
        hdp.sweep(state, rng)
    return state


@pytest.mark.parametrize("backend", ["jax", "numpy"])
@pytest.mark.parametrize("kind", ["constant", "dirichlet"])
def test_jit_predictive_matches_per_node_loop(kind, backend):
    state = _random_state(kind)
    pred = hdp.Predictor.from_state(state, backend=backend)
    np.testing.assert_allclose(pred.probs, predictive_reference(state), rtol=2e-5, atol=1e-7)
    np.testing.assert_allclose(pred.probs.sum(axis=1), 1.0, atol=1e-5)
    # bounds: max over the node's subtree, by networkx descendants
    g = nx.DiGraph([(int(p), c) for c, p in enumerate(state.node_parent) if p >= 0])
    for v in range(state.n_nodes):
        sub = [v] + (sorted(nx.descendants(g, v)) if v in g else [])
        np.testing.assert_allclose(pred.bounds[v], pred.probs[sub].max(axis=0), rtol=1e-6)


@pytest.mark.parametrize("kind", ["constant", "dirichlet"])
def test_log_predictive_matches_predictor(kind):
    state = _random_state(kind, seed=5)
    pred = hdp.Predictor.from_state(state)
    for path in [(), ("p",), ("q", 1), ("r", 2), ("zz", 0), ("p", 9)]:
        for atom in "abcde":
            assert np.exp(state.log_predictive(path, atom)) == pytest.approx(
                pred.prob(path, atom), rel=2e-5)


def test_node_tree_is_a_core_tree_with_stable_ids():
    state = _random_state("constant")
    tree = state.tree()
    n = state.n_nodes
    assert tree.n_nodes == fine_bucket(n) >= n
    assert [fine_bucket(k) for k in (1, 9, 100, 1024, 1025, 10001)] == [8, 16, 128, 1024, 1088,
                                                                         10240]
    np.testing.assert_array_equal(np.asarray(tree.parent)[:n], state.node_parent)
    for v in range(1, n):
        assert state.node(state.path_of(v)) == v
    assert tree.labels[3] == state.path_of(3)


def test_path_sets_and_bounds_against_brute_force():
    state = _random_state("constant", seed=1)
    pred = hdp.Predictor.from_state(state)
    values = KEYS + ["zz"]  # "zz" is never stored
    specs = [
        (hdp.ANY, hdp.ANY), ("p", hdp.ANY), (hdp.ANY, 1), (hdp.Wildcard({"p", "q"}), hdp.ANY),
        ("zz", 0), (hdp.ANY, hdp.Wildcard({0, 2})), ("q", 2),
    ]
    for spec in specs:
        entries = pred.path_set(spec)
        # every concrete path matching the spec, over stored values and unseen ones
        concrete = []
        for v1, v2 in itertools.product(values, [0, 1, 2, 7]):
            ok = all(
                (s.excluded.isdisjoint({v}) if isinstance(s, hdp.Wildcard) else s == v)
                for s, v in zip(spec, (v1, v2), strict=True)
            )
            if ok:
                concrete.append((v1, v2))
        # each concrete path is covered by exactly one entry, with the same probabilities
        for path in concrete:
            match = [
                p for ps, p in entries
                if all((isinstance(e, hdp.Wildcard) and v not in e.excluded) or e == v
                       for e, v in zip(ps, path, strict=True))
            ]
            assert len(match) == 1, (spec, path)
            np.testing.assert_allclose(match[0], pred.path(path), rtol=1e-12)
        best = np.max([p for _, p in entries], axis=0)
        np.testing.assert_allclose(pred.bound(spec), best, rtol=1e-12)
        brute = np.max([pred.path(p) for p in concrete], axis=0)
        np.testing.assert_allclose(pred.bound(spec), brute, rtol=1e-12)


def test_wildcard_like_values_from_other_modules_are_accepted():
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class OtherWildcard:  # e.g. grammar.features.Wildcard
        excluded: frozenset = frozenset()

    state = _random_state("constant", seed=6)
    pred = hdp.Predictor.from_state(state)
    theirs = (OtherWildcard(frozenset({"p"})), OtherWildcard())
    ours = (hdp.Wildcard({"p"}), hdp.ANY)
    assert hdp.is_wildcard(theirs[0]) and not hdp.is_wildcard("p")
    np.testing.assert_array_equal(pred.bound(theirs), pred.bound(ours))
    a, b = pred.path_set(theirs), pred.path_set(ours)
    assert [k for k, _ in a if not hdp.is_wildcard(k[0])] == [
        k for k, _ in b if not hdp.is_wildcard(k[0])]
    assert len(a) == len(b)


def test_jit_pass_does_not_recompile_and_matches_eager():
    state = _random_state("constant", seed=2, n=12)
    first = hdp.Predictor.from_state(state, backend="jax")
    size = _pass._cache_size()
    state.alpha *= 3.0  # new values, same shapes
    pred = hdp.Predictor.from_state(state, backend="jax")
    assert _pass._cache_size() == size
    assert np.abs(pred.probs - first.probs).max() > 1e-3
    with jax.disable_jit():
        eager = hdp.Predictor.from_state(state, backend="jax")
    np.testing.assert_allclose(pred.probs, eager.probs, rtol=1e-5)


def test_step_is_pure_and_reports_info(key):
    state = _random_state("dirichlet", seed=3)
    before = (state.node_customers, state.alpha.copy(), state.log_joint())
    new, info = hdp.step(key, state)
    np.testing.assert_array_equal(state.node_customers, before[0])
    np.testing.assert_array_equal(state.alpha, before[1])
    assert state.log_joint() == before[2]
    assert info.log_joint == pytest.approx(new.log_joint())
    np.testing.assert_array_equal(info.tables_per_level, hdp.tables_per_level(new))
    assert int(info.tables_per_level[-1]) == int(new.node_tables[new.node_level == 2].sum())
    again, _ = hdp.step(key, state)  # same key, same result
    assert again.log_joint() == pytest.approx(info.log_joint, rel=1e-12)


def test_sample_average_is_mean_of_sample_predictives():
    state = _random_state("constant", seed=4)
    rng = np.random.default_rng(1)
    samples = []
    for _ in range(3):
        hdp.sweep(state, rng)
        samples.append(hdp.snapshot(state))
    state.add(rng, ("new", 5), "c")  # a node created after the samples falls back
    avg = hdp.Predictor.from_samples(state, samples, backend="jax")
    singles = [hdp.Predictor.from_samples(state, [s], backend="jax") for s in samples]
    np.testing.assert_allclose(avg.probs, np.mean([p.probs for p in singles], axis=0), rtol=1e-6)
    avg_np = hdp.Predictor.from_samples(state, samples, backend="numpy")
    np.testing.assert_allclose(avg_np.probs, avg.probs, rtol=2e-5)
    np.testing.assert_allclose(avg_np.bounds, avg.bounds, rtol=2e-5)
    v_new, v_root = state.node(("new", 5)), 0
    np.testing.assert_allclose(singles[0].probs[v_new], singles[0].probs[v_root], rtol=1e-6)


def test_save_load_round_trip(tmp_path):
    base = hdp.SequenceBase(50, 0.6, excluded_tokens={"the"}, excluded_phrases={("of", "of")})
    model = hdp.HDPModel.from_prior(base, shape=(2.0, 1.0), rate=(1.0, 2.0))
    rng = np.random.default_rng(0)
    state = hdp.HDPState(model)
    for i in range(30):
        state.add(rng, ((i % 3, "k"),), ("w", str(i % 4)))
    state.remove(5)
    path = tmp_path / "hdp.npz"
    hdp.save(state, path)
    loaded = hdp.load(path)
    assert loaded.atoms == state.atoms and loaded.node_keys == state.node_keys
    assert loaded.log_joint() == pytest.approx(state.log_joint(), rel=1e-12)
    a, b = hdp.Predictor.from_state(state), hdp.Predictor.from_state(loaded)
    np.testing.assert_allclose(a.probs, b.probs, rtol=1e-12)
    hdp.sweep(loaded, rng)  # the loaded state is a working sampler
    assert "observations 29" in hdp.summary(loaded)
    # a tampered file is rejected
    with np.load(path) as z:
        data = {k: z[k] for k in z.files}
    data["table_size"] = data["table_size"] + 1
    bad = tmp_path / "bad.npz"
    np.savez(bad, **data)
    with pytest.raises(ValueError, match="table_size"):
        hdp.load(bad)
    data["table_size"] = data["table_size"] - 1
    data["table_parent"] = data["table_parent"] + 10**6
    np.savez(bad, **data)
    with pytest.raises(ValueError, match="table_parent"):
        hdp.load(bad)


def test_bad_inputs_raise_clear_errors():
    base = hdp.CategoricalBase.uniform("ab")
    with pytest.raises(ValueError, match="alpha"):
        hdp.HDPModel(base, alpha=(1.0, -1.0))
    with pytest.raises(TypeError, match="base"):
        hdp.HDPModel(["a", "b"], alpha=(1.0,))
    with pytest.raises(ValueError, match="shape"):
        hdp.HDPModel(base, alpha=(1.0, 1.0), shape=(1.0,), rate=(1.0,))
    state = hdp.HDPState(hdp.HDPModel(base, alpha=(1.0, 1.0)))
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="path"):
        state.add(rng, ("x", "y"), "a")
    with pytest.raises(TypeError, match="path"):
        state.add(rng, "x", "a")
    with pytest.raises(ValueError, match="zero probability"):
        state.add(rng, ("x",), "c")
    with pytest.raises(ValueError, match="Gamma priors"):
        hdp.sample_alpha(state, rng)
    pred = hdp.Predictor.from_state(state)
    with pytest.raises(ValueError, match="spec"):
        pred.path_set((hdp.ANY, hdp.ANY))
    with pytest.raises(ValueError, match="backend"):
        hdp.Predictor.from_state(state, backend="gpu")
    with pytest.raises(TypeError, match="serialise"):
        s2 = hdp.HDPState(hdp.HDPModel(hdp.CategoricalBase.uniform([frozenset()]), (1.0, 1.0)))
        hdp.save(s2, "/dev/null")
    with pytest.raises(ValueError, match="weights"):
        hdp.CategoricalBase.from_weights(["a", "b"], [0.7, 0.6])
    fw = hdp.CategoricalBase.from_weights(["a", "b", "c"], [0.5, None, None])
    assert fw.probs == pytest.approx((0.5, 0.25, 0.25))


class GeometricInts:
    """A user-supplied open base (the `AtomBase` protocol): H(k) = 2^-(k+1) on k = 0, 1, ..."""

    kind = "constant"
    is_open = True

    def log_prob(self, atom):
        return -(atom + 1) * np.log(2.0) if isinstance(atom, int) and atom >= 0 else -np.inf

    def to_dict(self):
        return {"type": "geometric-ints"}


def test_pluggable_open_base_and_sequence_base_values():
    assert isinstance(GeometricInts(), hdp_base.AtomBase)
    state = hdp.HDPState(hdp.HDPModel(GeometricInts(), alpha=(1.0, 2.0)))
    rng = np.random.default_rng(0)
    for k in [0, 0, 1, 3, 0, 2]:
        state.add(rng, ("g",), k)
    pred = hdp.Predictor.from_state(state)
    assert pred.path(("g",)).sum() + pred.unseen_mass(("g",)) == pytest.approx(1.0, abs=1e-6)
    assert pred.prob(("h",), 10) == pytest.approx(pred.unseen_scale[0] * 2.0**-11, rel=1e-6)
    assert np.exp(state.log_predictive(("g",), 10)) == pytest.approx(pred.prob(("g",), 10),
                                                                     rel=1e-5)
    with pytest.raises(ValueError, match="zero probability"):
        state.add(rng, ("g",), -1)
    seq = hdp.SequenceBase(4, 0.5, excluded_tokens={"x"}, excluded_phrases={("a",)})
    assert seq.log_prob(("a", "b")) == pytest.approx(np.log(1 / 64), rel=1e-12)
    assert seq.log_prob(("a",)) == -np.inf and seq.log_prob(("x", "b")) == -np.inf
