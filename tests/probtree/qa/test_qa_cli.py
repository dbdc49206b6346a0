"""The ``probtree qa`` commands: tables with a JSON last line, pictures, clear errors."""

from __future__ import annotations

import json

import numpy as np

from probtree.cli import main


def _last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def test_qa_cli_replay_hotpotqa(capsys):
    from probtree.qa import bundled_path

    released = str(bundled_path("hotpotqa_released.json.gz"))
    gold = str(bundled_path("hotpotqa_ircot_test_500.jsonl.gz"))
    assert main(["qa", "replay", "--released", released, "--gold", gold]) == 0
    out = capsys.readouterr().out
    res = _last_json(out)
    assert res["n"] == 500 and res["n_nodes"] == 1493
    assert res["node_agreement"] == 1.0
    np.testing.assert_allclose([res["em"], res["f1"]], [50.40, 64.13], atol=0.01)
    assert "EM / F1 (bridge)" in out
    assert res["choices"] == {
        "leaf_cb": 229,
        "leaf_ob": 768,
        "nonleaf_cb": 40,
        "nonleaf_ob": 157,
        "nonleaf_ca": 299,
    }


def test_qa_cli_eval_and_show(capsys, tmp_path):
    from probtree.qa import bundled_path

    gold = str(bundled_path("hotpotqa_ircot_test_500.jsonl.gz"))
    pred = tmp_path / "pred.jsonl"
    pred.write_text(
        json.dumps({"question_id": "5a77666555429966f1a36d1f", "answer": "American"}) + "\n"
    )
    assert main(["qa", "eval", "--pred", str(pred), "--gold", gold]) == 0
    res = _last_json(capsys.readouterr().out)
    assert res["n"] == 500 and res["missing"] == 499
    np.testing.assert_allclose(res["em"], 100 / 500, rtol=1e-9)

    png = tmp_path / "tree.png"
    assert main(["qa", "show", "--dataset", "musique", "--index", "7", "--out", str(png)]) == 0
    res = _last_json(capsys.readouterr().out)
    assert res["n_nodes"] == 4 and png.stat().st_size > 10_000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    assert main(["qa", "show", "--index", "9999", "--out", str(png)]) == 2
    assert "--index" in capsys.readouterr().err
