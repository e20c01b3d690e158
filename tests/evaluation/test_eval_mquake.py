"""MQuAKE conversion: a fixture case field by field; the shared AKEW file converts whole."""

import json
from pathlib import Path

import pytest

from amend.evaluation.cases import CaseError, load_cases, write_cases
from amend.evaluation.mquake import convert_file, rewrite_fact

FIXTURE = Path(__file__).with_name("mquake_fixture.json")
AKEW = Path(__file__).resolve().parents[3] / "shared" / "data" / "mquake" / "AKEW-MQuAKE-CF.json"  # ../shared


def test_fixture_case_converts() -> None:
    case, other = convert_file(FIXTURE)
    assert case.id == "mquake-1025" and other.id == "mquake-23"
    assert case.meta == {"source": "mquake_fixture.json", "case_id": 1025, "split": "dev", "hops": 3, "edits": 2}
    # fact_new where present; else the prompt filled with the subject, then the new target
    assert case.facts == ("The origianl broadcaster of I Dream of Jeannie is CBS.",
                          "CBS was founded in the city of Los Angeles.")
    multihop = [p for p in case.probes if p.kind == "multihop"]
    direct = [p for p in case.probes if p.kind == "direct"]
    assert len(multihop) == 3 and len(direct) == 3
    assert multihop[0].question.startswith("Who is the head of government in the place")
    assert multihop[0].answers[:2] == ("Eric Garcetti", "Eric M. Garcetti")
    # the pre-edit answer first, then answers of the same relation (head of government) in the file
    assert multihop[0].distractors == ("Bill de Blasio", "Donald Trump", "Justin Trudeau")
    assert direct[0].question == "Who is the original broadcaster of I Dream of Jeannie?"
    assert direct[0].answers[0] == "CBS" and "Black Rock" in direct[0].answers
    assert direct[0].distractors == ("NBC",)  # the original single hop's answer
    assert direct[1].answers[0] == "Los Angeles" and direct[1].distractors == ("New York City",)
    # the other case's hop of the same relation: its own pre-edit answer, never its answer
    last = other.probes[-1]
    assert last.question == "What is the name of the current head of the Canada government?"
    assert last.distractors[0] == "Donald Trump" and "Justin Trudeau" not in last.distractors
    for c in (case, other):
        for p in c.probes:
            assert not {a.casefold() for a in p.answers} & {d.casefold() for d in p.distractors}


def test_no_distractor_is_named_in_the_question(tmp_path: Path) -> None:
    raws = json.loads(FIXTURE.read_text())
    raws[0]["questions"][0] = "Not Donald Trump: who heads the government where I Dream of Jeannie first aired?"
    (tmp_path / "m.json").write_text(json.dumps(raws))
    first, second = convert_file(tmp_path / "m.json")[0].probes[:2]
    assert first.distractors == ("Bill de Blasio", "Justin Trudeau")
    assert second.distractors == ("Bill de Blasio", "Donald Trump", "Justin Trudeau")


def test_rewrite_fact_is_a_sentence() -> None:
    edit = {"prompt": "{} is associated with the sport of", "subject": "center", "target_new": {"str": "cricket"}}
    assert rewrite_fact(edit) == "Center is associated with the sport of cricket."
    assert rewrite_fact({**edit, "fact_new": "center is associated with the sport of cricket"}) == \
        "Center is associated with the sport of cricket."
    assert rewrite_fact({**edit, "subject": "iPhone 5"}) == "iPhone 5 is associated with the sport of cricket."


def test_split_filters(tmp_path: Path) -> None:
    assert len(convert_file(FIXTURE, split="dev")) == 2
    assert convert_file(FIXTURE, split="test") == []
    with pytest.raises(CaseError, match="split must be one of"):
        convert_file(FIXTURE, split="train")


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('[{"case_id": 7}]')
    with pytest.raises(CaseError, match=r"bad.json: case 0 \(case_id 7\): missing field 'orig'"):
        convert_file(bad)
    bad.write_text("{")
    with pytest.raises(CaseError, match="bad.json:1: not valid JSON"):
        convert_file(bad)


@pytest.mark.skipif(not AKEW.exists(), reason="shared MQuAKE data not here")
def test_all_akew_cases_convert_and_load_back(tmp_path: Path) -> None:
    cases = convert_file(AKEW)
    assert len(cases) == 354
    assert sum(c.meta["split"] == "dev" for c in cases) == 277
    assert write_cases(cases, tmp_path / "akew.jsonl") == 354
    assert load_cases(tmp_path / "akew.jsonl") == cases
