"""ProbTree: probabilistic tree-of-thought question answering (Cao et al., EMNLP Findings 2023).

Stage A turns a language model's HQDT output into query trees with decomposition confidences
(`parse_hqdt`, `build_query_tree`); stage B scores each node's closed-book, open-book and
child-aggregating candidates and chooses among them leaves-to-root, for all questions at once, in
one jit-compiled upward pass over a `probtree.Forest` (`select`). `load_released` / `replay`
re-run that selection on the authors' released predictions; `evaluate` scores answers with EM/F1.
`Engine` runs the whole method with a language model and a `BM25Retriever` (level-batched over
all questions, cached, resumable through `run_file`).
"""

from probtree.qa.answers import CANDIDATE_KINDS, INVALID_SCORE, Answer, is_invalid, parse_answer
from probtree.qa.completion import Completion, CompletionLike, span_mean_logprob
from probtree.qa.datasets import (
    DATASET_PLACEHOLDER,
    Example,
    bundled_path,
    load_ircot,
    load_question_decompositions,
    load_tree_json,
    merge_decompositions,
    trees_from_decompositions,
)
from probtree.qa.decompose import (
    Decomposition,
    DecompositionError,
    build_many,
    build_query_tree,
    parse_hqdt,
    parse_many,
)
from probtree.qa.engine import Engine, EngineConfig, choose_ready
from probtree.qa.evaluate import Report, Scores, evaluate, exact_match, f1_precision_recall
from probtree.qa.prompts import PromptSet
from probtree.qa.querytree import (
    QueryNode,
    QueryTree,
    clean_answer,
    find_references,
    substitute_references,
)
from probtree.qa.released import ReleasedTree, Replay, load_released, replay
from probtree.qa.retrieve import BM25Retriever, Passage, Retriever
from probtree.qa.runs import open_run, read_run, reasoned_tree, run_file, summarize
from probtree.qa.select import (
    Candidates,
    Chosen,
    Selection,
    choose,
    pack_candidates,
    select,
    select_reference,
)

__all__ = [
    "summarize",
    "run_file",
    "reasoned_tree",
    "read_run",
    "open_run",
    "choose_ready",
    "Retriever",
    "PromptSet",
    "Passage",
    "EngineConfig",
    "Engine",
    "BM25Retriever",
    "CANDIDATE_KINDS",
    "DATASET_PLACEHOLDER",
    "INVALID_SCORE",
    "Answer",
    "Candidates",
    "Chosen",
    "Completion",
    "CompletionLike",
    "Decomposition",
    "DecompositionError",
    "Example",
    "QueryNode",
    "QueryTree",
    "ReleasedTree",
    "Replay",
    "Report",
    "Scores",
    "Selection",
    "build_many",
    "build_query_tree",
    "bundled_path",
    "choose",
    "clean_answer",
    "evaluate",
    "exact_match",
    "f1_precision_recall",
    "find_references",
    "is_invalid",
    "load_ircot",
    "load_question_decompositions",
    "load_released",
    "load_tree_json",
    "merge_decompositions",
    "pack_candidates",
    "parse_answer",
    "parse_hqdt",
    "parse_many",
    "replay",
    "select",
    "select_reference",
    "span_mean_logprob",
    "substitute_references",
    "trees_from_decompositions",
]
