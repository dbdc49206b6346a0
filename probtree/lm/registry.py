"""``load(spec)``: one string names a backend.

Specs (options follow after commas as ``key=value``):

* ``"smollm2"``: the bundled SmolLM2-135M-Instruct (JAX), e.g. ``"smollm2,max_batch=8"``;
* ``"openai:URL"``: an OpenAI-compatible server, e.g.
  ``"openai:http://127.0.0.1:8000/v1,model=NAME,chat=true,concurrency=16"``;
* ``"replay:FILE"``: recorded completions;
* a local checkpoint: a ``.gguf`` file, or a folder with ``config.json``, ``*.safetensors`` and
  ``tokenizer.json``.

Every spec also takes ``cache=PATH``, which wraps the backend in an on-disk
:class:`~probtree.lm.cache.CachedLM`.
"""

from __future__ import annotations

from pathlib import Path

from probtree.lm.base import LanguageModel

__all__ = ["load", "parse_spec"]

_INT_OPTS = {"max_batch", "concurrency", "max_retries", "min_prefix_tokens", "seed",
             "prefix_cache_tokens", "score_token_budget", "prefill_chunk"}
_FLOAT_OPTS = {"timeout", "backoff", "backoff_max"}
_BOOL_OPTS = {"chat"}
_JAX_OPTS = {"max_batch", "min_prefix_tokens", "prefix_cache_tokens", "score_token_budget",
             "prefill_chunk"}
_HTTP_OPTS = {"model", "chat", "api_key_env", "concurrency", "max_retries", "timeout",
              "backoff", "backoff_max", "seed"}


def parse_spec(spec: str) -> tuple[str, str, dict]:
    """Splits a spec into ``(kind, target, options)``.

    Raises:
        ValueError: malformed options or unknown values.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"spec: expected a non-empty string, got {spec!r}")
    head, *rest = spec.split(",")
    opts: dict = {}
    for item in rest:
        if "=" not in item:
            raise ValueError(f"spec {spec!r}: option {item!r} is not key=value")
        k, v = (s.strip() for s in item.split("=", 1))
        try:
            if k in _INT_OPTS:
                opts[k] = int(v)
            elif k in _FLOAT_OPTS:
                opts[k] = float(v)
            elif k in _BOOL_OPTS:
                if v.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(v)
                opts[k] = v.lower() in ("true", "1", "yes")
            else:
                opts[k] = v
        except ValueError:
            raise ValueError(f"spec {spec!r}: bad value {v!r} for option {k!r}") from None
    head = head.strip()
    for kind in ("openai", "replay"):
        if head.startswith(kind + ":"):
            return kind, head[len(kind) + 1 :], opts
    if head == "smollm2":
        return "smollm2", "", opts
    return "path", head, opts


def _only(opts: dict, allowed: set, kind: str) -> dict:
    bad = set(opts) - allowed
    if bad:
        raise ValueError(f"load: options {sorted(bad)} do not apply to {kind} backends; "
                         f"allowed: {sorted(allowed)}")
    return opts


def load(spec: str) -> LanguageModel:
    """Builds the backend a spec names (see the module docstring).

    Raises:
        ValueError: an unknown spec or option.
        FileNotFoundError: a file, folder or the bundled model is missing.

    Example:
        >>> lm = load("replay:tests/data/lm/llama3_tree_generation_cache.jsonl")  # +SKIP
    """
    kind, target, opts = parse_spec(spec)
    cache = opts.pop("cache", None)
    if kind == "openai":
        from probtree.lm.openai_http import OpenAILM

        lm = OpenAILM(target, **_only(opts, _HTTP_OPTS, kind))
    elif kind == "replay":
        from probtree.lm.replay import ReplayLM

        _only(opts, set(), kind)
        lm = ReplayLM(target)
    else:
        from probtree.lm.jax_lm import JaxLM

        jopts = _only(opts, _JAX_OPTS, "JAX")
        if kind == "smollm2":
            from probtree.lm.bundled import smollm2_path
            from probtree.lm.gguf_loader import load_gguf

            cfg, params, tok = load_gguf(smollm2_path())
            name = "jax:smollm2-135m-instruct-q4_1"
        else:
            path = Path(target)
            if path.is_file() and path.suffix == ".gguf":
                from probtree.lm.gguf_loader import load_gguf

                cfg, params, tok = load_gguf(path)
            elif path.is_dir():
                from probtree.lm.safetensors_loader import load_safetensors

                cfg, params, tok = load_safetensors(path)
            elif path.exists():
                raise ValueError(f"load: {target!r} is neither a .gguf file nor a model folder")
            else:
                raise ValueError(
                    f"load: unknown spec {spec!r}; expected 'smollm2', 'openai:URL', "
                    "'replay:FILE', a .gguf file or a checkpoint folder"
                )
            name = f"jax:{path.resolve().name}"
        lm = JaxLM(cfg, params, tok, name=name, **jopts)
    if cache is not None:
        from probtree.lm.cache import CachedLM

        lm = CachedLM(lm, cache)
    return lm
