"""The consistency search: hand-made graphs with known answers, and agreement with brute force."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amend.training.dct.consistency import (
    ENUMERATE_MAX,
    Graph,
    Inconsistent,
    accepted_nodes,
    brute_force,
    is_consistent,
    log_probability,
    most_probable,
)

METHODS = ["auto", "enumerate", "search"]


@pytest.mark.parametrize("method", METHODS)
def test_trusted_fact_forces_its_implications_true_and_contradictions_false(method):
    g = Graph(p={"a": 0.1, "b": 0.9, "c": 0.99}, fixed={"seed": True},
              implies=[("seed", "a"), ("seed", "b")], contradicts=[("seed", "c")])
    a = most_probable(g, method)
    assert a.truth == {"seed": True, "a": True, "b": True, "c": False}
    assert a.log_probability == pytest.approx(math.log(0.1) + math.log(0.9) + math.log(0.01))
    assert accepted_nodes(g, a, negatives=["c"]) == {"a", "b", "c"}


@pytest.mark.parametrize("method", METHODS)
def test_free_implication_takes_the_more_probable_consistent_world(method):
    # TT .18, FT .02, FF .08; TF is forbidden although it alone would score .72
    g = Graph(p={"a": 0.9, "b": 0.2}, implies=[("a", "b")])
    a = most_probable(g, method)
    assert a.truth == {"a": True, "b": True}
    assert a.log_probability == pytest.approx(math.log(0.18))


@pytest.mark.parametrize("method", METHODS)
def test_free_contradiction_keeps_the_stronger_side(method):
    g = Graph(p={"a": 0.7, "b": 0.6}, contradicts=[("a", "b")])
    a = most_probable(g, method)
    assert a.truth == {"a": True, "b": False}
    assert a.log_probability == pytest.approx(math.log(0.28))


@pytest.mark.parametrize("method", METHODS)
def test_false_fixed_child_makes_its_parent_false(method):
    g = Graph(p={"a": 0.99, "b": 0.99}, fixed={"x": False}, implies=[("a", "x"), ("b", "a")])
    assert most_probable(g, method).truth == {"x": False, "a": False, "b": False}


def test_contradicting_trusted_facts_raise():
    g = Graph(p={"a": 0.5}, fixed={"f1": True, "f2": True}, implies=[("f1", "a")], contradicts=[("a", "f2")])
    with pytest.raises(Inconsistent):
        most_probable(g)


def test_empty_graph_and_extreme_scores():
    assert most_probable(Graph()).truth == {}
    a = most_probable(Graph(p={"a": 1.0, "b": 0.0}))  # clamped, so the log-probability is finite
    assert a.truth == {"a": True, "b": False} and math.isfinite(a.log_probability)


def test_edge_to_an_unknown_node_is_an_error():
    with pytest.raises(ValueError, match="neither"):
        most_probable(Graph(p={"a": 0.5}, implies=[("a", "ghost")]))


@st.composite
def graphs(draw, max_free: int = 9):
    n_free = draw(st.integers(0, max_free))
    n_fixed = draw(st.integers(0, 3))
    free = [f"s{i}" for i in range(n_free)]
    fixed = {f"f{i}": draw(st.booleans()) for i in range(n_fixed)}
    p = {n: draw(st.one_of(st.floats(0, 1), st.sampled_from([0.0, 0.5, 1.0]))) for n in free}
    nodes = free + list(fixed)
    edges = st.tuples(st.sampled_from(nodes), st.sampled_from(nodes)) if nodes else st.nothing()
    implies = draw(st.lists(edges, max_size=12)) if nodes else []
    contradicts = draw(st.lists(edges, max_size=8)) if nodes else []
    return Graph(p=p, fixed=fixed, implies=implies, contradicts=contradicts)


@settings(max_examples=300, deadline=None)
@given(graphs())
def test_every_method_matches_brute_force(g):
    try:
        reference = brute_force(g)
    except Inconsistent:
        for method in METHODS:
            with pytest.raises(Inconsistent):
                most_probable(g, method)
        return
    for method in METHODS:
        a = most_probable(g, method)
        assert is_consistent(g, a.truth)
        assert a.log_probability == pytest.approx(reference.log_probability, abs=1e-9)
        assert a.log_probability == pytest.approx(log_probability(g, a.truth), abs=1e-12)


def _connected_graph(rng: random.Random, n: int) -> Graph:
    """n free nodes in one component (a random tree plus extra edges) beside a trusted seed."""
    free = [f"s{i}" for i in range(n)]
    g = Graph(p={s: rng.random() for s in free}, fixed={"seed": True})
    for i in range(1, n):
        a, b = free[rng.randrange(i)], free[i]
        (g.implies if rng.random() < 0.6 else g.contradicts).append((a, b) if rng.random() < 0.5 else (b, a))
    for _ in range(n // 2):
        a, b = rng.sample(free, 2)
        (g.implies if rng.random() < 0.5 else g.contradicts).append((a, b))
    return g


@pytest.mark.parametrize("n", [14, 16])
def test_search_matches_pure_brute_force_on_larger_graphs(n):
    g = _connected_graph(random.Random(n), n)
    assert most_probable(g, "search").log_probability == pytest.approx(brute_force(g).log_probability, abs=1e-9)


@pytest.mark.parametrize("n", [21, 22, 24])
def test_branch_and_bound_above_the_enumeration_limit_matches_enumeration(n):
    assert n > ENUMERATE_MAX  # "auto" takes the branch-and-bound path here
    g = _connected_graph(random.Random(n), n)
    auto = most_probable(g)
    assert is_consistent(g, auto.truth)
    assert auto.log_probability == pytest.approx(most_probable(g, "enumerate").log_probability, abs=1e-9)
