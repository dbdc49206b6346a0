# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # ProbTree: query trees, confidences and selection in one jit pass
#
# ProbTree (Cao et al., Findings of EMNLP 2023) answers a complex question by asking a language
# model for a hierarchical question decomposition tree (HQDT), answering every node closed-book
# (CB), open-book (OB) and, for non-leaves, by aggregating its children's answers (CA), and
# keeping the most confident candidate from the leaves up. This notebook walks through the
# reasoning half on bundled data: parsing an HQDT output with its token log-probs, scoring
# answers, choosing all nodes' answers of many questions in one upward pass over a `Forest`, and
# replaying the authors' released HotpotQA predictions.

# %%
import os

import numpy as np

from probtree import Forest
from probtree.qa import (
    Completion,
    build_query_tree,
    bundled_path,
    evaluate,
    load_ircot,
    load_released,
    pack_candidates,
    parse_answer,
    parse_hqdt,
    replay,
    select,
)
from probtree.qa.datasets import question_key

SMALL = os.environ.get("PROBTREE_EXAMPLE_SMALL") == "1"

# %% [markdown]
# ## 1. An HQDT output with token log-probs → a query tree
# Any backend's completion works: text, tokens, per-token log-probs and character offsets. The
# decomposition confidence `qd_logprob` is the mean log-prob of the tokens covering each
# sub-question list, found from character offsets (not tokenizer-specific token patterns).

# %%
tokens = [
    '{"',
    "Where did Edward Hoby's father study?",
    '":',
    ' ["',
    "Who is Edward Hoby's father?",
    '",',
    ' "',
    "Where did <1> study?",
    '"]}',
]
logprobs = [-0.01, -0.02, -0.001, -0.11, -0.35, -0.02, -0.01, -0.09, -0.003]
hqdt = Completion.from_tokens(tokens, logprobs)
dec = parse_hqdt(hqdt, question="Where did Edward Hoby's father study?")
tree = build_query_tree(dec, placeholder="angle")
for i, node in enumerate(tree.nodes):
    print(i, node.text, "children:", node.children, "qd:", node.qd_logprob)
print("mean over the list tokens:", np.mean(logprobs[3:]))

# %% [markdown]
# ## 2. Candidate answers and their confidences
# An answer's confidence is the mean log-prob of the explanation before "So the answer is:".


# %%
def completion(expl, answer, lp_expl):
    toks = [expl, " So the answer is: ", answer, "."]
    return Completion.from_tokens(toks, [lp_expl, -0.01, -0.2, -0.01])


answers = [
    {
        "cb": parse_answer(
            completion("Edward Hoby's father was Thomas Hoby.", "Thomas Hoby", -0.4)
        ),
        "ob": parse_answer(
            completion("The text says his father was Sir Thomas Hoby.", "Sir Thomas Hoby", -0.05)
        ),
    },
    {
        "cb": parse_answer(completion("Thomas Hoby studied at Cambridge.", "Cambridge", -0.3)),
        "ob": parse_answer(
            completion(
                "The passage gives St John's College.", "St John's College, Cambridge", -0.08
            )
        ),
    },
    {
        "cb": parse_answer(completion("Probably Oxford.", "Oxford", -0.9)),
        "ob": parse_answer(completion("No passage mentions it.", "Unknown", -0.2)),
        "ca": parse_answer(
            completion(
                "His father was Sir Thomas Hoby, who studied at St John's.",
                "St John's College, Cambridge",
                -0.06,
            )
        ),
    },
]
for i, a in enumerate(answers):
    print(i, {k: (v.text, round(v.score, 3)) for k, v in a.items()})

# %% [markdown]
# ## 3. Selection: one upward pass
# CA's score is `(c_CA + qd + Σ children's chosen scores) / (n_children + 2)`; "Unknown" answers
# score -100; ties go CB, then OB, then CA.

# %%
forest = Forest.from_trees([tree.to_tree()])
cands = pack_candidates(forest, [tree], [answers])
sel = select(forest, cands)
kinds = ["CB", "OB", "CA"]
for i in range(tree.n_nodes):
    print(i, kinds[int(sel.choice[i])], np.round(np.asarray(sel.scores[i]), 4))

# %% [markdown]
# ## 4. Replaying the released HotpotQA predictions
# Every released tree goes into one `Forest`; the pass re-chooses every node's answer, and we
# compare with the authors' choices and score the root answers (first gold span, HotpotQA
# normalisation).

# %%
released = load_released(bundled_path("hotpotqa_released.json.gz"), placeholder="angle")
if SMALL:
    released = released[:100]
rp = replay(released)
print("trees:", len(released), "node agreement:", rp.node_agreement)
gold = load_ircot(bundled_path("hotpotqa_ircot_test_500.jsonl.gz"))
preds = {r.tree.question: p for r, p in zip(released, rp.predictions)}
keys = {question_key(r.tree.question) for r in released}
report = evaluate(preds, [g for g in gold if not SMALL or question_key(g.question) in keys])
print(f"EM {report.overall.em:.2f}  F1 {report.overall.f1:.2f}  over {report.overall.n} questions")

# %% [markdown]
# ## 5. A picture of one reasoned tree

# %%
from probtree.qa.plot import draw_query_tree, save_figure  # noqa: E402

t = 3
scores = np.asarray(rp.selection.scores)[rp.forest.tree_slice(t)]
fig = draw_query_tree(
    released[t].tree,
    released[t].answers,
    scores,
    rp.choices[t],
    questions=released[t].substituted,
    title=released[t].tree.question,
)
print("saved", save_figure(fig, "probtree_qa_tree.png"))
