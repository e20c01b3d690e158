"""`amend eval` end to end on the tiny profile: real stores, real models, real scores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from amend.cli import cli

CASE = {
    "id": "k1", "facts": ["The capital of Ostrava Minor is Kell."],
    "probes": [
        {"kind": "direct", "question": "What is the capital of Ostrava Minor?", "answers": ["Kell"],
         "distractors": ["Prague", "Vienna"]},
        {"kind": "locality", "question": "What is the capital of Germany?", "answers": ["Berlin"],
         "distractors": ["Kell", "Munich"]},
    ],
}
OTHER = {**CASE, "id": "k2"}  # --limit 1 must leave this one out


def write_cases(tmp_path: Path) -> Path:
    path = tmp_path / "cases.jsonl"
    path.write_text(json.dumps(CASE) + "\n" + json.dumps(OTHER) + "\n")
    return path


@pytest.mark.slow
def test_eval_large_and_context_on_one_case(tmp_path: Path, home: Path) -> None:
    report = tmp_path / "report.md"
    args = ["eval", "--cases", str(write_cases(tmp_path)), "--profile", "tiny", "--systems", "large,context",
            "--limit", "1", "--json", "--out", str(report)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["profile"] == "tiny" and out["seconds"] > 0
    assert list(out["systems"]) == ["large", "context"]
    for table in out["systems"].values():
        assert set(table) == {"direct", "locality"}
        assert all(entry["n"] == 1 and set(entry) == {"ranking", "generation", "n"} for entry in table.values())
    details = {(c["system"], c["kind"]): c for c in out["cases"]}
    assert len(out["cases"]) == 4 and {c["case"] for c in out["cases"]} == {"k1"}
    # the large model alone has never heard of Kell; with the fact in its prompt it ranks it first
    assert "kell" not in details[("large", "direct")]["answer"].lower()
    assert details[("large", "direct")]["ranking"] is False
    assert details[("context", "direct")]["ranking"] is True
    assert details[("context", "direct")]["margin"] > details[("large", "direct")]["margin"] + 5
    assert details[("context", "direct")]["facts_in_prompt"] == CASE["facts"]
    assert details[("large", "direct")]["facts_in_prompt"] == []
    for c in out["cases"]:  # the ranking verdict is the sign of the margin
        assert c["ranking"] == (c["margin"] > 0)
    assert out["systems"]["large"]["direct"]["ranking"] == 0.0
    assert out["systems"]["context"]["direct"]["ranking"] == 1.0
    assert out["systems"]["large"]["locality"] == {"ranking": 1.0, "generation": 1.0, "n": 1}
    text = report.read_text()
    assert "## ranking" in text and "| context |" in text
    assert not (home / "amend.db").exists()  # the user's own store is never opened


def test_eval_mistakes_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "facts": ["A."], "probes": [{"kind": "guess"}]}\n')
    runner = CliRunner()
    result = runner.invoke(cli, ["eval", "--cases", str(bad)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"Error: {bad}:1: probes[0].kind must be one of direct, "
                                                  "paraphrase, multihop, locality, got 'guess'"]
    result = runner.invoke(cli, ["eval", "--cases", str(write_cases(tmp_path)), "--systems", "large,gpt"])
    assert result.exit_code == 1 and "unknown system 'gpt'" in result.output
    result = runner.invoke(cli, ["eval"])
    assert result.exit_code == 2 and "--cases FILE is required" in result.output


def test_a_work_folder_of_another_run_is_refused_before_the_models_load(tmp_path: Path, home: Path) -> None:
    from amend.config import load_settings
    from amend.evaluation.cases import load_cases
    from amend.evaluation.workdir import WorkDir, identity

    cases, work = write_cases(tmp_path), tmp_path / "run"
    WorkDir.open(work, identity(load_cases(cases, 1), "tiny", False, load_settings({"profile": "tiny"})))
    runner = CliRunner()
    result = runner.invoke(cli, ["eval", "--cases", str(cases), "--profile", "tiny", "--work", str(work)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"Error: --work {work}: it holds another run (other cases: 1 "
                                                  "there, 2 here); give the same command as before, or use another folder"]
    result = runner.invoke(cli, ["eval", "--cases", str(cases), "--profile", "tiny", "--limit", "1", "--batch",
                                 "--work", str(work)])
    assert result.exit_code == 1 and "(batch False there, True here)" in result.output
    (work / "run.json").write_text("{}")
    result = runner.invoke(cli, ["eval", "--cases", str(cases), "--work", str(work)])
    assert result.exit_code == 1 and "not an amend eval run" in result.output


def test_convert_mquake_command(tmp_path: Path) -> None:
    out = tmp_path / "mquake.jsonl"
    fixture = Path(__file__).with_name("mquake_fixture.json")
    result = CliRunner().invoke(cli, ["eval", "convert-mquake", str(fixture), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"2 cases (11 probes) written to {out}"
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == ["mquake-1025", "mquake-23"]
    result = CliRunner().invoke(cli, ["eval", "convert-mquake", str(fixture), "-o", str(tmp_path / "no" / "x.jsonl")])
    assert result.exit_code == 1 and "cannot write" in result.output
