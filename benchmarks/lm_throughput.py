"""Throughput of the JAX decoder on the bundled SmolLM2-135M, side by side with transformers.

Measures, on the same dequantized GGUF weights (float32, CPU):

* prefill tokens/s (prompt processing up to the first generated token), batch 1 and 16;
* decode tokens/s (greedy), batch 1 and 16;
* batched scoring (log-prob of a continuation for 16 prompt/continuation pairs);
* prefix caching on ProbTree-style few-shot prompts (the released query-tree generation prompts,
  which share their instructions and examples): the same batch with and without the cache.

transformers (PyTorch) runs the same weights in the same process when torch and transformers are
importable; otherwise its columns are left out. Prints a table, then one JSON object.

    python benchmarks/lm_throughput.py --quick
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import numpy as np

from probtree.lm import Request
from probtree.lm.bundled import smollm2_path
from probtree.lm.gguf_loader import load_gguf
from probtree.lm.jax_lm import JaxLM

REPLAY = Path(__file__).resolve().parents[1] / "tests/data/lm/llama3_tree_generation_cache.jsonl"


def _timed(fn, repeats: int = 1) -> float:
    fn()  # warm-up (compiles)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _torch_model(cfg, params):
    try:
        import torch
        import transformers
    except ImportError:
        return None
    hf = transformers.LlamaConfig(
        vocab_size=cfg.vocab_size, hidden_size=cfg.dim, intermediate_size=cfg.ffn_dim,
        num_hidden_layers=cfg.n_layers, num_attention_heads=cfg.n_heads,
        num_key_value_heads=cfg.n_kv_heads, head_dim=cfg.head_dim, rope_theta=cfg.rope_theta,
        rms_norm_eps=cfg.norm_eps, tie_word_embeddings=cfg.tie_embeddings,
        max_position_embeddings=cfg.max_seq_len,
    )
    model = transformers.LlamaForCausalLM(hf).eval()
    lay = {k: np.asarray(v) for k, v in params["layers"].items()}
    names = {"wq": "self_attn.q_proj", "wk": "self_attn.k_proj", "wv": "self_attn.v_proj",
             "wo": "self_attn.o_proj", "w_gate": "mlp.gate_proj", "w_up": "mlp.up_proj",
             "w_down": "mlp.down_proj"}
    sd = {"model.embed_tokens.weight": np.asarray(params["embed"]),
          "model.norm.weight": np.asarray(params["norm"])}
    for i in range(cfg.n_layers):
        for ours, theirs in names.items():
            sd[f"model.layers.{i}.{theirs}.weight"] = lay[ours][i].T
        sd[f"model.layers.{i}.input_layernorm.weight"] = lay["attn_norm"][i]
        sd[f"model.layers.{i}.post_attention_layernorm.weight"] = lay["mlp_norm"][i]
    sd["lm_head.weight"] = (np.asarray(params["embed"]) if cfg.tie_embeddings
                            else np.asarray(params["lm_head"]).T)
    model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()})
    return model


def _left_pad(rows):
    import torch

    t = max(map(len, rows))
    ids = torch.zeros((len(rows), t), dtype=torch.long)
    mask = torch.zeros((len(rows), t), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, t - len(r):] = torch.tensor(r)
        mask[i, t - len(r):] = 1
    return ids, mask


def _torch_prefill(model, rows):
    import torch

    ids, mask = _left_pad(rows)
    pos = (mask.cumsum(1) - 1).clamp(min=0)
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask, position_ids=pos,
                     logits_to_keep=1).logits[:, -1].argmax(-1)


def _torch_generate(model, rows, n):
    import torch

    ids, mask = _left_pad(rows)
    with torch.no_grad():
        return model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=n,
                              min_new_tokens=n, do_sample=False, pad_token_id=2)


def _torch_score(model, prompts, conts):
    import torch

    rows = [a + c for a, c in zip(prompts, conts)]
    t = max(map(len, rows))
    ids = torch.zeros((len(rows), t), dtype=torch.long)
    mask = torch.zeros((len(rows), t), dtype=torch.long)
    for i, r in enumerate(rows):  # right padding: positions are 0.. for every row
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits, -1)
    out = []
    for i, (a, c) in enumerate(zip(prompts, conts)):
        idx = torch.arange(len(a) - 1, len(a) + len(c) - 1)
        out.append(float(logp[i, idx, torch.tensor(c)].sum()))
    return out


def _few_shot_prompts(n: int, shared_chars: int | None) -> list[str]:
    prompts = [json.loads(line)["input"][0] for line in REPLAY.read_text().splitlines()][:n]
    if shared_chars is None:
        return prompts
    out = []
    for p in prompts:  # keep the instruction and the first examples, and the question
        cut = p.rindex("\nQ: ")
        out.append(p[:shared_chars] + p[cut:])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter prompts, fewer rows")
    parser.add_argument("--no-torch", action="store_true", help="skip transformers")
    args = parser.parse_args()
    t_prompt = 128 if args.quick else 256
    n_decode = 16 if args.quick else 32
    n_fewshot = 8 if args.quick else 16
    shared_chars = 1500 if args.quick else None

    cfg, params, tok = load_gguf(smollm2_path())
    lm = JaxLM(cfg, params, tok, name="smollm2", min_prefix_tokens=0)
    model = None if args.no_torch else _torch_model(cfg, params)
    if model is not None:
        import torch

        torch.set_num_threads(2)  # this machine's cores; XLA uses them all too
    corpus = tok.encode(REPLAY.read_text()[:200_000])
    rows16 = [corpus[1000 * i : 1000 * i + t_prompt] for i in range(16)]
    texts16 = [tok.decode(r) for r in rows16]
    rows16 = [tok.encode(t) for t in texts16]  # exact ids both sides see
    results: dict = {"machine": "CPU", "jax_devices": str(jax.devices()),
                     "prompt_tokens": t_prompt, "decode_tokens": n_decode}
    table = []

    for b in (1, 16):
        reqs = [Request(t, max_tokens=1) for t in texts16[:b]]
        n_tok = sum(len(r) for r in rows16[:b])
        jt = _timed(lambda reqs=reqs: lm.complete(reqs))
        row = {"what": f"prefill b={b}", "jax_tok_s": n_tok / jt}
        if model is not None:
            tt = _timed(lambda b=b: _torch_prefill(model, rows16[:b]))
            row["torch_tok_s"] = n_tok / tt
        table.append(row)

        reqs_d = [Request(t, max_tokens=n_decode + 1) for t in texts16[:b]]
        lm.complete(reqs_d)  # warm-up
        before, t_before = lm.stats["decode_steps"], lm.timings["decode_s"]
        lm.complete(reqs_d)
        steps = lm.stats["decode_steps"] - before
        jd = lm.timings["decode_s"] - t_before  # decode steps only (prefill timed apart)
        row = {"what": f"decode b={b}", "jax_tok_s": b * steps / jd}
        if model is not None:
            td = _timed(lambda b=b: _torch_generate(model, rows16[:b], n_decode + 1)) - tt
            row["torch_tok_s"] = b * n_decode / max(td, 1e-9)
        table.append(row)

    conts = [r[-16:] for r in rows16]
    prompts = [r[:-16] for r in rows16]
    pairs = [(tok.decode(a), tok.decode(c)) for a, c in zip(prompts, conts)]
    js = _timed(lambda: lm.score_many(pairs))
    n_tok = sum(map(len, rows16))
    row = {"what": "batched scoring b=16", "jax_tok_s": n_tok / js}
    if model is not None:
        ts = _timed(lambda: _torch_score(model, prompts, conts))
        row["torch_tok_s"] = n_tok / ts
        ours = lm.score_many(pairs)
        ref = _torch_score(model, [tok.encode(p) for p, _ in pairs],
                           [tok.encode(c) for _, c in pairs])
        results["score_max_abs_diff_vs_torch"] = float(np.max(np.abs(np.subtract(ours, ref))))
    table.append(row)

    few = _few_shot_prompts(n_fewshot, shared_chars)
    reqs = [Request(p, max_tokens=4) for p in few]
    n_tok = sum(len(tok.encode(p)) for p in few)
    plain = _timed(lambda: lm.complete(reqs))
    cached_lm = JaxLM(cfg, params, tok, name="smollm2", min_prefix_tokens=32)

    def with_fresh_prefix():
        cached_lm.clear_prefix_cache()  # the shared prefix is computed inside the timing
        return cached_lm.complete(reqs)

    cached = _timed(with_fresh_prefix)
    same = [c.token_ids for c in lm.complete(reqs)] == [
        c.token_ids for c in cached_lm.complete(reqs)
    ]
    row = {"what": f"few-shot b={n_fewshot} no prefix cache", "jax_tok_s": n_tok / plain}
    if model is not None:
        rows_f = [tok.encode(p) for p in few]
        tf = _timed(lambda: _torch_generate(model, rows_f, 4))
        row["torch_tok_s"] = n_tok / tf
    table.append(row)
    table.append({"what": f"few-shot b={n_fewshot} prefix cache", "jax_tok_s": n_tok / cached})
    results.update({
        "fewshot_prompt_tokens_mean": n_tok / len(few),
        "prefix_tokens": max(len(k) for k in cached_lm._prefixes),
        "prefix_cache_speedup": plain / cached,
        "prefix_cache_same_tokens": same,
    })

    print(f"{'measurement':<36} {'JAX tok/s':>10} {'torch tok/s':>12} {'JAX/torch':>10}")
    for row in table:
        t = row.get("torch_tok_s")
        ratio = f"{row['jax_tok_s'] / t:10.2f}" if t else f"{'-':>10}"
        ts = f"{t:12.1f}" if t else f"{'-':>12}"
        print(f"{row['what']:<36} {row['jax_tok_s']:10.1f} {ts} {ratio}")
    print(f"prefix caching speed-up: {results['prefix_cache_speedup']:.2f}x "
          f"(same tokens: {same})")
    results["rows"] = table
    results["ratios_jax_over_torch"] = {
        r["what"]: r["jax_tok_s"] / r["torch_tok_s"] for r in table if r.get("torch_tok_s")
    }
    print(json.dumps(results))


if __name__ == "__main__":
    main()
