"""Case files: the dev cases load; each kind of mistake is one FILE:LINE: reason."""

import json
from pathlib import Path

import pytest

from amend.evaluation.cases import KINDS, CaseError, case_to_json, load_cases, parse_case, write_cases

DEV = Path(__file__).resolve().parents[3] / "shared" / "eval" / "dev-cases.jsonl"  # ../shared beside the repo
GOOD = {"id": "a", "facts": ["Kell is the capital of Ostrava Minor."],
        "probes": [{"kind": "direct", "question": "What is the capital of Ostrava Minor?",
                    "answers": ["Kell"], "distractors": ["Prague"]}]}


def write(tmp_path: Path, *objs: object) -> Path:
    path = tmp_path / "cases.jsonl"
    path.write_text("".join((o if isinstance(o, str) else json.dumps(o)) + "\n" for o in objs))
    return path


@pytest.mark.skipif(not DEV.exists(), reason="shared dev cases not here")
def test_dev_cases_load_with_every_kind() -> None:
    cases = load_cases(DEV)
    assert len(cases) == 10
    assert {p.kind for c in cases for p in c.probes} == set(KINDS)
    assert cases[0].id == "d01" and cases[0].probes[0].answers == ("Kell",)
    assert len(load_cases(DEV, limit=2)) == 2


def test_round_trip(tmp_path: Path) -> None:
    case = parse_case(GOOD)
    assert write_cases([case], tmp_path / "out.jsonl") == 1
    assert load_cases(tmp_path / "out.jsonl") == [case]
    assert case_to_json(case) == GOOD


def with_probe(**changes: object) -> dict:
    probe = {**GOOD["probes"][0], **changes}
    return {**GOOD, "probes": [probe]}


@pytest.mark.parametrize("line, reason", [
    ("{not json", "not valid JSON"),
    ([1, 2], "a case must be a JSON object"),
    ({**GOOD, "fact": []}, "unknown key(s) fact"),
    ({**GOOD, "id": ""}, "id must be a non-empty string"),
    ({**GOOD, "facts": "Kell."}, "facts must be a list of non-empty strings"),
    ({**GOOD, "facts": []}, "facts must not be empty"),
    ({**GOOD, "probes": []}, "probes must be a non-empty list"),
    (with_probe(kind="trivia"), "probes[0].kind must be one of direct, paraphrase, multihop, locality"),
    (with_probe(question=" "), "probes[0].question must be a non-empty string"),
    (with_probe(answers=[]), "probes[0].answers must not be empty"),
    (with_probe(distractors=["kell"]), "'kell' is both an answer and a distractor"),
    (with_probe(answer="Kell"), "probes[0]: unknown key(s) answer"),
])
def test_bad_line_names_file_line_and_reason(tmp_path: Path, line: object, reason: str) -> None:
    path = write(tmp_path, GOOD | {"id": "first"}, "", line)
    with pytest.raises(CaseError) as e:
        load_cases(path)
    assert str(e.value).startswith(f"{path}:3: ")
    assert reason in str(e.value)


def test_repeated_id_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(CaseError, match=r"cases.jsonl:2: id 'a' repeats line 1"):
        load_cases(write(tmp_path, GOOD, GOOD))
    with pytest.raises(CaseError, match="no cases"):
        load_cases(write(tmp_path, ""))
    with pytest.raises(CaseError, match="no such file"):
        load_cases(tmp_path / "missing.jsonl")
