"""Bundled tabular NCD datasets with the paper's known/novel class splits, read offline.

The files live in ``bayes/data/`` (UCI, CC BY 4.0; see ``LICENSE-UCI-CC-BY-4.0.txt``).
Preprocessing follows the official ``src/dataset_utils.py``: features are z-scored with the
training split's statistics (pandas' ``ddof=1`` for Pendigits, ``ddof=0`` otherwise) and
optdigits loses its columns that are constant on the training split. Two official bugs are fixed:
Letter is read without dropping its first row, and its 70/30 split is seeded (the official one is
not, so the exact rows differ).

References:
    Troisemaine et al., "A Practical Approach to Novel Class Discovery in Tabular Data", 2024,
    Table 2 and the official ``src/dataset_utils.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["DATA_DIR", "DATASETS", "NCDData", "load_dataset", "to_ncd_labels", "hyperparameters"]

DATA_DIR = Path(__file__).resolve().parents[1] / "data"

# name -> (novel classes, official name in practicalncd_hyperparameters.json)
DATASETS = {
    "pendigits": ((0, 3, 5, 6, 7), "Pendigits"),
    "optdigits": ((0, 3, 4, 5, 6), "optdigits"),
    "letter": ((0, 3, 7, 12, 15, 21, 23), "LetterRecognition"),  # A, D, H, M, P, V, X
}


@dataclass(frozen=True)
class NCDData:
    """A dataset split into train/test rows and known/novel classes.

    Attributes:
        name: dataset name.
        x_train, x_test: ``(n, d)`` float32 standardised features.
        y_train, y_test: ``(n,)`` int original class ids.
        known, novel: sorted original class ids of the known and novel classes.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    known: tuple[int, ...]
    novel: tuple[int, ...]

    def ncd_train_labels(self) -> np.ndarray:
        """Training labels for NCD: known classes as ``0..C-1``, novel rows as -1."""
        return to_ncd_labels(self.y_train, self.known)

    def novel_mask(self, split: str = "test") -> np.ndarray:
        """Boolean mask of the novel rows of ``"train"`` or ``"test"``."""
        y = self.y_test if split == "test" else self.y_train
        return np.isin(y, self.novel)


def to_ncd_labels(y: np.ndarray, known: tuple[int, ...]) -> np.ndarray:
    """Maps known class ``known[i]`` to ``i`` and every other label to -1."""
    out = np.full(np.shape(y), -1, dtype=np.int32)
    for i, c in enumerate(known):
        out[np.asarray(y) == c] = i
    return out


def _read(path: Path, label_first: bool, skip_header: bool) -> tuple[np.ndarray, np.ndarray]:
    lines = path.read_text().strip().splitlines()[1 if skip_header else 0 :]
    rows = [line.split(",") for line in lines]
    if label_first:
        labels = np.array([ord(r[0].strip()) - ord("A") for r in rows], np.int32)
        feats = np.array([[float(v) for v in r[1:]] for r in rows], np.float32)
    else:
        labels = np.array([int(r[-1]) for r in rows], np.int32)
        feats = np.array([[float(v) for v in r[:-1]] for r in rows], np.float32)
    return feats, labels


def _standardise(train: np.ndarray, test: np.ndarray, ddof: int) -> tuple[np.ndarray, np.ndarray]:
    mean = train.mean(axis=0)
    std = train.std(axis=0, ddof=ddof)
    std = np.where(std > 0, std, 1.0)
    return ((train - mean) / std).astype(np.float32), ((test - mean) / std).astype(np.float32)


def load_dataset(name: str, *, seed: int = 0, data_dir: Path | None = None) -> NCDData:
    """Loads ``"pendigits"``, ``"optdigits"`` or ``"letter"`` with the paper's class split.

    Args:
        name: dataset name (a key of :data:`DATASETS`).
        seed: seed of the Letter train/test split (the other two have official splits).
        data_dir: folder with the raw files (default: the bundled ``bayes/data``).

    Raises:
        ValueError: for an unknown name.
        FileNotFoundError: if a data file is missing.
    """
    if name not in DATASETS:
        raise ValueError(f"name must be one of {sorted(DATASETS)}, got {name!r}")
    root = Path(data_dir) if data_dir is not None else DATA_DIR
    novel = DATASETS[name][0]
    if name == "pendigits":
        xtr, ytr = _read(root / "pendigits.tra", False, True)
        xte, yte = _read(root / "pendigits.tes", False, True)
        xtr, xte = _standardise(xtr, xte, ddof=1)
    elif name == "optdigits":
        xtr, ytr = _read(root / "optdigits.tra", False, False)
        xte, yte = _read(root / "optdigits.tes", False, False)
        keep = xtr.std(axis=0) > 0
        xtr, xte = _standardise(xtr[:, keep], xte[:, keep], ddof=0)
    else:
        x, y = _read(root / "letter-recognition.data", True, False)
        perm = np.random.default_rng(seed).permutation(x.shape[0])
        n_train = int(round(0.7 * x.shape[0]))
        tr, te = perm[:n_train], perm[n_train:]
        xtr, xte = _standardise(x[tr], x[te], ddof=0)
        ytr, yte = y[tr], y[te]
    classes = np.unique(np.concatenate([ytr, yte]))
    known = tuple(int(c) for c in classes if c not in novel)
    return NCDData(name, xtr, ytr, xte, yte, known, tuple(novel))


def hyperparameters(name: str, method: str, setting: str = "GT k") -> dict:
    """The authors' tuned hyperparameters (``practicalncd_hyperparameters.json``).

    Args:
        name: a key of :data:`DATASETS`.
        method: ``"PBN"``, ``"NCD SC"``, ``"Baseline"`` or ``"TabularNCD"``.
        setting: ``"GT k"`` or ``"Estimated k"``.
    """
    if name not in DATASETS:
        raise ValueError(f"name must be one of {sorted(DATASETS)}, got {name!r}")
    table = json.loads((DATA_DIR / "practicalncd_hyperparameters.json").read_text())
    if method not in table or setting not in table[method]:
        raise ValueError(f"no hyperparameters for method={method!r}, setting={setting!r}")
    return dict(table[method][setting][DATASETS[name][1]])
