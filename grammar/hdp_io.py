"""Safe serialisation (npz + JSON, never pickle) and a readable summary of an HDP state.

The file holds the seating arrays (nodes, tables, observations, the table -> observation-count
histograms as COO triples) and a JSON header with the model (base distribution, concentrations,
Gamma priors), the registered atoms and the node keys. Atoms and keys may be ``str``, ``int``,
``float``, ``bool``, ``None`` or tuples of these (nested); anything else raises ``TypeError`` on
save. Loading checks that the table sizes and counts agree with the assignments and raises
``ValueError`` on a corrupt file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Hashable
from typing import Any

import numpy as np

from grammar.hdp_base import base_from_dict
from grammar.hdp_state import _NODE, _OBS, _TABLE, HDPModel, HDPState

FORMAT = "probtree-hdp/1"


def _enc(x: Any) -> Any:
    if isinstance(x, tuple):
        return {"t": [_enc(v) for v in x]}
    if x is None or isinstance(x, str | int | float | bool):
        return x
    raise TypeError(f"cannot serialise {x!r} ({type(x).__name__}): use str/int/float/tuples")


def _dec(x: Any) -> Hashable:
    if isinstance(x, dict):
        return tuple(_dec(v) for v in x["t"])
    if isinstance(x, list):
        return tuple(_dec(v) for v in x)
    return x


def save(state: HDPState, path: str | os.PathLike) -> None:
    """Writes ``state`` to ``path`` (``.npz``)."""
    model = state.model
    base = model.base.to_dict()
    for k in ("atoms", "excluded_tokens"):
        if k in base:
            base[k] = [_enc(a) for a in base[k]]
    if "excluded_phrases" in base:
        base["excluded_phrases"] = [[_enc(t) for t in p] for p in base["excluded_phrases"]]
    meta = {
        "format": FORMAT,
        "base": base,
        "alpha0": list(model.alpha),
        "shape": None if model.shape is None else list(model.shape),
        "rate": None if model.rate is None else list(model.rate),
        "atoms": [_enc(a) for a in state.atoms],
        "node_keys": [_enc(k) for k in state.node_keys],
    }
    arrays = {"alpha": state.alpha}
    n_t, n_o = state._n_tslots, state._n_oslots
    for cols, n in ((_NODE, state.n_nodes), (_TABLE, n_t), (_OBS, n_o)):
        for name in cols:
            arrays[name] = getattr(state, "_a_" + name)[:n]
    rows = [(t, x, c) for t in range(n_t) if state._hist[t] for x, c in state._hist[t].items()]
    arrays["hist"] = np.asarray(rows, dtype=np.int64).reshape(-1, 3)
    arrays["meta"] = np.asarray(json.dumps(meta))
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)


def load(path: str | os.PathLike) -> HDPState:
    """Reads a state written by `save`.

    Raises:
        ValueError: not an HDP file, or inconsistent seating arrays.
    """
    with np.load(path, allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    try:
        meta = json.loads(str(data["meta"]))
    except (KeyError, json.JSONDecodeError) as e:
        raise ValueError(f"path: {path} is not an HDP state file ({e})") from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"path: expected format {FORMAT!r}, got {meta.get('format')!r}")
    base = base_from_dict(meta["base"], _dec)
    model = HDPModel(base, tuple(meta["alpha0"]),
                     None if meta["shape"] is None else tuple(meta["shape"]),
                     None if meta["rate"] is None else tuple(meta["rate"]))
    state = HDPState(model)
    state.alpha[:] = data["alpha"]
    for a in meta["atoms"]:
        state.register_atom(_dec(a))
    keys = [_dec(k) for k in meta["node_keys"]]
    parents = data["node_parent"]
    for i in range(1, len(keys)):
        if not 0 <= parents[i] < i:
            raise ValueError(f"node_parent[{i}] = {parents[i]}: expected an earlier node")
        state._new_node(int(parents[i]), keys[i])
    _check_ranges(data, state.n_nodes)
    n_t, n_o = data["table_node"].shape[0], data["obs_node"].shape[0]
    state._grow("table", _TABLE, n_t)
    state._grow("obs", _OBS, n_o)
    for cols in (_TABLE, _OBS):
        for name in cols:
            getattr(state, "_a_" + name)[: data[name].shape[0]] = data[name]
    state._n_tslots, state._n_oslots = n_t, n_o
    state._hist = [None] * n_t
    for t in range(n_t):
        if data["table_size"][t] > 0:
            node = int(data["table_node"][t])
            state._hist[t] = {}
            state._groups[node].setdefault(int(data["table_group"][t]), []).append(t)
        else:
            state._t_free.append(t)
    for t, x, c in data["hist"].tolist():
        if not 0 <= t < n_t or state._hist[t] is None or not 0 <= x < state.n_atoms or c <= 0:
            raise ValueError(f"hist: bad entry (table {t}, atom {x}, count {c})")
        state._hist[t][x] = c
    for o in range(n_o):
        if data["obs_table"][o] >= 0:
            state._node_obs[int(data["obs_node"][o])].append(o)
        else:
            state._o_free.append(o)
    _recount(state, data)
    return state


def _check_ranges(data: dict, n: int) -> None:
    """Index columns point inside the arrays and at occupied tables (before anything uses them)."""
    n_t = data["table_node"].shape[0]
    if any(data[k].shape[0] != n_t for k in _TABLE) or any(
        data[k].shape[0] != data["obs_node"].shape[0] for k in _OBS
    ):
        raise ValueError("table/observation columns: expected equal lengths")
    tables = np.flatnonzero(data["table_size"] > 0)
    live = np.zeros(n_t + 1, bool)  # the last slot stands for "no parent"
    live[tables] = True
    live[-1] = True
    tp, tn = data["table_parent"][tables], data["table_node"][tables]
    if np.any((tn < 0) | (tn >= n)) or np.any((tp < -1) | (tp >= n_t)) or not np.all(live[tp]):
        raise ValueError("table_node/table_parent: out of range or pointing at an empty table")
    ot, on = data["obs_table"], data["obs_node"]
    if np.any(ot >= n_t) or not np.all(live[ot[ot >= 0]]) or np.any((on >= n) | (on < -1)):
        raise ValueError("obs_table/obs_node: out of range or pointing at an empty table")


def _recount(state: HDPState, data: dict) -> None:
    """Recomputes sizes and counts from the assignments and checks them against the file."""
    n = state.n_nodes
    tables = state.live_tables()
    size = np.zeros(state._n_tslots, np.int64)
    obs = np.flatnonzero(data["obs_table"] >= 0)
    np.add.at(size, data["obs_table"][obs], 1)
    child = tables[data["table_parent"][tables] >= 0]
    np.add.at(size, data["table_parent"][child], 1)
    if not np.array_equal(size[tables], data["table_size"][tables]):
        raise ValueError("table_size: does not match the observation/table assignments")
    if any(sum(state._hist[t].values()) != data["table_nobs"][t] for t in tables.tolist()):
        raise ValueError("table_nobs: does not match the observation histograms")
    cust = np.bincount(data["table_node"][tables], weights=size[tables], minlength=n)
    if not np.array_equal(cust.astype(np.int64), data["node_customers"]):
        raise ValueError("node_customers: does not match the table sizes")
    state._a_node_customers[:n] = data["node_customers"]
    state._a_node_tables[:n] = np.bincount(data["table_node"][tables], minlength=n)


def summary(state: HDPState, max_atoms: int = 5) -> str:
    """A readable multi-line description: sizes, concentrations, busiest nodes' top atoms."""
    from grammar.hdp_predict import Predictor

    lv = state.node_level
    lines = [
        f"HDP with {state.model.n_levels} feature level(s), base {type(state.model.base).__name__}"
        f", {state.n_atoms} registered atom(s)",
        f"  observations {state.n_observations}, nodes {state.n_nodes}, "
        f"tables {state.n_live_tables}",
    ]
    for j in range(state.model.n_levels + 1):
        at = lv == j
        lines.append(
            f"  level {j}: alpha {state.alpha[j]:.4g}, nodes {int(at.sum())}, "
            f"customers {int(state.node_customers[at].sum())}, "
            f"tables {int(state.node_tables[at].sum())}"
        )
    pred = Predictor.from_state(state)
    busiest = np.argsort(-state.node_customers, kind="stable")[:5]
    for v in busiest.tolist():
        top = np.argsort(-pred.probs[v], kind="stable")[:max_atoms]
        items = ", ".join(f"{state.atoms[a]!r}: {pred.probs[v, a]:.3f}" for a in top.tolist())
        lines.append(f"  node {state.path_of(v)!r} (N={int(state.node_customers[v])}): {items}")
    return "\n".join(lines)
