"""End to end on the tiny profile: derive, question, score given the parents, and the verdicts."""

from __future__ import annotations

import pytest

from amend.training.dct import derive as derive_module
from amend.training.dct.derive import _PASSED, KINDS, DeriveSettings, _ask_about_subjects, _Candidate, _merge, derive
from amend.training.dct.graph import KNOWN
from amend.training.dct.parse import claim
from amend.training.dct.prompts import PROMPT_VERSION

FACT = "The capital of Vendaria is Lusk."
RELATED = "The mayor of Lusk is Orin Pell."


def test_merge_keeps_first_kind_drops_conflicts_and_rephrased_contradictions():
    cands = [_Candidate("Lusk is in Vendaria.", "implication", [FACT]),
             _Candidate("Lusk is a city.", "implication", [FACT]),
             _Candidate("lusk is in vendaria", "correlative", [FACT, RELATED]),
             _Candidate("The mayor of Vendaria's capital is Orin Pell.", "correlative", [FACT, RELATED]),
             _Candidate("Lusk is a city!", "contradiction", [FACT]),
             _Candidate("Vendaria's capital is Lusk.", "contradiction", [FACT]),  # a rephrasing of the fact
             _Candidate("The capital of Vendaria is Brell.", "contradiction", [FACT]),
             _Candidate("The capital of Vendaria is Tarn.", "contradiction", [FACT])]
    assert _merge(cands, FACT, max_contradictions=1) == [cands[0], cands[3], cands[6]]


def test_settings_come_from_amend_settings(settings):
    from amend.config import ConfigError

    settings.dct_scoring, settings.dct_compose = "prior", False
    assert (DeriveSettings.from_settings(settings).scoring, DeriveSettings.from_settings(settings).compose) == ("prior", False)
    settings.dct_scoring = "vibes"
    with pytest.raises(ConfigError, match="dct_scoring"):
        DeriveSettings.from_settings(settings)


# on tiny this fact gives implications, correlatives and contradictions (greedy, so always the same)
BORN = "Jonah Strand was born in Lisbon."
COMPOSED = "Jonah Strand composed the opera The Salt King."


@pytest.fixture(scope="module")
def derivation(tiny):
    d = derive(tiny, BORN, [COMPOSED, BORN])  # the fact itself among the related is ignored
    d.model = tiny.large
    return d


def tiny_model(d):
    return d.model


@pytest.mark.slow
def test_derivation_has_scored_statements_and_verdicts_with_reasons(derivation):
    d = derivation
    assert d.fact == BORN and d.related == [COMPOSED] and d.scoring == "conditioned"
    first, *rest = d.statements
    assert (first.text, first.accepted, first.parents) == (BORN, True, [BORN])  # carries the fact's question
    assert first.question.endswith("?") and first.reason == "the fact itself: its question form"
    assert len(rest) >= 3 and {s.kind for s in rest} <= set(KINDS)
    assert {"implication", "contradiction"} <= {s.kind for s in rest}
    # SmolLM2-135M fails the labelled checks of "does it follow?" (measured: it ranks them worse
    # than chance), so its implications are scored alone and kept by their kind; it passes the
    # checks of "can both be true?", so its contradictions are decided by their scores
    assert _PASSED[tiny_model(d)] == {"entail": False, "compatible": True}
    for s in rest:
        assert 0.0 <= s.p_true <= 1.0 and s.question.endswith("?") and s.reason
        assert s.answer is None or s.answer.lower() in s.text.lower()  # a short answer is words of the text
        assert claim(s.text) not in {claim(BORN), claim(COMPOSED)}
        if s.kind == "contradiction":  # a negative example only when the scores call it one
            assert s.parents == [BORN] and s.truth is False and s.scoring == "conditioned"
            assert s.accepted == (s.p_true < 0.5)
        else:  # without a scorer that can judge, the kind decides (and compositions are dropped)
            assert s.scoring == "prior" and s.accepted and s.truth and s.known is None
            assert s.parents in ([BORN], [BORN, COMPOSED]) and "kept by its kind" in s.reason
        assert (KNOWN in s.reason) == (s.known is not None)
    assert len({claim(s.text) for s in d.statements}) == len(d.statements)


@pytest.mark.slow
def test_derivation_records_its_provenance(derivation):
    d = derivation
    assert d.generator == d.scorer == "SmolLM2-135M-Instruct"
    assert d.prompt_version == PROMPT_VERSION
    assert set(d.timings) == {"derive", "score"} and d.seconds >= d.timings["derive"] > 0
    js = d.to_json()
    assert set(js) == {"fact", "statements", "seconds"}
    assert all(set(s) == {"text", "kind", "question", "answer", "p_true", "truth", "accepted", "parents", "reason"}
               for s in js["statements"])


@pytest.mark.slow
def test_many_facts_share_the_batches_and_derive_what_each_derives_alone(tiny):
    from amend.training.dct.derive import derive_many

    s = DeriveSettings(list_tokens=48, question_tokens=16)
    items = [(FACT, [RELATED]), ("The Harrow Bridge is in Cairo.", []), (RELATED, [FACT])]
    together = derive_many(tiny, items, s)
    alone = [derive(tiny, fact, related, s) for fact, related in items]
    assert [d.fact for d in together] == [FACT, "The Harrow Bridge is in Cairo.", RELATED]
    for a, b in zip(together, alone):
        assert [(x.text, x.kind, x.question, x.accepted) for x in a.statements] == \
            [(x.text, x.kind, x.question, x.accepted) for x in b.statements]
        assert [x.p_true for x in a.statements] == pytest.approx([x.p_true for x in b.statements], abs=1e-4)
        assert a.timings["derive"] > 0 and a.timings["score"] >= 0


def test_a_reversed_question_form_is_asked_again_begun_with_the_subject(tiny, monkeypatch):
    """Only a fact whose question asks for its subject is asked again, with the reply begun by
    the fact's words up to its subject; the model (tiny, greedy) finishes a question about it."""
    harrow, born = "The Harrow Bridge is located in Cairo.", BORN
    forms = {harrow: "Which bridge is located in Cairo?", born: "Where was Jonah Strand born?"}
    asked = []

    def spy(model, tok, prompts, *args, **kwargs):
        asked.extend(prompts)
        return real(model, tok, prompts, *args, **kwargs)

    real = derive_module.generate
    monkeypatch.setattr(derive_module, "generate", spy)
    got = _ask_about_subjects(tiny.large, tiny.tokenizer, [harrow, born], forms, DeriveSettings())
    assert len(asked) == 1 and asked[0].endswith("Statement: The Harrow Bridge is located in Cairo.<|im_end|>\n"
                                                 "<|im_start|>assistant\nThe Harrow Bridge")
    assert got == {harrow: ("The Harrow Bridge is located in which city?", "Cairo")}
