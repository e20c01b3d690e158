"""End to end on the tiny profile: derive, question, score and the consistent set for one fact."""

from __future__ import annotations

import pytest

from amend.training.dct.derive import KINDS, _merge, derive, judge_contradiction
from amend.training.dct.parse import normalize
from amend.training.dct.prompts import PROMPT_VERSION

FACT = "The capital of Vendaria is Lusk."
RELATED = "The mayor of Lusk is Orin Pell."



def test_merge_keeps_first_kind_drops_conflicts_and_rephrased_contradictions():
    cands = [("Lusk is in Vendaria.", "implication", [FACT]),
             ("Lusk is a city.", "implication", [FACT]),
             ("lusk is in vendaria", "correlative", [FACT, RELATED]),
             ("The mayor of Vendaria's capital is Orin Pell.", "correlative", [FACT, RELATED]),
             ("Lusk is a city!", "contradiction", [FACT]),
             ("Vendaria's capital is Lusk.", "contradiction", [FACT]),  # a rephrasing of the fact
             ("The capital of Vendaria is Brell.", "contradiction", [FACT]),
             ("The capital of Vendaria is Tarn.", "contradiction", [FACT])]
    assert _merge(cands, FACT, max_contradictions=1) == [cands[0], cands[3], cands[6]]


# on tiny this fact gives implications, correlatives and contradictions (greedy, so always the same)
BORN = "Jonah Strand was born in Lisbon."
COMPOSED = "Jonah Strand composed the opera The Salt King."


@pytest.fixture(scope="module")
def derivation(tiny):
    return derive(tiny, BORN, [COMPOSED, BORN])  # the fact itself among the related is ignored


@pytest.mark.slow
def test_derivation_has_scored_statements_and_a_consistent_assignment(derivation):
    d = derivation
    assert d.fact == BORN and d.related == [COMPOSED]
    assert len(d.statements) >= 3
    assert {s.kind for s in d.statements} <= set(KINDS)
    assert any(s.kind == "implication" for s in d.statements)
    assert any(s.kind == "contradiction" for s in d.statements)
    assert any(s.kind == "correlative" for s in d.statements)
    for s in d.statements:
        assert 0.0 <= s.p_true <= 1.0
        assert s.question.endswith("?")
        assert normalize(s.text) not in {normalize(BORN), normalize(COMPOSED)}
        if s.kind == "contradiction":  # contradicts a trusted fact: never true, kept as a negative
            assert s.parents == [BORN] and s.truth is False and s.accepted is True
        else:  # implied by trusted facts: always true
            assert s.truth is True and s.accepted is True
            assert s.parents == ([BORN] if s.kind == "implication" else [BORN, COMPOSED])
    assert len({normalize(s.text) for s in d.statements}) == len(d.statements)


@pytest.mark.slow
def test_derivation_records_its_provenance(derivation):
    d = derivation
    assert d.generator == d.scorer == "SmolLM2-135M-Instruct"
    assert d.prompt_version == PROMPT_VERSION
    assert set(d.timings) == {"derive", "score"} and d.seconds >= d.timings["derive"] > 0
    js = d.to_json()
    assert set(js) == {"fact", "statements", "seconds"}
    assert all(set(s) == {"text", "kind", "p_true", "truth", "accepted", "parents"} for s in js["statements"])
    assert all(set(r) == {"text", "kind", "question", "p_true", "truth", "accepted", "parents"} for r in d.records())
    groups = d.by_parents()
    assert sum(map(len, groups.values())) == len(d.statements)
    assert all(list(parents) == r["parents"] for parents, rs in groups.items() for r in rs)


@pytest.mark.slow
def test_judge_contradiction_is_a_symmetric_probability(tiny):
    a, b = FACT, "The capital of Vendaria is Brell."
    p = judge_contradiction(tiny, a, b)
    assert 0.0 <= p <= 1.0
    assert judge_contradiction(tiny, b, a) == pytest.approx(p, abs=1e-6)
