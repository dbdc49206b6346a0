"""Property tests for the HQDT parser and the selection pass.

Random, malformed, truncated, cyclic and adversarial HQDT output never crashes the parser with
anything but a per-question `DecompositionError`; well-formed output round-trips with the exact
decomposition confidences; random selections match brute force.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probtree import Forest
from probtree.qa import (
    Completion,
    Decomposition,
    DecompositionError,
    QueryTree,
    build_query_tree,
    parse_hqdt,
    parse_many,
    select_reference,
    substitute_references,
)
from probtree.qa.select import ABSENT, INVALID, Candidates, select

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# adversarial pieces: quotes, brackets, escapes, placeholders, markers, unicode, control chars
_ADVERSARIAL = st.sampled_from(
    [
        '"',
        "\\",
        "[",
        "]",
        "{",
        "}",
        ":",
        ",",
        "#1",
        "#10",
        "<2>",
        '"]',
        ': ["',
        "\n",
        "\x00",
        "So the answer is:",
        "Unknown",
        "é",
        "中文",
        "\u2028",
        "🙂",
        ".",
    ]
)
_QUESTION = (
    st.lists(st.one_of(st.text(min_size=1, max_size=6), _ADVERSARIAL), min_size=1, max_size=5)
    .map("".join)
    .filter(lambda s: s.strip() != "")
)


def _well_formed(entries, ascii_only, trailing):
    """Builds HQDT text from entries and returns (text, [(start, end) of each list])."""
    text, spans = "{", []
    for j, (key, children) in enumerate(entries):
        if j:
            text += ", "
        text += json.dumps(key, ensure_ascii=ascii_only) + ": "
        start = len(text)
        text += json.dumps(children, ensure_ascii=ascii_only)
        spans.append((start, len(text)))
    return text + "}" + trailing, spans


@st.composite
def _entries(draw):
    keys = draw(st.lists(_QUESTION, min_size=1, max_size=4, unique_by=str.strip))
    return [(k, draw(st.lists(_QUESTION, min_size=0, max_size=4))) for k in keys]


@SETTINGS
@given(_entries(), st.booleans(), st.sampled_from(["", ".", " .\n"]), st.data())
def test_qa_wellformed_roundtrip_with_exact_confidences(entries, ascii_only, trailing, data):
    text, spans = _well_formed(entries, ascii_only, trailing)
    # random tokenization of the text, random log-probs
    cuts = sorted(set(data.draw(st.lists(st.integers(1, max(1, len(text) - 1)), max_size=30))))
    bounds = [0, *[c for c in cuts if 0 < c < len(text)], len(text)]
    tokens = [text[a:b] for a, b in itertools.pairwise(bounds)]
    lps = data.draw(st.lists(st.floats(-20, 0), min_size=len(tokens), max_size=len(tokens)))
    comp = Completion.from_tokens(tokens, lps)
    dec = parse_hqdt(comp)
    assert [(k, list(c)) for k, c, _ in dec.entries] == [
        (k.strip(), [c.strip() for c in ch]) for k, ch in entries
    ]
    for (_, _, qd), (s, e) in zip(dec.entries, spans):
        want = [lp for (a, b), lp in zip(itertools.pairwise(bounds), lps) if a < e and b > s]
        np.testing.assert_allclose(qd, np.mean(want), rtol=1e-12, atol=1e-12)


def _check_outcome(text):
    try:
        dec = parse_hqdt(text, "q")
    except DecompositionError as err:
        assert err.question == "q"
        return
    assert isinstance(dec, Decomposition)
    for placeholder in ("hash", "angle", "both"):
        try:
            tree = build_query_tree(dec, placeholder=placeholder)
        except DecompositionError:
            continue
        assert isinstance(tree, QueryTree)
        assert tree.to_tree().n_nodes == tree.n_nodes
        # no question appears twice on a root-to-leaf path (no cycles)
        for i in range(tree.n_nodes):
            path, j = [], i
            while j >= 0:
                path.append(tree.nodes[j].text)
                j = tree.nodes[j].parent
            assert len(path) == len(set(path))


@SETTINGS
@given(_entries(), st.booleans(), st.data())
def test_qa_truncated_and_mutated_outputs_fail_cleanly(entries, ascii_only, data):
    text, _ = _well_formed(entries, ascii_only, ".")
    cut = data.draw(st.integers(0, len(text)))
    _check_outcome(text[:cut])
    pos = data.draw(st.integers(0, len(text)))
    insert = data.draw(st.one_of(_ADVERSARIAL, st.text(max_size=3)))
    _check_outcome(text[:pos] + insert + text[pos + 1 :])


@SETTINGS
@given(st.one_of(st.text(max_size=80), st.lists(_ADVERSARIAL, max_size=20).map("".join)))
def test_qa_arbitrary_text_fails_cleanly(text):
    _check_outcome(text)
    _check_outcome("{" + text)
    _check_outcome('{"' + text + '": ["' + text + '"]}')


@SETTINGS
@given(
    st.lists(st.sampled_from(["A?", "B?", "C?", "D?", "E #1?", "F #3?"]), min_size=1, max_size=5),
    st.data(),
)
def test_qa_cyclic_and_shared_graphs_fail_cleanly(keys, data):
    names = ["A?", "B?", "C?", "D?", "E #1?", "F #3?"]
    mapping = {
        k: [data.draw(st.lists(st.sampled_from(names), max_size=3)), -0.1]
        for k in dict.fromkeys(keys)
    }
    text = json.dumps({k: v[0] for k, v in mapping.items()})
    _check_outcome(text)
    for merged in (None, mapping):
        try:
            build_query_tree(mapping, placeholder="hash", lookup=merged)
        except DecompositionError:
            pass


def test_qa_parse_many_with_wrong_types_reports_per_question():
    class NotACompletion:
        text = '{"Q?": ["A?"]}'

    out = parse_many([NotACompletion(), '{"Q?": ["A?"]}', 12], ["a", "b", "c"])
    assert isinstance(out[0], DecompositionError) and out[0].question == "a"
    assert isinstance(out[1], Decomposition)
    assert isinstance(out[2], DecompositionError) and out[2].question == "c"


@SETTINGS
@given(st.dictionaries(st.integers(1, 12), st.text(max_size=8), max_size=6), st.data())
def test_qa_substitution_is_by_token(answers, data):
    refs = data.draw(st.lists(st.integers(1, 12), min_size=1, max_size=5))
    q = " and ".join(f"#{k}" for k in refs) + "?"
    out = substitute_references(q, answers, "hash")
    want = (
        " and ".join(
            (answers[k].strip().rstrip(" \t\r\n.,;:!?").strip() if k in answers else f"#{k}")
            for k in refs
        )
        + "?"
    )
    assert out == want


def _random_parents(rng, n):
    return [-1] + [int(rng.integers(0, i)) for i in range(1, n)]


def _postorder_tree(parents):
    """QueryTree (post-order) of a random parent array."""
    n = len(parents)
    kids = {i: [j for j in range(n) if parents[j] == i] for i in range(n)}
    order = []

    def visit(i):
        for c in kids[i]:
            visit(c)
        order.append(i)

    visit(0)
    new = {old: k for k, old in enumerate(order)}
    from probtree.qa import QueryNode

    nodes = tuple(
        QueryNode(
            text=f"q{old}",
            children=tuple(new[c] for c in kids[old]),
            parent=new[parents[old]] if parents[old] >= 0 else -1,
            qd_logprob=-0.05 * (old % 3) if kids[old] else None,
        )
        for old in order
    )
    return QueryTree("q0", nodes)


def _brute_force(tree, sc, stt):
    """Enumerates every assignment of candidates and keeps the one that satisfies the greedy
    leaves-to-root rule (unique by construction): the oracle for the selection semantics."""
    n = tree.n_nodes
    options = [[k for k in range(3) if stt[i][k] != ABSENT] for i in range(n)]
    for assign in itertools.product(*options):
        val = [0.0] * n
        ok = True
        for i, node in enumerate(tree.nodes):

            def score(k, i=i, node=node, val=val):
                if stt[i][k] == INVALID:
                    return -100.0
                if k == 2:
                    qd = node.qd_logprob or 0.0
                    return (sc[i][2] + qd + sum(val[c] for c in node.children)) / (
                        len(node.children) + 2
                    )
                return sc[i][k]

            scores = {k: score(k) for k in options[i]}
            best = max(scores.values())
            first = min(k for k, v in scores.items() if v == best)
            if assign[i] != first:
                ok = False
                break
            val[i] = scores[first]
        if ok:
            return list(assign), val
    raise AssertionError("no consistent assignment")


def test_qa_select_matches_brute_force_on_random_forests():
    rng = np.random.default_rng(0)
    trees, scores, states = [], [], []
    for _ in range(25):
        n = int(rng.integers(1, 7))
        tree = _postorder_tree(_random_parents(rng, n))
        sc = np.round(rng.uniform(-1, 0, size=(n, 3)), 1)  # coarse grid: many exact ties
        stt = rng.choice([1, 1, 1, 0], size=(n, 3)).astype(np.int32)
        for i, node in enumerate(tree.nodes):
            if node.is_leaf:
                stt[i, 2] = ABSENT
        trees.append(tree)
        scores.append(sc)
        states.append(stt)
    forest = Forest.from_trees([t.to_tree() for t in trees])
    qd = [np.array([nd.qd_logprob or 0.0 for nd in t.nodes]) for t in trees]
    cands = Candidates(
        scores=forest.pack(scores).astype(np.float32),
        state=forest.pack(states, fill=ABSENT),
        qd=forest.pack(qd).astype(np.float32),
    )
    sel = select(forest, cands)
    got = forest.unpack(np.asarray(sel.choice))
    n_ties = 0
    ref_v, ref_c = select_reference(trees, scores, states)
    for t, tree in enumerate(trees):
        bf_c, bf_v = _brute_force(tree, scores[t], states[t])
        assert ref_c[t] == bf_c
        np.testing.assert_allclose(ref_v[t], bf_v, rtol=1e-12)
        assert list(got[t]) == bf_c
        np.testing.assert_allclose(forest.unpack(np.asarray(sel.value))[t], bf_v, rtol=1e-5)
        n_ties += sum(scores[t][i][0] == scores[t][i][1] for i in range(tree.n_nodes))
    assert n_ties > 0  # the coarse grid exercises the tie rule (earlier candidate wins)
