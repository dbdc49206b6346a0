"""A Llama-family decoder in pure JAX: RMSNorm, rotary embeddings, grouped-query attention,
SwiGLU, tied or untied embeddings, and a preallocated KV cache addressed by absolute position.

Parameters are a plain pytree of arrays with the layers stacked on a leading axis, so the layers
run as one :func:`jax.lax.scan` (one layer is compiled, not ``n_layers``). The KV cache has one
slot per absolute position: a token at position ``p`` writes slot ``p`` and attends to slots
``<= p``. Rows of a batch may sit at different positions (per-row positions), a prefix shared by
every row can be passed once (its keys and values are attended to by all rows, and the rows'
caches start after it), and padding tokens write to the out-of-range slot ``S`` which scatter
drops. Every slot of a row's own cache that a token attends to was written by that row itself, so
no validity mask is needed there; a shared prefix's stored keys may be padded past its length,
and those slots are masked.

Deviation from the house style: the network is a set of pure functions over a parameter pytree
rather than a flax NNX module, because it is inference-only, its weights come from files
(GGUF/safetensors), and stacking layers for ``scan`` is the point; there is nothing to train.
Rotary scaling variants (Llama 3.1 "llama3", YaRN) are not implemented; loaders reject them.

References:
    Touvron et al., "LLaMA: Open and Efficient Foundation Language Models" (2023).
    Su et al., "RoFormer: Enhanced Transformer with Rotary Position Embedding" (2021).
    Ainslie et al., "GQA: Training Generalized Multi-Query Transformer Models" (2023).
    Shazeer, "GLU Variants Improve Transformer" (2020).
    Zhang & Sennrich, "Root Mean Square Layer Normalization" (2019).
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "KVCache",
    "LlamaConfig",
    "forward",
    "init_cache",
    "init_params",
    "logits_from_hidden",
]


@dataclasses.dataclass(frozen=True)
class LlamaConfig:
    """Architecture of a Llama-family model (hashable: it is a static jit argument).

    Attributes:
        vocab_size, dim, n_layers, n_heads, n_kv_heads, ffn_dim: sizes; ``n_heads`` must be a
            multiple of ``n_kv_heads`` (grouped-query attention).
        head_dim: per-head size (``dim // n_heads`` when None).
        rope_theta: rotary base.
        norm_eps: RMSNorm epsilon.
        tie_embeddings: whether the output projection is the transposed embedding.
        max_seq_len: longest sequence (prompt + generation) the backend accepts.
    """

    vocab_size: int
    dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    ffn_dim: int
    head_dim: int | None = None
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    tie_embeddings: bool = False
    max_seq_len: int = 2048

    def __post_init__(self):
        for f in ("vocab_size", "dim", "n_layers", "n_heads", "n_kv_heads", "ffn_dim"):
            v = getattr(self, f)
            if not isinstance(v, int) or v <= 0:
                raise ValueError(f"LlamaConfig.{f}: expected a positive int, got {v!r}")
        if self.n_heads % self.n_kv_heads:
            raise ValueError(
                f"LlamaConfig: n_heads ({self.n_heads}) must be a multiple of n_kv_heads "
                f"({self.n_kv_heads})"
            )
        if self.head_dim is None:
            if self.dim % self.n_heads:
                raise ValueError("LlamaConfig: dim must be divisible by n_heads")
            object.__setattr__(self, "head_dim", self.dim // self.n_heads)
        if self.head_dim % 2:
            raise ValueError(f"LlamaConfig.head_dim: expected even, got {self.head_dim}")

    @property
    def n_params(self) -> int:
        """Number of parameters."""
        d, h, kv, hd, f = self.dim, self.n_heads, self.n_kv_heads, self.head_dim, self.ffn_dim
        per_layer = 2 * d + d * h * hd * 2 + d * kv * hd * 2 + 3 * d * f
        out = 0 if self.tie_embeddings else d * self.vocab_size
        return self.vocab_size * d + self.n_layers * per_layer + d + out


class KVCache(NamedTuple):
    """Keys and values of every layer, ``(n_layers, batch, slots, n_kv_heads, head_dim)``."""

    k: jax.Array
    v: jax.Array


def init_cache(cfg: LlamaConfig, batch: int, slots: int, dtype=jnp.float32) -> KVCache:
    """An all-zero cache for ``batch`` rows and ``slots`` positions."""
    shape = (cfg.n_layers, batch, slots, cfg.n_kv_heads, cfg.head_dim)
    return KVCache(jnp.zeros(shape, dtype), jnp.zeros(shape, dtype))


def init_params(key: jax.Array, cfg: LlamaConfig, scale: float = 0.02, dtype=jnp.float32) -> dict:
    """Random normal weights (for tests), norms set to 1 + small noise.

    Layout (``L`` layers, ``D`` dim, ``H``/``K`` heads, ``E`` head dim, ``F`` ffn, ``V`` vocab):
    ``embed (V, D)``, ``layers`` = {``attn_norm (L, D)``, ``wq (L, D, H*E)``, ``wk (L, D, K*E)``,
    ``wv (L, D, K*E)``, ``wo (L, H*E, D)``, ``mlp_norm (L, D)``, ``w_gate (L, D, F)``,
    ``w_up (L, D, F)``, ``w_down (L, F, D)``}, ``norm (D,)``, and ``lm_head (D, V)`` unless tied.
    Linear maps act as ``x @ w`` (the transpose of PyTorch's ``nn.Linear.weight``).
    """
    L, D, F, V = cfg.n_layers, cfg.dim, cfg.ffn_dim, cfg.vocab_size
    qd, kd = cfg.n_heads * cfg.head_dim, cfg.n_kv_heads * cfg.head_dim
    shapes = {
        "wq": (L, D, qd), "wk": (L, D, kd), "wv": (L, D, kd), "wo": (L, qd, D),
        "w_gate": (L, D, F), "w_up": (L, D, F), "w_down": (L, F, D),
    }
    keys = jax.random.split(key, len(shapes) + 5)
    layers = {
        name: (scale * jax.random.normal(k, s)).astype(dtype)
        for k, (name, s) in zip(keys, shapes.items())
    }
    layers["attn_norm"] = (1 + 0.1 * jax.random.normal(keys[-5], (L, D))).astype(dtype)
    layers["mlp_norm"] = (1 + 0.1 * jax.random.normal(keys[-4], (L, D))).astype(dtype)
    params = {
        "embed": (scale * jax.random.normal(keys[-3], (V, D))).astype(dtype),
        "layers": layers,
        "norm": (1 + 0.1 * jax.random.normal(keys[-2], (D,))).astype(dtype),
    }
    if not cfg.tie_embeddings:
        params["lm_head"] = (scale * jax.random.normal(keys[-1], (D, V))).astype(dtype)
    return params


def check_params(params: dict, cfg: LlamaConfig) -> None:
    """Raises ValueError naming the first weight whose shape does not match ``cfg``."""
    ref = jax.eval_shape(lambda: init_params(jax.random.key(0), cfg))
    flat_ref = dict(jax.tree_util.tree_flatten_with_path(ref)[0])
    flat = dict(jax.tree_util.tree_flatten_with_path(params)[0])
    if set(map(str, flat_ref)) != set(map(str, flat)):
        raise ValueError(
            "params: expected weights "
            f"{sorted(jax.tree_util.keystr(k) for k in flat_ref)}, "
            f"got {sorted(jax.tree_util.keystr(k) for k in flat)}"
        )
    for path, leaf in flat_ref.items():
        got = np.shape(flat[path])
        if tuple(got) != tuple(leaf.shape):
            raise ValueError(
                f"params{jax.tree_util.keystr(path)}: expected shape {leaf.shape}, got {got}"
            )


def rms_norm(x: jax.Array, w: jax.Array, eps: float) -> jax.Array:
    """RMSNorm computed in float32: ``x / sqrt(mean(x^2) + eps) * w``."""
    x32 = x.astype(jnp.float32)
    y = x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + eps)
    w = w.astype(jnp.float32).reshape((1,) * (x.ndim - 1) + w.shape)
    return (y * w).astype(x.dtype)


def rope(x: jax.Array, positions: jax.Array, theta: float) -> jax.Array:
    """Rotary embedding in the "rotate half" layout (as in Hugging Face Llama).

    Args:
        x: ``(B, T, heads, E)``.
        positions: ``(B, T)`` int absolute positions.
    """
    e = x.shape[-1]
    inv_freq = 1.0 / (theta ** (jnp.arange(0, e, 2, dtype=jnp.float32) / e))
    ang = positions.astype(jnp.float32)[..., None] * inv_freq[None, None]  # (B, T, E/2)
    ang = jnp.concatenate([ang, ang], axis=-1)[:, :, None, :]
    cos, sin = jnp.cos(ang), jnp.sin(ang)
    x1, x2 = jnp.split(x.astype(jnp.float32), 2, axis=-1)
    rot = jnp.concatenate([-x2, x1], axis=-1)
    return (x.astype(jnp.float32) * cos + rot * sin).astype(x.dtype)


def _layer(cfg: LlamaConfig, positions, write_pos, mask, h, lp, li, k_all, v_all, prefix):
    """One decoder layer; writes its keys/values into layer ``li`` of the full caches.

    The caches are the scan's carry (updated in place by XLA), not per-layer slices stacked as
    the scan's output: stacking copied the whole cache at every step, which made a decode step's
    cost grow with batch x slots (2x slower at 16 rows x 1024 slots on CPU).

    ``prefix`` is None or ``(pk, pv, pmask)``: this layer's keys/values of a prefix shared by
    every row, ``(P, n_kv_heads, head_dim)``, and which of its P slots are real. Every row
    attends to them and to its own cache; one softmax runs over both.
    """
    b, t, _ = h.shape
    hd, kv = cfg.head_dim, cfg.n_kv_heads
    g = cfg.n_heads // kv
    x = rms_norm(h, lp["attn_norm"], cfg.norm_eps)
    q = (x @ lp["wq"]).reshape(b, t, cfg.n_heads, hd)
    k = (x @ lp["wk"]).reshape(b, t, kv, hd)
    v = (x @ lp["wv"]).reshape(b, t, kv, hd)
    q = rope(q, positions, cfg.rope_theta)
    k = rope(k, positions, cfg.rope_theta)
    rows = jnp.arange(b)[:, None]
    k_all = k_all.at[li, rows, write_pos].set(k.astype(k_all.dtype), mode="drop")
    v_all = v_all.at[li, rows, write_pos].set(v.astype(v_all.dtype), mode="drop")
    k_cache, v_cache = k_all[li], v_all[li]
    qg = q.reshape(b, t, kv, g, hd)
    scale = 1.0 / math.sqrt(hd)
    scores = jnp.einsum("btkgd,bskd->bkgts", qg, k_cache.astype(q.dtype)).astype(jnp.float32)
    scores = jnp.where(mask[:, None, None], scores * scale, -jnp.inf)
    if prefix is not None:
        pk, pv, pmask = prefix
        n_p = pk.shape[0]
        # one matrix product over every row and query position against the shared keys
        # (a GEMM), instead of a per-row copy of the prefix read at every step
        sp = jnp.einsum("btkgd,pkd->bkgtp", qg, pk.astype(q.dtype)).astype(jnp.float32)
        sp = jnp.where(pmask, sp * scale, -jnp.inf)
        scores = jnp.concatenate([sp, scores], axis=-1)
    p = jax.nn.softmax(scores, axis=-1).astype(q.dtype)
    if prefix is not None:
        o = jnp.einsum("bkgts,bskd->btkgd", p[..., n_p:], v_cache.astype(q.dtype))
        o = o + jnp.einsum("bkgtp,pkd->btkgd", p[..., :n_p], pv.astype(q.dtype))
    else:
        o = jnp.einsum("bkgts,bskd->btkgd", p, v_cache.astype(q.dtype))
    h = h + o.reshape(b, t, -1) @ lp["wo"]
    x = rms_norm(h, lp["mlp_norm"], cfg.norm_eps)
    h = h + (jax.nn.silu(x @ lp["w_gate"]) * (x @ lp["w_up"])) @ lp["w_down"]
    return h, k_all, v_all


def forward(
    params: dict,
    cfg: LlamaConfig,
    tokens: jax.Array,
    positions: jax.Array,
    write_pos: jax.Array,
    cache: KVCache,
    n_layers: int | None = None,
    prefix: tuple[jax.Array, jax.Array, jax.Array] | None = None,
) -> tuple[jax.Array, KVCache]:
    """Runs tokens through the decoder, reading and writing the KV cache.

    Args:
        params: weights (see :func:`init_params`).
        cfg: the architecture.
        tokens: ``(B, T)`` int token ids.
        positions: ``(B, T)`` int absolute position of each token (rotary phase; a token
            attends to cache slots ``<= position - prefix_len``).
        write_pos: ``(B, T)`` int cache slot each token's key/value goes to; ``>= slots`` drops
            the write (padding).
        cache: :class:`KVCache` with ``B`` rows.
        n_layers: run only the first ``n_layers`` layers and skip the final norm (for
            layer-by-layer checks); None runs the whole model.
        prefix: None, or ``(k, v, prefix_len)``: keys and values ``(n_layers, P, n_kv_heads,
            head_dim)`` of a prefix shared by every row, of which the first ``prefix_len``
            slots (absolute positions ``0 .. prefix_len - 1``) are real. The rows' own cache
            then holds positions from ``prefix_len`` on: slot ``s`` is position
            ``s + prefix_len``. Equal, up to float rounding, to copying the prefix into every
            row's cache, without the copy or its per-row reads.

    Returns:
        ``(hidden (B, T, D), cache)``: final-normed hidden states (or the residual stream after
        ``n_layers`` layers) and the updated cache.
    """
    tokens = jnp.asarray(tokens)
    if tokens.ndim != 2:
        raise ValueError(f"tokens: expected shape (B, T), got {tokens.shape}")
    if cache.k.shape[1] != tokens.shape[0]:
        raise ValueError(
            f"cache: expected {tokens.shape[0]} rows, got {cache.k.shape[1]}"
        )
    layers = params["layers"]
    ck, cv = cache.k, cache.v
    pk = pv = None
    offset = 0
    if prefix is not None:
        pk, pv, offset = prefix
        if pk.ndim != 4 or pk.shape != pv.shape or pk.shape[0] != ck.shape[0]:
            raise ValueError(
                f"prefix: expected keys and values of shape (n_layers={ck.shape[0]}, P, "
                f"{cfg.n_kv_heads}, {cfg.head_dim}), got {pk.shape} and {pv.shape}"
            )
    if n_layers is not None:
        layers = jax.tree_util.tree_map(lambda a: a[:n_layers], layers)
        ck, cv = ck[:n_layers], cv[:n_layers]
        if pk is not None:
            pk, pv = pk[:n_layers], pv[:n_layers]
    h = params["embed"][tokens]
    slots = ck.shape[2]
    mask = jnp.arange(slots)[None, None, :] + offset <= positions[:, :, None]  # (B, T, S)
    pmask = None if pk is None else jnp.arange(pk.shape[1]) < offset

    def body(carry, xs):
        h, ck, cv = carry
        lp, li, lpk, lpv = xs
        pre = None if lpk is None else (lpk, lpv, pmask)
        return _layer(cfg, positions, write_pos, mask, h, lp, li, ck, cv, pre), None

    n = jax.tree_util.tree_leaves(layers)[0].shape[0]
    (h, ck, cv), _ = jax.lax.scan(body, (h, ck, cv), (layers, jnp.arange(n), pk, pv))
    if n_layers is not None:
        return h, KVCache(ck, cv)
    return rms_norm(h, params["norm"], cfg.norm_eps), KVCache(ck, cv)


def logits_from_hidden(params: dict, cfg: LlamaConfig, hidden: jax.Array) -> jax.Array:
    """Output logits (float32) of final hidden states ``(..., D) -> (..., V)``."""
    w = params["embed"].T if cfg.tie_embeddings else params["lm_head"]
    return (hidden @ w).astype(jnp.float32)
