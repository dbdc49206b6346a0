"""``probtree demo`` part for ProbTree QA: replay the released HotpotQA trees on bundled data.

Loads the authors' 500 released HotpotQA query trees with every node's closed-book, open-book and
child-aggregating candidates, re-chooses every node's answer in one jit upward pass over a
`Forest`, checks the choices against the released ones, scores the root answers with EM/F1
against the IRCoT gold file, prints one reasoned tree and saves its picture.

Then it runs ProbTree end to end with the bundled SmolLM2-135M (JAX, CPU) on a few bundled
HotpotQA questions, with BM25 over their paragraphs and the short prompt variants: decomposition,
closed-book, open-book and child-aggregating answers, selection; it prints each tree and answer
and draws one reasoned tree. A 135M model answers poorly; every step is real.
"""

from __future__ import annotations

import pathlib
import time

import numpy as np

from probtree.qa.answers import CANDIDATE_KINDS
from probtree.qa.datasets import DATASET_PLACEHOLDER, bundled_path, load_ircot, question_key
from probtree.qa.evaluate import evaluate
from probtree.qa.released import load_released, replay


def run(out_dir: pathlib.Path, seed: int) -> None:
    """Runs the demo; ``seed`` picks which reasoned tree is printed and drawn."""
    start = time.perf_counter()
    released = load_released(
        bundled_path("hotpotqa_released.json.gz"), placeholder=DATASET_PLACEHOLDER["hotpotqa"]
    )
    rp = replay(released)
    n_nodes = sum(r.tree.n_nodes for r in released)
    print(
        f"replayed {len(released)} released HotpotQA trees ({n_nodes} nodes) as one jit pass "
        f"in {time.perf_counter() - start:.2f} s (incl. loading and compiling)"
    )
    print(f"node choices agreeing with the released run: {rp.node_agreement:.4f}")
    gold = load_ircot(bundled_path("hotpotqa_ircot_test_500.jsonl.gz"))
    preds = {r.tree.question: p for r, p in zip(released, rp.predictions)}
    rep = evaluate(preds, gold)
    print(
        f"EM {rep.overall.em:.2f}  F1 {rep.overall.f1:.2f}  (n={rep.overall.n}; paper's "
        "released predictions: EM 50.40 / F1 64.13)"
    )
    for t, s in rep.by_type.items():
        print(f"  {t:<11} EM {s.em:6.2f}  F1 {s.f1:6.2f}  (n={s.n})")

    # one reasoned tree with a child-aggregating winner at the root
    rng = np.random.default_rng(seed)
    ca_roots = [t for t, ch in enumerate(rp.choices) if ch[-1] == 2]
    t = int(rng.choice(ca_roots))
    r = released[t]
    scores = np.asarray(rp.selection.scores)[rp.forest.tree_slice(t)]
    gold_by_key = {question_key(g.question): g.answers[0] for g in gold}
    print(f"\nreasoned tree {t}: {r.tree.question}")
    print(f"gold answer: {gold_by_key.get(question_key(r.tree.question))!r}")
    for i in reversed(range(r.tree.n_nodes)):  # root first
        depth, j = 0, i
        while r.tree.nodes[j].parent >= 0:
            depth, j = depth + 1, r.tree.nodes[j].parent
        pad = "  " * depth
        print(f"{pad}[{i}] {r.substituted[i]}")
        for k, kind in enumerate(CANDIDATE_KINDS):
            if not np.isfinite(scores[i, k]):
                continue
            mark = "*" if rp.choices[t][i] == k else " "
            print(f"{pad}   {mark} {kind.upper()} {scores[i, k]:8.4f}  {r.answers[i][kind].text}")
    try:
        from probtree.qa.plot import draw_query_tree, save_figure
    except ImportError:  # matplotlib is the optional `plot` extra
        print("matplotlib not installed: no picture")
        return
    fig = draw_query_tree(
        r.tree, r.answers, scores, rp.choices[t], questions=r.substituted, title=r.tree.question
    )
    path = save_figure(fig, pathlib.Path(out_dir) / "qa_reasoned_tree.png")
    print(f"saved {path}")
    run_end_to_end(out_dir, seed)


def run_end_to_end(out_dir: pathlib.Path, seed: int, n_questions: int = 2) -> list[dict]:
    """ProbTree with the bundled SmolLM2 on ``n_questions`` bundled HotpotQA questions (picked by
    ``seed``); prints every tree and answer, saves ``qa_smollm2_tree.png``; returns the records."""
    from probtree.qa.engine import Engine, EngineConfig
    from probtree.qa.retrieve import BM25Retriever
    from probtree.qa.runs import reasoned_tree, summarize

    try:
        from probtree.lm import load

        lm = load("smollm2")
    except (FileNotFoundError, ImportError) as err:
        print(f"\nend-to-end part skipped: {err}")
        return []
    examples = load_ircot(bundled_path("hotpotqa_ircot_test_500.jsonl.gz"), contexts=True)
    rng = np.random.default_rng(seed)
    picked = [examples[int(j)] for j in rng.choice(len(examples), n_questions, replace=False)]
    retriever = BM25Retriever.from_ircot(picked)
    cfg = EngineConfig(prompts="small", max_tokens_tree=64, max_tokens_qa=32, top_k=2)
    print(f"\nProbTree end to end with {lm.name} on {n_questions} questions, BM25 over their "
          f"{len(retriever)} paragraphs (short prompts, <= 32 answer tokens)")
    start = time.perf_counter()
    eng = Engine(lm, retriever, cfg)
    records = eng.run(picked)
    secs = time.perf_counter() - start
    st = eng.stats
    print(f"{st['requests']} LM requests in {st['batches']} batched calls, "
          f"{st['completion_tokens']} tokens, {secs:.1f} s")
    for rec in records:
        print(f"\nQ: {rec['question']}\n   gold {rec['gold'][0]!r}  predicted {rec['prediction']!r}"
              f"  ({rec['choice'].upper()}, score {rec['score']:.3f})")
        if rec["decomposition"]["error"]:
            print(f"   decomposition unusable ({rec['decomposition']['error'][:70]}...): one node")
        for node in reversed(rec["tree"]):
            depth, j = 0, node["idx"]
            while rec["tree"][j]["fa"] >= 0:
                depth, j = depth + 1, rec["tree"][j]["fa"]
            pad = "   " + "  " * depth
            print(f"{pad}[{node['idx']}] {node['question']}")
            for kind in CANDIDATE_KINDS:
                if kind in node:
                    mark = "*" if node["choice"] == kind else " "
                    c = node[kind]
                    print(f"{pad}  {mark} {kind.upper()} {c['score']:8.3f}  {c['answer'][:60]!r}")
    s = summarize(records)
    print(f"\nEM {s['em']:.1f}  F1 {s['f1']:.1f} on these {s['n']} questions")
    try:
        from probtree.qa.plot import draw_query_tree, save_figure
    except ImportError:
        return records
    rec = max(records, key=lambda r: len(r["tree"]))
    tree, answers, scores, choice, questions = reasoned_tree(rec)
    fig = draw_query_tree(tree, answers, scores, choice, questions=questions,
                          title=f"SmolLM2-135M: {rec['question']}")
    print(f"saved {save_figure(fig, pathlib.Path(out_dir) / 'qa_smollm2_tree.png')}")
    return records
