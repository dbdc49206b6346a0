"""ProbTree engine throughput and latency: level-batched scheduling vs the reference design.

(a) HotpotQA questions through a loopback OpenAI-compatible server (its own process) that answers
every request after a fixed latency (default 50 ms), client concurrency limit 16. The server's
model is a deterministic scripted stand-in (HQDTs of 1-3 nodes with references, CoT answers with
log-probs), so only scheduling differs between the designs:

- ours: `Engine` with ``schedule="stream"`` (each request sent as soon as one of the 16 slots is
  free, oldest question first; admission into free slots, or a fixed number in flight) and
  ``schedule="rounds"`` (one batch of all ready requests per round);
- reference: each tree's calls one after another (CB, OB, CA per node, nodes in post-order), 16
  threads over trees (the official ``ThreadPoolExecutor`` over trees), one shared client;
- sequential: one call at a time.

Reported: questions/s and the median per-question latency (first call to record). Then ours
(stream: admission into free slots, and 8 questions in flight) and the reference run again,
interleaved (``--repeats`` passes), each pass printing the throughput ratio and the latency ratio
side by side with the load, so that run-to-run noise shows. The same designs also run against an
in-process backend with the same latency (no HTTP, part a').

(b) Questions with the bundled SmolLM2 (JAX, CPU): the engine's level-batched calls vs the same
engine sending one request at a time (with and without the batched run's stored few-shot
headers). Reported: questions/minute, prefill and decode seconds, compilations while measured.

Usage: ``python benchmarks/probtree_engine.py [--quick] [--skip-http | --skip-jax]``; prints
tables, the load average, then one JSON line. Full run: part (a) about 2.5 min, part (b) about
10 min on 2 loaded cores (each design runs twice: warm-up, then measured); ``--quick`` (40 HTTP
questions, 4 JAX questions) about 3 min.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import multiprocessing
import os
import re
import statistics
import time

from probtree.lm.base import Completion


def _h(s: str) -> int:
    return int(hashlib.md5(s.encode()).hexdigest()[:8], 16)


class ScriptedLM:
    """Deterministic stand-in model: trees by a hash of the question, CoT answers."""

    name = "scripted"

    def _text(self, prompt: str) -> str:
        if prompt.rstrip().endswith("Answer:"):
            q = prompt.rsplit("Question:\n", 1)[1].rsplit("\n\nAnswer:", 1)[0]
        else:
            q = prompt.rsplit("\nQ: ", 1)[1].rsplit("\nA:", 1)[0]
        if "decomposition tree" in prompt[:300]:
            shape = _h(q) % 3
            kids = [[q], [f"Who is meant in {q}", "What about <1>?"],
                    [f"First part of {q}", f"Second part of {q}"]][shape]
            return " " + json.dumps({q: kids}) + "."
        ans = f"ans{_h(q) % 97}"
        return f" Reading about it gives {ans}. So the answer is: {ans}."

    def complete(self, requests):
        out = []
        for r in requests:
            text = self._text(r.prompt)
            toks = re.findall(r"\s*\S+", text)
            offs, pos = [], 0
            for t in toks:
                offs.append((pos, pos + len(t)))
                pos += len(t)
            lps = tuple(-((_h(f"{r.prompt}|{j}") % 1000) / 1000.0) for j in range(len(toks)))
            out.append(Completion(text, tuple(toks), lps, tuple(offs), "stop"))
        return out

    def score(self, prompt, continuation):
        return 0.0


def _serve(latency: float, conn) -> None:
    """An OpenAI-compatible ``/v1/completions`` endpoint answering every request after exactly
    ``latency`` seconds (requests are served concurrently; no queue in the server)."""
    import asyncio

    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from probtree.lm.base import Request
    from probtree.lm.server import serve_in_thread

    lm = ScriptedLM()

    async def completions(http):
        body = await http.json()
        await asyncio.sleep(latency)
        c = lm.complete([Request(body["prompt"], max_tokens=int(body.get("max_tokens", 16)))])[0]
        return JSONResponse({"choices": [{
            "index": 0, "text": c.text, "finish_reason": c.finish_reason,
            "logprobs": {"tokens": list(c.tokens), "token_logprobs": list(c.logprobs),
                         "text_offset": [a for a, _ in c.offsets]},
        }]})

    app = Starlette(routes=[Route("/v1/completions", completions, methods=["POST"])])
    with serve_in_thread(app) as url:
        conn.send(url)
        conn.recv()  # wait for the stop message


def _client_lm(url: str, concurrency: int):
    from probtree.lm.openai_http import OpenAILM

    return OpenAILM(url, concurrency=concurrency, timeout=30)


def _run_ours(url, examples, retriever, concurrency, max_active, schedule="rounds"):
    from probtree.qa.engine import Engine, EngineConfig

    with _client_lm(url, concurrency) as lm:
        lm.complete([])  # start the I/O loop outside the measured part
        eng = Engine(lm, retriever, EngineConfig(max_active=max_active, schedule=schedule))
        t = time.perf_counter()
        recs = eng.run(examples)
        return time.perf_counter() - t, recs, eng.stats


def _run_reference(url, examples, retriever, threads):
    from probtree.qa.engine import Engine, EngineConfig

    with _client_lm(url, threads) as lm:  # one client shared by the threads
        lm.complete([])

        def one(ex):
            return Engine(lm, retriever, EngineConfig(sequential=True)).run([ex])[0]

        t = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            recs = list(pool.map(one, examples))
        return time.perf_counter() - t, recs


def _part_a_repeats(url, examples, retriever, concurrency, repeats: int) -> list[dict]:
    """Reruns the stream designs and the reference interleaved (A B C, A B C, ...), so that the
    ratios are measured side by side in time and run-to-run noise shows instead of deciding."""
    n, out = len(examples), []
    for _ in range(repeats):
        row: dict = {"load_average_1min": os.getloadavg()[0]}
        for w in (None, concurrency // 2):
            secs, recs, _ = _run_ours(url, examples, retriever, concurrency, w, "stream")
            row[f"stream_w{w}"] = (n / secs,
                                   statistics.median(x["timings"]["latency_s"] for x in recs))
        secs, recs = _run_reference(url, examples, retriever, concurrency)
        row["reference"] = (n / secs, statistics.median(x["timings"]["latency_s"] for x in recs))
        out.append(row)
    return out


def _print_repeats(reps: list[dict], concurrency: int) -> None:
    print("  interleaved repeats (ours stream vs reference, each pass run back to back):")
    print(f"  {'pass':>4} {'load':>5} {'design':<28} {'q/s':>7} {'median':>8} "
          f"{'throughput ratio':>17} {'latency ratio':>14}")
    for k, row in enumerate(reps, 1):
        rq, rl = row["reference"]
        for name, key in (("ours stream (admission)", "stream_wNone"),
                          (f"ours stream ({concurrency // 2} in flight)",
                           f"stream_w{concurrency // 2}"),
                          ("reference", "reference")):
            q, lat = row[key]
            print(f"  {k:>4} {row['load_average_1min']:5.2f} {name:<28} {q:7.2f} {lat:7.3f}s "
                  f"{q / rq:16.2f}x {rl / lat:13.2f}x")


def part_a(n: int, n_seq: int, latency: float, concurrency: int, windows: list[int],
           repeats: int = 2) -> dict:
    from probtree.qa.datasets import bundled_path, load_ircot
    from probtree.qa.retrieve import BM25Retriever

    examples = load_ircot(bundled_path("hotpotqa_ircot_test_500.jsonl.gz"), contexts=True)[:n]
    retriever = BM25Retriever.from_ircot(examples)
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(latency, child), daemon=True)
    proc.start()
    url = parent.recv()
    out: dict = {"n": n, "latency_s": latency, "concurrency": concurrency}
    try:
        _run_ours(url, examples[:8], retriever, concurrency, 4)  # warm-up
        _run_reference(url, examples[:8], retriever, 4)
        rows = []
        for sched, w in windows:
            secs, recs, stats = _run_ours(url, examples, retriever, concurrency, w, sched)
            lat = statistics.median(r["timings"]["latency_s"] for r in recs)
            rows.append((f"ours {sched} (max_active={w})", n / secs, lat, stats["lm_calls"]))
            out[f"ours_{sched}_w{w}"] = {"q_per_s": n / secs, "median_latency_s": lat,
                                         "lm_calls": stats["lm_calls"], "seconds": secs}
        secs, recs = _run_reference(url, examples, retriever, concurrency)
        lat = statistics.median(r["timings"]["latency_s"] for r in recs)
        rows.append((f"reference ({concurrency} threads over trees)", n / secs, lat, None))
        out["reference"] = {"q_per_s": n / secs, "median_latency_s": lat, "seconds": secs}
        secs, recs = _run_reference(url, examples[:n_seq], retriever, 1)
        lat = statistics.median(r["timings"]["latency_s"] for r in recs)
        rows.append((f"sequential ({n_seq} questions)", n_seq / secs, lat, None))
        out["sequential"] = {"q_per_s": n_seq / secs, "median_latency_s": lat, "n": n_seq}
        out["repeats"] = _part_a_repeats(url, examples, retriever, concurrency, repeats)
    finally:
        parent.send("stop")
        proc.join(timeout=10)
    print(f"(a) {n} HotpotQA questions, loopback server, {latency * 1e3:.0f} ms per request, "
          f"concurrency {concurrency}")
    print(f"  {'design':<40} {'questions/s':>12} {'median latency':>15}")
    for name, qps, lat, _ in rows:
        print(f"  {name:<40} {qps:12.2f} {lat:14.3f}s")
    ref = out["reference"]
    for sched, w in windows:
        o = out[f"ours_{sched}_w{w}"]
        o["throughput_vs_reference"] = o["q_per_s"] / ref["q_per_s"]
        o["latency_reduction_vs_reference"] = ref["median_latency_s"] / o["median_latency_s"]
        print(f"  ours {sched} w={w}: {o['throughput_vs_reference']:.2f}x the reference's "
              f"questions/s, median latency / {o['latency_reduction_vs_reference']:.2f}")
    out["reference_vs_sequential"] = ref["q_per_s"] / out["sequential"]["q_per_s"]
    _print_repeats(out["repeats"], concurrency)
    print("  (throughput ratio: ours / reference questions/s; latency ratio: reference median / "
          "ours; the CLI's default, --schedule auto with an HTTP model, is stream with "
          "admission: at most concurrency // 2 + 1 = 9 questions in flight, requests with "
          "slack sent last)")
    return out


class _SleepLM(ScriptedLM):
    """In-process stand-in with a fixed latency and no HTTP: ``acomplete`` answers each request
    of a call after one latency, at most ``concurrency`` at a time; ``complete`` blocks one
    latency per call (a thread of the reference design)."""

    def __init__(self, latency: float, concurrency: int, asynchronous: bool):
        self.latency, self.concurrency = latency, concurrency
        if asynchronous:
            self.acomplete = self._acomplete

    async def _acomplete(self, reqs, return_exceptions=False):
        import asyncio

        sem = asyncio.Semaphore(self.concurrency)

        async def one():
            async with sem:
                await asyncio.sleep(self.latency)

        await asyncio.gather(*(one() for _ in reqs))
        return ScriptedLM.complete(self, reqs)

    def complete(self, reqs):
        time.sleep(self.latency)
        return ScriptedLM.complete(self, reqs)


def part_a_inprocess(n: int, latency: float, concurrency: int) -> dict:
    """The same designs without HTTP (isolates scheduling from the HTTP client's CPU cost)."""
    from probtree.qa.datasets import bundled_path, load_ircot
    from probtree.qa.engine import Engine, EngineConfig
    from probtree.qa.retrieve import BM25Retriever

    examples = load_ircot(bundled_path("hotpotqa_ircot_test_500.jsonl.gz"), contexts=True)[:n]
    retriever = BM25Retriever.from_ircot(examples)
    out: dict = {"n": n, "latency_s": latency, "concurrency": concurrency}
    rows = []
    lm = _SleepLM(latency, concurrency, asynchronous=True)
    for sched, w in (("stream", None), ("stream", 8), ("rounds", 8)):
        eng = Engine(lm, retriever, EngineConfig(schedule=sched, max_active=w))
        t = time.perf_counter()
        recs = eng.run(examples)
        secs = time.perf_counter() - t
        lat = statistics.median(r["timings"]["latency_s"] for r in recs)
        out[f"ours_{sched}_w{w}"] = {"q_per_s": n / secs, "median_latency_s": lat}
        rows.append((f"ours {sched} (max_active={w})", n / secs, lat))
    sync = _SleepLM(latency, 1, asynchronous=False)
    for threads in (8, concurrency):
        t = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            recs = list(pool.map(
                lambda e: Engine(sync, retriever, EngineConfig(sequential=True)).run([e])[0],
                examples))
        secs = time.perf_counter() - t
        lat = statistics.median(r["timings"]["latency_s"] for r in recs)
        out[f"reference_t{threads}"] = {"q_per_s": n / secs, "median_latency_s": lat}
        rows.append((f"reference ({threads} threads over trees)", n / secs, lat))
    print(f"(a') {n} questions, in-process backend (no HTTP), {latency * 1e3:.0f} ms per call")
    print(f"  {'design':<40} {'questions/s':>12} {'median latency':>15}")
    for name, qps, lat in rows:
        print(f"  {name:<40} {qps:12.2f} {lat:14.3f}s")
    return out


class _OneAtATime:
    """Sends every request of a batch to the backend separately."""

    def __init__(self, lm):
        self.lm, self.name = lm, lm.name

    def complete(self, requests):
        return [self.lm.complete([r])[0] for r in requests]

    def score(self, prompt, continuation):
        return self.lm.score(prompt, continuation)


def _compiles() -> int:
    from probtree.lm import jax_lm as J

    return sum(f._cache_size() for f in (J._prefill, J._decode, J._prefix_kv))


def part_b(n: int, tree_tokens: int, qa_tokens: int) -> dict:
    """Level-batched calls vs one request at a time on the bundled SmolLM2 (JAX, CPU).

    Each design first runs the same questions once (compiling every shape it uses), then the
    measured run repeats them with empty completion caches; compilations during the measured run
    are counted and reported. Prefix reuse: the batched design prefills each batch's shared
    few-shot header once (the backend groups rows by header); one request at a time cannot find
    a shared prefix by itself (store cleared: none); the third row gives one-at-a-time the
    headers stored by the batched run (what a server's prefix cache would hold), so it only
    prefills its own suffixes: the fair comparison with equal prefix reuse.
    """
    from probtree.lm import load
    from probtree.qa.datasets import bundled_path, load_ircot
    from probtree.qa.engine import Engine, EngineConfig
    from probtree.qa.retrieve import BM25Retriever

    lm = load("smollm2")
    examples = load_ircot(bundled_path("hotpotqa_ircot_test_500.jsonl.gz"), contexts=True)[:n]
    retriever = BM25Retriever.from_ircot(examples)
    cfg = EngineConfig(prompts="small", max_tokens_tree=tree_tokens, max_tokens_qa=qa_tokens,
                       top_k=1)
    out: dict = {"n": n, "max_tokens_tree": tree_tokens, "max_tokens_qa": qa_tokens}
    designs = (("batched", lm, True), ("one_at_a_time", _OneAtATime(lm), True),
               ("one_at_a_time_primed", _OneAtATime(lm), False))
    headers: dict = {}
    for name, model, clear in designs:
        for _warm_then_measured in range(2):
            if clear:
                lm.clear_prefix_cache()
            else:  # the headers the batched run stored, nothing else
                lm._prefixes.clear()
                lm._prefixes.update(headers)
            lm.stats.clear()
            lm.timings.clear()
            c0 = _compiles()
            eng = Engine(model, retriever, cfg)
            t = time.perf_counter()
            recs = eng.run(examples)
            secs = time.perf_counter() - t
        if name == "batched":
            headers = dict(lm._prefixes)
        out[name] = {
            "q_per_min": 60 * n / secs, "seconds": secs, "requests": eng.stats["lm_calls"],
            "backend_calls": eng.stats["batches"] if name == "batched" else eng.stats["lm_calls"],
            "nodes": sum(len(r["tree"]) for r in recs), "tokens": eng.stats["completion_tokens"],
            "prefill_s": lm.timings["prefill_s"], "decode_s": lm.timings["decode_s"],
            "prefill_tokens": lm.stats["prefill_tokens"], "decode_steps": lm.stats["decode_steps"],
            "prefill_computed_tokens": lm.stats["prefill_computed_tokens"],
            "prefix_reused_rows": lm.stats["prefix_reused_rows"],
            "compiles_while_measured": _compiles() - c0,
        }
    b, one = out["batched"], out["one_at_a_time"]
    out["speedup"] = b["q_per_min"] / one["q_per_min"]
    out["speedup_equal_prefix_reuse"] = b["q_per_min"] / out["one_at_a_time_primed"]["q_per_min"]
    # Amdahl: even with free decoding, batching cannot beat the time the batched run spends
    # outside decode (prefill + engine) against the whole one-at-a-time run
    out["bound_if_decode_free"] = one["seconds"] / max(b["seconds"] - b["decode_s"], 1e-9)
    print(f"(b) {n} HotpotQA questions with the bundled SmolLM2 (JAX, CPU), "
          f"<= {tree_tokens} tree / {qa_tokens} answer tokens")
    print(f"  {'calls':<22} {'q/min':>7} {'seconds':>8} {'prefill s':>10} {'decode s':>9} "
          f"{'prefill tok':>12} {'(padded)':>9} {'decode steps':>13} {'prefix rows':>12} "
          f"{'calls':>6} {'compiles':>9}")
    for name, _, _ in designs:
        o = out[name]
        print(f"  {name:<22} {o['q_per_min']:7.2f} {o['seconds']:8.1f} {o['prefill_s']:10.1f} "
              f"{o['decode_s']:9.1f} {o['prefill_tokens']:12d} {o['prefill_computed_tokens']:9d} "
              f"{o['decode_steps']:13d} "
              f"{o['prefix_reused_rows']:12d} {o['backend_calls']:6d} "
              f"{o['compiles_while_measured']:9d}")
    print(f"  level-batched / one at a time: {out['speedup']:.2f}x questions per minute; "
          f"with equal prefix reuse: {out['speedup_equal_prefix_reuse']:.2f}x; "
          f"bound if decoding were free: {out['bound_if_decode_free']:.2f}x")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer questions")
    p.add_argument("--skip-jax", action="store_true", help="only part (a)")
    p.add_argument("--skip-http", action="store_true", help="only part (b)")
    p.add_argument("--latency", type=float, default=0.05)
    p.add_argument("--repeats", type=int, default=2,
                   help="interleaved reruns of ours (stream) vs the reference in part (a)")
    p.add_argument("--jax-questions", type=int, default=None, help="questions of part (b)")
    p.add_argument("--max-tokens", type=int, default=12, help="generation budget in part (b)")
    args = p.parse_args(argv)
    n_a, n_seq, n_b = (40, 8, 4) if args.quick else (200, 30, 20)
    n_b = args.jax_questions or n_b
    windows = [("stream", None), ("stream", 8), ("rounds", 8), ("rounds", None)]
    res: dict = {"load_average": os.getloadavg()}
    if not args.skip_http:
        res["a"] = part_a(n_a, n_seq, args.latency, 16, windows, args.repeats)
        res["a_inprocess"] = part_a_inprocess(n_a, args.latency, 16)
    if not args.skip_jax:
        res["b"] = part_b(n_b, args.max_tokens, args.max_tokens)
    print(f"load average at the end (1, 5, 15 min): {os.getloadavg()}; at start: "
          f"{res['load_average']}")
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
