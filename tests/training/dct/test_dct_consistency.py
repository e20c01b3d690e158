"""The consistency search: hand-made graphs with known answers, soft edges, and agreement of the
enumeration and CP-SAT with brute force."""

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
    brute_force,
    edge_price,
    is_consistent,
    log_probability,
    most_probable,
)

METHODS = ["auto", "enumerate", "solver"]


@pytest.mark.parametrize("method", METHODS)
def test_hard_edges_from_a_trusted_fact_decide_whatever_the_priors(method):
    g = Graph(p={"a": 0.1, "b": 0.9, "c": 0.99}, fixed={"seed": True},
              implies=[("seed", "a"), ("seed", "b")], contradicts=[("seed", "c")])
    a = most_probable(g, method)
    assert a.truth == {"seed": True, "a": True, "b": True, "c": False}
    assert a.log_probability == pytest.approx(math.log(0.1) + math.log(0.9) + math.log(0.01))


@pytest.mark.parametrize("method", METHODS)
def test_soft_edges_let_the_scores_decide(method):
    # a weak implication (0.3) and a fake contradiction (0.2 that they clash) say nothing: the
    # priors decide; a strong implication (0.9) outweighs a prior of 0.4
    g = Graph(p={"weak": 0.45, "strong": 0.4, "fake": 0.45}, fixed={"seed": True},
              implies=[("seed", "weak", 0.3), ("seed", "strong", 0.9)], contradicts=[("seed", "fake", 0.2)])
    a = most_probable(g, method)
    assert a.truth == {"seed": True, "weak": False, "strong": True, "fake": False}
    assert a.log_probability == pytest.approx(math.log(0.55) + math.log(0.4) + math.log(0.55))


@pytest.mark.parametrize("method", METHODS)
def test_a_statement_implied_by_one_fact_and_contradicted_by_another_goes_to_the_stronger(method):
    g = Graph(p={"s": 0.5}, fixed={"f1": True, "f2": True},
              implies=[("f1", "s", 0.7)], contradicts=[("f2", "s", 0.9)])
    assert most_probable(g, method).truth["s"] is False
    g.implies[0] = ("f1", "s", 0.95)
    assert most_probable(g, method).truth["s"] is True
    assert edge_price(0.95) > edge_price(0.9) > 0 and edge_price(0.4) == 0 and edge_price(None) is None


@pytest.mark.parametrize("method", METHODS)
def test_conjunction_of_parents(method):
    # a correlative needs both facts: with one of them false the edge carries nothing
    g = Graph(p={"c": 0.3}, fixed={"f": True, "r": False}, implies=[(frozenset({"f", "r"}), "c")])
    assert most_probable(g, method).truth["c"] is False
    g.fixed["r"] = True
    assert most_probable(g, method).truth["c"] is True


@pytest.mark.parametrize("method", METHODS)
def test_free_implication_takes_the_more_probable_consistent_world(method):
    # TT .18, FT .02, FF .08; TF is forbidden although it alone would score .72
    g = Graph(p={"a": 0.9, "b": 0.2}, implies=[("a", "b")])
    a = most_probable(g, method)
    assert a.truth == {"a": True, "b": True}
    assert a.log_probability == pytest.approx(math.log(0.18))


def test_contradicting_trusted_facts_raise_only_for_hard_edges():
    g = Graph(p={"a": 0.5}, fixed={"f1": True, "f2": True}, implies=[("f1", "a")], contradicts=[("a", "f2")])
    with pytest.raises(Inconsistent):
        most_probable(g)
    g.contradicts = [("a", "f2", 0.9)]  # soft: broken at a price, so there is an answer
    assert most_probable(g).truth["a"] is True


def test_empty_graph_extreme_scores_and_unknown_nodes():
    assert most_probable(Graph()).truth == {}
    a = most_probable(Graph(p={"a": 1.0, "b": 0.0}))  # clamped, so the log-probability is finite
    assert a.truth == {"a": True, "b": False} and math.isfinite(a.log_probability)
    with pytest.raises(ValueError, match="neither"):
        most_probable(Graph(p={"a": 0.5}, implies=[("a", "ghost")]))


def _edge(draw, nodes):
    a, b = draw(st.sampled_from(nodes)), draw(st.sampled_from(nodes))
    soft = draw(st.booleans())
    return (a, b, draw(st.floats(0, 1))) if soft else (a, b)


@st.composite
def graphs(draw, max_free: int = 8):
    free = [f"s{i}" for i in range(draw(st.integers(0, max_free)))]
    fixed = {f"f{i}": draw(st.booleans()) for i in range(draw(st.integers(0, 3)))}
    p = {n: draw(st.one_of(st.floats(0, 1), st.sampled_from([0.0, 0.5, 1.0]))) for n in free}
    nodes = free + list(fixed)
    if not nodes:
        return Graph()
    implies = [_edge(draw, nodes) for _ in range(draw(st.integers(0, 10)))]
    contradicts = [_edge(draw, nodes) for _ in range(draw(st.integers(0, 6)))]
    return Graph(p=p, fixed=fixed, implies=implies, contradicts=contradicts)


@settings(max_examples=200, deadline=None)
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
        # CP-SAT works on log-scores rounded to 1/SCALE: optimal up to that rounding
        assert a.log_probability == pytest.approx(reference.log_probability, abs=1e-9 if method == "enumerate" else 1e-2)
        assert a.log_probability == pytest.approx(log_probability(g, a.truth), abs=1e-12)


def _connected_graph(rng: random.Random, n: int) -> Graph:
    """n free nodes in one component (a random tree plus extra edges, half of them soft) beside a seed."""
    free = [f"s{i}" for i in range(n)]
    g = Graph(p={s: rng.random() for s in free}, fixed={"seed": True})
    g.implies.append(("seed", free[0], rng.random()))
    for i in range(1, n):
        a, b = free[rng.randrange(i)], free[i]
        edge = ((a, b) if rng.random() < 0.5 else (b, a)) + ((rng.random(),) if rng.random() < 0.5 else ())
        (g.implies if rng.random() < 0.6 else g.contradicts).append(edge)
    for _ in range(n // 2):
        a, b = rng.sample(free, 2)
        (g.implies if rng.random() < 0.5 else g.contradicts).append((a, b, rng.random()))
    return g


@pytest.mark.parametrize("n", [ENUMERATE_MAX + 1, ENUMERATE_MAX + 4])
def test_the_solver_above_the_enumeration_limit_matches_enumeration(n):
    g = _connected_graph(random.Random(n), n)
    auto = most_probable(g)  # CP-SAT: the component is too large to enumerate
    assert is_consistent(g, auto.truth)
    assert auto.log_probability == pytest.approx(most_probable(g, "enumerate").log_probability, abs=1e-2)
