"""`probtree grammar train` / `probtree grammar parse` end to end on the tiny grammar."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from grammar import train
from probtree.cli import main

TINY = Path(__file__).parent / "data" / "tiny.gram"
TRAIN = """parse([what,rivers,are,in,texas], answer(A,(river(A),loc(A,B),const(B,stateid(texas))))).
parse([what,cities,are,in,ohio], answer(A,(city(A),loc(A,B),const(B,stateid(ohio))))).
parse([what,rivers,cross,ohio], answer(A,(river(A),traverse(A,B),const(B,stateid(ohio))))).
parse([what,cities,are,in,texas], answer(A,(city(A),loc(A,B),const(B,stateid(texas))))).
"""
TEST = "".join(f"parse([what,rivers,{w},{s}], "
               f"answer(A,(river(A),{r}(A,B),const(B,stateid({s}))))).\n"
               for w, r, s in (("cross", "traverse", "texas"), ("are,in", "loc", "ohio")))


def test_train_then_parse(tmp_path, capsys):
    (tmp_path / "train").write_text(TRAIN)
    (tmp_path / "test").write_text(TEST)
    model = tmp_path / "model"
    rc = main(["grammar", "train", "--grammar", str(TINY), "--train", str(tmp_path / "train"),
               "--model", str(model), "--iterations", "2", "--seed", "1"])
    assert rc == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures["pairs"] == 4 and figures["covered"] == 4
    st = train.load(model)
    assert len(st.trees) == 4 and all(t is not None for t in st.trees)
    assert st.model.states["S"].n_observations == 4
    out = tmp_path / "out.jsonl"
    rc = main(["grammar", "parse", "--model", str(model), "--test", str(tmp_path / "test"),
               "--out", str(out), "--time-limit", "10", "--search", "candidates"])
    assert rc == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(res) == {"n", "accuracy", "precision", "recall", "median_seconds"}
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(recs) == res["n"] == 2
    assert all(r["correct"] for r in recs) and res["accuracy"] == 1.0
    assert np.isclose(res["precision"], 1.0) and recs[0]["scored"] >= 1
    # the set search (no candidate list) and the seating-walk rule probabilities agree
    rc = main(["grammar", "parse", "--model", str(model), "--test", str(tmp_path / "test"),
               "--out", str(tmp_path / "sets.jsonl"), "--search", "sets", "--rules", "seating"])
    assert rc == 0
    res2 = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res2["n"] == 2 and res2["accuracy"] == 1.0
    # the union of both searches, best exact score
    rc = main(["grammar", "parse", "--model", str(model), "--test", str(tmp_path / "test"),
               "--out", str(tmp_path / "union.jsonl"), "--search", "union"])
    assert rc == 0
    res3 = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res3["n"] == 2 and res3["accuracy"] == 1.0
    recs3 = [json.loads(line) for line in (tmp_path / "union.jsonl").read_text().splitlines()]
    np.testing.assert_allclose([r["kbest"][0][1] for r in recs3],
                               [r["kbest"][0][1] for r in recs], rtol=1e-6)
    # the default: the cascade with the training leaf lexicon and a cell cap
    rc = main(["grammar", "parse", "--model", str(model), "--test", str(tmp_path / "test"),
               "--out", str(tmp_path / "cascade.jsonl")])
    assert rc == 0
    res4 = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res4["n"] == 2 and res4["accuracy"] == 1.0


def test_lexicon_reaches_the_cascade(tmp_path, capsys):
    # the model directory keeps the lexicon and `parse` reads it back for the leaf lexicon: a
    # reading known only from the lexicon ("run in" as loc at V) makes the right parse
    (tmp_path / "train").write_text(TRAIN)
    (tmp_path / "lex").write_text("parse(V, [run,in], loc(A,B)).\n")
    (tmp_path / "test").write_text("parse([what,rivers,run,in,texas], "
                                   "answer(A,(river(A),loc(A,B),const(B,stateid(texas))))).\n")
    model = tmp_path / "model"
    assert main(["grammar", "train", "--grammar", str(TINY), "--train", str(tmp_path / "train"),
                 "--lexicon", str(tmp_path / "lex"), "--model", str(model), "--iterations", "1",
                 "--seed", "1"]) == 0
    assert (model / "lexicon").read_text().startswith("parse(V, [run,in]")
    results = []
    for _ in range(2):  # with the stored lexicon, then without it
        assert main(["grammar", "parse", "--model", str(model), "--test",
                     str(tmp_path / "test"), "--out", str(tmp_path / "out.jsonl")]) == 0
        results.append(json.loads((tmp_path / "out.jsonl").read_text()))
        (model / "lexicon").unlink(missing_ok=True)
    assert results[0]["correct"] and results[0]["prediction"] == results[0]["gold"]
    assert not results[1]["correct"]


def test_search_settings_defaults():
    from grammar.parse_union import CASCADE_DEFAULTS, search_settings

    assert search_settings("cascade") == {"rerank": None, "leaf_beam": 6.0, "max_cell_items": 15}
    assert CASCADE_DEFAULTS["leaf_beam"] == 6.0
    exact = {"rerank": None, "leaf_beam": None, "max_cell_items": None}
    assert search_settings("sets") == exact == search_settings("union")
    assert search_settings("cascade", leaf_beam=-1, max_cell_items=0) == exact
    assert search_settings("sets", rerank=10, leaf_beam=2.5)["rerank"] == 10
    with pytest.raises(ValueError, match="search"):
        search_settings("beam")
    with pytest.raises(ValueError, match="max_cell_items"):
        search_settings("sets", max_cell_items=-3)


def test_saved_model_continues_training(tmp_path):
    from grammar.derivation import GrammarModel
    from grammar.grammar import parse_examples, read_grammar

    rng = np.random.default_rng(0)
    state = train.init(GrammarModel(read_grammar(TINY)), parse_examples(TRAIN), rng)
    train.save(state, tmp_path / "m")
    back = train.load(tmp_path / "m")
    assert [len(o) for o in back.obs] == [len(o) for o in state.obs]
    np.testing.assert_allclose(train.log_posterior(back.model), train.log_posterior(state.model),
                               rtol=1e-9)
    info = train.step(back, rng)
    assert info.proposed == 4
    n = {k: s.n_observations for k, s in back.model.states.items()}
    assert n == {k: s.n_observations for k, s in state.model.states.items()}
