"""One graph over the store: statements of different facts meet, the scores decide, retracting a
fact settles again (a real SQLite store)."""

from __future__ import annotations

import pytest

from amend.store.db import open_store
from amend.store.derived import accepted_statements, derived_statements, save_derivation
from amend.store.facts import add_fact, retract_fact
from amend.training.dct.prompts import PROMPT_VERSION
from amend.training.dct.stored import settle_store


@pytest.fixture
def store(settings):
    s = open_store(settings)
    yield s
    s.dispose()


def st(text, kind, p, reason=None):
    # the verdict fields as derive() of one fact would have left them: each derivation alone
    return {"text": text, "kind": kind, "question": None, "p_true": p, "truth": kind != "contradiction",
            "accepted": True, "reason": reason}


def verdicts(store):
    with store.session(write=False) as s:
        return {d.text: (d.truth, d.accepted, d.reason) for d in derived_statements(s, profile="tiny")}


def test_facts_whose_statements_conflict_are_settled_by_the_scores_in_one_graph(store):
    with store.session() as s:
        a, _ = add_fact(s, "The capital of Vendaria is Lusk.")
        b, _ = add_fact(s, "Lusk lies in the mountains of Ostra.")
        save_derivation(s, [a], [st("Lusk is a city in Vendaria.", "implication", 0.9),
                                 st("Lusk lies on the coast.", "implication", 0.55),
                                 st("Lusk is not a city in Ostra.", "contradiction", 0.3)], "tiny", "tiny", PROMPT_VERSION)
        save_derivation(s, [b], [st("On the coast lies Lusk.", "contradiction", 0.1),  # = "Lusk lies on the coast."
                                 st("Lusk is a city in Ostra.", "implication", 0.8,
                                    "x; combined with what the model knows: Ostra has cities.")],
                        "tiny", "tiny", PROMPT_VERSION)
    with store.session() as s:  # each derivation alone: nothing decided across the facts
        assert settle_store(s, "tiny", graph="fact").accepted == 5
    before = verdicts(store)
    assert before["Lusk lies on the coast."][:2] == (True, True) and before["On the coast lies Lusk."][:2] == (False, True)

    with store.session() as s:
        settled = settle_store(s, "tiny")
    after = verdicts(store)
    assert settled.statements == 5 and settled.changed == 1
    # one claim, implied by fact a at 0.55, contradicted by fact b at 0.9: false, a negative only
    assert after["Lusk lies on the coast."][:2] == (False, False)
    assert after["Lusk lies on the coast."][2].startswith(f"contradicted by fact #{b.id}")
    assert after["On the coast lies Lusk."][:2] == (False, True)
    # a's contradiction is the negation of b's implication (0.8 vs 1-0.3=0.7): b's implication wins
    assert after["Lusk is a city in Ostra."][:2] == (True, True)
    assert after["Lusk is a city in Ostra."][2].endswith("combined with what the model knows: Ostra has cities.")
    assert after["Lusk is not a city in Ostra."][:2] == (False, True)

    with store.session() as s:  # without fact b its statements leave the graph and the coast is back
        retract_fact(s, b.id)
    with store.session() as s:
        settle_store(s, "tiny")
        assert [d.text for d in accepted_statements(s, profile="tiny")] == [
            "Lusk is a city in Vendaria.", "Lusk lies on the coast.", "Lusk is not a city in Ostra."]


def test_the_fact_row_and_other_profiles_and_versions(store):
    with store.session() as s:
        a, _ = add_fact(s, "The capital of Vendaria is Lusk.")
        save_derivation(s, [a], [st(a.text, "implication", 1.0) | {"question": "What is the capital of Vendaria?"},
                                 st("Vendaria has a king.", "implication", 0.2)], "tiny", "tiny", PROMPT_VERSION)
        save_derivation(s, [a], [st("Vendaria is old.", "implication", 0.2)], "qwen-coder", "large", PROMPT_VERSION)
        b, _ = add_fact(s, "Vendaria is in the north.")
        save_derivation(s, [b], [st("Old wording.", "implication", 0.2)], "tiny", "tiny", "dct-1")
    with store.session() as s:
        assert settle_store(s, "tiny").statements == 3  # not qwen-coder's
        with pytest.raises(ValueError, match="graph must be"):
            settle_store(s, "tiny", graph="world")
    got = verdicts(store)
    assert got[a.text] == (True, True, "the fact itself: its question form")
    assert got["Vendaria has a king."][:2] == (False, False)
    # an earlier version's statement was scored alone: its fact's edge decides, as it did then
    assert got["Old wording."] == (True, True, f"follows from fact #{b.id} (p 0.20 alone: kept by its kind)")
