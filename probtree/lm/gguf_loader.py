"""Loads Llama-family weights and the tokenizer from a GGUF file (llama.cpp's format).

The file is read with the ``gguf`` package (memory-mapped); quantized tensors are dequantized
here, in NumPy, to the compute dtype. Supported tensor types: F32, F16, BF16, Q8_0, Q4_0, Q4_1
(blocks of 32 values: ``x = d * q`` for Q8_0, ``x = d * (q - 8)`` for Q4_0 and ``x = d * q + m``
for Q4_1, with ``d``/``m`` float16 per block and 4-bit ``q`` stored low nibbles first).

llama.cpp's converter permutes the rows of the query and key projections so that rotary pairs are
adjacent (``(head, 2, E/2) -> (head, E/2, 2)``); :func:`load_gguf` undoes it, so the weights use
the "rotate half" layout of :mod:`probtree.lm.llama` (and of Hugging Face Llama).

References:
    ggml / llama.cpp GGUF specification (docs/gguf.md) and ``ggml-quants.c`` block layouts.
"""

from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp
import numpy as np

from probtree.lm.llama import LlamaConfig, check_params
from probtree.lm.tokenizer import Tokenizer

__all__ = ["dequantize", "load_gguf", "read_gguf_metadata"]

_BLOCK = 32


def _f16(b: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(b).view(np.float16).astype(np.float32)


def dequantize(data: np.ndarray, type_name: str, shape: tuple[int, ...]) -> np.ndarray:
    """Dequantizes one GGUF tensor's raw data to float32.

    Args:
        data: the tensor's data as the ``gguf`` reader gives it (uint8 blocks for quantized
            types, the values for float types).
        type_name: GGML type name: ``"F32"``, ``"F16"``, ``"BF16"``, ``"Q8_0"``, ``"Q4_0"``,
            ``"Q4_1"``.
        shape: the logical shape in row-major order (rows, cols), i.e. GGUF ``ne`` reversed.

    Returns:
        A float32 array of ``shape``.

    Raises:
        ValueError: an unsupported type, or data whose size does not fit ``shape``.
    """
    n = int(np.prod(shape))
    raw = np.asarray(data)
    if type_name == "F32":
        out = raw.astype(np.float32, copy=False).reshape(-1)
    elif type_name == "F16":
        out = raw.view(np.float16).astype(np.float32).reshape(-1)
    elif type_name == "BF16":
        u16 = np.ascontiguousarray(raw).view(np.uint16).reshape(-1).astype(np.uint32)
        out = (u16 << 16).view(np.float32)
    elif type_name in ("Q8_0", "Q4_0", "Q4_1"):
        nbytes = {"Q8_0": 34, "Q4_0": 18, "Q4_1": 20}[type_name]
        blocks = np.ascontiguousarray(raw).view(np.uint8).reshape(-1, nbytes)
        if blocks.shape[0] * _BLOCK != n:
            raise ValueError(
                f"dequantize: {type_name} data holds {blocks.shape[0] * _BLOCK} values, "
                f"shape {shape} needs {n}"
            )
        d = _f16(blocks[:, :2])
        if type_name == "Q8_0":
            q = blocks[:, 2:].view(np.int8).astype(np.float32)
            out = (d * q).reshape(-1)
        else:
            qs = blocks[:, -16:]
            q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32)
            if type_name == "Q4_0":
                out = (d * (q - 8.0)).reshape(-1)
            else:
                m = _f16(blocks[:, 2:4])
                out = (d * q + m).reshape(-1)
    else:
        raise ValueError(
            f"dequantize: unsupported GGML type {type_name!r}; supported: "
            "F32, F16, BF16, Q8_0, Q4_0, Q4_1"
        )
    if out.size != n:
        raise ValueError(f"dequantize: data holds {out.size} values, shape {shape} needs {n}")
    return out.reshape(shape)


def _value(field):
    if hasattr(field, "contents"):
        return field.contents()
    # Older gguf: decode from parts.
    import gguf

    vtype = field.types[0]
    if vtype == gguf.GGUFValueType.STRING:
        return str(bytes(field.parts[field.data[0]]), "utf-8")
    if vtype == gguf.GGUFValueType.ARRAY:
        sub = field.types[-1]
        if sub == gguf.GGUFValueType.STRING:
            return [str(bytes(field.parts[i]), "utf-8") for i in field.data]
        return [field.parts[i].tolist()[0] for i in field.data]
    return field.parts[field.data[0]].tolist()[0]


def read_gguf_metadata(path: str | Path) -> dict:
    """All key/value metadata of a GGUF file as plain Python values."""
    import gguf

    reader = gguf.GGUFReader(str(path))
    return {k: _value(f) for k, f in reader.fields.items() if not k.startswith("GGUF.")}


def _unpermute(w: np.ndarray, n_heads: int) -> np.ndarray:
    out, inp = w.shape
    return w.reshape(n_heads, out // n_heads // 2, 2, inp).swapaxes(1, 2).reshape(out, inp)


def config_from_metadata(meta: dict, tensor_names: set[str]) -> LlamaConfig:
    """The :class:`LlamaConfig` described by GGUF metadata.

    Raises:
        ValueError: not a Llama-family file, or a rope scaling this decoder lacks.
    """
    arch = meta.get("general.architecture")
    if arch != "llama":
        raise ValueError(f"GGUF general.architecture: expected 'llama', got {arch!r}")
    if "rope_freqs.weight" in tensor_names or meta.get("llama.rope.scaling.type") not in (
        None,
        "none",
    ):
        raise ValueError("GGUF: rotary scaling (rope_freqs / rope.scaling) is not supported")
    p = "llama."
    n_heads = int(meta[p + "attention.head_count"])
    dim = int(meta[p + "embedding_length"])
    vocab = int(meta.get(p + "vocab_size") or len(meta["tokenizer.ggml.tokens"]))
    return LlamaConfig(
        vocab_size=vocab,
        dim=dim,
        n_layers=int(meta[p + "block_count"]),
        n_heads=n_heads,
        n_kv_heads=int(meta.get(p + "attention.head_count_kv", n_heads)),
        ffn_dim=int(meta[p + "feed_forward_length"]),
        head_dim=int(meta.get(p + "attention.key_length", dim // n_heads)),
        rope_theta=float(meta.get(p + "rope.freq_base", 10000.0)),
        norm_eps=float(meta.get(p + "attention.layer_norm_rms_epsilon", 1e-5)),
        tie_embeddings="output.weight" not in tensor_names,
        max_seq_len=int(meta.get(p + "context_length", 2048)),
    )


def load_gguf(
    path: str | Path, *, dtype=jnp.float32, n_layers: int | None = None
) -> tuple[LlamaConfig, dict, Tokenizer]:
    """Loads a Llama-family GGUF file: config, dequantized weights and tokenizer.

    Args:
        path: the ``.gguf`` file.
        dtype: compute dtype of the weights.
        n_layers: load only the first ``n_layers`` blocks (the config says so too); None loads all.

    Returns:
        ``(config, params, tokenizer)``; params as in :func:`probtree.lm.llama.init_params`.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a Llama GGUF, or an unsupported tensor type or tokenizer.
    """
    import gguf

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"GGUF file not found: {path}")
    reader = gguf.GGUFReader(str(path))
    meta = {k: _value(f) for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    tensors = {t.name: t for t in reader.tensors}
    cfg = config_from_metadata(meta, set(tensors))
    if n_layers is not None:
        if not 1 <= n_layers <= cfg.n_layers:
            raise ValueError(f"n_layers: expected 1..{cfg.n_layers}, got {n_layers}")
        import dataclasses

        cfg = dataclasses.replace(cfg, n_layers=n_layers)

    def get(name: str) -> np.ndarray:
        if name not in tensors:
            raise ValueError(f"GGUF {path.name}: missing tensor {name!r}")
        t = tensors[name]
        shape = tuple(int(x) for x in reversed(t.shape.tolist()))
        return dequantize(t.data, t.tensor_type.name, shape)

    def cast(a: np.ndarray):
        return jnp.asarray(a, dtype=dtype)

    names = {
        "attn_norm": "attn_norm", "mlp_norm": "ffn_norm", "wq": "attn_q", "wk": "attn_k",
        "wv": "attn_v", "wo": "attn_output", "w_gate": "ffn_gate", "w_up": "ffn_up",
        "w_down": "ffn_down",
    }
    stacks: dict[str, list[np.ndarray]] = {k: [] for k in names}
    for i in range(cfg.n_layers):
        for ours, theirs in names.items():
            w = get(f"blk.{i}.{theirs}.weight")
            if ours == "wq":
                w = _unpermute(w, cfg.n_heads)
            elif ours == "wk":
                w = _unpermute(w, cfg.n_kv_heads)
            stacks[ours].append(w if w.ndim == 1 else w.T)
    params = {
        "embed": cast(get("token_embd.weight")),
        "layers": {k: cast(np.stack(v)) for k, v in stacks.items()},
        "norm": cast(get("output_norm.weight")),
    }
    if not cfg.tie_embeddings:
        params["lm_head"] = cast(get("output.weight").T)
    check_params(params, cfg)
    tok_fields = {
        k[len("tokenizer.ggml.") :]: v for k, v in meta.items() if k.startswith("tokenizer.ggml.")
    }
    return cfg, params, Tokenizer.from_gguf_fields(tok_fields)
