"""The JAX Llama decoder against golden outputs of Hugging Face transformers (PyTorch CPU).

Fixtures come from ``tests/fixtures/make_llama_golden.py``: tiny Llama configs with seeded random
weights (one with grouped-query attention and an untied head, one with tied embeddings), a
left-padded batch, transformers' logits and its greedy continuations.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from probtree.lm import Request, load
from probtree.lm.jax_lm import JaxLM, _decode, _prefill
from probtree.lm.llama import LlamaConfig, forward, init_cache, init_params, logits_from_hidden
from probtree.lm.safetensors_loader import load_safetensors

FIX = Path(__file__).resolve().parents[2] / "fixtures"
PROMPTS = ["The capital of France", "Who is the", "Q: When did the director die?\nA:"]
TINY = ["tiny_llama", "tiny_llama_tied"]


@pytest.fixture(scope="module", params=TINY)
def tiny(request):
    cfg, params, tok = load_safetensors(FIX / request.param)
    return request.param, cfg, params, tok, np.load(FIX / request.param / "golden.npz")


def test_logits_match_transformers_on_left_padded_batch(tiny):
    name, cfg, params, tok, g = tiny
    assert cfg.tie_embeddings == (name == "tiny_llama_tied")
    ids, mask = g["input_ids"], g["attention_mask"].astype(bool)
    for i, p in enumerate(PROMPTS):  # the tokenizer built from tokenizer.json agrees too
        assert tok.encode(p) == ids[i][mask[i]].tolist()
    b, t = ids.shape
    slots = 32
    pos = np.clip(np.cumsum(mask, axis=1) - 1, 0, None)
    write = np.where(mask, pos, slots)  # left padding: pads write nowhere
    h, _ = forward(params, cfg, jnp.asarray(ids), jnp.asarray(pos), jnp.asarray(write),
                   init_cache(cfg, b, slots))
    ours = np.asarray(logits_from_hidden(params, cfg, h))
    np.testing.assert_allclose(ours[mask], g["logits"][mask], atol=1e-4, rtol=1e-4)


def test_greedy_matches_transformers_token_for_token(tiny):
    _, cfg, params, tok, g = tiny
    lm = JaxLM(cfg, params, tok, min_prefix_tokens=0)
    # EOS (id 0) never occurs in the golden continuations, so generation runs all 8 steps.
    outs = lm.complete([Request(p, max_tokens=8) for p in PROMPTS])
    for c, ref in zip(outs, g["generated"]):
        assert list(c.token_ids) == ref.tolist()
        assert c.finish_reason == "length"
        assert "".join(c.text[a:b] for a, b in c.offsets) == c.text


def test_score_matches_golden_logprobs(tiny):
    _, cfg, params, tok, g = tiny
    lm = JaxLM(cfg, params, tok, min_prefix_tokens=0)
    ids, mask = g["input_ids"], g["attention_mask"].astype(bool)
    logp = jax.nn.log_softmax(jnp.asarray(g["logits"]), axis=-1)
    row = 2
    real = ids[row][mask[row]]
    k = 5  # prompt = first k tokens, continuation = the rest (tokenization-aligned)
    prompt, cont = tok.decode(real[:k].tolist()), tok.decode(real[k:].tolist())
    assert tok.encode(prompt) + tok.encode(cont) == real.tolist()
    start = int(np.argmax(mask[row]))
    ref = sum(float(logp[row, start + j - 1, real[j]]) for j in range(k, len(real)))
    assert lm.score(prompt, cont) == pytest.approx(ref, abs=1e-4)


@pytest.fixture(scope="module")
def untied():
    return load_safetensors(FIX / "tiny_llama")


def test_prefix_caching_gives_the_same_results(untied):
    cfg, params, tok = untied
    shared = "Q: Who is the director of film The Night Of Tricks?\nA: The director is"
    reqs = [Request(shared + s, max_tokens=6) for s in (" x", " Paris", " the film", " 42")]
    plain = JaxLM(cfg, params, tok, min_prefix_tokens=0).complete(reqs)
    lm = JaxLM(cfg, params, tok, min_prefix_tokens=8)
    cached = lm.complete(reqs)
    assert lm.stats["prefix_computed"] == 1 and lm.stats["prefix_reused_rows"] == 4
    for a, b in zip(plain, cached):
        assert a.token_ids == b.token_ids
        np.testing.assert_allclose(a.logprobs, b.logprobs, atol=1e-5)
    # A later single request reuses the stored prefix; so does scoring.
    again = lm.complete(reqs[1:2])[0]
    assert lm.stats["prefix_computed"] == 1 and lm.stats["prefix_reused_rows"] == 5
    assert again.token_ids == plain[1].token_ids
    cont = plain[1].text
    s_plain = JaxLM(cfg, params, tok, min_prefix_tokens=0).score(reqs[1].prompt, cont)
    assert lm.score(reqs[1].prompt, cont) == pytest.approx(s_plain, abs=1e-4)


def test_shared_prefix_attention_equals_a_prefix_in_every_row(untied):
    """forward(prefix=...) against the whole sequence in each row's own cache: the prefix's
    stored keys are padded past its real length (those slots must be ignored) and the rows'
    suffixes have different lengths (right padding writes nowhere)."""
    cfg, params, _ = untied
    rng = np.random.default_rng(0)
    p_len, p_pad, b, t, slots = 5, 8, 3, 4, 16
    prefix = rng.integers(1, cfg.vocab_size, p_len)
    suf = rng.integers(1, cfg.vocab_size, (b, t))
    lens = np.array([4, 2, 3])
    # reference: prefix + suffix as one sequence per row, all in the row's own cache
    full = np.concatenate([np.broadcast_to(prefix, (b, p_len)), suf], axis=1)
    pos = np.broadcast_to(np.arange(p_len + t), full.shape)
    real = pos < p_len + lens[:, None]
    h_ref, _ = forward(params, cfg, jnp.asarray(full), jnp.asarray(pos),
                       jnp.asarray(np.where(real, pos, slots)), init_cache(cfg, b, slots))
    # shared: the prefix once (bucket of 8 slots, 5 real), then each row's suffix on its own
    ptoks = np.zeros((1, p_pad), np.int32)
    ptoks[0, :p_len] = prefix
    ppos = np.arange(p_pad)[None]
    _, pc = forward(params, cfg, jnp.asarray(ptoks), jnp.asarray(ppos),
                    jnp.asarray(np.where(ppos < p_len, ppos, p_pad)), init_cache(cfg, 1, p_pad))
    spos = p_len + np.broadcast_to(np.arange(t), (b, t))
    write = np.where(np.arange(t)[None] < lens[:, None], spos - p_len, slots)
    h, cache = forward(params, cfg, jnp.asarray(suf), jnp.asarray(spos), jnp.asarray(write),
                       init_cache(cfg, b, slots),
                       prefix=(pc.k[:, 0], pc.v[:, 0], jnp.int32(p_len)))
    for i in range(b):
        np.testing.assert_allclose(np.asarray(h[i, : lens[i]]),
                                   np.asarray(h_ref[i, p_len : p_len + lens[i]]),
                                   atol=2e-5, rtol=2e-5)
    assert not np.asarray(cache.k[:, 1, 2:]).any()  # row 1's padding wrote nothing
    with pytest.raises(ValueError, match="prefix"):
        forward(params, cfg, jnp.asarray(suf), jnp.asarray(spos), jnp.asarray(write),
                init_cache(cfg, b, slots), prefix=(pc.k, pc.v, jnp.int32(p_len)))


def test_rows_sharing_a_header_are_batched_together(untied):
    cfg, params, tok = untied
    heads = ["Q: Who is the director of film The Night Of Tricks?\nA: The director is",
             "Passage: Paris is the capital and largest city of France.\nQuestion: what"]
    tails = [" x", " Paris", " the film", " 42"]
    reqs = [Request(heads[j % 2] + tails[j // 2], max_tokens=4) for j in range(8)]
    reqs.append(Request("unrelated", max_tokens=4))
    plain = JaxLM(cfg, params, tok, min_prefix_tokens=0).complete(reqs)
    lm = JaxLM(cfg, params, tok, min_prefix_tokens=8, max_batch=8)
    ids = lm._encode_prompts([r.prompt for r in reqs])
    chunks = lm._chunks(list(range(9)), ids)
    # one batch per header (its prefix prefilled once), the lone prompt on its own
    assert sorted(map(sorted, chunks)) == [[0, 2, 4, 6], [1, 3, 5, 7], [8]]
    for c in chunks:
        assert [len(ids[i]) for i in c] == sorted((len(ids[i]) for i in c), reverse=True)
    got = lm.complete(reqs)
    assert lm.stats["prefix_computed"] == 2 and lm.stats["prefix_reused_rows"] == 8
    for a, b in zip(plain, got):
        assert a.token_ids == b.token_ids
        np.testing.assert_allclose(a.logprobs, b.logprobs, atol=1e-5)


def test_chunked_prefill_matches_golden(untied):
    cfg, params, tok = untied
    g = np.load(FIX / "tiny_llama" / "golden.npz")
    lm = JaxLM(cfg, params, tok, min_prefix_tokens=0, prefill_chunk=16)  # 19-token prompt: 2 chunks
    outs = lm.complete([Request(p, max_tokens=8) for p in PROMPTS])
    assert [list(c.token_ids) for c in outs] == g["generated"].tolist()
    with pytest.raises(ValueError, match="prefill_chunk"):
        JaxLM(cfg, params, tok, prefill_chunk=100)


def test_stop_strings_and_lengths(untied):
    # Batches of three prompts throughout, so the compiled shapes are those of the greedy test.
    cfg, params, tok = untied
    lm = JaxLM(cfg, params, tok, min_prefix_tokens=0)
    full = lm.complete([Request(p, max_tokens=8) for p in PROMPTS])
    stop = full[0].text[3:5]
    cut = full[0].text.index(stop)
    c = lm.complete([Request(PROMPTS[0], max_tokens=8, stop=[stop])] + [
        Request(p, max_tokens=8) for p in PROMPTS[1:]
    ])
    assert c[0].text == full[0].text[:cut] and c[0].finish_reason == "stop"
    assert c[0].token_ids == full[0].token_ids[: len(c[0].token_ids)]
    assert all(a < cut for a, _ in c[0].offsets)
    assert c[1:] == full[1:]
    z = lm.complete([Request(PROMPTS[0], max_tokens=0)])[0]
    assert z.text == "" and z.finish_reason == "length"
    with pytest.raises(ValueError, match="max_seq_len"):
        lm.complete([Request(PROMPTS[0], max_tokens=cfg.max_seq_len)])


def test_sampling_is_seeded_and_logprobs_are_untempered(tiny):
    _, cfg, params, tok, _ = tiny
    lm = JaxLM(cfg, params, tok, min_prefix_tokens=0)
    p1, p2 = PROMPTS[1], PROMPTS[2]
    reqs = [Request(p1, max_tokens=6, temperature=1.5, seed=s) for s in (1, 2, 1)]
    a = lm.complete(reqs)
    # Same seed, same sample; rows may be prefilled in batches of different sizes (3 rows: 2 + 1),
    # so log-probs agree to float rounding, not bit for bit.
    assert a[0].token_ids == a[2].token_ids and a[0].text == a[2].text
    np.testing.assert_allclose(a[0].logprobs, a[2].logprobs, atol=1e-5)
    assert a[0].token_ids != a[1].token_ids
    # Batched with other requests: the same sample (per-request keys).
    b = lm.complete([Request(p2, max_tokens=6, temperature=1.5, seed=7), reqs[0],
                     Request(p2, max_tokens=6)])
    assert b[1].token_ids == a[0].token_ids
    np.testing.assert_allclose(b[1].logprobs, a[0].logprobs, atol=1e-4)
    # The reported log-probs are the model's own (temperature 1): they sum to score().
    ids = list(a[1].token_ids)
    lp = lm._token_logprobs([tok.encode(p1)], [ids])[0]
    np.testing.assert_allclose(a[1].logprobs, lp, atol=1e-4)


def _numpy_params(cfg: LlamaConfig, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    shapes = jax.eval_shape(lambda: init_params(jax.random.key(0), cfg))
    return jax.tree_util.tree_map(
        lambda s: (0.8 * rng.standard_normal(s.shape)).astype(np.float32), shapes
    )


def _numpy_first_token_logits(p: dict, cfg: LlamaConfig, token: int) -> np.ndarray:
    """Independent NumPy forward of one token at position 0 (rotary is the identity there,
    and attention over one key returns its value)."""

    def rms(x, w):
        return x / np.sqrt(np.mean(x * x) + cfg.norm_eps) * w

    h = p["embed"][token].astype(np.float64)
    lay = p["layers"]
    for i in range(cfg.n_layers):
        a = rms(h, lay["attn_norm"][i])
        v = (a @ lay["wv"][i]).reshape(cfg.n_kv_heads, cfg.head_dim)
        o = np.repeat(v, cfg.n_heads // cfg.n_kv_heads, axis=0).reshape(-1)
        h = h + o @ lay["wo"][i]
        m = rms(h, lay["mlp_norm"][i])
        g = m @ lay["w_gate"][i]
        h = h + (g / (1 + np.exp(-g)) * (m @ lay["w_up"][i])) @ lay["w_down"][i]
    return rms(h, p["norm"]) @ p["lm_head"]


def test_sampling_frequencies_follow_softmax():
    cfg = LlamaConfig(vocab_size=5, dim=8, n_layers=2, n_heads=2, n_kv_heads=1, ffn_dim=16)
    params = _numpy_params(cfg, seed=3)
    n = 256
    tokens = np.zeros((n, 16), np.int32)
    tokens[:, 0] = 3
    pos = np.broadcast_to(np.arange(16)[None], (n, 16))
    write = np.where(pos < 1, pos, 64)
    tok, lp, _ = _prefill(params, cfg, jnp.asarray(tokens), jnp.asarray(pos), jnp.asarray(write),
                          jnp.zeros(n, jnp.int32), init_cache(cfg, n, 64),
                          jnp.full((n,), 2.0), jnp.arange(n, dtype=jnp.uint32), None)
    logits = _numpy_first_token_logits(params, cfg, 3)
    logp = logits - np.log(np.sum(np.exp(logits)))
    tok = np.asarray(tok)
    np.testing.assert_allclose(np.asarray(lp), logp[tok], atol=1e-4)  # untempered log-probs
    probs = np.exp(logits / 2.0) / np.sum(np.exp(logits / 2.0))
    counts = np.bincount(tok, minlength=5)
    # Chi-square goodness of fit, 4 dof; 0.1% false-failure budget (critical value 18.47).
    chi2 = float(np.sum((counts - n * probs) ** 2 / (n * probs)))
    assert chi2 < 18.47


def test_decode_compiles_once_per_bucket(tiny):
    _, cfg, params, tok, _ = tiny
    lm = JaxLM(cfg, params, tok, min_prefix_tokens=0)
    lm.complete([Request(p, max_tokens=5) for p in PROMPTS])
    n_prefill, n_decode = _prefill._cache_size(), _decode._cache_size()
    # Other prompts of similar lengths and batch size hit the same buckets: no recompilation.
    lm.complete([Request(p + "?", max_tokens=4) for p in reversed(PROMPTS)])
    assert (_prefill._cache_size(), _decode._cache_size()) == (n_prefill, n_decode)


def test_bad_input():
    cfg = LlamaConfig(vocab_size=11, dim=16, n_layers=1, n_heads=4, n_kv_heads=2, ffn_dim=24)
    params = None  # the checks come before any weight is used
    pos = jnp.arange(4)[None]
    with pytest.raises(ValueError, match="multiple of n_kv_heads"):
        LlamaConfig(vocab_size=11, dim=16, n_layers=1, n_heads=4, n_kv_heads=3, ffn_dim=8)
    with pytest.raises(ValueError, match="tokens"):
        forward(params, cfg, jnp.array([1, 2]), pos, pos, init_cache(cfg, 1, 8))
    with pytest.raises(ValueError, match="rows"):
        forward(params, cfg, jnp.array([[1, 2]]), pos, pos, init_cache(cfg, 2, 8))


def test_load_checkpoint_folder_spec():
    lm = load(str(FIX / "tiny_llama") + ",max_batch=2")
    assert isinstance(lm, JaxLM) and lm.max_batch == 2
    outs = lm.complete([Request(p, max_tokens=3) for p in PROMPTS])  # 2 chunks of <= 2 rows
    g = np.load(FIX / "tiny_llama" / "golden.npz")
    assert [list(c.token_ids) for c in outs] == g["generated"][:, :3].tolist()


def test_rows_of_very_different_lengths_prefill_apart_and_decode_together(untied):
    cfg, params, tok = untied
    long = "Q: Who is the director of film The Night Of Tricks? " * 2
    reqs = [Request(p, max_tokens=5) for p in ("Paris is", long + "A:", "The film", long + "B")]
    lm = JaxLM(cfg, params, tok, min_prefix_tokens=0)
    lens = np.array([len(tok.encode(r.prompt)) for r in reqs])
    from probtree.lm.jax_lm import _length_groups

    assert len(_length_groups(lens)) == 2  # short rows are not padded to the long ones
    together = lm.complete(reqs)
    assert lm.stats["decode_steps"] == 4  # one decode loop for all four rows
    for r, got in zip(reqs, together):
        alone = JaxLM(cfg, params, tok, min_prefix_tokens=0).complete([r])[0]
        assert got.token_ids == alone.token_ids
        np.testing.assert_allclose(got.logprobs, alone.logprobs, atol=1e-5)
