"""The estimator and `probtree ncd fit`, including the documented CSV errors."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from bayes.ncd.estimator import NovelClassDiscovery
from bayes.ncd.metrics import cluster_accuracy
from probtree.cli import main


def _table(seed=0, n_per=20):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=10.0, size=(5, 3))
    x = np.concatenate([c + rng.normal(size=(n_per, 3)) for c in centers])
    return x, np.repeat(np.array(list("abcde")), n_per)


def _write(path, x, labels, header=True):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        if header:
            w.writerow(["f1", "f2", "f3", "cls"])
        for row, lab in zip(x.tolist(), labels.tolist()):
            w.writerow([*row, lab])
    return str(path)


def test_estimator_conventions():
    x, labels = _table()
    y = np.select([labels == "a", labels == "b", labels == "c"], [0, 1, 2], -1)
    est = NovelClassDiscovery(method="ncd-kmeans", k=2, seed=1)
    assert est.get_params()["method"] == "ncd-kmeans"
    est.set_params(seed=0)
    est.fit(x, y)
    assert est.k_ == 2 and est.labels_.shape == (40,)
    assert cluster_accuracy(labels[y == -1], est.labels_) >= 0.99
    np.testing.assert_array_equal(est.predict(x[y == -1]), est.labels_)
    with pytest.raises(ValueError, match="unknown parameter"):
        est.set_params(colour="red")
    with pytest.raises(ValueError, match="method"):
        NovelClassDiscovery(method="dbscan").fit(x, y)
    with pytest.raises(ValueError, match="-1"):
        NovelClassDiscovery(k=2).fit(x, np.zeros(len(x), int))
    with pytest.raises(ValueError, match="at least 2 rows"):
        NovelClassDiscovery(method="kmeans", k=2).fit(x, np.where(np.arange(100) == 0, 0, -1))


def test_cli_fit_prints_table_and_json(tmp_path, capsys):
    x, labels = _table()
    train = _write(tmp_path / "train.csv", x, labels)
    test = _write(tmp_path / "test.csv", *_table(seed=0))
    rc = main(
        [
            "ncd",
            "fit",
            "--csv",
            train,
            "--label-column",
            "cls",
            "--known",
            "a,b,c",
            "--method",
            "ncd-kmeans",
            "--k",
            "2",
            "--test-csv",
            test,
        ]
    )
    out = capsys.readouterr().out.strip().splitlines()
    assert rc == 0
    result = json.loads(out[-1])
    assert set(result) >= {"acc", "nmi", "ari", "k", "seconds"}
    assert result["k"] == 2 and result["acc"] >= 0.99
    assert any("true \\ cluster" in line for line in out)


@pytest.mark.parametrize(
    ("edit", "args", "message"),
    [
        (lambda rows: rows[3].__setitem__(1, ""), [], "line 4, column f2: missing value"),
        (lambda rows: rows[5].__setitem__(0, "abc"), [], "line 6, column f1: 'abc' is not a"),
        (lambda rows: [r.__setitem__(2, "1.0") for r in rows[1:]], [], "constant feature columns"),
        (None, ["--label-column", "9"], "out of range"),
        (None, ["--label-column", "label"], "no such column"),
        (None, ["--known", "a,z"], "'z' does not occur"),
        (
            lambda rows: [r.__setitem__(3, "q") for r in rows[1:3]] and rows[1].__setitem__(3, "a"),
            ["--known", "a,q"],
            "too few rows for known class 'q'",
        ),
    ],
)
def test_cli_bad_csv_errors(tmp_path, capsys, edit, args, message):
    x, labels = _table()
    rows = [["f1", "f2", "f3", "cls"]] + [[*map(str, r), lab] for r, lab in zip(x, labels)]
    if edit is not None:
        edit(rows)
    path = tmp_path / "bad.csv"
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    base = {"--label-column": "cls", "--known": "a,b,c"}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    argv = ["ncd", "fit", "--csv", str(path), "--method", "kmeans", "--k", "2"]
    for flag, value in base.items():
        argv += [flag, value]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_cli_no_header_and_missing_file(tmp_path, capsys):
    x, labels = _table()
    path = _write(tmp_path / "nohead.csv", x, labels, header=False)
    assert (
        main(
            [
                "ncd",
                "fit",
                "--csv",
                path,
                "--no-header",
                "--label-column",
                "-1",
                "--known",
                "a,b,c",
                "--method",
                "kmeans",
                "--k",
                "2",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["acc"] >= 0.99
    assert (
        main(
            [
                "ncd",
                "fit",
                "--csv",
                str(tmp_path / "nope.csv"),
                "--label-column",
                "0",
                "--known",
                "a",
            ]
        )
        == 2
    )
    assert "not found" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("kmeans", None),
        ("ncd-kmeans", None),
        ("spectral", {"min_dist": 0.3}),
        ("ncd-spectral", {"min_dist": 0.3, "n_components": 4}),
        ("pbn", {"epochs": 30, "latent_dim": 4, "lr": 5e-3, "batch_size": 64}),
    ],
)
def test_every_method_contract(method, params):
    """One contract for every method: fit on blobs, discover the 2 planted novel classes."""
    x, labels = _table(seed=3)
    y = np.select([labels == "a", labels == "b", labels == "c"], [0, 1, 2], -1)
    est = NovelClassDiscovery(method=method, k=2, params=params).fit(x, y)
    assert est.k_ == 2 and est.labels_.shape == (40,) and set(est.labels_) <= {0, 1}
    assert cluster_accuracy(labels[y == -1], est.labels_) >= 0.95
    pred = est.predict(x[y == -1])
    assert pred.shape == (40,) and cluster_accuracy(labels[y == -1], pred) >= 0.95


def test_projection_plot(tmp_path):
    pytest.importorskip("matplotlib")
    from bayes.ncd.plot import plot_projection, project_2d

    rng = np.random.default_rng(0)
    z = rng.normal(size=(60, 4))
    xy = project_2d(z)
    # principal axes: the projected coordinates are uncorrelated
    assert abs(np.corrcoef(xy.T)[0, 1]) < 1e-8
    y = rng.integers(0, 3, 60)
    path = plot_projection(z, y, (y + 1) % 3, tmp_path / "p.png", title="t")
    assert path.stat().st_size > 1000
    with pytest.raises(ValueError, match="same rows"):
        plot_projection(z, y[:5], y[:5], tmp_path / "q.png")
