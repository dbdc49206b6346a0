"""`probtree demo`, grammar part: the logical-form layer, feature-keyed HDPs and the parser.

Each piece has its own demo module; this one runs those that are installed, in dependency order.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

_PARTS = (
    ("logical forms and transformations", "grammar.demo_logic"),
    ("feature-keyed HDPs", "grammar.demo_hdp"),
    ("semantic parser", "grammar.demo_parser"),
)


def run(out_dir: Path, seed: int) -> None:
    """Runs every available grammar demo part."""
    for title, module in _PARTS:
        if importlib.util.find_spec(module) is None:
            continue
        print(f"\n--- {title} ---", flush=True)
        importlib.import_module(module).run(out_dir, seed)
