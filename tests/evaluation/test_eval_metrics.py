"""The metrics on a scripted answerer whose answers and log-probs are known."""

import pytest

from amend.evaluation.cases import Case, Probe
from amend.evaluation.metrics import aggregate, contains_answer, score_case, score_probe


class Scripted:
    """An answerer with fixed outputs: answers per question, log-probs per (question, text)."""

    def __init__(self, answers: dict[str, str], logprobs: dict[tuple[str, str], float]):
        self.answers, self.table, self.calls = answers, logprobs, []

    def generate(self, question: str) -> str:
        return self.answers[question]

    def logprobs(self, question: str, continuations: list[str]) -> list[float]:
        self.calls.append((question, tuple(continuations)))
        return [self.table[(question, c)] for c in continuations]


Q1, Q2, Q3 = "What is the capital of Ostrava Minor?", "Who is its mayor?", "Capital of Germany?"
CASE = Case("c1", ("The capital of Ostrava Minor is Kell.",), (
    Probe("direct", Q1, ("Kell", "Kell City"), ("Prague", "Vienna")),
    Probe("multihop", Q2, ("Ruth Amsel",), ("Sadiq Khan",)),
    Probe("locality", Q3, ("Berlin",), ("Kell",)),
))
ANSWERS = {Q1: "The capital is KELL.", Q2: "I do not know.", Q3: "Berlin is the capital."}
LOGPROBS = {
    (Q1, "Kell"): -5.0, (Q1, "Kell City"): -2.0, (Q1, "Prague"): -3.0, (Q1, "Vienna"): -9.0,
    (Q2, "Ruth Amsel"): -7.0, (Q2, "Sadiq Khan"): -4.0,
    (Q3, "Berlin"): -1.0, (Q3, "Kell"): -6.5,
}


def test_contains_answer_is_case_insensitive_whole_words() -> None:
    assert contains_answer("It is kell, of course", ["Kell"])
    assert contains_answer("Kolinda Grabar-Kitarović.", ["grabar-kitarović"])
    assert not contains_answer("because", ["US"])
    assert not contains_answer("Kellogg", ["Kell"])
    assert contains_answer("In the US.", ["U.S.", "US"])
    assert not contains_answer("", ["Kell"])


def test_a_short_alias_is_a_code_matched_in_its_own_case() -> None:
    assert not contains_answer("Tell us more.", ["US"]) and contains_answer("Made in the US.", ["US"])
    assert not contains_answer("The capital is Reykjavik.", ["Iceland", "is"])  # a lower-case code: a word
    assert contains_answer("It is ICELAND.", ["Iceland", "is"])
    assert contains_answer("Route 66.", ["66"]) and contains_answer("HRV", ["HRV"])


def test_score_probe_uses_best_alias_against_every_distractor() -> None:
    r = score_probe(Scripted(ANSWERS, LOGPROBS), CASE.probes[0], "c1", "large")
    assert r.generation and r.ranking
    assert r.best_alias == "Kell City" and r.best_distractor == "Prague"
    assert r.margin == pytest.approx(1.0)
    assert r.answer == "The capital is KELL."


def test_score_case_and_aggregate() -> None:
    answerer = Scripted(ANSWERS, LOGPROBS)
    results = score_case(answerer, CASE, "large")
    assert [(r.generation, r.ranking) for r in results] == [(True, True), (False, False), (True, True)]
    assert results[1].margin == pytest.approx(-3.0)
    assert [len(c) for _, c in answerer.calls] == [4, 2, 2]  # one call per probe: every alias and distractor
    other = Scripted({**ANSWERS, Q2: "Ruth Amsel is mayor."}, {**LOGPROBS, (Q2, "Ruth Amsel"): -1.0})
    results += score_case(other, CASE, "dct")
    table = aggregate(results)
    assert list(table) == ["large", "dct"]
    assert list(table["large"]) == ["direct", "multihop", "locality"]
    assert table["large"]["multihop"] == {"ranking": 0.0, "generation": 0.0, "n": 1}
    assert table["dct"]["multihop"] == {"ranking": 1.0, "generation": 1.0, "n": 1}
    assert table["dct"]["direct"] == {"ranking": 1.0, "generation": 1.0, "n": 1}
    assert results[0].to_json()["question"] == Q1
