"""What the pipeline keeps of earlier derivations when it derives a fact (no model needed: the
derivations are given, the store is real).

A statement derived from fact A with its related fact B has both as parents. Deriving B later
(an import: every fact is added before any is derived) must keep A's joint statements, and B
must still count as not derived (it only lent its text to A's), so that an update stopped
halfway derives it when run again. An edit of A makes what was derived with its old text stale.
"""

from __future__ import annotations

from types import SimpleNamespace

from amend.store import open_store
from amend.store.derived import statements_for
from amend.store.facts import add_fact, edit_fact, get_fact
from amend.training.pipeline import Update

A, B = "The CEO of Halvorsen Motors is Petra Lind.", "Petra Lind was born in Bergen."


def derivation(*statements: tuple[str, list[str]]) -> SimpleNamespace:
    """A derivation as derive_many returns it: statements with the texts of their related parents."""
    return SimpleNamespace(generator="tiny", prompt_version="v", statements=[SimpleNamespace(
        text=text, kind="implication", question=f"{text}?", answer=None, p_true=0.9, truth=True, accepted=True,
        reason=None, scoring="conditioned", parents=parents) for text, parents in statements])


def test_deriving_a_related_fact_keeps_the_joint_statements_and_counts_only_its_own(settings):
    store = open_store(settings)
    update = Update(store, SimpleNamespace(profile=SimpleNamespace(name="tiny")), settings, [])
    try:
        with store.session() as s:
            a, _ = add_fact(s, A)
            b, _ = add_fact(s, B)
            a_id, b_id = a.id, b.id
        with store.session() as s:
            update._save(s, get_fact(s, a_id), [get_fact(s, b_id)], derivation(
                ("Halvorsen Motors has a CEO.", []), ("The CEO of Halvorsen Motors was born in Bergen.", [B])))
        with store.session() as s:
            assert not update.needs_derivation(s, get_fact(s, a_id))
            assert update.needs_derivation(s, get_fact(s, b_id))  # only A's related fact so far
            update._save(s, get_fact(s, b_id), [get_fact(s, a_id)], derivation(
                ("Petra Lind is from Norway.", []), ("A CEO was born in Bergen.", [A])))
        with store.session() as s:
            assert not update.needs_derivation(s, get_fact(s, b_id))
            texts = {x.text: x.source_fact_id for x in statements_for(s, b_id)}
            assert texts == {"The CEO of Halvorsen Motors was born in Bergen.": a_id,  # kept
                             "Petra Lind is from Norway.": b_id, "A CEO was born in Bergen.": b_id}
            edit_fact(s, a_id, "The CEO of Halvorsen Motors is Jonas Berg.")
        with store.session() as s:
            assert update.needs_derivation(s, get_fact(s, a_id))
            update._save(s, get_fact(s, a_id), [], derivation(("Halvorsen Motors has a CEO.", [])))
        with store.session() as s:  # what was derived with A's old text is gone, B's own stays
            assert [x.text for x in statements_for(s, b_id)] == ["Petra Lind is from Norway."]
            assert [x.text for x in statements_for(s, a_id)] == ["Halvorsen Motors has a CEO."]
    finally:
        store.dispose()
