"""Reading a numeric CSV for novel class discovery, with clear errors.

A CSV holds feature columns and one label column. Rows whose label is in the known list are
labelled; every other row is treated as unlabelled (novel) during training, its label used only to
score the discovered clusters.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["TabularData", "read_csv", "split_known"]

_MISSING = {"", "na", "nan", "null", "none", "?"}


@dataclass(frozen=True)
class TabularData:
    """Attributes: ``x (n, d)`` float32 features, ``labels (n,)`` label strings,
    ``feature_names`` the feature column names."""

    x: np.ndarray
    labels: np.ndarray
    feature_names: tuple[str, ...]


def read_csv(path: str | Path, label_column: int | str, *, header: bool = True) -> TabularData:
    """Reads a CSV of numeric features plus a label column.

    Args:
        path: the CSV file.
        label_column: 0-based index of the label column (negative counts from the end), or its
            name when the file has a header.
        header: whether the first line names the columns.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: an empty file, ragged rows, a label column out of range or not found, a
            missing or non-numeric feature value (with its line and column), or constant columns.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"CSV file not found: {p}")
    with p.open(newline="") as fh:
        rows = [r for r in csv.reader(fh) if any(cell.strip() for cell in r)]
    first_line = 2 if header else 1
    names = [c.strip() for c in rows[0]] if header and rows else None
    data = rows[1:] if header else rows
    if not data:
        raise ValueError(f"{p}: no data rows")
    width = len(data[0])
    for i, r in enumerate(data):
        if len(r) != width:
            raise ValueError(f"{p}: line {i + first_line} has {len(r)} fields, expected {width}")
    if names is not None and len(names) != width:
        raise ValueError(f"{p}: header has {len(names)} names but rows have {width} fields")
    if isinstance(label_column, str) and not label_column.lstrip("-").isdigit():
        if names is None or label_column not in names:
            raise ValueError(f"--label-column {label_column!r}: no such column name in the header")
        col = names.index(label_column)
    else:
        col = int(label_column)
        if not -width <= col < width:
            raise ValueError(
                f"--label-column {col} is out of range: the file has {width} columns "
                f"(valid: 0..{width - 1} or -{width}..-1)"
            )
        col %= width
    if width < 2:
        raise ValueError(f"{p}: need at least one feature column besides the label column")
    feat_cols = [j for j in range(width) if j != col]
    x = np.empty((len(data), len(feat_cols)), np.float32)
    for i, r in enumerate(data):
        for jj, j in enumerate(feat_cols):
            cell = r[j].strip()
            cname = names[j] if names else str(j)
            if cell.lower() in _MISSING:
                raise ValueError(f"{p}: line {i + first_line}, column {cname}: missing value")
            try:
                x[i, jj] = float(cell)
            except ValueError:
                raise ValueError(
                    f"{p}: line {i + first_line}, column {cname}: {cell!r} is not a number"
                ) from None
            if not np.isfinite(x[i, jj]):
                raise ValueError(f"{p}: line {i + first_line}, column {cname}: not finite")
    labels = np.array([r[col].strip() for r in data])
    if np.any(labels == ""):
        line = int(np.flatnonzero(labels == "")[0]) + first_line
        raise ValueError(f"{p}: line {line}: missing label")
    fnames = tuple(names[j] if names else str(j) for j in feat_cols)
    return TabularData(x, labels, fnames)


def split_known(labels: np.ndarray, known: list[str], *, min_rows: int = 2) -> np.ndarray:
    """``y`` for :class:`NovelClassDiscovery`: known label ``known[i]`` → i, others → -1.

    Raises:
        ValueError: a known label absent from the data, a known class with fewer than
            ``min_rows`` rows, or no unlabelled rows.
    """
    y = np.full(labels.shape, -1, np.int64)
    for i, name in enumerate(known):
        hit = labels == name
        if not hit.any():
            raise ValueError(f"--known: class {name!r} does not occur in the label column")
        if hit.sum() < min_rows:
            raise ValueError(
                f"too few rows for known class {name!r}: {int(hit.sum())} (need {min_rows})"
            )
        y[hit] = i
    if not np.any(y == -1):
        raise ValueError("every row belongs to a known class: no novel rows to discover")
    return y


def check_constant(x: np.ndarray, names: tuple[str, ...], path: str) -> None:
    """Raises ValueError naming the feature columns that are constant over the training rows."""
    const = np.flatnonzero(np.ptp(x, axis=0) == 0)
    if const.size:
        shown = ", ".join(names[j] for j in const[:10])
        raise ValueError(
            f"{path}: constant feature columns ({shown}); drop them, they carry no information"
        )
