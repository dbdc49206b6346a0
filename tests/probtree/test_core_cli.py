"""The `probtree` command: help lists every installed system; the core demo runs for real."""

from __future__ import annotations

import re

import pytest

from probtree.cli import build_parser, main


def test_help_lists_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in ("demo", "qa", "grammar", "meta", "ncd"):
        assert re.search(rf"\b{name}\b", out), f"{name} missing from --help"
    assert main([]) == 2  # no command: help and a usage error code


def test_core_demo_runs(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--only", "probtree", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Forest: 10000 trees" in out
    speedup = float(re.search(r"speed-up (\d+)x", out).group(1))
    assert speedup > 1.0  # the jit passes beat node-by-node Python even on a loaded machine
    agree = float(re.search(r"real club split: ([\d.]+)%", out).group(1))
    assert agree >= 90.0  # Fiedler split of Zachary's club: 33 or 34 of 34 members


def test_parser_builds_without_running() -> None:
    args = build_parser().parse_args(["demo", "--seed", "3"])
    assert args.seed == 3 and args.func is not None
