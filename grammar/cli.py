"""``probtree grammar ...`` subcommands.

``probtree grammar check`` reads a grammar file, lexicons, a data set and a type ontology, reports
every problem with file and line, prints a table, and as its last line one JSON object with the
counts (``nonterminals``, ``preterminals``, ``rules``, ``lexicon_items``, ``lfs``,
``lfs_roundtrip``, ``lfs_typecheck``, ...); ``--coverage`` adds ``lfs_derivable``, the number of
sentences the grammar can derive together with their LF (:mod:`grammar.grammar_coverage`).
"""

from __future__ import annotations

import argparse
import json

from grammar.grammar import DATA_DIR, read_examples, read_grammar, read_lexicon

__all__ = ["register", "check", "add_subcommand"]

def register(subparsers: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """Adds the ``grammar`` command group with its ``check`` subcommand; returns the group's
    subparsers so that other modules can add ``train``/``parse`` (see :func:`add_subcommand`)."""
    group = subparsers.add_parser("grammar", help="HDP grammar semantic parser")
    sub = group.add_subparsers(dest="grammar_command", metavar="SUBCOMMAND")
    group.set_defaults(func=lambda args: (group.print_help(), 2)[1])
    p = sub.add_parser("check", help="read and validate a grammar, lexicons, data and types")
    p.add_argument("--grammar", default=str(DATA_DIR / "english.gram"),
                   help="grammar file (default: the bundled english.gram)")
    p.add_argument("--lexicon", action="append", default=None,
                   help="lexicon file, repeatable (default: both bundled GeoQuery lexicons)")
    p.add_argument("--data", default=str(DATA_DIR / "geoquery" / "geoqueries880"),
                   help="data set of parse([tokens], LF). records (default: GeoQuery 880)")
    p.add_argument("--types", default=str(DATA_DIR / "geoquery" / "geoqueries880_types"),
                   help="type ontology (default: geoqueries880_types); 'none' to skip")
    p.add_argument("--coverage", action="store_true",
                   help="also count the data sentences the grammar can derive with their LF "
                        "(slow: about 0.1 s per sentence)")
    p.set_defaults(func=check)
    from grammar.cli_parser import add_commands
    add_commands(sub)  # train, parse
    return sub


def add_subcommand(sub: argparse._SubParsersAction, name: str,
                   **kwargs) -> argparse.ArgumentParser:
    """Adds a leaf parser ``probtree grammar NAME`` to the group returned by :func:`register`."""
    return sub.add_parser(name, **kwargs)


def check(args: argparse.Namespace) -> int:
    """Runs ``probtree grammar check``; returns 0 when everything reads and checks cleanly,
    1 when some data LF fails a check (each reported with file and line)."""
    from grammar.logic import parse, to_text
    from grammar.logic_canonical import check_scope
    from grammar.logic_types import read_ontology, type_check

    gram = read_grammar(args.grammar)
    lexicons = args.lexicon or [str(DATA_DIR / "lexicon"),
                                str(DATA_DIR / "geoquery" / "geoqueries880_lexicon")]
    items = []
    for path in lexicons:
        items.extend(read_lexicon(path, grammar=gram))
    examples = read_examples(args.data) if args.data and args.data != "none" else []
    onto = read_ontology(args.types) if args.types and args.types != "none" else None

    problems: list[str] = []
    roundtrip = typecheck = scoped = 0
    for ex in examples:
        where = f"{args.data}:{ex.line}"
        if parse(to_text(ex.lf)) is ex.lf:
            roundtrip += 1
        else:
            problems.append(f"{where}: logical form does not print back to itself")
        scope = check_scope(ex.lf)
        scoped += not scope
        problems.extend(f"{where}: {p}" for p in scope)
        if onto is not None:
            if type_check(ex.lf, onto):
                typecheck += 1
            else:
                problems.append(f"{where}: logical form does not type-check: {to_text(ex.lf)}")

    derivable_count = None
    if args.coverage:
        from grammar.grammar_coverage import derivable
        derivable_count = 0
        for ex in examples:
            if derivable(gram, ex.tokens, ex.lf):
                derivable_count += 1
            else:
                problems.append(f"{args.data}:{ex.line}: the grammar cannot derive this sentence "
                                f"with its logical form")
    figures = {
        "nonterminals": gram.count("nonterminal"),
        "preterminals": gram.count("preterminal"),
        "number_preterminals": gram.count("number_preterminal"),
        "string_preterminals": gram.count("string_preterminal"),
        "rules": len(gram.rules) + len(gram.terminal_rules),
        "nonterminal_rules": len(gram.rules),
        "terminal_rules": len(gram.terminal_rules),
        "functions": len(gram.function_names),
        "features": len(gram.feature_names),
        "lexicon_items": len(items),
        "lfs": len(examples),
        "lfs_roundtrip": roundtrip,
        "lfs_scope": scoped,
        "lfs_typecheck": typecheck if onto is not None else None,
        "lfs_derivable": derivable_count,
        "problems": len(problems),
    }
    for p in problems:
        print(p)
    print(f"{'what':<22}{'count':>8}")
    for key, value in figures.items():
        print(f"{key:<22}{'-' if value is None else value:>8}")
    print(json.dumps(figures))
    return 0 if not problems else 1


def _main() -> None:  # pragma: no cover - convenience for `python -m grammar.cli`
    parser = argparse.ArgumentParser(prog="grammar")
    register(parser.add_subparsers())
    args = parser.parse_args()
    raise SystemExit(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    _main()
