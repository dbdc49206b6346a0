"""GGUF dequantization and loading, the GGUF tokenizer, and the bundled SmolLM2-135M model.

References: the ``gguf`` package's own quantizers/dequantizers, and transformers' GGUF loading
(golden fixture ``smollm2_golden.npz`` made by ``tests/fixtures/make_llama_golden.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

import gguf
import jax.numpy as jnp
import numpy as np
import pytest
from gguf import quants

from probtree.lm import Request, load
from probtree.lm.bundled import smollm2_path
from probtree.lm.gguf_loader import dequantize, load_gguf, read_gguf_metadata
from probtree.lm.llama import forward, init_cache, logits_from_hidden

FIX = Path(__file__).resolve().parents[2] / "fixtures"


@pytest.mark.parametrize("kind", ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1"])
def test_dequantize_matches_gguf_package(kind):
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(6, 96)) * rng.uniform(0.1, 3, size=(6, 1))).astype(np.float32)
    qt = getattr(gguf.GGMLQuantizationType, kind)
    raw = x if kind == "F32" else quants.quantize(x, qt)
    ours = dequantize(raw, kind, x.shape)
    ref = x if kind == "F32" else quants.dequantize(raw, qt)
    np.testing.assert_allclose(ours, ref, atol=1e-6, rtol=0)
    # Quantization error stays within the format's resolution.
    tol = {"F32": 0, "F16": 2e-3, "BF16": 2e-2, "Q8_0": 0.05, "Q4_0": 0.8, "Q4_1": 0.6}[kind]
    assert np.abs(ours - x).max() <= tol * np.abs(x).max() + 1e-7


def test_dequantize_rejects_bad_input():
    with pytest.raises(ValueError, match="unsupported GGML type"):
        dequantize(np.zeros(4, np.uint8), "Q5_K", (4,))
    with pytest.raises(ValueError, match="needs"):
        dequantize(np.zeros((1, 34), np.uint8), "Q8_0", (2, 32))


def test_bundled_file_metadata():
    path = smollm2_path()
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000
    meta = read_gguf_metadata(path)
    assert meta["general.architecture"] == "llama"
    assert meta["llama.block_count"] == 30


@pytest.fixture(scope="module")
def one_layer():
    return load_gguf(smollm2_path(), n_layers=1)


def test_gguf_tokenizer_matches_transformers(one_layer):
    _, _, tok = one_layer
    golden = json.loads((FIX / "smollm2_tokenizer_golden.json").read_text())
    for text, ids in golden.items():
        assert tok.encode(text) == ids
        assert tok.decode(ids) == text


def test_smollm2_layer0_matches_transformers(one_layer):
    cfg, params, tok = one_layer
    g = np.load(FIX / "smollm2_golden.npz")
    ids = tok.encode("The capital of France is")
    assert ids == g["input_ids"].tolist()
    x = jnp.asarray([ids])
    pos = jnp.arange(len(ids))[None]
    h, _ = forward(params, cfg, x, pos, pos, init_cache(cfg, 1, 8), n_layers=1)
    np.testing.assert_allclose(np.asarray(h[0]), g["hidden_layer0"], atol=1e-4, rtol=1e-4)


@pytest.fixture(scope="module")
def smollm2():
    return load("smollm2")


def test_smollm2_full_model_and_generation(smollm2):
    lm = smollm2
    g = np.load(FIX / "smollm2_golden.npz")
    ids = lm.tokenizer.encode("The capital of France is")
    pos = jnp.arange(len(ids))[None]
    h, _ = forward(lm.params, lm.cfg, jnp.asarray([ids]), pos, pos, init_cache(lm.cfg, 1, 8))
    logits = np.asarray(logits_from_hidden(lm.params, lm.cfg, h[0, -1]))
    np.testing.assert_allclose(logits[g["top_ids"]], g["top_logits"], atol=1e-3, rtol=1e-4)
    prompt = "The capital of France is"
    c = lm.complete([Request(prompt, max_tokens=8)])[0]
    assert list(c.token_ids) == g["generated"].tolist()  # transformers' greedy continuation
    assert "Paris" in c.text
    assert sum(c.logprobs) == pytest.approx(lm.score(prompt, c.text), abs=1e-3)


def test_smollm2_chat_prompt_and_stop(smollm2):
    prompt = (
        "<|im_start|>user\nWhat is the capital of Italy? Answer in one word.<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    c = smollm2.complete([Request(prompt, max_tokens=12, stop=["\n"])])[0]
    assert "Rome" in c.text
    assert c.finish_reason == "stop" and "\n" not in c.text
    assert "".join(c.text[a:b] for a, b in c.offsets) == c.text
