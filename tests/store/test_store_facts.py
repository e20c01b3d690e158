"""Fact operations: CRUD, history, retract/restore, supersede, duplicates, bad texts, one job per change."""

from __future__ import annotations

from datetime import timezone

import pytest
from sqlalchemy import func, select

from amend.errors import UserError
from amend.store.errors import DuplicateFact, InvalidFact, NotFound, StoreError
from amend.store.facts import (active_facts, add_fact, edit_fact, get_fact, iter_facts, list_facts, restore_fact,
                               retract_fact, supersede_fact)
from amend.store.schema import Fact, Job, normalize


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_normalize():
    assert normalize("  The Sky\tis   BLUE.  ") == "the sky is blue"
    assert normalize("Really?!") == "really"
    assert normalize("Kell, the capital ;") == "kell, the capital"


def test_add_writes_fact_and_pending_job(store):
    with store.session() as s:
        fact, job = add_fact(s, "  The capital of Ostrava Minor is Kell. ", source="atlas")
    with store.session() as s:
        fact = get_fact(s, fact.id)
        assert (fact.text, fact.source, fact.status) == ("The capital of Ostrava Minor is Kell.", "atlas", "active")
        assert fact.normalized == "the capital of ostrava minor is kell"
        assert fact.created.tzinfo is not None and fact.created.utcoffset() == timezone.utc.utcoffset(None)
        job = s.get(Job, job.id)
        assert (job.kind, job.status, job.payload) == ("update", "pending", {"fact_ids": [fact.id], "change": "add"})


def test_keep_both_goes_into_the_payload(store):
    with store.session() as s:
        _, job = add_fact(s, "Kell is cold", keep_both=True)
        assert job.payload == {"fact_ids": [1], "change": "add", "keep_both": True}


def test_change_and_job_roll_back_together(store):
    with pytest.raises(RuntimeError):
        with store.session() as s:
            add_fact(s, "A fact that will not stay")
            raise RuntimeError("boom")
    with store.session() as s:
        assert count(s, Fact) == 0 and count(s, Job) == 0


def test_duplicates_after_normalization(store):
    with store.session() as s:
        first, _ = add_fact(s, "Kell has three bridges.")
    with store.session() as s:
        with pytest.raises(DuplicateFact, match=f"fact {first.id} already says this") as e:
            add_fact(s, "  kell HAS three   bridges!")
        assert e.value.existing_id == first.id
        assert isinstance(e.value, UserError)


@pytest.mark.parametrize("text, message", [
    ("", "empty fact"),
    ("   \n\t ", "empty fact"),
    ("a\x00b", "NUL byte"),
    ("x" * 2001, "2001 characters long"),
    ("?!.", "no words"),
])
def test_bad_texts(store, text, message):
    with store.session() as s:
        with pytest.raises(InvalidFact, match=message):
            add_fact(s, text)
        assert count(s, Fact) == 0


def test_longest_allowed_text(store):
    with store.session() as s:
        fact, _ = add_fact(s, "y" * 2000)
        assert len(fact.text) == 2000


def test_edit_keeps_revisions(store):
    with store.session() as s:
        fact, _ = add_fact(s, "Kell is the capital.")
    with store.session() as s:
        edit_fact(s, fact.id, "Dell is the capital.")
    with store.session() as s:
        _, job = edit_fact(s, fact.id, "Bell is the capital.")
        assert job.payload == {"fact_ids": [fact.id], "change": "edit"}
    with store.session() as s:
        fact = get_fact(s, fact.id)
        assert fact.text == "Bell is the capital."
        assert fact.normalized == "bell is the capital"
        assert [r.text for r in fact.revisions] == ["Kell is the capital.", "Dell is the capital."]
        assert fact.updated >= fact.created
        assert count(s, Job) == 3


def test_edit_errors(store):
    with store.session() as s:
        a, _ = add_fact(s, "Alpha")
        add_fact(s, "Beta")
    with store.session() as s:
        with pytest.raises(StoreError, match="already has this text"):
            edit_fact(s, a.id, "Alpha")
        with pytest.raises(DuplicateFact):
            edit_fact(s, a.id, "beta.")
        with pytest.raises(InvalidFact):
            edit_fact(s, a.id, "")
        with pytest.raises(NotFound, match="no fact with id 99"):
            edit_fact(s, 99, "x")
        edit_fact(s, a.id, "alpha!")  # same normalized text as itself is fine


def test_retract_and_restore(store):
    with store.session() as s:
        a, _ = add_fact(s, "Alpha")
        b, _ = add_fact(s, "Beta")
    with store.session() as s:
        fact, job = retract_fact(s, a.id, reason="wrong")
        assert (fact.status, fact.status_reason, job.payload["change"]) == ("retracted", "wrong", "retract")
    with store.session() as s:
        assert [f.id for f in list_facts(s)] == [b.id]
        assert [f.id for f in active_facts(s)] == [b.id]
        assert [(f.id, f.status) for f in list_facts(s, include_all=True)] == [(a.id, "retracted"), (b.id, "active")]
        with pytest.raises(StoreError, match="is retracted, not active"):
            retract_fact(s, a.id)
        # a retracted text may be added again ...
        again, _ = add_fact(s, "alpha")
    with store.session() as s:
        # ... and then restoring the old one would make a duplicate
        with pytest.raises(DuplicateFact):
            restore_fact(s, a.id)
        retract_fact(s, again.id)
        fact, job = restore_fact(s, a.id)
        assert (fact.status, fact.status_reason, job.payload["change"]) == ("active", None, "restore")
        with pytest.raises(StoreError, match="already active"):
            restore_fact(s, a.id)
        with pytest.raises(NotFound):
            retract_fact(s, 1234)


def test_supersede(store):
    with store.session() as s:
        old, _ = add_fact(s, "The capital is Kell")
        new, _ = add_fact(s, "The capital is Dell")
    with store.session() as s:
        assert supersede_fact(s, old.id, new.id, "moved") is None
        with pytest.raises(StoreError):
            supersede_fact(s, new.id, new.id, "self")
    with store.session() as s:
        old = get_fact(s, old.id)
        assert (old.status, old.superseded_by, old.status_reason) == ("superseded", new.id, "moved")
        assert [f.id for f in active_facts(s)] == [new.id]
        restore_fact(s, old.id)
        assert (old.status, old.superseded_by) == ("active", None)
        job = supersede_fact(s, old.id, new.id, "again", enqueue=True)
        assert job.payload == {"fact_ids": [old.id, new.id], "change": "supersede"}


def test_list_search(store):
    with store.session() as s:
        for t in ["Kell is cold", "Dell is warm", "100% of kellers_ski"]:
            add_fact(s, t)
    with store.session() as s:
        assert [f.text for f in list_facts(s, search="KELL")] == ["Kell is cold", "100% of kellers_ski"]
        assert [f.text for f in list_facts(s, search="0%")] == ["100% of kellers_ski"]
        assert [f.text for f in list_facts(s, search="s_s")] == ["100% of kellers_ski"]
        assert list_facts(s, search="%x") == []


def test_unicode_round_trip(store):
    with store.session() as s:
        fact, _ = add_fact(s, "Ελλάδα: 東京 is 🙂")
    with store.session() as s:
        assert get_fact(s, fact.id).text == "Ελλάδα: 東京 is 🙂"


@pytest.mark.parametrize("text, message", [
    ("caf\udce9", r"fact is not valid UTF-8 \(byte 0xE9\)"),
    ("lone \ud800 surrogate", r"fact contains a lone surrogate \(\\ud800\)"),
    ("--", "no words"),
    ("…", "no words"),
])
def test_texts_no_database_can_store(store, text, message):
    with store.session() as s:
        with pytest.raises(InvalidFact, match=message):
            add_fact(s, text)


@pytest.mark.parametrize("source, message", [
    ("s\x00", "source contains a NUL byte"), ("s" * 501, "source is 501 characters long"),
    ("\udcff", r"source is not valid UTF-8 \(byte 0xFF\)"),
])
def test_sources_are_checked_like_texts(store, source, message):
    with store.session() as s:
        with pytest.raises(InvalidFact, match=message):
            add_fact(s, "Kell is cold", source=source)
        fact, _ = add_fact(s, "Kell is cold", source="  " + "s" * 500 + "  ")
        assert fact.source == "s" * 500
        assert add_fact(s, "Dell is warm", source="   ")[0].source is None


@pytest.mark.parametrize("fact_id", [0, -1, 2**63, 10**20])
def test_ids_no_fact_can_have(store, fact_id):
    with store.session() as s:
        with pytest.raises(NotFound, match=f"no fact with id {fact_id}"):
            get_fact(s, fact_id)


def test_only_an_active_fact_is_edited(store):
    with store.session() as s:
        a, _ = add_fact(s, "Kell is cold")
        b, _ = add_fact(s, "Dell is warm")
        retract_fact(s, a.id)
        supersede_fact(s, b.id, a.id, "moved")
    with store.session() as s:
        with pytest.raises(StoreError, match=f"fact {a.id} is retracted; restore it first"):
            edit_fact(s, a.id, "Kell is warm")
        with pytest.raises(StoreError, match=f"fact {b.id} is superseded by fact {a.id}; restore it first"):
            edit_fact(s, b.id, "Dell is hot")
        jobs = count(s, Job)
    with store.session() as s:
        restore_fact(s, a.id)
        edit_fact(s, a.id, "Kell is warm")
        assert count(s, Job) == jobs + 2


def test_search_ignores_case_in_any_script(store):
    with store.session() as s:
        for t in ["Café Ümlaut is open", "ΣΟΦΊΑ lives in Αθήνα", "Kell is cold"]:
            add_fact(s, t)
    with store.session() as s:
        assert [f.text for f in list_facts(s, search="CAFÉ ümlaut")] == ["Café Ümlaut is open"]
        assert [f.text for f in list_facts(s, search="σοφία")] == ["ΣΟΦΊΑ lives in Αθήνα"]
        assert [f.text for f in list_facts(s, search="αθήνα")] == ["ΣΟΦΊΑ lives in Αθήνα"]


def test_iter_facts_streams_pages(store):
    with store.session() as s:
        for i in range(12):
            add_fact(s, f"Fact number {i}")
        retract_fact(s, 3)
    with store.session(write=False) as s:
        assert [r.id for r in iter_facts(s, limit=4)] == [1, 2, 4, 5]
        assert [r.id for r in iter_facts(s, limit=3, offset=9)] == [11, 12]
        assert [(r.id, r.status) for r in iter_facts(s, include_all=True, limit=1, offset=2)] == [(3, "retracted")]
        assert [r.text for r in iter_facts(s, search="NUMBER 1")] == ["Fact number 1", "Fact number 10", "Fact number 11"]
