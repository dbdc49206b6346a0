"""`probtree grammar check` on the bundled data and on broken files."""

import json
import re

import pytest

from probtree.cli import main


def test_check_bundled(capsys):
    rc = main(["grammar", "check"])
    out = capsys.readouterr().out.strip().splitlines()
    figures = json.loads(out[-1])
    assert figures["nonterminals"] == 12 and figures["preterminals"] == 47
    assert figures["number_preterminals"] == 1 and figures["rules"] == 240
    assert figures["lexicon_items"] == 23 + 141
    assert figures["lfs"] == 880 and figures["lfs_roundtrip"] == 880
    assert figures["lfs_typecheck"] == 878 and figures["lfs_scope"] == 880
    # the two ill-typed LFs are reported with file and line, and the exit status says so
    assert rc == 1
    assert out[0].endswith("geoqueries880:483: logical form does not type-check: "
                           "answer(A,highest(A,(place(A),loc(A,B),const(B,cityid('san francisco',"
                           "_)))))")


def test_check_subset_without_types(tmp_path, capsys):
    data = tmp_path / "data"
    data.write_text("parse([what,rivers,?], answer(A,river(A))).\n")
    rc = main(["grammar", "check", "--data", str(data), "--types", "none"])
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rc == 0 and figures["lfs"] == 1 and figures["lfs_typecheck"] is None


@pytest.mark.parametrize("content, message", [
    ("parse([a], answer(A,).\n", r"data:1:.*invalid logical form"),
])
def test_check_reports_file_and_line(tmp_path, capsys, content, message):
    data = tmp_path / "data"
    data.write_text(content)
    rc = main(["grammar", "check", "--data", str(data)])
    err = capsys.readouterr().err
    assert rc == 2 and "probtree: error:" in err
    assert f"{data}:1:" in err and re.search(message, err)


def test_check_refuses_unknown_function(tmp_path, capsys):
    gram = tmp_path / "g.gram"
    gram.write_text("S nonterminal {} {1.0} {1.0} {} 1 1.0 {}\n"
                    "W preterminal {} {1.0} {1.0} {} 1 1.0 {}\nS -> W:frobnicate\n")
    rc = main(["grammar", "check", "--grammar", str(gram), "--lexicon", str(gram).replace(
        "g.gram", "lex")])
    err = capsys.readouterr().err
    assert rc == 2 and f"{gram}:3: unknown transformation function 'frobnicate'" in err
