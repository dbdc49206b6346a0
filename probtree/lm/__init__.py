"""Language-model backends behind one protocol: completions with per-token log-probs.

``load(spec)`` gives a backend: the bundled SmolLM2 run in JAX (``"smollm2"``), an
OpenAI-compatible server (``"openai:URL"``), recorded completions (``"replay:FILE"``), or a
local GGUF/safetensors checkpoint. Every backend has ``complete(requests)`` and
``score(prompt, continuation)``; see :mod:`probtree.lm.base`.
"""

from probtree.lm.base import Completion, LanguageModel, LMError, Request
from probtree.lm.cache import CachedLM, CompletionCache
from probtree.lm.registry import load, parse_spec
from probtree.lm.replay import ReplayLM

__all__ = [
    "CachedLM",
    "Completion",
    "CompletionCache",
    "LMError",
    "LanguageModel",
    "ReplayLM",
    "Request",
    "load",
    "parse_spec",
]
