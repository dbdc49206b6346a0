"""ProbTree end to end: decompose, retrieve, answer and choose, for many questions at once.

Stage A asks the model for each question's HQDT (one completion per question) and parses it into
a `QueryTree` with decomposition confidences. Stage B answers every node closed-book (CB) and
open-book (OB: retrieved passages; single-hop prompt at leaves, multi-hop prompt at non-leaves,
optionally with passages for the descendants' questions), and every non-leaf by child aggregation
(CA: its children's question/answer pairs); `choose_ready` keeps each node's most confident
candidate (the rule of `probtree.qa.select`) and that answer is substituted into the sibling
questions that refer to it.

Scheduling: a node's CB/OB requests are *ready* once the siblings its question refers to are
answered, its CA request once its children are answered. Every round gathers the ready requests
of all active questions (so the critical path of a question is its tree's levels, not its node
count), drops duplicate prompts, serves what the completion cache holds and sends the rest to the
backend as one batch: one large batch for the JAX decoder, many concurrent requests for the HTTP
client. With ``schedule="stream"`` (async backends) requests leave as soon as they are ready,
under the backend's concurrency limit. ``max_active`` bounds the questions in flight (new ones
are admitted as others finish), which trades throughput for per-question latency. One failed or
malformed completion costs only its candidate (``ERROR: ...``, score -100, reason recorded),
never the question or the run; an unusable decomposition makes the question a single-node tree
(recorded).

Limits against bad model output: at most ``max_nodes`` nodes and ``max_depth`` levels per tree,
and every prompt fits ``max_prompt_tokens`` (the model's context): OB prompts shrink k from
``top_k`` down to 1 (as the official code), then cut passage texts; every cut is recorded.

Deviations from the reference code: no web-search snippet for HotpotQA leaves (not reproducible),
the non-leaf OB prompt also shrinks to fit (the official HotpotQA loop never did), references are
substituted by token, trees are independent (no global ``tree.json`` merge).

References:
    Cao et al., "Probabilistic Tree-of-thought Reasoning for Answering Knowledge-intensive Complex
    Questions", Findings of EMNLP 2023, section 3; official code ``RoHT/2_run.py`` and
    ``RoHT/question_answering.py``.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import time
from collections.abc import Callable, Sequence

from probtree import TreeLimits
from probtree.qa.answers import (
    CANDIDATE_KINDS,
    INVALID_SCORE,
    Answer,
    parse_answer,
)
from probtree.qa.completion import check_completion
from probtree.qa.datasets import Example
from probtree.qa.decompose import DecompositionError, build_query_tree, parse_hqdt
from probtree.qa.prompts import PromptSet
from probtree.qa.querytree import QueryNode, QueryTree
from probtree.qa.retrieve import Retriever
from probtree.qa.scheduler import _Job, _Scheduler, _State, choose_ready

__all__ = ["Engine", "EngineConfig", "choose_ready"]


@dataclasses.dataclass(frozen=True)
class EngineConfig:
    """Settings of a ProbTree run.

    Attributes:
        prompts: a bundled prompt set (``"hotpotqa"``, ``"musique"``, ``"small"``).
        max_tokens_tree: generation budget of the HQDT call (512 in the reference).
        max_tokens_qa: generation budget of each CB/OB/CA call (256 in the reference).
        top_k: passages per OB prompt (5 in the reference), shrunk to fit the context.
        descendant_k: passages per descendant question added to non-leaf OB prompts (3 in the
            MuSiQue/2Wiki reference, 0 for HotpotQA).
        entity_k: passages per substituted answer (topic entity) added to leaf OB prompts
            (HotpotQA reference: ``top_k``; 0 disables).
        max_nodes, max_depth: tree limits (a larger decomposition becomes a single node).
        max_prompt_tokens: the model's context; default the JAX model's ``max_seq_len``, else
            4097 (the reference's limit).
        chars_per_token: token estimate for backends without a tokenizer.
        max_active: most questions in flight. None: all at once with ``schedule="rounds"``;
            with ``"stream"``, a new question is admitted only into a free slot of the
            ``lm.concurrency`` that no admitted question's ready request claims, with at
            most ``lm.concurrency // 2 + 1`` questions in flight (keeps the slots full while each
            question's latency stays near its critical path).
        sequential: the reference design: one request at a time per question, nodes in
            post-order (for comparisons; slower).
        schedule: ``"rounds"``: every round sends all ready requests of all active questions
            as one batch (one ``complete``/``acomplete`` call); ``"stream"``: (backends with
            ``acomplete`` only) each request is sent as soon as it is ready and a slot is free,
            at most ``lm.concurrency`` in flight, oldest question first, and each answer at
            once unlocks what waits on it (the HTTP backend's best schedule).
        compat: reference filter of invalid answers (see `answers.is_invalid`).
    """

    prompts: str = "hotpotqa"
    max_tokens_tree: int = 512
    max_tokens_qa: int = 256
    top_k: int = 5
    descendant_k: int = 0
    entity_k: int = 0
    max_nodes: int = 16
    max_depth: int = 4
    max_prompt_tokens: int | None = None
    chars_per_token: float = 4.0
    max_active: int | None = None
    sequential: bool = False
    schedule: str = "rounds"
    compat: bool = True

    def __post_init__(self):
        for name in ("max_tokens_tree", "max_tokens_qa", "top_k", "max_nodes", "max_depth"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"EngineConfig.{name}: expected an int >= 1, got {v!r}")
        for name in ("descendant_k", "entity_k"):
            if getattr(self, name) < 0:
                raise ValueError(f"EngineConfig.{name}: expected >= 0")
        if self.schedule not in ("rounds", "stream"):
            raise ValueError(
                f"EngineConfig.schedule: expected 'rounds' or 'stream', got {self.schedule!r}"
            )
        if self.max_active is not None and self.max_active < 1:
            raise ValueError(
                f"EngineConfig.max_active: expected >= 1 or None, got {self.max_active}"
            )


class Engine:
    """Runs ProbTree over questions with a language model and a retriever.

    Args:
        lm: a `probtree.lm` backend (``complete``; ``acomplete(..., return_exceptions=True)`` is
            used when present). A `probtree.lm.CachedLM` is unwrapped and its cache used.
        retriever: a `Retriever` for OB passages (None: OB prompts carry no passages).
        config: an `EngineConfig`.
        cache: a `probtree.lm.CompletionCache` (or path) of completions, keyed by model name,
            prompt and sampling parameters.

    Attributes:
        stats: ``Counter`` of ``requests`` (asked by nodes), ``deduplicated``, ``cache_hits``,
            ``lm_calls`` (sent to the backend), ``lm_errors``, ``batches``,
            ``completion_tokens``.

    Example:
        >>> from probtree.lm import load  # doctest: +SKIP
        >>> eng = Engine(load("smollm2"), retriever, EngineConfig(prompts="small"))  # +SKIP
        >>> records = eng.run(["Who directed Jaws?"])  # +SKIP
    """

    def __init__(self, lm, retriever: Retriever | None = None, config: EngineConfig | None = None,
                 cache=None):
        from probtree.lm.cache import CachedLM, CompletionCache

        if isinstance(lm, CachedLM):
            cache = cache if cache is not None else lm.cache
            lm = lm.inner
        if not hasattr(lm, "complete"):
            raise TypeError(
                f"lm: expected a backend with complete(requests), got {type(lm).__name__}"
            )
        if retriever is not None and not hasattr(retriever, "retrieve"):
            raise TypeError("retriever: expected an object with retrieve(queries, k)")
        self.lm = lm
        self.retriever = retriever
        self.config = config or EngineConfig()
        self.prompts = PromptSet.load(self.config.prompts)
        self.cache = (
            cache if cache is None or isinstance(cache, CompletionCache) else CompletionCache(cache)
        )
        self.stats: collections.Counter = collections.Counter()
        cfg = getattr(lm, "cfg", None)
        self.max_prompt_tokens = self.config.max_prompt_tokens or getattr(cfg, "max_seq_len", 4097)
        tok = getattr(lm, "tokenizer", None)
        self._encode = getattr(tok, "encode", None)

    # ------------------------------------------------------------------ prompts and limits
    def n_tokens(self, text: str) -> int:
        """Prompt length in tokens (the model's tokenizer, else a chars/token estimate)."""
        if self._encode is not None:
            return len(self._encode(text))
        return int(len(text) / self.config.chars_per_token) + 1

    def _request(self, prompt: str, kind: str):
        from probtree.lm.base import Request

        budget = self.config.max_tokens_tree if kind == "tree" else self.config.max_tokens_qa
        return Request(prompt=prompt, max_tokens=budget, stop=self.prompts.stops[kind])

    def _fits(self, prompt: str, kind: str) -> bool:
        budget = self.config.max_tokens_tree if kind == "tree" else self.config.max_tokens_qa
        return self.n_tokens(prompt) + budget <= self.max_prompt_tokens

    def _ob_prompt(self, st: _State, i: int, groups: list[list]) -> tuple[str, tuple, list[str]]:
        """OB prompt for node ``i`` from passage groups (own question first), shrinking k."""
        ps, q, leaf = self.prompts, st.subst[i], st.tree.nodes[i].is_leaf
        top = max((len(g) for g in groups), default=0)
        cuts: list[str] = []
        chosen: list[tuple[str, str]] = []
        for k in range(top, -1, -1):
            seen: dict = {}
            for g in groups:
                for p in g[:k]:
                    seen.setdefault((p.title, p.text), None)
            chosen = list(seen)
            prompt = ps.ob_prompt(q, chosen, multihop=not leaf)
            if self._fits(prompt, "ob"):
                if k < top:
                    cuts.append(
                        f"node {i} OB: k {top} -> {k} to fit {self.max_prompt_tokens} tokens"
                    )
                return prompt, tuple(t for t, _ in chosen), cuts
            if k == 1:
                break
        # k = 1 does not fit: cut the passage texts
        keep = chosen
        frac = 0.5
        while frac > 1e-3:
            keep = [(t, x[: int(len(x) * frac)]) for t, x in chosen]
            prompt = ps.ob_prompt(q, keep, multihop=not leaf)
            if self._fits(prompt, "ob"):
                cuts.append(f"node {i} OB: passages cut to {frac:.3g} of their length to fit")
                return prompt, tuple(t for t, _ in keep), cuts
            frac /= 2
        cuts.append(f"node {i} OB: passages dropped to fit")
        return ps.ob_prompt(q, [], multihop=not leaf), (), cuts

    # ------------------------------------------------------------------ scheduling
    def _ready(self, st: _State) -> list[tuple[int, str]]:
        """The (node, kind) requests of ``st`` that are ready and not yet sent."""
        if st.tree is None:
            return [] if st.tree_requested else [(-1, "tree")]
        tree, texts, out = st.tree, st.texts(), []
        for i in range(tree.n_nodes):
            if st.subst[i] is not None:
                continue
            # only earlier siblings count (a reference to a later one stays unresolved, as in
            # the reference's post-order loop), so no question can wait on itself
            refs = [s for s in tree.sibling_references(i) if s < i]
            if all(texts[s] is not None for s in refs):
                st.subst[i] = tree.substituted(i, [texts[s] if s in refs else None
                                                   for s in range(tree.n_nodes)])
        desc_ok = self._descendants_substituted(st)
        for i, node in enumerate(tree.nodes):
            if st.subst[i] is not None:
                for kind in ("cb", "ob"):
                    if (i, kind) in st.requested:
                        continue
                    if kind == "ob" and not node.is_leaf and not desc_ok[i]:
                        continue
                    out.append((i, kind))
            if (not node.is_leaf and (i, "ca") not in st.requested and st.subst[i] is not None
                    and all(texts[c] is not None for c in node.children)):
                out.append((i, "ca"))
        if self.config.sequential:
            out = out[:1]
        return out

    def _descendants_substituted(self, st: _State) -> list[bool]:
        ok = [True] * st.tree.n_nodes
        if self.config.descendant_k == 0:
            return ok
        for i, node in enumerate(st.tree.nodes):  # post-order: children first
            ok[i] = all(ok[c] and st.subst[c] is not None for c in node.children)
        return ok

    def _descendants(self, tree: QueryTree, i: int) -> list[int]:
        out, stack = [], list(tree.nodes[i].children)
        while stack:
            c = stack.pop()
            out.append(c)
            stack.extend(tree.nodes[c].children)
        return sorted(out)

    def _make_jobs(self, ready: list[tuple[_State, int, str]]) -> list[_Job]:
        cfg, ps = self.config, self.prompts
        # one batched retrieval for every OB query of this round
        queries: dict[str, None] = {}
        for st, i, kind in ready:
            if kind != "ob" or self.retriever is None:
                continue
            queries.setdefault(st.subst[i], None)
            if st.tree.nodes[i].is_leaf and cfg.entity_k:
                for e in self._entities(st, i):
                    queries.setdefault(e, None)
            elif cfg.descendant_k:
                for d in self._descendants(st.tree, i):
                    queries.setdefault(st.subst[d], None)
        hits = {}
        if queries:
            k = max(cfg.top_k, cfg.descendant_k, cfg.entity_k)
            hits = dict(zip(queries, self.retriever.retrieve(list(queries), k)))
        jobs = []
        for st, i, kind in ready:
            if kind == "tree":
                prompt = ps.tree_prompt(st.example.question)
                jobs.append(_Job(st, -1, kind, self._request(prompt, kind)))
                continue
            q = st.subst[i]
            passages: tuple = ()
            if kind == "cb":
                prompt = ps.cb_prompt(q)
            elif kind == "ca":
                node = st.tree.nodes[i]
                texts = st.texts()
                prompt = ps.ca_prompt(q, [(st.subst[c], texts[c]) for c in node.children])
            else:
                groups = [hits.get(q, [])[: cfg.top_k]]
                if st.tree.nodes[i].is_leaf and cfg.entity_k:
                    groups += [hits.get(e, [])[: cfg.entity_k] for e in self._entities(st, i)]
                elif cfg.descendant_k:
                    groups += [hits.get(st.subst[d], [])[: cfg.descendant_k]
                               for d in self._descendants(st.tree, i)]
                prompt, passages, cuts = self._ob_prompt(st, i, groups)
                st.cuts.extend(cuts)
            if kind != "ob" and not self._fits(prompt, kind):
                st.cuts.append(f"node {i} {kind.upper()}: prompt longer than the context")
            jobs.append(_Job(st, i, kind, self._request(prompt, kind), passages))
        return jobs

    def _entities(self, st: _State, i: int) -> list[str]:
        texts = st.texts()
        return [texts[s] for s in st.tree.sibling_references(i) if texts[s]]

    # ------------------------------------------------------------------ backend calls
    def _call_backend(self, reqs: list) -> list:
        """Completions or error strings, one per request; one failure never sinks the batch."""
        if not reqs:
            return []
        self.stats["batches"] += 1
        self.stats["lm_calls"] += len(reqs)
        acomplete = getattr(self.lm, "acomplete", None)
        try:
            if acomplete is not None:
                res = asyncio.run(acomplete(reqs, return_exceptions=True))
            else:
                res = list(self.lm.complete(reqs))
            if len(res) != len(reqs):
                raise ValueError(f"backend gave {len(res)} completions for {len(reqs)} requests")
        except Exception as err:  # noqa: BLE001 -- isolate the failing request(s)
            if len(reqs) == 1:
                return [f"{type(err).__name__}: {str(err)[:200]}"]
            self.stats["batches"] -= 1
            self.stats["lm_calls"] -= len(reqs)
            mid = len(reqs) // 2
            return self._call_backend(reqs[:mid]) + self._call_backend(reqs[mid:])
        return [self._checked(r) for r in res]

    def _checked(self, r):
        """A completion, or an error string for an exception or a malformed completion."""
        if isinstance(r, BaseException):
            return f"{type(r).__name__}: {str(r)[:200]}"
        try:
            check_completion(r, "completion")
        except (TypeError, ValueError) as err:
            return f"malformed completion: {err}"
        return r

    def _store(self, key: str, r) -> None:
        """Counts a fresh result and caches it when it is a completion."""
        if isinstance(r, str):
            self.stats["lm_errors"] += 1
            return
        self.stats["completion_tokens"] += len(r.tokens)
        if self.cache is not None and hasattr(r, "to_dict"):
            self.cache.put_many(self.lm.name, {key: json.dumps(r.to_dict())})

    def _complete(self, jobs: list[_Job]) -> list:
        from probtree.lm.base import Completion
        from probtree.lm.cache import cache_key

        self.stats["requests"] += len(jobs)
        keys = [cache_key(self.lm.name, j.request) for j in jobs]
        unique: dict[str, object] = {}
        for k, j in zip(keys, jobs):
            unique.setdefault(k, j.request)
        self.stats["deduplicated"] += len(jobs) - len(unique)
        found = self.cache.get_many(list(unique)) if self.cache is not None else {}
        results = {k: Completion.from_dict(json.loads(v)) for k, v in found.items()}
        self.stats["cache_hits"] += len(found)
        todo = [k for k in unique if k not in found]
        fresh = self._call_backend([unique[k] for k in todo])
        for k, r in zip(todo, fresh):
            results[k] = r
            self._store(k, r)
        for k, j in zip(keys, jobs):
            j.q.calls += 1
            j.q.cache_hits += k in found
        return [results[k] for k in keys]

    # ------------------------------------------------------------------ results
    def _accept_tree(self, st: _State, res) -> None:
        ex, cfg = st.example, self.config
        limits = TreeLimits(max_nodes=cfg.max_nodes, max_depth=cfg.max_depth)
        if isinstance(res, str):
            st.decomposition = {"text": "", "error": res}
        else:
            st.tokens += len(res.tokens)
            st.decomposition = {"text": res.text, "error": ""}
            try:
                dec = parse_hqdt(res, ex.question)
                tree = build_query_tree(dec, question=ex.question,
                                        placeholder=self.prompts.placeholder, limits=limits)
                st.set_tree(tree)
                return
            except DecompositionError as err:
                st.decomposition["error"] = str(err)
                if "limits" in str(err):
                    st.cuts.append(f"tree over limits ({err}); answered as a single node")
        st.set_tree(QueryTree(ex.question, (QueryNode(ex.question),), self.prompts.placeholder))

    def _accept(self, job: _Job, res) -> None:
        st = job.q
        if isinstance(res, str):
            ans = Answer(f"ERROR: {res[:80]}", INVALID_SCORE, "", res)
        else:
            st.tokens += len(res.tokens)
            ans = parse_answer(res)
        st.answers[job.node][job.kind] = ans
        st.meta[job.node][job.kind] = job.passages

    def _record(self, st: _State, t0: float) -> dict:
        tree, ch = st.tree, st.chosen
        nodes = []
        for i, node in enumerate(tree.nodes):
            rec = {"idx": i, "question_text": node.text, "question": st.subst[i],
                   "sons": list(node.children), "fa": node.parent, "qd_logprob": node.qd_logprob}
            for kind in CANDIDATE_KINDS:
                a = st.answers[i].get(kind)
                if a is not None:
                    rec[kind] = {"answer": a.text, "score": a.score, "cot": a.cot, "error": a.error}
                    if kind == "ob":
                        rec[kind]["passages"] = list(st.meta[i].get(kind, ()))
            rec["choice"] = CANDIDATE_KINDS[ch.choice[i]]
            rec["answer"] = [ch.text[i], ch.value[i]]
            nodes.append(rec)
        now = time.perf_counter()
        ex = st.example
        return {
            "question_id": ex.question_id,
            "question": ex.question,
            "gold": list(ex.answers),
            "type": ex.type,
            "prediction": ch.text[-1],
            "score": ch.value[-1],
            "choice": CANDIDATE_KINDS[ch.choice[-1]],
            "decomposition": st.decomposition,
            "tree": nodes,
            "cuts": sorted(st.cuts),
            "lm": {"requests": st.calls, "cache_hits": st.cache_hits,
                   "completion_tokens": st.tokens, "rounds": st.rounds},
            "timings": {"start_s": round(st.t_start - t0, 4), "end_s": round(now - t0, 4),
                        "latency_s": round(now - st.t_start, 4)},
        }

    def run(
        self,
        examples: Sequence[Example | str],
        *,
        on_record: Callable[[dict], None] | None = None,
        on_round: Callable[[Engine, int], None] | None = None,
    ) -> list[dict]:
        """Answers every question; returns one record per question, in input order.

        With ``schedule="rounds"`` the backend gets one batch per round; with ``"stream"``
        (backends with ``acomplete``, e.g. HTTP) requests are sent one by one as they become
        ready (see `EngineConfig`).

        Args:
            examples: `datasets.Example` objects or question strings.
            on_record: called with each record as soon as its question is finished.
            on_round: called after every round (stream: every arrival) with the engine and the
                number of questions done so far.

        Returns:
            The records (see `probtree.qa.runs` for the layout).
        """
        exs = [
            Example(str(j), e, ()) if isinstance(e, str) else e for j, e in enumerate(examples)
        ]
        for j, e in enumerate(exs):
            if not isinstance(e, Example):
                raise TypeError(
                    f"examples[{j}]: expected an Example or str, got {type(e).__name__}"
                )
        sched = _Scheduler(self, exs, on_record, on_round)
        if self.config.schedule == "stream":
            if not hasattr(self.lm, "acomplete"):
                raise ValueError("schedule='stream' needs a backend with acomplete (HTTP)")
            asyncio.run(sched.stream())
        else:
            sched.rounds()
        return sched.records

