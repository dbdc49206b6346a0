"""Replay of the official ProbTree predictions: every node's choice and the published scores."""

from __future__ import annotations

import collections

import jax
import numpy as np
import pytest

from probtree import Forest
from probtree.qa import (
    DATASET_PLACEHOLDER,
    bundled_path,
    evaluate,
    load_ircot,
    load_released,
    pack_candidates,
    replay,
    select,
    select_reference,
)
from probtree.qa.select import _combine


@pytest.fixture(scope="module")
def hotpot():
    return load_released(
        bundled_path("hotpotqa_released.json.gz"), placeholder=DATASET_PLACEHOLDER["hotpotqa"]
    )


@pytest.fixture(scope="module")
def musique():
    return load_released(
        bundled_path("musique_released.json.gz"), placeholder=DATASET_PLACEHOLDER["musique"]
    )


@pytest.fixture(scope="module")
def hotpot_replay(hotpot):
    return replay(hotpot)


def test_qa_hotpotqa_replay_reproduces_every_choice(hotpot, hotpot_replay):
    assert len(hotpot) == 500
    assert sum(r.tree.n_nodes for r in hotpot) == 1493
    # Every released answer matches one of its node's candidates.
    assert all(c >= 0 for r in hotpot for c in r.released_choice)
    assert hotpot_replay.node_agreement == 1.0
    assert hotpot_replay.disagreements == ()
    assert hotpot_replay.answer_agreement == 1.0


def test_qa_hotpotqa_replay_scores_match_paper(hotpot, hotpot_replay):
    gold = load_ircot(bundled_path("hotpotqa_ircot_test_500.jsonl.gz"))
    preds = {r.tree.question: p for r, p in zip(hotpot, hotpot_replay.predictions)}
    rep = evaluate(preds, gold)
    assert rep.missing == ()
    assert rep.overall.n == 500
    np.testing.assert_allclose(rep.overall.em, 50.40, atol=0.01)
    np.testing.assert_allclose(rep.overall.f1, 64.13, atol=0.01)
    np.testing.assert_allclose(rep.by_type["bridge"].em, 45.87, atol=0.01)
    np.testing.assert_allclose(rep.by_type["bridge"].f1, 60.94, atol=0.01)
    np.testing.assert_allclose(rep.by_type["comparison"].em, 71.59, atol=0.01)
    np.testing.assert_allclose(rep.by_type["comparison"].f1, 79.07, atol=0.01)
    # Aliases can only help.
    assert evaluate(preds, gold, aliases=True).overall.f1 >= rep.overall.f1 - 1e-9


def test_qa_musique_replay_reproduces_every_choice(musique):
    assert len(musique) == 500
    assert all(c >= 0 for r in musique for c in r.released_choice)
    rp = replay(musique)
    assert rp.node_agreement == 1.0
    assert rp.answer_agreement == 1.0
    # Selection shares of the released run (ProbTree's count.py statistics).
    counts = collections.Counter(
        ("leaf" if n.is_leaf else "nonleaf", c)
        for r, ch in zip(musique, rp.choices)
        for n, c in zip(r.tree.nodes, ch)
    )
    assert counts == {
        ("leaf", 0): 525,
        ("leaf", 1): 752,
        ("nonleaf", 0): 58,
        ("nonleaf", 1): 111,
        ("nonleaf", 2): 423,
    }


def test_qa_jit_pass_matches_python_reference_loop(hotpot, hotpot_replay):
    trees = [r.tree for r in hotpot]
    c = hotpot_replay.candidates
    forest = hotpot_replay.forest
    per_scores = forest.unpack(np.asarray(c.scores, dtype=np.float64))
    # the packed scores are float32: compare both on the same (float32-rounded) inputs
    per_state = forest.unpack(np.asarray(c.state))
    values, choices = select_reference(trees, per_scores, per_state)
    got_v = forest.unpack(np.asarray(hotpot_replay.selection.value))
    assert [list(ch) for ch in hotpot_replay.choices] == choices
    np.testing.assert_allclose(np.concatenate(got_v), np.concatenate(values), rtol=1e-5, atol=1e-6)


def test_qa_replay_reproduces_substituted_questions(hotpot, musique):
    # With the reference's raw str.replace (compat) and only earlier siblings answered, the
    # stored `question` of every node is reproduced.
    for data in (hotpot, musique):
        for r in data:
            answers = [a[0] for a in r.released_answer]
            for i in range(r.tree.n_nodes):
                known = answers[:i] + [None] * (r.tree.n_nodes - i)
                assert r.tree.substituted(i, known, compat=True) == r.substituted[i].strip()


def test_qa_select_jit_invariance_and_no_recompile(hotpot):
    sub = hotpot[:40]
    trees = [r.tree for r in sub]
    forest = Forest.from_trees([t.to_tree() for t in trees])
    cands = pack_candidates(forest, trees, [r.answers for r in sub])
    out = select(forest, cands)
    with jax.disable_jit():
        ref = select(forest, cands)
    np.testing.assert_array_equal(np.asarray(out.choice), np.asarray(ref.choice))
    np.testing.assert_allclose(np.asarray(out.value), np.asarray(ref.value), rtol=1e-6)
    # Another batch with the same sizes (the same trees in reverse order) reuses the pass.
    other = sub[::-1]
    f2 = Forest.from_trees([r.tree.to_tree() for r in other])
    c2 = pack_candidates(f2, [r.tree for r in other], [r.answers for r in other])
    before = select._cache_size()
    select(f2, c2)
    assert select._cache_size() == before


def test_qa_combine_is_the_paper_formula():
    import jax.numpy as jnp

    cand = jnp.array([[-0.2, -0.3, -0.5 + -0.1, 1, 1, 1], [-0.2, -0.3, -0.6, 1, 0, 0]])
    out = _combine(cand, jnp.array([-0.3, -0.3]), jnp.array([2, 2], dtype=jnp.int32))
    assert out.shape == (2, 6) and np.all(np.isneginf(np.asarray(out[:, 3:])))
    np.testing.assert_allclose(np.asarray(out[0, :3]), [-0.2, -0.3, (-0.6 - 0.3) / 4], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(out[1, :3]), [-0.2, -100.0, -100.0], rtol=1e-6)


def test_qa_choose_incremental_matches_full_replay(hotpot, hotpot_replay):
    from probtree.qa import choose

    sub = hotpot[:30]
    trees = [r.tree for r in sub]
    forest = Forest.from_trees([t.to_tree() for t in trees])
    leaves_only = [[a if n.is_leaf else {} for n, a in zip(r.tree.nodes, r.answers)] for r in sub]
    part = choose(trees, leaves_only, forest=forest)
    before = select._cache_size()
    full = choose(trees, [r.answers for r in sub], forest=forest)
    assert select._cache_size() == before  # same shapes: no recompilation
    for t, r in enumerate(sub):
        assert full[t].choice == hotpot_replay.choices[t]
        assert full[t].text[-1] == hotpot_replay.predictions[t]
        np.testing.assert_allclose(full[t].value[-1], r.released_answer[-1][1], atol=1e-6)
        for i, node in enumerate(r.tree.nodes):
            if node.is_leaf:  # leaves are final already
                assert part[t].choice[i] == full[t].choice[i]
                assert part[t].text[i] == full[t].text[i]
            else:
                assert part[t].choice[i] == -1 and part[t].text[i] is None


def test_qa_missing_marker_ca_follows_reference_in_compat_mode():
    from probtree.qa import Answer, QueryNode, QueryTree, choose

    tree = QueryTree(
        "Q?",
        (
            QueryNode("A?", parent=2),
            QueryNode("B?", parent=2),
            QueryNode("Q?", children=(0, 1), qd_logprob=-0.1),
        ),
    )
    leaf = {"cb": Answer("x", -0.2), "ob": Answer("y", -0.1)}
    root = {
        "cb": Answer("Unknown", -0.3),
        "ob": Answer("ERROR: prompt too long", -100.0, error="finish_reason=length"),
        "ca": Answer("the whole cot", -100.0, "the whole cot", error="no marker"),
    }
    compat = choose([tree], [[leaf, leaf, root]])[0]
    # reference: CA keeps its -100 confidence and is combined: (-100 - 0.1 - 0.1 - 0.1) / 4
    assert compat.choice[-1] == 2 and compat.text[-1] == "the whole cot"
    np.testing.assert_allclose(compat.value[-1], (-100 - 0.3) / 4, rtol=1e-6)
    strict = choose([tree], [[leaf, leaf, root]], compat=False)[0]
    assert strict.choice[-1] == 0 and strict.text[-1] == "" and strict.value[-1] == -100.0
