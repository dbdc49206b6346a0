"""``probtree lm``: complete, score and serve with any backend spec (see :func:`probtree.lm.load`).

    probtree lm complete --model smollm2 "The capital of France is" --max-tokens 8
    probtree lm score --model smollm2 "The capital of France is" " Paris"
    probtree lm serve --model smollm2 --port 8000     # OpenAI-compatible, on 127.0.0.1
"""

from __future__ import annotations

import argparse
import codecs
import json
import time


def _complete(args: argparse.Namespace) -> int:
    from probtree.lm import Request, load

    lm = load(args.model)
    stop = tuple(codecs.decode(s, "unicode_escape") for s in args.stop or ())  # "\\n" -> newline
    reqs = [
        Request(p, max_tokens=args.max_tokens, stop=stop,
                temperature=args.temperature, seed=args.seed)
        for p in args.prompt
    ]
    t0 = time.perf_counter()
    outs = lm.complete(reqs)
    secs = time.perf_counter() - t0
    for r, c in zip(reqs, outs):
        print(f"prompt: {r.prompt!r}")
        print(f"text:   {c.text!r}  ({c.finish_reason})")
        print(f"{'token':>20} {'logprob':>9} {'span':>10}")
        for t, lp, (a, b) in zip(c.tokens, c.logprobs, c.offsets):
            print(f"{t!r:>20} {lp:9.4f} {f'{a}:{b}':>10}")
    n = sum(len(c.tokens) for c in outs)
    print(json.dumps({
        "model": lm.name,
        "completions": [c.to_dict() for c in outs],
        "tokens": n,
        "seconds": round(secs, 3),
    }))
    return 0


def _score(args: argparse.Namespace) -> int:
    from probtree.lm import load

    lm = load(args.model)
    value = lm.score(args.prompt, args.continuation)
    print(f"log p({args.continuation!r} | prompt) = {value:.4f}")
    print(json.dumps({"model": lm.name, "logprob": value}))
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from probtree.lm import load
    from probtree.lm.server import make_app

    lm = load(args.model)
    print(f"serving {lm.name} at http://{args.host}:{args.port}/v1 (Ctrl-C stops)", flush=True)
    uvicorn.run(make_app(lm), host=args.host, port=args.port, log_level="warning")
    return 0


def register(subparsers) -> None:
    """Adds the ``lm`` subcommand group to the ``probtree`` command."""
    lm = subparsers.add_parser("lm", help="language-model backends: complete, score, serve")
    sub = lm.add_subparsers(dest="lm_command", metavar="ACTION")
    spec_help = "backend spec: smollm2 | openai:URL,model=NAME | replay:FILE | PATH"

    c = sub.add_parser("complete", help="complete prompts, printing per-token log-probs")
    c.add_argument("prompt", nargs="+", help="one or more prompts (completed as one batch)")
    c.add_argument("--model", default="smollm2", help=spec_help)
    c.add_argument("--max-tokens", type=int, default=32)
    c.add_argument("--stop", action="append", help="stop string (repeatable)")
    c.add_argument("--temperature", type=float, default=0.0)
    c.add_argument("--seed", type=int, default=0)
    c.set_defaults(func=_complete)

    s = sub.add_parser("score", help="log-prob of a continuation given a prompt")
    s.add_argument("prompt")
    s.add_argument("continuation")
    s.add_argument("--model", default="smollm2", help=spec_help)
    s.set_defaults(func=_score)

    v = sub.add_parser("serve", help="serve a backend over the OpenAI wire format")
    v.add_argument("--model", default="smollm2", help=spec_help)
    v.add_argument("--host", default="127.0.0.1")
    v.add_argument("--port", type=int, default=8000)
    v.set_defaults(func=_serve)
    lm.set_defaults(func=lambda args: (lm.print_help(), 2)[1])
