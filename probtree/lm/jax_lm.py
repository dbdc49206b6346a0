"""The in-process JAX backend: batched prefill and decode with a KV cache and prefix caching.

A batch of requests is tokenized and cut into chunks of at most ``max_batch`` rows: rows that
share a long prefix (the same few-shot header) go together, longest first (see
:meth:`JaxLM._chunks`). Each chunk runs one prefill (all prompts at once, right-padded, each
row at its own positions) and then one jit-compiled decode step per generated token for the
whole chunk. Shapes are bucketed to powers of two (rows, prompt tokens, cache slots), so a long
batch run compiles a handful of programs, not one per request.

**Prefix caching.** Few-shot prompts share long prefixes. The longest common token prefix of a
chunk (when at least ``min_prefix_tokens`` long) is run once on its own; its keys and values are
kept in an LRU store; every row of the batch attends to that one copy (one matrix product per
layer for all rows, see :func:`probtree.lm.llama.forward`), and each row only prefills and caches
its own suffix. A later batch whose prompts all start with a stored prefix reuses it. The result
is identical to prefilling whole prompts (the same tokens at the same positions), up to float
rounding; the tests check this.

Log-probs are those of the model's distribution at temperature 1 (``log_softmax(logits)``)
whatever the sampling temperature, so a completion's log-probs sum to :meth:`JaxLM.score` of its
text. ``score`` tokenizes prompt and continuation separately and concatenates the ids, which is
how generation sees them.

References:
    Pope et al., "Efficiently Scaling Transformer Inference" (2022): KV caching, batched decode.
    Zheng et al., "SGLang: Efficient Execution of Structured Language Model Programs" (2024):
    reuse of shared-prefix KV across requests (RadixAttention).
"""

from __future__ import annotations

import codecs
import collections
import functools
import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from probtree.lm.base import Completion, Request, apply_stop, token_offsets, truncate
from probtree.lm.llama import KVCache, LlamaConfig, forward, init_cache, logits_from_hidden
from probtree.lm.tokenizer import Tokenizer

__all__ = ["JaxLM"]


def _pow2(n: int, lo: int) -> int:
    return max(lo, 1 << max(0, int(n) - 1).bit_length())


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _bucket(n: int, chunk: int) -> int:
    """Padded prompt length for ``n`` tokens: a multiple of 16 up to 256, of 64 up to ``chunk``,
    then of ``chunk`` (the prefill loop runs whole chunks). Prefill is compute-bound on a CPU, so
    the buckets are finer than powers of two: fewer padded tokens for a few more compiled shapes."""
    n = max(int(n), 1)
    if n <= 256:
        t = -(-n // 16) * 16
    else:
        t = -(-n // 64) * 64
    return t if t <= chunk else -(-n // chunk) * chunk


def _length_groups(lens: np.ndarray) -> list[np.ndarray]:
    """Row indices, longest first, cut where a row's power-of-two length bucket is at most half
    that of its group's first row (so no group pads a row to more than ~4x its length)."""
    order = np.argsort(-lens, kind="stable")
    groups, cur = [], [order[0]]
    for i in order[1:]:
        if 2 * _pow2(int(lens[i]), 16) <= _pow2(int(lens[cur[0]]), 16):
            groups.append(np.array(cur))
            cur = []
        cur.append(i)
    groups.append(np.array(cur))
    return groups


def _prefill_plan(lens: np.ndarray) -> list[np.ndarray]:
    """Prefill batches: each length group (longest rows first) cut into power-of-two sizes by
    the binary decomposition of its row count (9 rows: 8 + 1), so no batch carries padding rows
    (a padding row costs as much prefill compute as a real one) and the compiled batch shapes
    stay powers of two. The batches are decoded together afterwards."""
    out = []
    for g in _length_groups(lens):
        s = 0
        while s < len(g):
            m = 1 << (len(g) - s).bit_length() - 1
            out.append(g[s : s + m])
            s += m
    return out


def _sample(logits, temps, seeds, step):
    logp = jax.nn.log_softmax(logits, axis=-1)
    greedy = jnp.argmax(logits, axis=-1)
    keys = jax.vmap(lambda s: jax.random.fold_in(jax.random.key(s), step))(seeds)
    scaled = logits / jnp.maximum(temps, 1e-6)[:, None]
    sampled = jax.vmap(jax.random.categorical)(keys, scaled)
    tok = jnp.where(temps > 0, sampled, greedy).astype(jnp.int32)
    return tok, jnp.take_along_axis(logp, tok[:, None], axis=1)[:, 0]


@functools.partial(jax.jit, static_argnames=("cfg",), donate_argnames=("cache",))
def _prefill(params, cfg, tokens, positions, write_pos, last_idx, cache, temps, seeds, prefix):
    h, cache = forward(params, cfg, tokens, positions, write_pos, cache, prefix=prefix)
    last = h[jnp.arange(tokens.shape[0]), last_idx]
    tok, lp = _sample(logits_from_hidden(params, cfg, last), temps, seeds, 0)
    return tok, lp, cache


@functools.partial(jax.jit, static_argnames=("cfg",), donate_argnames=("cache",))
def _decode(params, cfg, tokens, positions, write_pos, cache, temps, seeds, step, prefix):
    h, cache = forward(
        params, cfg, tokens[:, None], positions[:, None], write_pos[:, None], cache,
        prefix=prefix,
    )
    tok, lp = _sample(logits_from_hidden(params, cfg, h[:, 0]), temps, seeds, step)
    return tok, lp, cache


@functools.partial(jax.jit, static_argnames=("cfg",))
def _prefix_kv(params, cfg, tokens, n):
    t = tokens.shape[1]
    pos = jnp.arange(t)[None]
    write = jnp.where(pos < n, pos, t)
    _, cache = forward(params, cfg, tokens, pos, write, init_cache(cfg, 1, t))
    return cache.k[:, 0], cache.v[:, 0]


@functools.partial(jax.jit, static_argnames=("cfg",))
def _score(params, cfg, tokens, positions, write_pos, cache, out_start, targets, prefix):
    h, _ = forward(params, cfg, tokens, positions, write_pos, cache, prefix=prefix)
    b, t = tokens.shape
    idx = jnp.clip(out_start[:, None] + jnp.arange(targets.shape[1])[None], 0, t - 1)
    hs = h[jnp.arange(b)[:, None], idx]
    logp = jax.nn.log_softmax(logits_from_hidden(params, cfg, hs), axis=-1)
    return jnp.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]


class JaxLM:
    """A Llama-family model run in-process with JAX.

    Args:
        cfg: the architecture.
        params: weights (see :func:`probtree.lm.llama.init_params`).
        tokenizer: the model's tokenizer.
        name: backend/model name (part of cache keys).
        max_batch: most rows decoded together.
        min_prefix_tokens: shortest shared prefix worth caching (0 disables prefix caching).
        prefix_cache_tokens: most prefix tokens kept in the prefix store (LRU).
        score_token_budget: most (rows x padded tokens) per scoring call.
        prefill_chunk: prompts longer than this are prefilled in chunks of this many tokens
            (a power of two), bounding the memory of attention scores.

    Example:
        >>> lm = probtree.lm.load("smollm2")  # doctest: +SKIP
        >>> lm.complete([Request("The capital of France is", max_tokens=3)])[0].text  # +SKIP
        ' Paris.'
    """

    def __init__(
        self,
        cfg: LlamaConfig,
        params: dict,
        tokenizer: Tokenizer,
        *,
        name: str = "jax",
        max_batch: int = 16,
        min_prefix_tokens: int = 32,
        prefix_cache_tokens: int = 32768,
        score_token_budget: int = 8192,
        prefill_chunk: int = 512,
    ):
        if max_batch < 1:
            raise ValueError(f"max_batch: expected >= 1, got {max_batch}")
        self.cfg, self.params, self.tokenizer, self.name = cfg, params, tokenizer, name
        self.max_batch = int(max_batch)
        self.min_prefix_tokens = int(min_prefix_tokens)
        self.prefix_cache_tokens = int(prefix_cache_tokens)
        self.score_token_budget = int(score_token_budget)
        if prefill_chunk < 16 or prefill_chunk & (prefill_chunk - 1):
            raise ValueError(f"prefill_chunk: expected a power of two >= 16, got {prefill_chunk}")
        self.prefill_chunk = int(prefill_chunk)
        self._prefixes: collections.OrderedDict[tuple[int, ...], tuple] = (
            collections.OrderedDict()
        )
        self.stats = collections.Counter()
        self.timings: collections.Counter = collections.Counter()  # seconds: prefill_s, decode_s

    def __repr__(self) -> str:
        return f"JaxLM(name={self.name!r}, layers={self.cfg.n_layers}, dim={self.cfg.dim})"

    # ---------------------------------------------------------------- prefix store
    def clear_prefix_cache(self) -> None:
        """Forgets every stored prefix."""
        self._prefixes.clear()

    def _prefix_for(self, rows: Sequence[Sequence[int]], cap: int):
        """Chooses (and computes if needed) a shared prefix of every row, at most ``cap`` long."""
        if self.min_prefix_tokens <= 0 or cap < self.min_prefix_tokens:
            return 0, None
        best = None
        for key in self._prefixes:
            n = len(key)
            if n <= cap and (best is None or n > len(best)):
                if all(tuple(r[:n]) == key for r in rows):
                    best = key
        target = 0
        if len(rows) > 1:
            first = rows[0]
            target = min(cap, len(first))
            for r in rows[1:]:
                i = 0
                m = min(target, len(r))
                while i < m and r[i] == first[i]:
                    i += 1
                target = i
        if target >= self.min_prefix_tokens and (
            best is None or len(best) < target - self.min_prefix_tokens
        ):
            key = tuple(rows[0][:target])
            tb = _bucket(target, self.prefill_chunk)
            toks = np.zeros((1, tb), np.int32)
            toks[0, :target] = key
            kv = _prefix_kv(self.params, self.cfg, jnp.asarray(toks), jnp.int32(target))
            self._prefixes[key] = kv
            self.stats["prefix_computed"] += 1
            total = sum(len(k) for k in self._prefixes)
            while total > self.prefix_cache_tokens and len(self._prefixes) > 1:
                old, _ = self._prefixes.popitem(last=False)
                total -= len(old)
            best = key
        if best is None:
            return 0, None
        self._prefixes.move_to_end(best)
        self.stats["prefix_reused_rows"] += len(rows)
        return len(best), self._prefixes[best]

    @staticmethod
    def _prefix_arg(p: int, prefix_kv):
        """The ``prefix`` argument of :func:`~probtree.lm.llama.forward` (None without one)."""
        return None if prefix_kv is None else (*prefix_kv, jnp.int32(p))

    def _slots(self, need: int) -> int:
        """Cache slots of a row holding ``need`` positions after the shared prefix.

        Multiples of 64 rather than powers of two: a batched decode step's cost grows with the
        slots every row attends over (about 0.2 ms per slot at 16 rows on 2 CPU cores). The
        shared prefix is not among them: its keys are stored once and read once per step.
        """
        return min(-(-need // 64) * 64, max(need, self.cfg.max_seq_len))

    # ---------------------------------------------------------------- generation
    def _encode_prompts(self, prompts: Sequence[str]) -> list[list[int]]:
        ids = self.tokenizer.encode_batch(prompts)
        for i, r in enumerate(ids):
            if not r:
                raise ValueError(
                    f"requests[{i}].prompt: empty prompt and the tokenizer adds no BOS token"
                )
        return ids

    def complete(self, requests: Sequence[Request]) -> list[Completion]:
        """Generates a completion for every request (see the module docstring).

        Raises:
            TypeError: an item is not a :class:`Request`.
            ValueError: a prompt is empty or prompt + ``max_tokens`` exceeds ``max_seq_len``.
        """
        requests = list(requests)
        for i, r in enumerate(requests):
            if not isinstance(r, Request):
                raise TypeError(f"requests[{i}]: expected Request, got {type(r).__name__}")
        ids = self._encode_prompts([r.prompt for r in requests])
        for i, (r, x) in enumerate(zip(requests, ids)):
            if len(x) + r.max_tokens > self.cfg.max_seq_len:
                raise ValueError(
                    f"requests[{i}]: prompt ({len(x)} tokens) + max_tokens ({r.max_tokens}) "
                    f"exceeds the model's max_seq_len {self.cfg.max_seq_len}"
                )
        out: list[Completion | None] = [None] * len(requests)
        todo = []
        for i, r in enumerate(requests):
            if r.max_tokens == 0:
                out[i] = Completion("", (), (), (), "length")
            else:
                todo.append(i)
        for chunk in self._chunks(todo, ids):
            for i, c in zip(chunk, self._generate([requests[i] for i in chunk],
                                                  [ids[i] for i in chunk])):
                out[i] = c
        return out  # type: ignore[return-value]

    def _chunks(self, todo: list[int], ids: list[list[int]]) -> list[list[int]]:
        """Cuts the rows into batches of at most ``max_batch``, rows sharing a prefix together.

        Rows are sorted by their tokens, so prompts built on the same few-shot header are
        adjacent; a run of rows whose common prefix is at least ``min_prefix_tokens`` long is a
        group, batched on its own (its prefix is prefilled once). Rows that share no such prefix
        with a neighbour are pooled. Within each, rows go longest first, so a batch pads its
        prompts to similar lengths. Without prefix caching: longest first, in order.
        """
        mb = self.max_batch
        if self.min_prefix_tokens <= 0 or len(todo) <= 1:
            todo = sorted(todo, key=lambda i: -len(ids[i]))
            return [todo[s : s + mb] for s in range(0, len(todo), mb)]
        order = sorted(todo, key=lambda i: ids[i])
        runs, cur = [], [order[0]]
        for i in order[1:]:
            if _common_prefix(ids[cur[0]], ids[i]) >= self.min_prefix_tokens:
                cur.append(i)
            else:
                runs.append(cur)
                cur = [i]
        runs.append(cur)
        groups = [r for r in runs if len(r) > 1]
        pool = [i for r in runs if len(r) == 1 for i in r]
        if pool:
            groups.append(pool)
        out = []
        for g in groups:
            g = sorted(g, key=lambda i: -len(ids[i]))
            out.extend(g[s : s + mb] for s in range(0, len(g), mb))
        return out

    def _prefill_rows(self, suf, p, prefix_kv, b, slots, temps, seeds):
        """Prefills suffixes ``suf`` (after a shared prefix of ``p`` tokens) in a batch of
        ``b >= len(suf)`` rows; returns the first sampled token and log-prob of every row and
        the cache."""
        n = len(suf)
        lens_b = np.array([len(x) for x in suf] + [1] * (b - n))
        tb = _bucket(int(lens_b.max()), self.prefill_chunk)
        tokens = np.zeros((b, tb), np.int32)
        for i, x in enumerate(suf):
            tokens[i, : len(x)] = x
        t = np.arange(tb)[None]
        positions = (p + t + np.zeros((b, 1), np.int64)).astype(np.int32)
        real = (t < lens_b[:, None]) & (np.arange(b)[:, None] < n)
        write = np.where(real, positions - p, slots).astype(np.int32)
        temps_j, seeds_j = jnp.asarray(temps), jnp.asarray(seeds)
        self.stats["prefill_computed_tokens"] += b * tb
        cache = init_cache(self.cfg, b, slots)
        prefix = self._prefix_arg(p, prefix_kv)
        # Long prompts are prefilled in chunks of `prefill_chunk` tokens (the cache carries the
        # earlier chunks), which bounds the attention scores' memory to (B, H, chunk, slots).
        c = min(tb, self.prefill_chunk)
        tok = lp = None
        for k in range(tb // c):
            sl = slice(k * c, (k + 1) * c)
            last = np.clip(lens_b - 1 - k * c, 0, c - 1).astype(np.int32)
            tok_k, lp_k, cache = _prefill(
                self.params, self.cfg, jnp.asarray(tokens[:, sl]), jnp.asarray(positions[:, sl]),
                jnp.asarray(write[:, sl]), jnp.asarray(last), cache, temps_j, seeds_j, prefix,
            )
            mine = jnp.asarray((lens_b - 1) // c == k)
            tok = tok_k if tok is None else jnp.where(mine, tok_k, tok)
            lp = lp_k if lp is None else jnp.where(mine, lp_k, lp)
        return tok, lp, cache

    def _generate(self, reqs: list[Request], rows: list[list[int]]) -> list[Completion]:
        n = len(rows)
        p, prefix_kv = self._prefix_for(rows, min(map(len, rows)) - 1)
        suf = [r[p:] for r in rows]
        lens = np.array([len(x) for x in suf])
        b = min(_pow2(n, 1), _pow2(self.max_batch, 1))
        slots = self._slots(max(len(x) + r.max_tokens for x, r in zip(suf, reqs)))
        prefix = self._prefix_arg(p, prefix_kv)
        lens_b = np.concatenate([lens, np.ones(b - n, np.int64)])
        temps = np.zeros(b, np.float32)
        temps[:n] = [r.temperature for r in reqs]
        seeds = np.zeros(b, np.uint32)
        seeds[:n] = [r.seed & 0xFFFFFFFF for r in reqs]
        temps_j, seeds_j = jnp.asarray(temps), jnp.asarray(seeds)
        t_start = time.perf_counter()
        groups = _prefill_plan(lens)
        if len(groups) == 1 and len(groups[0]) == b:
            tok, lp, cache = self._prefill_rows(suf, p, prefix_kv, b, slots, temps, seeds)
        else:
            # Rows are prefilled in length groups of power-of-two sizes (each padded only to
            # its own longest row, with no padding rows: prefill is compute-bound) and decoded
            # together.
            parts = []
            for g in groups:
                parts.append((g, *self._prefill_rows([suf[i] for i in g], p, prefix_kv, len(g),
                                                     slots, temps[g], seeds[g])))
            rank = np.empty(n, np.int64)
            rank[np.concatenate([g for g, *_ in parts])] = np.arange(n)
            pad = b - n
            tok = jnp.concatenate([t[: len(g)] for g, t, _, _ in parts]
                                  + [jnp.zeros(pad, jnp.int32)])
            lp = jnp.concatenate([x[: len(g)] for g, _, x, _ in parts]
                                 + [jnp.zeros(pad, jnp.float32)])
            zero = init_cache(self.cfg, pad, slots) if pad else None
            ks = [c.k[:, : len(g)] for g, _, _, c in parts] + ([zero.k] if pad else [])
            vs = [c.v[:, : len(g)] for g, _, _, c in parts] + ([zero.v] if pad else [])
            order = jnp.asarray(np.concatenate([rank, np.arange(n, b)]))
            cache = KVCache(jnp.concatenate(ks, axis=1)[:, order],
                            jnp.concatenate(vs, axis=1)[:, order])
            tok, lp = tok[order], lp[order]
        self.stats["prefill_tokens"] += int(lens.sum())
        gen: list[list[int]] = [[] for _ in range(n)]
        lps: list[list[float]] = [[] for _ in range(n)]
        done = np.zeros(b, bool)
        done[n:] = True
        reason = ["length"] * n
        decoders = [codecs.getincrementaldecoder("utf-8")(errors="replace") for _ in range(n)]
        texts = [""] * n
        longest_stop = [max((len(s) for s in r.stop), default=0) for r in reqs]
        step = 0
        while True:
            tok_h, lp_h = np.asarray(tok), np.asarray(lp)
            if step == 0:
                t_first = time.perf_counter()
                self.timings["prefill_s"] += t_first - t_start
            for i in range(n):
                if done[i]:
                    continue
                tid = int(tok_h[i])
                if tid in self.tokenizer.eos_ids:
                    done[i], reason[i] = True, "stop"
                    continue
                gen[i].append(tid)
                lps[i].append(float(lp_h[i]))
                if reqs[i].stop:
                    old = len(texts[i])
                    texts[i] += decoders[i].decode(self.tokenizer.token_bytes(tid))
                    tail = texts[i][max(0, old - longest_stop[i] + 1) :]
                    if any(s in tail for s in reqs[i].stop):
                        done[i], reason[i] = True, "stop"
                        continue
                if len(gen[i]) >= reqs[i].max_tokens:
                    done[i] = True
            if done.all():
                break
            step += 1
            cur = np.array([len(g) for g in gen] + [1] * (b - n))
            pos = (p + lens_b + cur - 1).astype(np.int32)
            last = np.array([g[-1] if g else 0 for g in gen] + [0] * (b - n), np.int32)
            wpos = np.where(done, slots, pos - p).astype(np.int32)
            tok, lp, cache = _decode(
                self.params, self.cfg, jnp.asarray(last), jnp.asarray(pos), jnp.asarray(wpos),
                cache, temps_j, seeds_j, jnp.int32(step), prefix,
            )
            self.stats["decode_steps"] += 1
        self.timings["decode_s"] += time.perf_counter() - t_first
        out = []
        for i in range(n):
            pieces = [self.tokenizer.token_bytes(t) for t in gen[i]]
            text, offs = token_offsets(pieces)
            toks = tuple(self.tokenizer.token_str(t) for t in gen[i])
            ids, lp_i, fin = tuple(gen[i]), tuple(lps[i]), reason[i]
            hit = apply_stop(text, offs, reqs[i].stop)
            if hit is not None:
                text, toks, lp_i, offs, ids = truncate(text, toks, lp_i, offs, ids, *hit)
                fin = "stop"
            out.append(Completion(text, toks, lp_i, tuple(offs), fin, ids))
        self.stats["generated_tokens"] += sum(len(g) for g in gen)
        return out

    # ---------------------------------------------------------------- scoring
    def score(self, prompt: str, continuation: str) -> float:
        """Sum of the log-probs of ``continuation``'s tokens after ``prompt``."""
        return self.score_many([(prompt, continuation)])[0]

    def score_many(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """:meth:`score` of many ``(prompt, continuation)`` pairs, batched.

        Raises:
            ValueError: a prompt tokenizes to nothing (no BOS to condition on), or is too long.
        """
        pairs = list(pairs)
        prompts = self._encode_prompts([p for p, _ in pairs])
        conts = [self.tokenizer.encode(c, bos=False) if c else [] for _, c in pairs]
        return [float(np.sum(x)) for x in self._token_logprobs(prompts, conts)]

    def echo(self, text: str) -> Completion:
        """Log-probs of the tokens of ``text`` itself (as an OpenAI ``echo`` request).

        The first token has no context unless the tokenizer adds a BOS token; without one its
        log-prob is reported as 0.0 and it is excluded from nothing else.
        """
        ids = self.tokenizer.encode(text, bos=False)
        if not ids:
            return Completion("", (), (), (), "length")
        if self.tokenizer.add_bos:
            ctx, cont, head = [self.tokenizer.bos_id], ids, []
        else:
            ctx, cont, head = ids[:1], ids[1:], [0.0]
        lps = head + [float(x) for x in self._token_logprobs([ctx], [cont])[0]]
        text2, offs = token_offsets([self.tokenizer.token_bytes(t) for t in ids])
        toks = tuple(self.tokenizer.token_str(t) for t in ids)
        return Completion(text2, toks, tuple(lps), tuple(offs), "length", tuple(ids))

    def _token_logprobs(
        self, prompts: list[list[int]], conts: list[list[int]]
    ) -> list[np.ndarray]:
        for i, (a, c) in enumerate(zip(prompts, conts)):
            if len(a) + len(c) > self.cfg.max_seq_len:
                raise ValueError(f"pairs[{i}]: longer than max_seq_len {self.cfg.max_seq_len}")
        out = [np.zeros(len(c)) for c in conts]
        todo = sorted((i for i in range(len(prompts)) if conts[i]),
                      key=lambda i: -(len(prompts[i]) + len(conts[i])))
        s = 0
        while s < len(todo):
            chunk = [todo[s]]
            longest = len(prompts[todo[s]]) + len(conts[todo[s]])
            while (s + len(chunk) < len(todo) and len(chunk) < self.max_batch
                   and _pow2(len(chunk) + 1, 1) * _pow2(longest, 16) <= self.score_token_budget):
                chunk.append(todo[s + len(chunk)])
            s += len(chunk)
            for i, v in zip(chunk, self._score_chunk([prompts[i] for i in chunk],
                                                     [conts[i] for i in chunk])):
                out[i] = v
        return out

    def _score_chunk(
        self, prompts: list[list[int]], conts: list[list[int]]
    ) -> list[np.ndarray]:
        n = len(prompts)
        full = [a + c for a, c in zip(prompts, conts)]
        p, prefix_kv = self._prefix_for(full, min(map(len, prompts)) - 1)
        suf = [x[p:] for x in full]
        b = _pow2(n, 1)
        tb = _pow2(max(map(len, suf)), 16)
        cb = _pow2(max(map(len, conts)), 8)
        slots = self._slots(tb)
        tokens = np.zeros((b, tb), np.int32)
        targets = np.zeros((b, cb), np.int32)
        start = np.zeros(b, np.int32)
        lens = np.ones(b, np.int64)
        for i in range(n):
            tokens[i, : len(suf[i])] = suf[i]
            targets[i, : len(conts[i])] = conts[i]
            start[i] = len(prompts[i]) - 1 - p
            lens[i] = len(suf[i])
        t = np.arange(tb)[None]
        positions = (p + t + np.zeros((b, 1), np.int64)).astype(np.int32)
        real = (t < lens[:, None]) & (np.arange(b)[:, None] < n)
        write = np.where(real, positions - p, slots).astype(np.int32)
        lp = _score(
            self.params, self.cfg, jnp.asarray(tokens), jnp.asarray(positions),
            jnp.asarray(write), init_cache(self.cfg, b, slots), jnp.asarray(start),
            jnp.asarray(targets), self._prefix_arg(p, prefix_kv),
        )
        lp = np.asarray(lp, np.float64)
        self.stats["scored_tokens"] += int(lens[:n].sum())
        return [lp[i, : len(conts[i])] for i in range(n)]
