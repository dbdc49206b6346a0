"""Episode samplers, ProtoNet, MAML/FOMAML, calibration metrics, checkpoints and the CLI."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayes.meta.calibration import classification_metrics, ece, regression_metrics
from bayes.meta.episodes import ClassEpisodeSampler, sample_sineline
from bayes.meta.protonet import prototype_logits
from bayes.meta.tasks import make_task
from bayes.meta.train import load_checkpoint, make_learner, save_checkpoint


def test_class_sampler_draws_distinct_examples_of_distinct_split_classes(key):
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(6), [7, 8, 9, 7, 10, 8])
    x = np.stack([np.arange(y.size), y], axis=1).astype(np.float32)  # row id, true class
    split = [1, 3, 4, 5]
    eps = ClassEpisodeSampler(x, y, split, n_way=3, k_shot=2, n_query=4).sample(key, 16)
    assert eps.x_support.shape == (16, 6, 2) and eps.x_query.shape == (16, 12, 2)
    for b in range(16):
        xs = np.concatenate([eps.x_support[b], eps.x_query[b]])
        ys = np.concatenate([eps.y_support[b], eps.y_query[b]])
        assert len(set(xs[:, 0].tolist())) == xs.shape[0]  # no example twice
        true = xs[:, 1].astype(int)
        assert set(true) <= set(split) and len(set(true)) == 3
        for lab in range(3):  # one episode label <-> one original class
            assert len(set(true[ys == lab])) == 1
    with pytest.raises(ValueError, match="class 0 has 7 examples"):
        ClassEpisodeSampler(x, y, [0, 1], n_way=2, k_shot=5, n_query=5)
    with pytest.raises(ValueError, match="n_way"):
        ClassEpisodeSampler(x, y, [0, 1], n_way=3, k_shot=1, n_query=1)
    del rng


def test_episode_classes_name_the_class_behind_every_episode_label(key):
    """``episode_classes`` replays the sampler's class draw: the class it names for label j is
    the true class of every support and query point labelled j (the rows carry their class)."""
    y = np.repeat(np.arange(6), [7, 8, 9, 7, 10, 8])
    x = np.stack([np.arange(y.size), y], axis=1).astype(np.float32)
    sampler = ClassEpisodeSampler(x, y, [1, 3, 4, 5], n_way=3, k_shot=2, n_query=4)
    eps, classes = sampler.sample(key, 16), np.asarray(sampler.episode_classes(key, 16))
    assert classes.shape == (16, 3) and classes.dtype == np.int32
    for xs, ys in ((eps.x_support, eps.y_support), (eps.x_query, eps.y_query)):
        np.testing.assert_array_equal(np.take_along_axis(classes, np.asarray(ys), 1),
                                      np.asarray(xs)[..., 1].astype(int))
    task = make_task("sinusoid")
    with pytest.raises(ValueError, match="no classes"):
        task.episode_classes(key, 2, "test")
    with pytest.raises(ValueError, match="split"):
        make_task("letter").episode_classes(key, 2, "dev")


def test_digits_error_breakdown_matches_a_per_query_count(key):
    """Errors split by kind (same digit turned 180°, ±90°, other digit) against a plain loop over
    queries; the kinds sum to 1 - accuracy and the evaluation key stream lines up with
    ``evaluate``."""
    from bayes.meta.calibration import episode_accuracy, error_breakdown
    from bayes.meta.tasks import DIGITS_ERROR_KINDS, digits_error_kind, load_digits_rotated
    from bayes.meta.train import evaluate, evaluation_classes

    task = make_task("digits")
    classes = evaluation_classes(task, key, episodes=5, batch=2)
    proto = make_learner("protonet", task)
    _, probs, labels = evaluate(proto, proto.init(key), task, key, episodes=5, batch=2)
    x, y = load_digits_rotated()
    flat = x.reshape(len(x), -1)
    # The first evaluation batch's episodes (evaluate's key stream): classes match the images.
    eps0 = task.sample(jax.random.split(jax.random.fold_in(key, 0))[0], 2, "test")
    for e in range(2):
        for img, lab in zip(np.asarray(eps0.x_query[e]).reshape(-1, 64), eps0.y_query[e]):
            true = y[np.flatnonzero((flat == img).all(axis=1))]
            assert true.tolist() == [classes[e, int(lab)]]
    rates = error_breakdown(probs, labels, classes, digits_error_kind, len(DIGITS_ERROR_KINDS))
    expect = np.zeros((5, 3))
    for e in range(5):
        for q in range(labels.shape[1]):
            t, p = classes[e, labels[e, q]], classes[e, probs[e, q].argmax()]
            if t == p:
                continue
            k = 2 if t // 4 != p // 4 else (0 if abs(int(t) - int(p)) == 2 else 1)
            expect[e, k] += 1 / labels.shape[1]
    np.testing.assert_allclose(rates, expect, atol=1e-12)
    np.testing.assert_allclose(rates.sum(1), 1 - episode_accuracy(probs, labels), atol=1e-12)
    assert rates.sum() > 0  # an untrained embedding makes errors
    with pytest.raises(ValueError, match="kind"):
        error_breakdown(probs, labels, classes, lambda t, p: np.zeros_like(t), 3)
    with pytest.raises(ValueError, match="expected"):
        error_breakdown(probs, labels, classes[:, :2], digits_error_kind, 3)


def test_sineline_mixes_sines_and_lines(key):
    eps = sample_sineline(key, 400, 5, 5, noise_std=0.0)
    x = np.concatenate([eps.x_support, eps.x_query], axis=1)[..., 0]
    y = np.concatenate([eps.y_support, eps.y_query], axis=1)
    resid = [np.abs(np.polyval(np.polyfit(xi, yi, 1), xi) - yi).max() for xi, yi in zip(x, y)]
    frac_lines = np.mean(np.array(resid) < 1e-3)
    assert 0.4 < frac_lines < 0.6  # 50/50 mix, 400 tasks: ±4 sd


def test_prototype_logits_match_brute_force(key):
    zs = jax.random.normal(key, (6, 3))
    ys = jnp.array([0, 1, 2, 0, 1, 2])
    zq = jax.random.normal(jax.random.fold_in(key, 1), (4, 3))
    got = prototype_logits(zs, ys, zq, 3)
    protos = np.stack([np.asarray(zs)[np.asarray(ys) == k].mean(0) for k in range(3)])
    want = -((np.asarray(zq)[:, None, :] - protos[None]) ** 2).sum(-1)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_maml_one_step_adaptation_matches_manual_sgd(key):
    task = make_task("sinusoid")
    learner = make_learner("maml", task, inner_steps=1, inner_lr=0.01)
    state = learner.init(key)
    eps = task.sample(key, 2)
    from bayes.meta.base import network

    net = network(task)
    g = jax.grad(net.nll, argnums=1)(task, state.theta, eps.x_support[0], eps.y_support[0])
    want = net.apply(state.theta - 0.01 * g, eps.x_query[0])[:, 0]
    got = learner.predict(key, state, eps)[0, :, 0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_maml_and_fomaml_differ_only_by_second_order_terms(key):
    task = make_task("sinusoid")
    eps = task.sample(key, 4)
    learners = {m: make_learner(m, task, inner_steps=2) for m in ("maml", "fomaml")}
    s0 = learners["maml"].init(key)
    new = {m: lr.step(key, s0, eps)[0].theta for m, lr in learners.items()}
    assert not np.allclose(new["maml"], new["fomaml"])
    zero = {m: make_learner(m, task, inner_steps=0).step(key, s0, eps)[0].theta
            for m in ("maml", "fomaml")}
    np.testing.assert_allclose(zero["maml"], zero["fomaml"], rtol=1e-6)


def test_ece_and_metrics_against_hand_computation():
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    labels = np.array([0, 1, 1, 0])
    # bins of width 0.5: confidences {0.9, 0.8, 0.7, 0.6} all in (0.5, 1]: acc 3/4, conf 0.75.
    assert ece(probs, labels, n_bins=2) == pytest.approx(0.0, abs=1e-12)
    # 10 bins: [0.9]->1 vs .9, [0.8]->0 vs .8, [0.7]->1 vs .7, [0.6]->1 vs .6.
    assert ece(probs, labels, n_bins=10) == pytest.approx((0.1 + 0.8 + 0.3 + 0.4) / 4)
    m = classification_metrics(probs.reshape(2, 2, 2), labels.reshape(2, 2))
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["ci95"] == pytest.approx(1.96 * np.std([0.5, 1.0], ddof=1) / np.sqrt(2))
    assert m["nll"] == pytest.approx(-np.mean(np.log([0.9, 0.2, 0.7, 0.6])))
    pred = np.stack([np.zeros((2, 3)), np.ones((2, 3))], axis=-1)
    r = regression_metrics(pred, np.ones((2, 3)))
    assert r["mse"] == pytest.approx(1.0)
    assert r["nll"] == pytest.approx(0.5 * (np.log(2 * np.pi) + 1.0))
    with pytest.raises(ValueError, match="probs, labels"):
        classification_metrics(probs, labels)


def test_checkpoint_round_trip(tmp_path, key):
    task = make_task("sinusoid")
    learner = make_learner("niw", task)
    state = learner.init(key)
    save_checkpoint(tmp_path / "s.msgpack", state, {"method": "niw"})
    back, meta = load_checkpoint(tmp_path / "s.msgpack", learner.init(jax.random.key(5)))
    assert meta == {"method": "niw"}
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(back)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="no hyper-parameter"):
        make_learner("niw", task, inner_lr=0.1)
    with pytest.raises(ValueError, match="ProtoNet needs a classification"):
        make_learner("protonet", task)


def test_cli_train_then_eval_prints_json(tmp_path, capsys):
    from probtree.cli import main

    ck = tmp_path / "p.msgpack"
    assert main(["meta", "train", "--method", "protonet", "--task", "letter", "--steps", "3",
                 "--out", str(ck)]) == 0
    assert main(["meta", "eval", "--checkpoint", str(ck), "--episodes", "20",
                 "--diagram", str(tmp_path / "rel.png")]) == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(last) >= {"accuracy", "ci95", "ece", "nll"} and 0.0 <= last["accuracy"] <= 1.0
    assert (tmp_path / "rel.png").stat().st_size > 1000


def test_cli_train_digits_per_episode_is_recorded_and_refused_elsewhere(tmp_path, capsys):
    from probtree.cli import main

    ck = tmp_path / "d.msgpack"
    assert main(["meta", "train", "--method", "protonet", "--task", "digits", "--steps", "2",
                 "--digits-per-episode", "2", "--out", str(ck), "--no-progress"]) == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["digits_per_episode"] == 2
    assert json.loads((tmp_path / "d.msgpack.json").read_text())["digits_per_episode"] == 2
    # Resuming the same --out without the flag is another run: refused, naming the field.
    assert main(["meta", "train", "--method", "protonet", "--task", "digits", "--steps", "2",
                 "--out", str(ck), "--no-progress"]) != 0
    assert "digits_per_episode" in capsys.readouterr().err
    assert main(["meta", "train", "--method", "protonet", "--task", "letter", "--steps", "1",
                 "--digits-per-episode", "2", "--no-progress"]) != 0
    assert "digits_per_episode" in capsys.readouterr().err


def test_niw_override_flags_parse_values_and_reject_the_other_kind():
    from bayes.meta.cli import parse_niw_overrides

    assert parse_niw_overrides("sgld_steps=50, burnin=25,precision=constant", train=True) == {
        "sgld_steps": 50, "burnin": 25, "precision": "constant"}
    assert parse_niw_overrides("test_sgld_step_size=0.003,test_prior=mode") == {
        "test_sgld_step_size": 0.003, "test_prior": "mode"}
    assert parse_niw_overrides("") == {}
    with pytest.raises(ValueError, match="--niw-train: expected a training field"):
        parse_niw_overrides("test_prior=mode", train=True)
    with pytest.raises(ValueError, match="--niw-test: expected a test-time field"):
        parse_niw_overrides("sgld_steps=3")
    with pytest.raises(ValueError, match="--niw-test: expected NAME=VALUE"):
        parse_niw_overrides("test_prior")


def test_meta_train_keeps_the_best_state_on_validation(key):
    from bayes.meta.train import evaluate, meta_train

    task = make_task("sinusoid")
    learner = make_learner("maml", task, inner_steps=1, inner_lr=0.01, learning_rate=0.05)
    vkey = jax.random.key(3)
    state, log = meta_train(learner, task, key, steps=6, batch=4, val_every=2,
                            val_episodes=20, val_key=vkey)
    vals = [r for r in log if "val_step" in r]
    assert [r["val_step"] for r in vals] == [2, 4, 6]
    sel = log[-1]["selected_step"]
    assert sel < 6  # the large outer rate overshoots here, so selection picks an earlier state
    assert log[-1]["val_score"] == min(r["val_score"] for r in vals)  # MSE: lower is better
    # The returned state is the one after `sel` steps (same keys), and its val score is the
    # recorded one.
    again, _ = meta_train(learner, task, key, steps=sel, batch=4)
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(again), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
    m, _, _ = evaluate(learner, state, task, vkey, episodes=20, batch=20, split="val")
    assert abs(m["mse"] - log[-1]["val_score"]) < 1e-5
    with pytest.raises(ValueError, match="val_every"):
        meta_train(learner, task, key, steps=1, val_every=-1)


def test_conv_backbone_normalises_each_example_feature_map(key):
    from flax import nnx

    from bayes.meta.backbones import ConvNet, flatten

    x = jax.random.uniform(key, (3, 8, 8))
    plain = ConvNet(8, 4, 2, 5, rngs=nnx.Rngs(0))
    normed = ConvNet(8, 4, 2, 5, norm=True, rngs=nnx.Rngs(0))
    # The norm layers add a scale and shift per channel and block; the convs draw the same init.
    t_plain, _ = flatten(plain)
    t_normed, apply = flatten(normed)
    assert t_normed.size - t_plain.size == 2 * 2 * 4
    # By hand: conv, then (h - mean) / sqrt(var + 1e-5) over (h, w, c) of each example.
    h = normed.convs[0](x[..., None])
    mu, var = h.mean(axis=(1, 2, 3), keepdims=True), h.var(axis=(1, 2, 3), keepdims=True)
    ref = (h - mu) / jnp.sqrt(var + 1e-5)
    np.testing.assert_allclose(normed.norms[0](h), ref, atol=1e-5)
    # Per-example statistics: an example's output does not depend on the others in the batch.
    np.testing.assert_allclose(apply(t_normed, x)[:1], apply(t_normed, x[:1]), atol=1e-6)
    assert apply(t_normed, x).shape == (3, 5) and normed(x).shape == (3, 5)
    # Unit scale, zero shift and no conv bias: a positive rescaling of the image cancels out.
    for conv in normed.convs:
        conv.bias[...] = jnp.zeros_like(conv.bias[...])
    np.testing.assert_allclose(normed(3.0 * x), normed(x), rtol=1e-4, atol=1e-5)


def test_digits_task_splits_by_digit_and_draws_rotated_classes(key):
    from bayes.meta.tasks import load_digits_rotated

    x, y = load_digits_rotated()
    assert x.shape == (7188, 8, 8) and set(np.unique(y)) == set(range(40))
    # Class 4d + r is digit d's image turned r quarter turns.
    base = x[y % 4 == 0]
    np.testing.assert_array_equal(x[y % 4 == 1], np.rot90(base, 1, axes=(1, 2)))
    task = make_task("digits")
    digit_of = {}
    flat = x.reshape(len(x), -1)
    for split in ("train", "val", "test"):
        eps = task.sample(key, 4, split)
        assert eps.x_support.shape == (4, 25, 8, 8) and eps.x_query.shape == (4, 50, 8, 8)
        # Recover each image's class by exact match and check the split's digits.
        for img in np.asarray(eps.x_query).reshape(-1, 64)[:40]:
            cls = y[np.flatnonzero((flat == img).all(axis=1))]
            digit_of.setdefault(split, set()).update((cls // 4).tolist())
    assert all(digit_of[split] for split in digit_of)  # each split's queries were found in the data
    assert digit_of["train"] <= set(range(6))
    assert digit_of["val"] <= {6, 7} and digit_of["test"] <= {8, 9}


def test_trainval_task_meta_trains_on_val_classes_too(key):
    from bayes.meta.tasks import load_digits_rotated

    x, y = load_digits_rotated()
    lookup = {img.tobytes(): int(c) // 4 for img, c in zip(x.reshape(len(x), -1), y)}
    digits = {}
    for trainval in (False, True):
        task = make_task("digits", trainval=trainval)
        for split in ("train", "val", "test"):
            eps = task.sample(key, 40, split)
            imgs = np.asarray(eps.x_support).reshape(-1, 64)
            digits[trainval, split] = {lookup[img.tobytes()] for img in imgs}
    assert digits[False, "train"] == set(range(6))
    assert digits[True, "train"] == set(range(8))  # 200 classes drawn from 32: all 8 digits
    for split in ("val", "test"):  # only the meta-train split changes
        assert digits[True, split] == digits[False, split]
    assert digits[True, "test"] == {8, 9}
    with pytest.raises(ValueError, match="trainval"):
        make_task("sinusoid", trainval=True)


def test_grouped_sampler_draws_classes_of_the_chosen_groups_uniformly(key):
    """With ``groups_per_episode`` every episode's classes come from that many groups, each
    group is chosen equally often, and within the chosen groups each class is equally likely
    (chi-square-free check: frequencies within 4 binomial standard deviations)."""
    y = np.repeat(np.arange(12), 9)
    x = np.stack([np.arange(y.size), y], axis=1).astype(np.float32)
    split = list(range(12))
    groups = [c // 4 for c in split]  # three groups of four classes, like digits x rotations
    sampler = ClassEpisodeSampler(x, y, split, 5, 1, 1, groups=groups, groups_per_episode=2)
    n = 3000
    eps, classes = sampler.sample(key, n), np.asarray(sampler.episode_classes(key, n))
    np.testing.assert_array_equal(  # episode_classes replays the grouped draw
        np.take_along_axis(classes, np.asarray(eps.y_support), 1),
        np.asarray(eps.x_support)[..., 1].astype(int))
    assert all(len(set(r.tolist())) == 5 for r in classes)  # distinct classes
    assert all(len(set((r // 4).tolist())) == 2 for r in classes)  # 5 of 8: both groups used
    pairs = np.bincount([sum(1 << int(g) for g in set(r // 4)) for r in classes], minlength=8)
    p, sd = 1 / 3, np.sqrt(n * (1 / 3) * (2 / 3))  # each pair of groups equally likely
    for mask in (0b011, 0b101, 0b110):
        assert abs(pairs[mask] - n * p) < 4 * sd
    counts = np.bincount(classes.ravel(), minlength=12)  # each class in 5/12 of episodes
    sd = np.sqrt(n * (5 / 12) * (7 / 12))
    np.testing.assert_array_less(np.abs(counts - n * 5 / 12), 4 * sd)
    with pytest.raises(ValueError, match="groups_per_episode: needs groups"):
        ClassEpisodeSampler(x, y, split, 5, 1, 1, groups_per_episode=2)
    with pytest.raises(ValueError, match="groups: expected one group per class"):
        ClassEpisodeSampler(x, y, split, 5, 1, 1, groups=[0, 1], groups_per_episode=2)
    with pytest.raises(ValueError, match="can hold only 4 classes"):
        ClassEpisodeSampler(x, y, split, 5, 1, 1, groups=groups, groups_per_episode=1)
    with pytest.raises(ValueError, match=r"expected 1\.\.3"):
        ClassEpisodeSampler(x, y, split, 5, 1, 1, groups=groups, groups_per_episode=4)


def test_digits_per_episode_shapes_only_the_meta_train_split(key):
    """``digits_per_episode=2`` meta-trains on episodes of two digits (the structure of every
    val and test episode); the standard sampler rarely draws one (a 5-of-24 draw holds exactly
    two digits with probability C(6,2)·C(8,5)/C(24,5) = 2.0%), and val/test are unchanged."""
    grouped, plain = make_task("digits", digits_per_episode=2), make_task("digits")
    n = 2000
    two = np.array([len(set((r // 4).tolist())) for r in
                    np.asarray(grouped.episode_classes(key, n, "train"))])
    assert (two == 2).all()
    assert set(np.asarray(grouped.episode_classes(key, n, "train")).ravel()) == set(range(24))
    ndig = np.array([len(set((r // 4).tolist())) for r in
                     np.asarray(plain.episode_classes(key, n, "train"))])
    assert (ndig == 2).mean() < 0.05
    for split in ("val", "test"):
        np.testing.assert_array_equal(grouped.episode_classes(key, 8, split),
                                      plain.episode_classes(key, 8, split))
    with pytest.raises(ValueError, match="digits_per_episode"):
        make_task("letter", digits_per_episode=2)


def test_load_choices_keeps_tuned_rows_and_rejects_bad_files(tmp_path):
    from bayes.meta.cli import load_choices

    rows = [dict(task="digits", method="niw", selected_step=750, test_time={"test_prior": "mode"}),
            dict(task="digits", method="niw-paper", selected_step=750, test_time={}),
            dict(task="letter", method="scratch", selected_step=5000,
                 test_time={"steps": 300, "learning_rate": 0.003})]
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"quick": True, "results": rows}))
    got = load_choices(str(path))
    assert got == {("digits", "niw"): dict(selected_step=750, test_time={"test_prior": "mode"}),
                   ("letter", "scratch"): dict(selected_step=5000,
                                               test_time={"steps": 300, "learning_rate": 0.003})}
    path.write_text(json.dumps({"results": [dict(task="digits", method="niw")]}))
    with pytest.raises(ValueError, match="selected_step"):
        load_choices(str(path))
    with pytest.raises(ValueError, match="choices"):
        load_choices(str(tmp_path / "missing.json"))


def test_bundled_digits_choices_name_every_method_with_valid_test_times():
    from pathlib import Path

    from bayes.meta.cli import load_choices
    from bayes.meta.train import METHODS, learner_config

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "choices" / "digits.json"
    choices = load_choices(str(path))
    task = make_task("digits")
    assert {m for _, m in choices} == set(METHODS)
    for (name, method), c in choices.items():
        assert name == "digits" and (c["selected_step"] > 0) == (method != "scratch")
        learner_config(method, task, **c["test_time"])  # raises on an unknown field


def test_benchmark_choices_methods_flag_is_validated(capsys):
    """``benchmarks/meta.py --choices-methods`` fixes a subset of methods; bad use is refused
    before any work (needs --choices, names only methods being run, all of them with
    --trainval)."""
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("bench_meta", root / "benchmarks" / "meta.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    choices = str(root / "benchmarks" / "choices" / "digits.json")
    for argv, msg in (
        (["--choices-methods", "scratch"], "needs --choices"),
        (["--methods", "niw,scratch", "--choices", choices, "--choices-methods", "protonet"],
         "not in --methods"),
        (["--methods", "niw,scratch", "--choices", choices, "--choices-methods", "scratch",
          "--trainval"], "every method"),
    ):
        with pytest.raises(SystemExit):
            bench.main(["--tasks", "digits", "--no-memory", *argv])
        assert msg in capsys.readouterr().err
