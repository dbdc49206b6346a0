"""Checkpoints of meta-learner states, and resumable progress files for long meta-training runs.

A *checkpoint* (:func:`save_checkpoint`) is a finished state: msgpack weights at ``path`` and a
JSON sidecar ``path.json`` with the run's settings, which ``probtree meta eval`` reads back.

A *progress file* (:func:`save_progress`) is what :func:`bayes.meta.train.meta_train` writes
every ``checkpoint_every`` meta-steps so that an interrupted run loses at most that many steps:
one msgpack file holding the current state, the best state on validation so far, the number of
steps done, the log, and a *fingerprint* of the run (learner, task, batch, keys, validation
settings and any caller fields such as hyper-parameter overrides). Every write goes to a
temporary file that is then renamed over the old one (``os.replace``), so a crash mid-write
leaves the previous progress intact. Resuming with a different fingerprint is refused, because
its steps would not be the ones the run would have taken.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np
from flax import serialization

__all__ = ["save_checkpoint", "load_checkpoint", "Progress", "save_progress", "load_progress"]

_FORMAT = "probtree.meta.progress/1"


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        os.chmod(tmp, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(path: str | Path, state: Any, meta: dict) -> None:
    """Writes ``state`` as msgpack (``path``) and ``meta`` as JSON (``path`` + ``.json``)."""
    path = Path(path)
    _atomic_write(path, serialization.to_bytes(jax.device_get(state)))
    _atomic_write(Path(str(path) + ".json"), json.dumps(meta, indent=1).encode())


def load_checkpoint(path: str | Path, template: Any) -> tuple[Any, dict]:
    """Reads a checkpoint written by :func:`save_checkpoint` into the structure of ``template``.

    Raises:
        FileNotFoundError: ``path`` or its ``.json`` sidecar does not exist.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    side = Path(str(path) + ".json")
    if not side.exists():
        raise FileNotFoundError(f"checkpoint metadata {side} does not exist")
    meta = json.loads(side.read_text())
    return serialization.from_bytes(template, path.read_bytes()), meta


class Progress(NamedTuple):
    """Where an interrupted :func:`~bayes.meta.train.meta_train` run stood.

    Attributes:
        step: meta-steps done.
        state: the state after ``step`` meta-steps.
        best: the state with the best validation score so far (``state`` without validation).
        best_score: that score, signed so that larger is better (``-inf`` before any).
        best_step: the step it was reached at (``-1`` before any).
        val_seconds: seconds spent validating so far.
        seconds: seconds of the run so far (validation included).
        log: the log rows so far.
    """

    step: int
    state: Any
    best: Any
    best_score: float
    best_step: int
    val_seconds: float
    seconds: float
    log: list[dict]


def save_progress(path: str | Path, progress: Progress, fingerprint: dict) -> None:
    """Writes ``progress`` and the run's ``fingerprint`` (JSON-able) atomically to ``path``."""
    info = dict(format=_FORMAT, fingerprint=fingerprint, step=int(progress.step),
                best_score=float(progress.best_score), best_step=int(progress.best_step),
                val_seconds=float(progress.val_seconds), seconds=float(progress.seconds),
                log=progress.log)
    tree = {"state": serialization.to_state_dict(jax.device_get(progress.state)),
            "best": serialization.to_state_dict(jax.device_get(progress.best)),
            "info": json.dumps(info)}
    _atomic_write(Path(path), serialization.msgpack_serialize(tree))


def load_progress(path: str | Path, template: Any, fingerprint: dict) -> Progress:
    """Reads a progress file written by :func:`save_progress` for the run ``fingerprint``.

    Args:
        path: the progress file.
        template: a state of the learner (its structure and dtypes are restored into).
        fingerprint: the resuming run's fingerprint; it must equal the stored one.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``path`` is not a progress file, was written by a different run (the
            message lists the fields that differ), or its state does not fit ``template``.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"progress file {path} does not exist")
    try:
        tree = serialization.msgpack_restore(path.read_bytes())
        info = json.loads(tree["info"])
        if info.get("format") != _FORMAT:
            raise KeyError("format")
    except Exception as err:
        raise ValueError(f"checkpoint: {path} is not a meta-training progress file ({err!r})"
                         ) from err
    stored = info["fingerprint"]
    fingerprint = json.loads(json.dumps(fingerprint))  # tuples -> lists, as stored
    if stored != fingerprint:
        diff = sorted(k for k in set(stored) | set(fingerprint)
                      if stored.get(k) != fingerprint.get(k))
        raise ValueError(
            f"checkpoint: {path} was written by a different run (differs in {diff}: stored "
            f"{ {k: stored.get(k) for k in diff} }, now { {k: fingerprint.get(k) for k in diff} }"
            "); pass a new checkpoint path or delete the old file to start afresh"
        )
    try:
        state = serialization.from_state_dict(template, tree["state"])
        best = serialization.from_state_dict(template, tree["best"])
        for a, b in zip(jax.tree.leaves(template), jax.tree.leaves(state), strict=True):
            if np.shape(a) != np.shape(b):
                raise ValueError(f"shape {np.shape(b)} where the learner has {np.shape(a)}")
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"checkpoint: the state in {path} does not fit this learner ({err})"
                         ) from err
    return Progress(step=info["step"], state=state, best=best, best_score=info["best_score"],
                    best_step=info["best_step"], val_seconds=info["val_seconds"],
                    seconds=info["seconds"], log=info["log"])
