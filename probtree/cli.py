"""The ``probtree`` command line: ``demo`` plus one subcommand group per system.

Each system plugs itself in with a module that defines ``register(subparsers)`` (adds its
subcommand group, each leaf parser setting ``func=callable(args) -> int``) and, for the demo, a
module with ``run(out_dir: pathlib.Path, seed: int) -> None`` that prints what it did. Modules are
found by name, so a system that is not installed (or not written yet) is simply absent.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
import time
from collections.abc import Sequence
from pathlib import Path

# (subcommand module) registered in this order.
_COMMAND_MODULES = (
    "probtree.qa.cli",
    "probtree.lm.cli",
    "grammar.cli",
    "bayes.meta.cli",
    "bayes.ncd.cli",
)

# (title, module with run(out_dir, seed)) run by `probtree demo` in this order.
_DEMO_MODULES = (
    ("core: trees, forests and passes", "probtree.demo"),
    ("ProbTree QA", "probtree.qa.demo"),
    ("HDP grammar semantic parser", "grammar.demo"),
    ("NIW hierarchical Bayesian meta-learning", "bayes.meta.demo"),
    ("Novel class discovery in tabular data", "bayes.ncd.demo"),
)


def _exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _demo(args: argparse.Namespace) -> int:
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    wanted = set(args.only.split(",")) if args.only else None
    for title, module in _DEMO_MODULES:
        short = module.split(".")[-2] if module.count(".") > 1 else module.split(".")[0]
        if wanted is not None and short not in wanted and module not in wanted:
            continue
        if not _exists(module):
            continue
        print(f"\n=== {title} ===", flush=True)
        start = time.perf_counter()
        importlib.import_module(module).run(out_dir, args.seed)
        print(f"--- {title}: {time.perf_counter() - start:.1f} s", flush=True)
    print(f"\nDemo outputs written under {out_dir.resolve()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Builds the argument parser with every installed system's subcommands."""
    parser = argparse.ArgumentParser(
        prog="probtree",
        description="Probabilistic reasoning and structured prediction over trees, in JAX.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="run a short, real demo of every system on bundled data")
    demo.add_argument("--out", default="demo_out", help="folder for pictures and files")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument(
        "--only", default=None, help="comma-separated subset: probtree,qa,grammar,meta,ncd"
    )
    demo.set_defaults(func=_demo)
    for module in _COMMAND_MODULES:
        if _exists(module):
            importlib.import_module(module).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``probtree`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, FileNotFoundError) as err:
        print(f"probtree: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
