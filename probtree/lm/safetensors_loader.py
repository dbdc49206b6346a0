"""Loads Hugging Face Llama-family checkpoints (``config.json`` + ``*.safetensors`` +
``tokenizer.json``) for users with their own weights.

Tensor names follow ``transformers``' ``LlamaForCausalLM`` (``model.layers.{i}.self_attn.q_proj``
...); PyTorch ``Linear`` weights ``(out, in)`` are transposed to this package's ``x @ w`` layout.
Sharded checkpoints (``model.safetensors.index.json``) are read shard by shard. Nothing is fetched
from a hub: the folder must hold every file.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from probtree.lm.llama import LlamaConfig, check_params
from probtree.lm.tokenizer import Tokenizer

__all__ = ["config_from_hf", "load_safetensors"]

_LLAMA_TYPES = {"llama", "mistral", "qwen2", "smollm", "smollm2"}


def config_from_hf(conf: dict) -> LlamaConfig:
    """The :class:`LlamaConfig` of a Hugging Face ``config.json`` dict.

    Raises:
        ValueError: not a Llama-family model, or rope scaling / attention biases this decoder
            lacks.
    """
    mtype = conf.get("model_type")
    if mtype not in _LLAMA_TYPES:
        raise ValueError(f"config.json model_type: expected one of {_LLAMA_TYPES}, got {mtype!r}")
    if conf.get("rope_scaling"):
        raise ValueError(f"config.json rope_scaling: not supported, got {conf['rope_scaling']!r}")
    if conf.get("attention_bias") or conf.get("mlp_bias"):
        raise ValueError("config.json: attention/MLP biases are not supported")
    if mtype == "qwen2":
        raise ValueError("config.json: qwen2 uses q/k/v biases, which are not supported")
    n_heads = int(conf["num_attention_heads"])
    return LlamaConfig(
        vocab_size=int(conf["vocab_size"]),
        dim=int(conf["hidden_size"]),
        n_layers=int(conf["num_hidden_layers"]),
        n_heads=n_heads,
        n_kv_heads=int(conf.get("num_key_value_heads") or n_heads),
        ffn_dim=int(conf["intermediate_size"]),
        head_dim=conf.get("head_dim"),
        rope_theta=float(conf.get("rope_theta", 10000.0)),
        norm_eps=float(conf.get("rms_norm_eps", 1e-5)),
        tie_embeddings=bool(conf.get("tie_word_embeddings", False)),
        max_seq_len=int(conf.get("max_position_embeddings", 2048)),
    )


def _read_tensors(folder: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    index = folder / "model.safetensors.index.json"
    if index.is_file():
        files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    else:
        files = sorted(p.name for p in folder.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"no .safetensors files in {folder}")
    out: dict[str, np.ndarray] = {}
    for f in files:
        out.update(load_file(str(folder / f)))
    return out


def load_safetensors(
    folder: str | Path, *, dtype=jnp.float32, tokenizer: bool = True
) -> tuple[LlamaConfig, dict, Tokenizer | None]:
    """Loads a Hugging Face Llama-family checkpoint folder.

    Args:
        folder: holds ``config.json``, the ``.safetensors`` weights and ``tokenizer.json``.
        dtype: compute dtype of the weights.
        tokenizer: whether to load ``tokenizer.json`` (error if missing); False returns None.

    Returns:
        ``(config, params, tokenizer)``.

    Raises:
        FileNotFoundError: a required file is missing.
        ValueError: unsupported architecture, or missing/misshapen tensors.
    """
    folder = Path(folder)
    conf_path = folder / "config.json"
    if not conf_path.is_file():
        raise FileNotFoundError(f"config.json not found in {folder}")
    cfg = config_from_hf(json.loads(conf_path.read_text(encoding="utf-8")))
    raw = _read_tensors(folder)

    def get(name: str) -> np.ndarray:
        if name not in raw:
            raise ValueError(f"checkpoint {folder}: missing tensor {name!r}")
        a = raw[name]
        if a.dtype.kind == "V" or str(a.dtype) == "bfloat16":
            a = (a.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
        return a.astype(np.float32, copy=False)

    names = {
        "attn_norm": "input_layernorm", "mlp_norm": "post_attention_layernorm",
        "wq": "self_attn.q_proj", "wk": "self_attn.k_proj", "wv": "self_attn.v_proj",
        "wo": "self_attn.o_proj", "w_gate": "mlp.gate_proj", "w_up": "mlp.up_proj",
        "w_down": "mlp.down_proj",
    }
    layers = {}
    for ours, theirs in names.items():
        ws = [get(f"model.layers.{i}.{theirs}.weight") for i in range(cfg.n_layers)]
        layers[ours] = jnp.asarray(np.stack([w if w.ndim == 1 else w.T for w in ws]), dtype)
    params = {
        "embed": jnp.asarray(get("model.embed_tokens.weight"), dtype),
        "layers": layers,
        "norm": jnp.asarray(get("model.norm.weight"), dtype),
    }
    if not cfg.tie_embeddings:
        params["lm_head"] = jnp.asarray(get("lm_head.weight").T, dtype)
    check_params(params, cfg)
    tok = Tokenizer.from_file(folder / "tokenizer.json") if tokenizer else None
    return cfg, params, tok
