"""Scheduling of ProbTree requests: per-question state, readiness, rounds and streams.

`Engine.run` hands its questions to a `_Scheduler`, which admits questions (``max_active``, or
while the pipe has room when streaming), asks the engine which requests are ready, sends them
(one batch per round, or each request as soon as a slot under the concurrency limit is free,
oldest question first), hands the results back to their questions and re-chooses their answers
with `choose_ready`.

References:
    Cao et al., "Probabilistic Tree-of-thought Reasoning for Answering Knowledge-intensive Complex
    Questions", Findings of EMNLP 2023, section 3.2.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import heapq
import itertools
import json
import time
from typing import TYPE_CHECKING

from probtree.qa.answers import CANDIDATE_KINDS, INVALID_SCORE, is_invalid
from probtree.qa.datasets import Example
from probtree.qa.querytree import QueryTree
from probtree.qa.select import Chosen

if TYPE_CHECKING:
    from probtree.qa.engine import Engine

__all__ = ["choose_ready"]


def choose_ready(tree: QueryTree, answers, *, compat: bool = True) -> Chosen:
    """Each ready node's choice, node by node in post-order (float64).

    The same rule and readiness as `probtree.qa.select.choose` (CB, OB, and CA with
    ``(c_CA + qd + sum of the children's chosen scores) / (n_children + 2)``; invalid candidates
    -100; ties to the earlier kind; a node is ready when it has all its candidates and its
    children are ready). During a run the set of trees changes every round, so the engine uses
    this Python form instead of the jit pass, which would compile once per forest shape; the
    tests check that both agree.

    Args:
        tree: the query tree.
        answers: per node ``{kind: Answer}`` (missing: not available yet).
        compat: reference filter of invalid answers.

    Returns:
        A `probtree.qa.select.Chosen` (choice -1, value NaN, text None where not ready).
    """
    n = tree.n_nodes
    choice, value, text = [-1] * n, [float("nan")] * n, [None] * n
    for i, node in enumerate(tree.nodes):
        need = ("cb", "ob") if node.is_leaf else CANDIDATE_KINDS
        if not all(answers[i].get(k) is not None for k in need):
            continue
        if not all(choice[c] >= 0 for c in node.children):
            continue
        best, best_k = -float("inf"), 0
        for k, kind in enumerate(need):
            a = answers[i][kind]
            if is_invalid(a.text, kind, compat=compat) or (not compat and a.error):
                sc = INVALID_SCORE
            elif kind == "ca":
                qd = node.qd_logprob if node.qd_logprob is not None else 0.0
                sc = (a.score + qd + sum(value[c] for c in node.children)) / (
                    len(node.children) + 2
                )
            else:
                sc = a.score
            if sc > best:
                best, best_k = sc, k
        a = answers[i][need[best_k]]
        bad = is_invalid(a.text, need[best_k], compat=compat) or (not compat and a.error)
        choice[i], value[i], text[i] = best_k, float(best), "" if bad else a.text
    return Chosen(tuple(choice), tuple(value), tuple(text))


@dataclasses.dataclass
class _Job:
    q: _State
    node: int  # -1: the tree-generation call
    kind: str  # "tree", "cb", "ob", "ca"
    request: object
    passages: tuple[str, ...] = ()


class _State:
    """One question in flight."""

    def __init__(self, index: int, example: Example, t0: float):
        self.index, self.example, self.t_start = index, example, t0
        self.tree: QueryTree | None = None
        self.tree_requested = False
        self.decomposition: dict = {}
        self.answers: list[dict] = []
        self.meta: list[dict] = []
        self.subst: list[str | None] = []
        self.chosen = None
        self.requested: set[tuple[int, str]] = set()
        self.cuts: list[str] = []
        self.calls = self.tokens = self.cache_hits = self.rounds = 0

    def set_tree(self, tree: QueryTree) -> None:
        self.tree = tree
        n = tree.n_nodes
        self.answers = [{} for _ in range(n)]
        self.meta = [{} for _ in range(n)]
        self.subst = [None] * n

    def texts(self) -> list[str | None]:
        if self.chosen is None:
            return [None] * self.tree.n_nodes
        return list(self.chosen.text)

    def done(self) -> bool:
        return self.chosen is not None and self.chosen.text[-1] is not None


class _Scheduler:
    """Admission of questions, readiness, and the two ways of driving the backend."""

    def __init__(self, eng: Engine, exs: list[Example], on_record, on_round):
        self.eng, self.exs = eng, exs
        self.on_record, self.on_round = on_record, on_round
        self.t0 = time.perf_counter()
        self.queue = collections.deque(range(len(exs)))
        self.active: list[_State] = []
        self.records: list = [None] * len(exs)
        self.n_done = 0
        self.limit = eng.config.max_active or max(len(exs), 1)

    def admit(self, n: int) -> list[_State]:
        """Starts up to ``n`` more questions (input order); returns them."""
        new = []
        while self.queue and len(new) < n:
            j = self.queue.popleft()
            new.append(_State(j, self.exs[j], time.perf_counter()))
        self.active.extend(new)
        return new

    def collect(self, states: list[_State]) -> list[_Job]:
        """The ready requests of ``states`` not asked before, as jobs (marked as asked)."""
        ready = [(st, i, kind) for st in states for i, kind in self.eng._ready(st)]
        for st, i, kind in ready:
            if kind == "tree":
                st.tree_requested = True
            else:
                st.requested.add((i, kind))
        return self.eng._make_jobs(ready) if ready else []

    def deliver(self, pairs: list[tuple[_Job, object]]) -> list[_State]:
        """Hands results to their questions and records the questions that are finished.

        Returns:
            The questions that got a result and are still unfinished (only their readiness
            can have changed).
        """
        eng, changed = self.eng, {}
        for job, res in pairs:
            job.q.rounds += 1 if id(job.q) not in changed else 0
            changed[id(job.q)] = job.q
            if job.kind == "tree":
                eng._accept_tree(job.q, res)
            else:
                eng._accept(job, res)
                job.q.dirty = True
        for st in changed.values():
            if getattr(st, "dirty", False):
                st.chosen = choose_ready(st.tree, st.answers, compat=eng.config.compat)
                st.dirty = False
        finished = {id(st) for st in changed.values() if st.done()}
        if finished:
            still = []
            for st in self.active:  # records in admission order
                if id(st) in finished:
                    rec = eng._record(st, self.t0)
                    self.records[st.index] = rec
                    self.n_done += 1
                    if self.on_record is not None:
                        self.on_record(rec)
                else:
                    still.append(st)
            self.active = still
        if self.on_round is not None:
            self.on_round(eng, self.n_done)
        return [st for st in changed.values() if id(st) not in finished]

    def rounds(self) -> None:
        while self.queue or self.active:
            self.admit(self.limit - len(self.active))
            jobs = self.collect(self.active)
            if not jobs:
                raise RuntimeError("engine: no request is ready but questions are unfinished")
            self.deliver(list(zip(jobs, self.eng._complete(jobs))))

    async def stream(self) -> None:
        """Sends each ready request as soon as a slot is free, at most ``lm.concurrency`` in
        flight, and handles the answers one at a time as they arrive.

        Requests that wait for a slot go out oldest question first, so the questions in flight
        finish along their critical paths instead of queueing behind new ones. An answer's
        follow-up requests leave before the next answer is processed, so the engine's own work
        (prompts, retrieval, choosing) overlaps the requests in flight instead of idling every
        slot after a burst of answers. With ``max_active=None`` a new question is admitted only
        into a slot that no admitted question's ready request (nor an answer still to be
        processed) claims, and at most ``lm.concurrency // 2 + 1`` questions are in flight: by
        Little's law (latency = questions in flight / throughput) this keeps just enough
        questions in flight to fill the slots (a ProbTree question has about two requests
        ready at a time), so each question's latency stays near its critical path. A
        non-leaf node's CB and OB requests are ready at once but needed only with its CA: they
        wait behind every request without slack (of any question) until the node's children
        are answered, so they fill otherwise idle slots instead of delaying critical paths.
        """
        from probtree.lm.base import Completion
        from probtree.lm.cache import cache_key

        eng = self.eng
        conc = int(getattr(eng.lm, "concurrency", 16))
        adaptive = eng.config.max_active is None
        waiting: dict[str, list[_Job]] = {}  # sent or queued request -> jobs waiting on it
        requests: dict[str, object] = {}
        # heap of (slack, question index, order, key): requests with slack (a non-leaf node's
        # CB/OB while its children are unanswered) go out only into slots nothing else needs,
        # and are promoted once the node's CA is ready; stale entries are skipped
        backlog: list[tuple[int, int, int, str]] = []
        slack: dict[tuple[int, int], list[str]] = {}  # (question, node) -> keys with slack
        n_slack = 0  # slack entries in the backlog (not counted against admission)
        order = itertools.count()
        tasks: dict[asyncio.Future, str] = {}
        arrived: collections.deque = collections.deque()  # (key, result) not yet handled
        touched: list[_State] = []

        async def call(req) -> object:
            try:
                res = await eng.lm.acomplete([req], return_exceptions=True)
                if len(res) != 1:
                    raise ValueError(f"backend gave {len(res)} completions for 1 request")
            except Exception as err:  # noqa: BLE001 -- costs this candidate only
                return f"{type(err).__name__}: {str(err)[:200]}"
            return eng._checked(res[0])

        def has_slack(job: _Job) -> bool:
            if job.kind not in ("cb", "ob"):
                return False
            node = job.q.tree.nodes[job.node]
            texts = job.q.texts()
            return not node.is_leaf and not all(texts[c] is not None for c in node.children)

        while self.queue or self.active:
            jobs = self.collect(touched)
            room = conc - len(tasks) - (len(backlog) - n_slack) - len(jobs) - len(arrived)
            if adaptive:  # free slots, and at most half the slots' worth of questions + 1
                room = min(room, conc // 2 + 1 - len(self.active))
            new = self.admit(max(0, room) if adaptive else self.limit - len(self.active))
            if not self.active and self.queue:  # nothing in flight: always make progress
                new = self.admit(1)
            jobs += self.collect(new)
            hits: list[tuple[_Job, object]] = []
            keys = [cache_key(eng.lm.name, j.request) for j in jobs]
            eng.stats["requests"] += len(jobs)
            found = eng.cache.get_many(list(set(keys))) if eng.cache is not None else {}
            for key, job in zip(keys, jobs):
                job.q.calls += 1
                if key in found:
                    eng.stats["cache_hits"] += 1
                    job.q.cache_hits += 1
                    hits.append((job, Completion.from_dict(json.loads(found[key]))))
                elif key in waiting:
                    eng.stats["deduplicated"] += 1
                    waiting[key].append(job)
                else:
                    waiting[key] = [job]
                    requests[key] = job.request
                    lag = has_slack(job)
                    if lag:
                        slack.setdefault((job.q.index, job.node), []).append(key)
                        n_slack += 1
                    heapq.heappush(backlog, (int(lag), job.q.index, next(order), key))
                if job.kind == "ca":  # the node's CB/OB have no slack left
                    for k in slack.pop((job.q.index, job.node), []):
                        if k in requests:
                            heapq.heappush(backlog, (0, job.q.index, next(order), k))
            if hits:
                touched = self.deliver(hits)
                continue
            sent = False
            while backlog and len(tasks) < conc:
                lag, _, _, key = heapq.heappop(backlog)
                n_slack -= lag
                if key not in requests:  # sent already (promoted copy of a slack entry)
                    continue
                eng.stats["lm_calls"] += 1
                eng.stats["batches"] += 1
                tasks[asyncio.ensure_future(call(requests.pop(key)))] = key
                sent = True
            if sent and arrived:
                await asyncio.sleep(0)  # let the new requests leave before more work
            if not arrived:
                if not tasks:
                    raise RuntimeError("engine: no request is ready but questions are unfinished")
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                arrived.extend((tasks.pop(t), t.result()) for t in done)
            key, res = arrived.popleft()
            eng._store(key, res)
            touched = self.deliver([(job, res) for job in waiting.pop(key)])
