"""`amend derive`: JSON shape on the tiny profile, user errors, related facts from the store."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from amend.cli import cli

FACT = "The capital of Vendaria is Lusk."


@pytest.mark.slow
def test_derive_json(home):
    result = CliRunner().invoke(cli, ["derive", FACT, "--profile", "tiny", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert set(out) == {"fact", "statements", "seconds"} and out["fact"] == FACT
    assert isinstance(out["seconds"], float) and len(out["statements"]) >= 3
    assert out["statements"][0]["text"] == FACT  # the fact itself, with its question form
    for s in out["statements"]:
        assert set(s) == {"text", "kind", "question", "answer", "p_true", "truth", "accepted", "parents", "reason"}
        assert s["kind"] in ("implication", "correlative", "contradiction") and 0 <= s["p_true"] <= 1
        assert s["parents"] == [FACT]  # no related facts: no store in this home, none given
        assert s["reason"]  # why it was accepted or rejected
        if s["kind"] == "contradiction":
            assert s["truth"] is False
    assert not (home / "amend.db").exists()  # derive writes nothing, not even an empty store


def test_empty_fact_is_one_line_error():
    result = CliRunner().invoke(cli, ["derive", "   ", "--json"])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: derive: the fact is empty"


def test_related_facts_come_from_the_store_without_writing(settings):
    from sqlalchemy import func, select

    from amend.commands.derive import _store_related
    from amend.store.db import open_store
    from amend.store.facts import add_fact
    from amend.store.schema import FactEmbedding

    store = open_store(settings)
    with store.session() as session:
        for text in ["The mayor of Lusk is Orin Pell.", "Kestrel Foods sells frozen dumplings.",
                     "Lusk lies on the river Oder."]:
            add_fact(session, text)
    def cached() -> int:
        with store.session() as session:
            return session.scalar(select(func.count()).select_from(FactEmbedding))

    before = cached()
    settings.related_k = 2
    related = _store_related(settings, "The capital of Vendaria is Lusk.")
    assert len(related) == 2 and "Kestrel Foods sells frozen dumplings." not in related
    assert cached() == before  # the vectors related_facts cached were rolled back
    store.dispose()
