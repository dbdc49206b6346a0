"""Choosing every node's answer: one jit-compiled upward pass over a forest of query trees.

Each node has up to three candidates, in preference order closed-book (CB), open-book (OB) and
child-aggregating (CA, non-leaves only). CB and OB are scored by their own confidence; CA by

    s_CA = (c_CA + qd + sum over children of their chosen score) / (n_children + 2),

with ``c_CA`` the aggregator's explanation confidence and ``qd`` the node's decomposition
confidence. Invalid candidates (errors, "Unknown") score exactly -100. The node keeps the best
candidate (ties to the earlier kind) and its score is what its parent's CA sums. Because a node's
CA score needs its children's chosen scores, selection over all nodes of all trees is one
`probtree.upward_select` pass over a `Forest`.

`select_reference` is the node-by-node Python loop of the reference design (kept for tests and
the benchmark).

References:
    Cao et al., "Probabilistic Tree-of-thought Reasoning for Answering Knowledge-intensive Complex
    Questions", Findings of EMNLP 2023, section 3.2 (probabilistic reasoning); official code
    ``RoHT/question_answering.py``: ``calculate_score2``, ``aggregate_multihop_answer``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from probtree import Forest, upward_select
from probtree.qa.answers import CANDIDATE_KINDS, INVALID_SCORE, Answer, is_invalid
from probtree.qa.querytree import QueryTree

VALID, INVALID, ABSENT = 1, 0, -1
"""Candidate states: scored normally; scored exactly -100; not a candidate."""


class Candidates(NamedTuple):
    """Candidate scores of every node of a forest of query trees (rows as in the `Forest`).

    Attributes:
        scores: ``(N, 3) float`` CB confidence, OB confidence, CA raw aggregator confidence.
        state: ``(N, 3) int32`` `VALID`, `INVALID` (scored -100) or `ABSENT` per candidate.
        qd: ``(N,) float`` decomposition confidence of each node (0 at leaves).
    """

    scores: jax.Array
    state: jax.Array
    qd: jax.Array


class Selection(NamedTuple):
    """Outcome of the selection pass.

    Attributes:
        value: ``(N,)`` each node's chosen score (what its parent aggregates).
        choice: ``(N,) int32`` index of the chosen candidate (0 CB, 1 OB, 2 CA).
        scores: ``(N, 3)`` final candidate scores (CA combined; ``-inf`` where absent).
    """

    value: jax.Array
    choice: jax.Array
    scores: jax.Array


def _combine(cand: jax.Array, child_sum: jax.Array, n_children: jax.Array) -> jax.Array:
    """Final candidate scores from packed ``[cb, ob, ca_raw + qd, state_cb, state_ob, state_ca]``
    rows. `upward_select` hands the combine function only the candidate rows, so each node's
    candidate states travel as three extra columns; they come back as ``-inf`` scores (never
    chosen: the argmax keeps the lowest index on ties, and a real candidate always comes first).
    """
    raw, state = cand[:, :3], cand[:, 3:]
    ca = (raw[:, 2] + child_sum) / (n_children + 2).astype(raw.dtype)
    s = jnp.stack([raw[:, 0], raw[:, 1], ca], axis=-1)
    s = jnp.where(state == INVALID, jnp.asarray(INVALID_SCORE, s.dtype), s)
    s = jnp.where(state == ABSENT, -jnp.inf, s)
    return jnp.concatenate([s, jnp.full_like(s, -jnp.inf)], axis=-1)


@jax.jit
def select(forest: Forest, candidates: Candidates) -> Selection:
    """Chooses every node's answer in all trees of ``forest`` with one upward pass.

    Args:
        forest: the query trees' topology (`Forest.from_trees` of `QueryTree.to_tree`).
        candidates: per-node candidate scores, e.g. from `pack_candidates`.

    Returns:
        A `Selection` (rows as in ``forest``; padding rows hold ``-inf`` values, choice 0).

    Example:
        >>> from probtree import Tree
        >>> f = Forest.from_trees([Tree.from_parents([1, -1])], bucket=False)
        >>> c = Candidates(jnp.array([[-0.1, -0.2, 0.], [-0.9, -0.8, -0.1]]),
        ...                jnp.array([[1, 1, -1], [1, 1, 1]]), jnp.array([0., -0.1]))
        >>> select(f, c).choice.tolist()   # CA: (-0.1 - 0.1 - 0.1) / 3 = -0.1 beats -0.8
        [0, 2]

    References:
        Cao et al. (2023), section 3.2: ``calculate_score2`` and the max over CB/OB/CA.
    """
    scores = jnp.asarray(candidates.scores)
    dtype = jnp.result_type(scores, jnp.float32)
    n = forest.n_nodes
    if scores.shape != (n, 3) or jnp.shape(candidates.state) != (n, 3):
        raise ValueError(
            f"candidates: expected scores and state of shape ({n}, 3), got {scores.shape} and "
            f"{jnp.shape(candidates.state)}"
        )
    if jnp.shape(candidates.qd) != (n,):
        raise ValueError(f"candidates.qd: expected shape ({n},), got {jnp.shape(candidates.qd)}")
    scores = scores.astype(dtype)
    state = jnp.asarray(candidates.state)
    raw = scores.at[:, 2].add(jnp.asarray(candidates.qd, dtype))
    packed = jnp.concatenate([raw, state.astype(dtype)], axis=-1)
    value, choice, final = upward_select(forest, packed, _combine, return_scores=True)
    return Selection(value=value, choice=choice, scores=final[:, :3])


def _is_bad(a: Answer, kind: str, compat: bool) -> bool:
    """Whether a candidate scores exactly -100. With ``compat`` only the reference's text filter
    applies, so an answer without the "So the answer is:" marker keeps its -100 confidence as a
    *valid* candidate (for CA it then enters the combined score, as in the reference); otherwise
    any extraction error also invalidates it."""
    return is_invalid(a.text, kind, compat=compat) or (not compat and a.error != "")


def pack_candidates(
    forest: Forest,
    trees: Sequence[QueryTree],
    answers: Sequence[Sequence[Mapping[str, Answer | None]]],
    *,
    compat: bool = True,
    dtype: np.dtype | type = np.float32,
) -> Candidates:
    """Packs per-node candidate answers into `Candidates` rows of ``forest``.

    Args:
        forest: ``Forest.from_trees([t.to_tree() for t in trees])``.
        trees: the query trees.
        answers: per tree, per node, a mapping ``{"cb": Answer, "ob": Answer, "ca": Answer}``
            (a missing key or None: no such candidate). The ``"ca"`` score is the aggregator's
            raw confidence, not combined.
        compat: reference filter for invalid answers (see `answers.is_invalid`).
        dtype: float dtype of the scores.

    Returns:
        `Candidates`; qd at a non-leaf without a decomposition confidence is 0 (log 1).

    Raises:
        ValueError: lengths that do not match the trees.
    """
    if len(trees) != forest.n_trees or len(answers) != len(trees):
        raise ValueError(
            f"trees/answers: expected {forest.n_trees} of each (one per tree of the forest), got "
            f"{len(trees)} and {len(answers)}"
        )
    per_scores, per_state, per_qd = [], [], []
    for t, (tree, ans) in enumerate(zip(trees, answers)):
        if len(ans) != tree.n_nodes:
            raise ValueError(
                f"answers[{t}]: expected {tree.n_nodes} entries (one per node), got {len(ans)}"
            )
        sc = np.zeros((tree.n_nodes, 3))
        st = np.full((tree.n_nodes, 3), ABSENT, dtype=np.int32)
        qd = np.zeros(tree.n_nodes)
        for i, (node, node_ans) in enumerate(zip(tree.nodes, ans)):
            qd[i] = node.qd_logprob if node.qd_logprob is not None else 0.0
            for k, kind in enumerate(CANDIDATE_KINDS):
                a = node_ans.get(kind)
                if a is None or (kind == "ca" and node.is_leaf):
                    continue
                bad = _is_bad(a, kind, compat)
                st[i, k] = INVALID if bad else VALID
                sc[i, k] = a.score
        per_scores.append(sc)
        per_state.append(st)
        per_qd.append(qd)
    return Candidates(
        scores=forest.pack(per_scores, fill=0.0).astype(dtype),
        state=forest.pack(per_state, fill=ABSENT).astype(jnp.int32),
        qd=forest.pack(per_qd, fill=0.0).astype(dtype),
    )


class Chosen(NamedTuple):
    """One tree's outcome of `choose`.

    Attributes:
        choice: per node the chosen candidate index (0 CB, 1 OB, 2 CA); -1 where the node is not
            ready (see `choose`).
        value: per node the chosen score (what the parent aggregates).
        text: per node the chosen answer text ("" for an invalid winner, None if not ready).
    """

    choice: tuple[int, ...]
    value: tuple[float, ...]
    text: tuple[str | None, ...]


def choose(
    trees: Sequence[QueryTree],
    answers: Sequence[Sequence[Mapping[str, Answer | None]]],
    *,
    compat: bool = True,
    forest: Forest | None = None,
) -> list[Chosen]:
    """Chooses every node's answer in a batch of query trees (pack + one `select` pass).

    Nodes may still lack candidates (an engine answering level by level). A node is *ready* when
    it has its CB and OB candidates, its CA candidate if it has children, and all its children
    are ready; a ready node's choice is final (it depends only on its subtree). Nodes that are
    not ready get ``choice -1``, value NaN and text None. Calling again with the same ``forest``
    reuses the compiled pass.

    Args:
        trees: the query trees.
        answers: per tree, per node, ``{"cb": Answer, "ob": Answer, "ca": Answer}`` (CA raw);
            missing keys or None mean "not available (yet)".
        compat: reference filter for invalid answers (see `answers.is_invalid`).
        forest: the trees' forest if already built (``Forest.from_trees`` of ``to_tree()``).

    Returns:
        One `Chosen` per tree.
    """
    if forest is None:
        forest = Forest.from_trees([t.to_tree() for t in trees])
    cands = pack_candidates(forest, trees, answers, compat=compat)
    sel = select(forest, cands)
    choice = forest.unpack(np.asarray(sel.choice))
    value = forest.unpack(np.asarray(sel.value))
    out = []
    for t, (tree, ans) in enumerate(zip(trees, answers)):
        ready = [False] * tree.n_nodes
        ch, vals, texts = [], [], []
        for i, node in enumerate(tree.nodes):
            need = ("cb", "ob") if node.is_leaf else CANDIDATE_KINDS
            ready[i] = all(ans[i].get(k) is not None for k in need) and all(
                ready[c] for c in node.children
            )
            if not ready[i]:
                ch.append(-1)
                vals.append(float("nan"))
                texts.append(None)
                continue
            k = int(choice[t][i])
            a = ans[i][CANDIDATE_KINDS[k]]
            bad = _is_bad(a, CANDIDATE_KINDS[k], compat)
            ch.append(k)
            vals.append(float(value[t][i]))
            texts.append("" if bad else a.text)
        out.append(Chosen(tuple(ch), tuple(vals), tuple(texts)))
    return out


def select_reference(
    trees: Sequence[QueryTree], scores: Sequence[np.ndarray], states: Sequence[np.ndarray]
) -> tuple[list[list[float]], list[list[int]]]:
    """Node-by-node Python selection, as the reference code runs it (float64).

    Args:
        trees: the query trees (nodes in post-order).
        scores: per tree ``(n, 3)`` CB, OB, raw CA confidences.
        states: per tree ``(n, 3)`` `VALID` / `INVALID` / `ABSENT`.

    Returns:
        ``(values, choices)``: per tree, per node, the chosen score and candidate index.
    """
    values, choices = [], []
    for tree, sc, st in zip(trees, scores, states):
        val = [0.0] * tree.n_nodes
        ch = [0] * tree.n_nodes
        for i, node in enumerate(tree.nodes):
            best, best_k = -np.inf, 0
            for k in range(3):
                if st[i][k] == ABSENT:
                    continue
                if st[i][k] == INVALID:
                    s = INVALID_SCORE
                elif k == 2:
                    qd = node.qd_logprob if node.qd_logprob is not None else 0.0
                    sub = sum(val[c] for c in node.children)
                    s = (float(sc[i][2]) + qd + sub) / (len(node.children) + 2)
                else:
                    s = float(sc[i][k])
                if s > best:
                    best, best_k = s, k
            val[i], ch[i] = best, best_k
        values.append(val)
        choices.append(ch)
    return values, choices
