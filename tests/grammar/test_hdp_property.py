"""Property test: random add/remove/sweep sequences keep the franchise consistent."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from grammar import hdp
from grammar.hdp_state import HDPState


def _check(state: HDPState) -> None:
    tables = state.live_tables()
    size = np.zeros(state._n_tslots, np.int64)
    nobs = np.zeros(state._n_tslots, np.int64)
    for o in range(state._n_oslots):
        t = state._obs_table[o]
        if t < 0:
            continue
        size[t] += 1
        assert state._table_node[t] == state._obs_node[o]
        while t >= 0:
            nobs[t] += 1
            t = state._table_parent[t]
    for t in tables.tolist():
        p = state._table_parent[t]
        if p >= 0:
            size[p] += 1
            assert state._table_node[p] == state._node_parent[state._table_node[t]]
            if state.model.base.kind == "constant":
                assert state._table_group[p] == state._table_group[t]  # same dish
        else:
            assert state._table_node[t] == 0
        assert sum(state._hist[t].values()) == state._table_nobs[t]
    np.testing.assert_array_equal(size[tables], state._a_table_size[tables])
    np.testing.assert_array_equal(nobs[tables], state._a_table_nobs[tables])
    cust = np.bincount(state._a_table_node[tables], weights=size[tables], minlength=state.n_nodes)
    np.testing.assert_array_equal(cust, state.node_customers)
    np.testing.assert_array_equal(
        np.bincount(state._a_table_node[tables], minlength=state.n_nodes), state.node_tables
    )
    assert np.isfinite(state.log_joint())


ops = st.lists(
    st.tuples(st.sampled_from(["add", "add", "add", "remove", "sweep"]),
              st.integers(0, 2), st.integers(0, 2), st.sampled_from("abc")),
    min_size=1, max_size=25,
)


@settings(max_examples=30, deadline=None)
@given(ops=ops, kind=st.sampled_from(["constant", "dirichlet"]), seed=st.integers(0, 2**16))
def test_random_operations_keep_the_franchise_consistent(ops, kind, seed):
    base = (hdp.CategoricalBase.uniform("abc") if kind == "constant"
            else hdp.DirichletCategorical(tuple("abc"), 0.5))
    state = HDPState(hdp.HDPModel(base, alpha=(1.0, 0.5, 2.0), shape=(1.0,) * 3, rate=(1.0,) * 3))
    rng = np.random.default_rng(seed)
    live: list[int] = []
    for op, f1, f2, atom in ops:
        if op == "add":
            live.append(state.add(rng, (f1, f2)[: 1 + (f1 + f2) % 2], atom)[0])
        elif op == "remove" and live:
            state.remove(live.pop(f1 % len(live)))
        elif op == "sweep":
            hdp.sample_alpha(state, rng)
            hdp.sweep(state, rng)
        _check(state)
    assert state.n_observations == len(live)
