"""The graph over facts and statements: nodes meet by claim, the scores decide, reasons say why."""

from __future__ import annotations

from amend.training.dct.graph import Derived, settle, with_known

CAPITAL = "The capital of Vendaria is Lusk."
MAYOR = "The mayor of Lusk is Orin Pell."
CEO = "The CEO of Halvorsen Motors is Petra Lind."
FACTS = {1: CAPITAL, 2: MAYOR, 3: CEO}


def test_scores_given_the_parents_decide():
    verdicts = settle(FACTS, [
        Derived("city", "Lusk is a city in Vendaria.", "implication", 0.93, (1,)),
        Derived("weak", "Vendaria is a kingdom.", "implication", 0.31, (1,)),
        Derived("multi", "The mayor of the capital of Vendaria is Orin Pell.", "correlative", 0.88, (1, 2)),
        Derived("real", "The capital of Vendaria is Brell.", "contradiction", 0.08, (1,)),
        Derived("fake", "Halvorsen Motors is a Danish company.", "contradiction", 0.72, (3,)),
    ])
    assert {k: (v.truth, v.accepted) for k, v in verdicts.items()} == {
        "city": (True, True), "weak": (False, False), "multi": (True, True),
        "real": (False, True), "fake": (False, False)}
    assert verdicts["weak"].reason == "does not follow from fact #1 (p 0.31)"
    assert verdicts["fake"].reason.startswith("not a contradiction of fact #3: both can be true")
    assert verdicts["real"].reason.endswith("a negative example")
    assert verdicts["multi"].reason == "follows from fact #1 and fact #2 (p 0.88)"


def test_prior_scoring_is_the_structural_verdict_of_before():
    verdicts = settle(FACTS, [
        Derived("weak", "Vendaria is a kingdom.", "implication", 0.31, (1,)),
        Derived("fake", "Halvorsen Motors is a Danish company.", "contradiction", 0.72, (3,)),
    ], scoring="prior")
    assert [(v.truth, v.accepted) for v in verdicts.values()] == [(True, True), (False, True)]


def test_two_facts_that_disagree_about_a_statement_are_settled_by_the_scores():
    """One claim (in two wordings) implied by one fact and contradicted by another: one node, so it
    is trained one way only, the way the stronger score says."""
    facts = {1: "Amara Osei founded Kestrel Foods.", 2: "Kestrel Foods was founded in 1990 by a cooperative."}
    implied = Derived("a", "Kestrel Foods was founded by Amara Osei.", "implication", 0.6, (2,))
    denied = Derived("b", "Amara Osei founded Kestrel Foods in 1990.", "contradiction", 0.05, (2,))
    support = Derived("c", "Kestrel Foods was founded in 1990 by Amara Osei.", "implication", 0.7, (1,))
    verdicts = settle(facts, [implied, denied, support])
    # b and c make one claim: implied by fact 1 at 0.7, contradicted by fact 2 at 0.95 -> false
    assert (verdicts["b"].truth, verdicts["b"].accepted) == (False, True)
    assert (verdicts["c"].truth, verdicts["c"].accepted) == (False, False)
    assert verdicts["c"].reason.startswith("contradicted by fact #2")
    # with a stronger implication and a weaker contradiction the other way round
    verdicts = settle(facts, [implied, Derived("b", denied.text, "contradiction", 0.2, (2,)),
                              Derived("c", support.text, "implication", 0.97, (1,))])
    assert (verdicts["c"].truth, verdicts["c"].accepted) == (True, True)
    assert (verdicts["b"].truth, verdicts["b"].accepted) == (True, False)
    assert verdicts["b"].reason.startswith("implied by fact #1")


def test_claims_meet_facts_and_their_negations():
    verdicts = settle({1: CAPITAL, 2: "Lusk is not in Vendaria."}, [
        Derived("again", "Vendaria's capital is Lusk.", "implication", 0.99, (1,)),  # the fact's own claim
        Derived("denied", "Lusk is in Vendaria.", "implication", 0.9, (1,)),  # fact 2 is its negation
        Derived("is-fact", "Lusk is not in Vendaria.", "contradiction", 0.1, (1,)),  # fact 2 itself
        Derived("orphan", "Lusk is big.", "implication", 0.9, (1, 9)),  # a parent that is not active
    ])
    assert set(verdicts) == {"again", "denied", "is-fact"}
    assert (verdicts["again"].accepted, verdicts["again"].reason) == (True, "restates fact #1")
    assert (verdicts["denied"].truth, verdicts["denied"].reason) == (False, "its negation is held (p 0.90)")
    assert (verdicts["is-fact"].truth, verdicts["is-fact"].accepted) == (True, False)


def test_reasons_keep_the_known_fact_of_a_composition():
    assert with_known("follows from fact #1 (p 0.90)", "Cairo is in Egypt.") == (
        "follows from fact #1 (p 0.90); combined with what the model knows: Cairo is in Egypt.")
    assert with_known("x", None) == "x"


def test_statements_scored_alone_are_kept_by_their_kind_beside_scored_ones():
    verdicts = settle(FACTS, [
        Derived("alone", "Vendaria is a kingdom.", "implication", 0.31, (1,), "prior"),
        Derived("given", "Vendaria is a republic.", "implication", 0.31, (1,), "conditioned"),
    ])
    assert (verdicts["alone"].accepted, verdicts["given"].accepted) == (True, False)
    assert verdicts["alone"].reason == "follows from fact #1 (p 0.31 alone: kept by its kind)"
