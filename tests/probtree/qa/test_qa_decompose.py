"""HQDT parsing, decomposition confidences from character offsets, and query-tree building."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from probtree.qa import (
    DATASET_PLACEHOLDER,
    Completion,
    DecompositionError,
    QueryTree,
    build_many,
    build_query_tree,
    bundled_path,
    load_question_decompositions,
    load_released,
    load_tree_json,
    merge_decompositions,
    parse_hqdt,
    parse_many,
    trees_from_decompositions,
)

DATA = Path(__file__).parent / "data"


def _llama_records():
    with gzip.open(DATA / "llama3_tree_generation_cache.jsonl.gz", "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def _reference_qd(tokens, logprobs, n_keys):
    """The official 2_postprocess.py token-pattern scan (re-implemented as the test oracle)."""
    if tokens[-1] == ".":
        logprobs = logprobs[:-1]
    pos, out = 0, []
    for _ in range(n_keys):
        while pos < len(tokens):
            if "[" in tokens[pos] and ': ["' in "".join(tokens[max(pos - 1, 0) : pos + 2]):
                st = pos
                break
            pos += 1
        while pos < len(tokens):
            if "]" in tokens[pos] and '"]' in "".join(tokens[max(pos - 1, 0) : pos + 2]):
                ed = pos
                break
            pos += 1
        out.append(sum(logprobs[st : ed + 1]) / len(logprobs[st : ed + 1]))
    return out


def test_qa_llama3_qd_logprob_matches_reference_token_scan():
    recs = _llama_records()
    assert len(recs) == 100
    n_entries = 0
    for rec in recs:
        resp = rec["response"][0]
        lp = resp["logprobs"]
        comp = Completion.from_tokens(
            lp["tokens"], lp["token_logprobs"], resp["message"]["content"]
        )
        assert comp.tokens[-1] != "<|eot_id|>"  # the special token past the text is dropped
        question = rec["input"][0].split("\n")[-2][len("Q: ") :].strip()
        dec = parse_hqdt(comp, question)
        ref = _reference_qd(lp["tokens"], lp["token_logprobs"], len(dec.entries))
        np.testing.assert_allclose([qd for _, _, qd in dec.entries], ref, rtol=0, atol=1e-12)
        n_entries += len(dec.entries)
        tree = build_query_tree(dec, placeholder="angle")
        assert tree.nodes[-1].text == dec.root
        assert tree.nodes[-1].qd_logprob == dec.entries[0][2]
    assert n_entries == 137


def test_qa_qd_logprob_is_tokenizer_independent():
    text = '{"Who is X\'s father?": ["Who is X?", "Who is #1\'s father?"]}.'
    start, end = text.index("["), text.index("]") + 1
    # two tokenizations of the same text: characters, and coarse chunks
    chars = list(text)
    lp_chars = [-0.01 * (i % 7) for i in range(len(chars))]
    by_char = parse_hqdt(Completion.from_tokens(chars, lp_chars))
    np.testing.assert_allclose(by_char.entries[0][2], np.mean(lp_chars[start:end]), atol=1e-12)
    chunks = [text[:20], text[20 : start + 1], text[start + 1 : end - 1], text[end - 1 :]]
    lp_chunks = [-1.0, -0.2, -0.4, -0.6]
    coarse = parse_hqdt(Completion.from_tokens(chunks, lp_chunks))
    # chunks 1, 2, 3 overlap the list span
    np.testing.assert_allclose(coarse.entries[0][2], np.mean(lp_chunks[1:]), atol=1e-12)
    # plain text: no confidences
    assert parse_hqdt(text).entries[0][2] is None


@pytest.mark.parametrize("dataset", ["hotpotqa", "musique"])
def test_qa_trees_from_decompositions_reproduce_released_structure(dataset):
    ph = DATASET_PLACEHOLDER[dataset]
    released = load_released(bundled_path(f"{dataset}_released.json.gz"), placeholder=ph)
    by_root = {r.tree.nodes[-1].text: r.tree.to_records() for r in released}
    qd = load_question_decompositions(bundled_path(f"{dataset}_question_decompositions.json.gz"))
    tree_json = load_tree_json(bundled_path(f"{dataset}_tree.json.gz"))
    # the merged compatibility dict is exactly the reference's tree.json
    assert merge_decompositions(qd, placeholder=ph) == tree_json
    for merged in (None, True, tree_json):
        trees = trees_from_decompositions(qd, placeholder=ph, merged=merged)
        assert len(trees) == 500
        for t in trees.values():
            assert isinstance(t, QueryTree)
            assert t.to_records() == by_root[t.nodes[-1].text]


def test_qa_independent_trees_do_not_leak_but_merged_mode_does():
    decs = {
        "Q1?": {
            "Q1?": [["Where was A born?", "When did #1 open?"], -0.1],
            "Where was A born?": [["Who is A's mother?", "Where was #1 born?"], -0.2],
        },
        "Q2?": {"Q2?": [["Where was A born?", "How big is #1?"], -0.3]},
    }
    indep = trees_from_decompositions(decs, placeholder="hash")
    merged = trees_from_decompositions(decs, placeholder="hash", merged=True)
    assert indep["Q2?"].n_nodes == 3  # its own decomposition only
    assert merged["Q2?"].n_nodes == 5  # inherits Q1's decomposition of "Where was A born?"
    assert indep["Q1?"].to_records() == merged["Q1?"].to_records()


def test_qa_build_rules_self_decomposition_cycles_references():
    # self-decomposition: the parent listed among its children -> a leaf
    t = build_query_tree({"Q?": [["Q?", "R?"], -0.1]})
    assert t.n_nodes == 1 and t.nodes[0].qd_logprob is None
    # keys containing a placeholder are never decomposed
    t = build_query_tree(
        {"Q?": [["A?", "B #1?"], -0.1], "B #1?": [["C?"], -0.2]}, placeholder="hash"
    )
    assert [n.text for n in t.nodes] == ["A?", "B #1?", "Q?"]
    assert t.nodes[-1].children == (0, 1) and t.nodes[0].parent == 2
    # a cycle through a deeper level
    with pytest.raises(DecompositionError, match="cycle"):
        build_query_tree({"Q?": [["A?"], -0.1], "A?": [["B?"], -0.1], "B?": [["Q?"], -0.1]})
    # a reference to a sibling that does not exist
    with pytest.raises(DecompositionError, match="refers to sibling 3"):
        build_query_tree({"Q?": [["A?", "B of #3?"], -0.1]}, placeholder="hash")
    # `<k>` is not a reference in hash style, so this is fine there
    assert build_query_tree({"Q?": [["A?", "B of <3>?"], -0.1]}, placeholder="hash").n_nodes == 3
    with pytest.raises(DecompositionError, match="root question contains"):
        build_query_tree({"Q #1?": [["A?"], -0.1]}, placeholder="hash")
    # repeated sub-question in two branches is not a cycle
    t = build_query_tree({"Q?": [["A?", "B?"], -0.1], "A?": [["C?"], -0.1], "B?": [["C?"], -0.1]})
    assert t.n_nodes == 5 and t.to_tree().n_nodes == 5


def test_qa_parse_errors_name_line_and_column():
    with pytest.raises(DecompositionError, match=r"line 2, column"):
        parse_hqdt('{"Q?": ["A?",\n  "B?" "C?"]}', "Q?")
    with pytest.raises(DecompositionError, match="truncated"):
        parse_hqdt('{"Q?": ["A?", "B?"]', "Q?")
    with pytest.raises(DecompositionError, match="duplicate key"):
        parse_hqdt('{"Q?": ["A?"], "Q?": ["B?"]}')
    with pytest.raises(DecompositionError, match="list of sub-questions"):
        parse_hqdt('{"Q?": "A?"}')
    with pytest.raises(DecompositionError, match="unexpected text"):
        parse_hqdt('{"Q?": ["A?"]} and more')
    with pytest.raises(DecompositionError, match="empty object"):
        parse_hqdt("{}")
    assert parse_hqdt('  {"Q?": ["A?", "B?"]}.  ').entries == (("Q?", ("A?", "B?"), None),)


def test_qa_batch_reports_errors_per_question():
    outs = ['{"Q1?": ["A?", "B of #1?"]}.', '{"Q2?": ["A?"', "not json", '{"Q4?": ["X #5?"]}']
    qs = ["Q1?", "Q2?", "Q3?", "Q4?"]
    parsed = parse_many(outs, qs)
    assert [type(p).__name__ for p in parsed] == [
        "Decomposition",
        "DecompositionError",
        "DecompositionError",
        "Decomposition",
    ]
    assert parsed[1].question == "Q2?" and parsed[2].question == "Q3?"
    built = build_many(parsed, placeholder="hash")
    assert isinstance(built[0], QueryTree) and built[0].n_nodes == 3
    assert isinstance(built[3], DecompositionError) and built[3].question == "Q4?"
    with pytest.raises(ValueError, match="questions"):
        parse_many(outs, qs[:2])


def test_qa_accepts_lm_package_completions():
    """Contract: `probtree.lm` completions work wherever a completion is expected."""
    base = pytest.importorskip("probtree.lm.base")
    from probtree.qa import parse_answer

    rec = _llama_records()[5]
    resp = rec["response"][0]
    ours = Completion.from_tokens(
        resp["logprobs"]["tokens"], resp["logprobs"]["token_logprobs"], resp["message"]["content"]
    )
    theirs = base.Completion(
        text=ours.text,
        tokens=ours.tokens,
        logprobs=ours.logprobs,
        offsets=ours.offsets,
        finish_reason="stop",
    )
    assert parse_hqdt(theirs) == parse_hqdt(ours)
    cot = base.Completion(
        text="X is Y. So the answer is: Y.",
        tokens=("X is Y.", " So the answer is:", " Y."),
        logprobs=(-0.3, -0.1, -0.2),
        offsets=((0, 7), (7, 25), (25, 28)),
        finish_reason="length",
    )
    assert parse_answer(cot).error == "finish_reason=length"  # read from the completion
    assert parse_answer(cot, finish_reason="stop").score == -0.3


def test_qa_limits_and_deep_nesting_fail_cleanly():
    from probtree import TreeLimits

    chain = {f"Q{i}?": [[f"Q{i + 1}?"], -0.1] for i in range(50)}
    with pytest.raises(DecompositionError, match="max_depth"):
        build_query_tree(chain, limits=TreeLimits(max_nodes=1000, max_depth=10))
    wide = {"Q?": [[f"S{i}?" for i in range(30)], -0.1]}
    with pytest.raises(DecompositionError, match="max_nodes"):
        build_query_tree(wide, limits=TreeLimits(max_nodes=20, max_depth=10))
    assert build_query_tree(wide).n_nodes == 31
    with pytest.raises(DecompositionError, match="nested too deeply|sub-questions must be"):
        parse_hqdt('{"Q?": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(DecompositionError, match="max_children"):
        parse_hqdt(json.dumps({"Q?": [f"S{i}?" for i in range(20)]}), max_children=10)
