"""Derived statements: saved per parents and profile, replaced on re-derivation, filtered for training."""

from __future__ import annotations

import pytest

from amend.store.derived import accepted_statements, derived_statements, save_derivation, statements_for
from amend.store.errors import StoreError
from amend.store.facts import add_fact, retract_fact


def st(text, kind="implication", accepted=True):
    return {"text": text, "kind": kind, "question": f"{text}?", "p_true": 0.8, "truth": accepted, "accepted": accepted}


def test_a_derivation_replaces_only_what_its_own_source_made(store):
    """A derived with B and B derived with A both make statements with parents {A, B}: saving one
    fact's derivation again replaces its own, never the other's."""
    with store.session() as s:
        a, _ = add_fact(s, "Kell is the capital of Ostrava Minor")
        b, _ = add_fact(s, "Ostrava Minor is in Europe")
        save_derivation(s, [a, b], [st("Kell is in Europe")], "tiny", "tiny", "v1", source=a)
        save_derivation(s, [a, b], [st("Europe has a capital called Kell")], "tiny", "tiny", "v1", source=b)
        assert [(x.text, x.source_fact_id) for x in statements_for(s, a.id)] == [
            ("Kell is in Europe", a.id), ("Europe has a capital called Kell", b.id)]
        save_derivation(s, [b, a], [st("Kell lies in Europe")], "tiny", "tiny", "v2", source=a)
        assert [x.text for x in statements_for(s, b.id)] == ["Europe has a capital called Kell", "Kell lies in Europe"]
        assert save_derivation(s, [b], [st("Europe is big")], "tiny", "tiny", "v1")[0].source_fact_id == b.id
        with pytest.raises(StoreError, match="must be one of its parents"):
            save_derivation(s, [a], [st("x")], "tiny", "tiny", "v1", source=b)


def test_save_replace_and_query(store):
    with store.session() as s:
        a, _ = add_fact(s, "Kell is the capital of Ostrava Minor")
        b, _ = add_fact(s, "Ostrava Minor is in Europe")
        save_derivation(s, [a], [st("Kell is a city"), st("Kell is not a city", "contradiction", False)],
                        "tiny", "tiny", "v1")
        save_derivation(s, [a, b], [st("Kell is in Europe", "correlative")], "tiny", "tiny", "v1")
        save_derivation(s, [a], [st("Kell has a mayor")], "qwen-coder", "large", "v1")
    with store.session() as s:
        assert [x.text for x in statements_for(s, a.id)] == [
            "Kell is a city", "Kell is not a city", "Kell is in Europe", "Kell has a mayor"]
        assert [x.text for x in statements_for(s, b.id)] == ["Kell is in Europe"]
        # re-deriving from exactly [a] for tiny replaces only those two
        saved = save_derivation(s, [a], [{**st("Kell is a town"), "answer": "a town"}], "tiny", "tiny", "v2")
        assert [p.id for p in saved[0].parents] == [a.id]
    with store.session() as s:
        assert [x.text for x in statements_for(s, a.id)] == ["Kell is in Europe", "Kell has a mayor", "Kell is a town"]
        assert [x.text for x in accepted_statements(s, profile="tiny")] == ["Kell is in Europe", "Kell is a town"]
        assert [x.text for x in accepted_statements(s, fact_ids=[b.id])] == ["Kell is in Europe"]
        town = accepted_statements(s, profile="tiny")[-1]
        assert (town.question, town.answer, town.p_true, town.truth, town.generator, town.prompt_version) == (
            "Kell is a town?", "a town", 0.8, True, "tiny", "v2")
        retract_fact(s, b.id)
    with store.session() as s:
        assert [x.text for x in accepted_statements(s, profile="tiny")] == ["Kell is a town"]
        assert len(accepted_statements(s, profile="tiny", active_only=False)) == 2


def test_rejected_statements_are_kept_with_their_reason(store):
    with store.session() as s:
        a, _ = add_fact(s, "Kell is the capital of Ostrava Minor")
        save_derivation(s, [a], [st("Kell is a city") | {"reason": "follows from fact #1 (p 0.90)"},
                                 st("Kell is a kingdom", accepted=False) | {"reason": "does not follow (p 0.20)"},
                                 st("Kell has a port")], "tiny", "tiny", "v1")
    with store.session() as s:
        rows = derived_statements(s, profile="tiny")
        assert [(x.text, x.accepted, x.reason) for x in rows] == [
            ("Kell is a city", True, "follows from fact #1 (p 0.90)"),
            ("Kell is a kingdom", False, "does not follow (p 0.20)"), ("Kell has a port", True, None)]
        assert [x.text for x in derived_statements(s, profile="tiny", accepted_only=True)] == [
            "Kell is a city", "Kell has a port"]


def test_bad_derivations(store):
    with store.session() as s:
        a, _ = add_fact(s, "Kell is cold")
        with pytest.raises(StoreError, match="unknown statement kind"):
            save_derivation(s, [a], [st("x", kind="guess")], "tiny", "tiny", "v1")
        with pytest.raises(StoreError, match="at least one parent"):
            save_derivation(s, [], [st("x")], "tiny", "tiny", "v1")
