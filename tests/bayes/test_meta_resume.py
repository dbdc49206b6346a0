"""Resumable meta-training: an interrupted run, resumed, equals an uninterrupted one."""

import jax
import numpy as np
import pytest

from bayes.meta.checkpoint import load_progress
from bayes.meta.tasks import make_task
from bayes.meta.train import make_learner, meta_train


def _interrupt_after(learner, calls):
    """The learner whose ``step`` raises KeyboardInterrupt on call number ``calls + 1``."""
    count = {"n": 0}

    def step(key, state, episodes):
        if count["n"] == calls:
            raise KeyboardInterrupt
        count["n"] += 1
        return learner.step(key, state, episodes)

    return learner._replace(step=step)


def _never_steps(learner):
    def step(key, state, episodes):
        raise AssertionError("a finished run must not take meta-steps again")

    return learner._replace(step=step)


def _same_run(a, b):
    (sa, la), (sb, lb) = a, b
    for x, y in zip(jax.tree.leaves(sa), jax.tree.leaves(sb), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    drop = ("seconds", "val_seconds")
    assert [{k: v for k, v in r.items() if k not in drop} for r in la] == [
        {k: v for k, v in r.items() if k not in drop} for r in lb]


@pytest.mark.parametrize("method", ["maml", "niw"])
def test_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path, method):
    task = make_task("sinusoid")
    learner = make_learner(method, task, **({"inner_steps": 1} if method == "maml" else
                                            {"sgld_steps": 3, "burnin": 1}))
    key, vkey = jax.random.key(0), jax.random.key(7)
    kw = dict(steps=10, batch=4, log_every=1, val_every=4, val_episodes=8, val_key=vkey)
    straight = meta_train(learner, task, key, **kw)
    ckpt = tmp_path / "run.progress"
    with pytest.raises(KeyboardInterrupt):
        meta_train(_interrupt_after(learner, 7), task, key, checkpoint=ckpt,
                   checkpoint_every=3, **kw)
    saved = load_progress(ckpt, learner.init(key), _fingerprint_of(ckpt))
    assert saved.step == 7  # saved at the interrupt, not only at the last multiple of 3
    assert [r["step"] for r in saved.log if "step" in r] == list(range(7))
    assert saved.best_step == 4
    resumed = meta_train(learner, task, key, checkpoint=ckpt, checkpoint_every=3, **kw)
    _same_run(resumed, straight)
    assert resumed[1][-1]["selected_step"] == straight[1][-1]["selected_step"]
    # A finished run is not repeated: no meta-step is taken, the same result comes back.
    again = meta_train(_never_steps(learner), task, key, checkpoint=ckpt, **kw)
    _same_run(again, straight)


def _fingerprint_of(path):
    import json

    from flax import serialization

    return json.loads(serialization.msgpack_restore(path.read_bytes())["info"])["fingerprint"]


def test_extending_a_finished_run_equals_the_longer_run(tmp_path):
    task = make_task("sinusoid")
    learner = make_learner("maml", task, inner_steps=1)
    key = jax.random.key(1)
    longer = meta_train(learner, task, key, steps=6, batch=2, log_every=2)
    ckpt = tmp_path / "run.progress"
    meta_train(learner, task, key, steps=4, batch=2, log_every=2, checkpoint=ckpt)
    extended = meta_train(learner, task, key, steps=6, batch=2, log_every=2, checkpoint=ckpt)
    for x, y in zip(jax.tree.leaves(extended[0]), jax.tree.leaves(longer[0]), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    # The 4-step run logged its last step (3); the 6-step run logs 0, 2, 4 and 5.
    assert [r["step"] for r in extended[1]] == [0, 2, 3, 4, 5]


def test_resuming_a_different_run_or_a_bad_file_is_refused(tmp_path):
    task = make_task("sinusoid")
    learner = make_learner("maml", task, inner_steps=1)
    key = jax.random.key(2)
    ckpt = tmp_path / "run.progress"
    meta_train(learner, task, key, steps=3, batch=2, checkpoint=ckpt,
               fingerprint={"overrides": {"inner_steps": 1}})
    with pytest.raises(ValueError, match=r"different run \(differs in \['batch'\]"):
        meta_train(learner, task, key, steps=3, batch=4, checkpoint=ckpt,
                   fingerprint={"overrides": {"inner_steps": 1}})
    with pytest.raises(ValueError, match=r"differs in \['overrides'\]"):
        meta_train(learner, task, key, steps=3, batch=2, checkpoint=ckpt,
                   fingerprint={"overrides": {"inner_steps": 2}})
    # The learner's own config is part of the fingerprint, whatever the caller passes.
    other = make_learner("maml", task, inner_steps=1, inner_lr=0.5)
    with pytest.raises(ValueError, match=r"differs in \['config'\]"):
        meta_train(other, task, key, steps=3, batch=2, checkpoint=ckpt,
                   fingerprint={"overrides": {"inner_steps": 1}})
    with pytest.raises(ValueError, match=r"differs in \['key'\]"):
        meta_train(learner, task, jax.random.key(3), steps=3, batch=2, checkpoint=ckpt,
                   fingerprint={"overrides": {"inner_steps": 1}})
    with pytest.raises(ValueError, match="3 steps done, more than the 2"):
        meta_train(learner, task, key, steps=2, batch=2, checkpoint=ckpt,
                   fingerprint={"overrides": {"inner_steps": 1}})
    with pytest.raises(ValueError, match="checkpoint_every"):
        meta_train(learner, task, key, steps=2, checkpoint=ckpt, checkpoint_every=0)
    bad = tmp_path / "bad.progress"
    bad.write_bytes(b"not msgpack at all")
    with pytest.raises(ValueError, match="not a meta-training progress file"):
        meta_train(learner, task, key, steps=3, batch=2, checkpoint=bad)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_progress(tmp_path / "missing", learner.init(key), {})


def test_cli_train_resumes_and_refuses_another_run_on_the_same_out(tmp_path, capsys):
    import json

    from bayes.meta.checkpoint import load_checkpoint
    from probtree.cli import main

    args = ["meta", "train", "--method", "maml", "--task", "sinusoid", "--batch", "2",
            "--val-every", "2", "--val-episodes", "4", "--no-progress", "--set", "inner_steps=1"]
    ck, direct = tmp_path / "run.msgpack", tmp_path / "direct.msgpack"
    assert main(args + ["--steps", "4", "--out", str(ck)]) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert first["selected_step"] in (2, 4) and (tmp_path / "run.msgpack.progress").exists()
    assert main(args + ["--steps", "6", "--out", str(ck)]) == 0
    out = capsys.readouterr().out
    assert "resuming from" in out
    assert main(args + ["--steps", "6", "--out", str(direct)]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["selected_step"] == \
        json.loads(out.strip().splitlines()[-1])["selected_step"]
    template = make_learner("maml", make_task("sinusoid"), inner_steps=1).init(jax.random.key(0))
    a, _ = load_checkpoint(ck, template)
    b, _ = load_checkpoint(direct, template)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    # Another run on the same --out is refused with the reason; --fresh starts over.
    assert main(args[:-1] + ["inner_steps=2", "--steps", "6", "--out", str(ck)]) == 2
    assert "differs in ['config', 'overrides']" in capsys.readouterr().err
    assert main(args[:-1] + ["inner_steps=2", "--steps", "2", "--out", str(ck), "--fresh"]) == 0


def test_benchmark_resume_recomputes_nothing_that_finished(tmp_path, capsys):
    """``benchmarks/meta.py --resume DIR``: a second run reads every finished method's rows
    back; a method whose rows were lost continues from its meta-training progress to the same
    figures."""
    import importlib.util
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("bench_meta", root / "benchmarks" / "meta.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    argv = ["--tasks", "sinusoid", "--methods", "maml,scratch", "--steps", "sinusoid=4",
            "--episodes", "6", "--val-every", "2", "--no-select", "--no-memory",
            "--no-progress", "--resume", str(tmp_path)]

    def figures(out):
        res = json.loads(out.strip().splitlines()[-1])["results"]
        return {r["method"]: (r["mse"], r["nll"], r["selected_step"]) for r in res}

    assert bench.main(argv) == 0
    first = capsys.readouterr().out
    assert sorted(p.name.split("-")[1] for p in tmp_path.glob("*.rows.json")) == [
        "maml", "scratch"]
    assert bench.main(argv) == 0
    second = capsys.readouterr().out
    assert second.count("rows from") == 2
    assert json.loads(second.strip().splitlines()[-1])["results"] == json.loads(
        first.strip().splitlines()[-1])["results"]
    for p in tmp_path.glob("sinusoid-maml-*.rows.json"):
        p.unlink()
    assert bench.main(argv) == 0
    third = capsys.readouterr().out
    assert third.count("rows from") == 1 and figures(third) == figures(first)


def test_cli_eval_applies_set_and_k_shot_on_top_of_a_checkpoint(tmp_path, capsys):
    import json

    from probtree.cli import main

    ck = tmp_path / "p.msgpack"
    assert main(["meta", "train", "--method", "maml", "--task", "letter", "--steps", "2",
                 "--no-progress", "--set", "inner_steps=1", "--out", str(ck)]) == 0
    capsys.readouterr()

    def evaluate(*extra):
        assert main(["meta", "eval", "--checkpoint", str(ck), "--episodes", "10", *extra]) == 0
        return json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    base = evaluate()
    assert evaluate("--set", "inner_steps=1") == base  # the training override, restated
    assert evaluate("--set", "inner_steps=0")["nll"] != base["nll"]  # no adaptation at test
    assert evaluate("--k-shot", "1")["nll"] != base["nll"]
    assert main(["meta", "eval", "--checkpoint", str(ck), "--task", "digits"]) == 2
    assert "trained with 'letter'" in capsys.readouterr().err


def test_cli_eval_selects_the_test_time_on_validation(tmp_path, capsys):
    import json

    from bayes.meta.selection import select_test_time, test_time_grid
    from probtree.cli import main

    ck = tmp_path / "m.msgpack"
    assert main(["meta", "train", "--method", "maml", "--task", "letter", "--steps", "2",
                 "--no-progress", "--out", str(ck)]) == 0
    capsys.readouterr()
    assert main(["meta", "eval", "--checkpoint", str(ck), "--episodes", "10",
                 "--select-test-time", "--val-episodes", "12", "--no-progress"]) == 0
    out = capsys.readouterr().out
    last = json.loads(out.strip().splitlines()[-1])
    task = make_task("letter")
    grid = test_time_grid("maml", task)
    assert last["test_time"] in grid and out.count("  steps=") == len(grid)
    # The same choice as the library function on the same validation episodes, and the same
    # test figures as evaluating with that setting directly.
    from bayes.meta.checkpoint import load_checkpoint

    learner = make_learner("maml", task)
    state, _ = load_checkpoint(ck, learner.init(jax.random.key(0)))
    chosen, score, scores = select_test_time("maml", task, state, 0, val_episodes=12)
    assert chosen == last["test_time"] and score == pytest.approx(last["val_score"], abs=1e-12)
    assert score == max(s for _, s in scores)
    (name, value), = chosen.items()
    assert main(["meta", "eval", "--checkpoint", str(ck), "--episodes", "10",
                 "--set", f"{name}={value}"]) == 0
    direct = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert direct["accuracy"] == last["accuracy"] and direct["nll"] == last["nll"]
