"""`amend facts` and `amend db` as a new user meets them (real processes, a real database)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from amend.store.db import HEAD


def amend(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "amend", *args], capture_output=True, text=True)


def ok(*args: str) -> str:
    result = amend(*args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_add_list_edit_retract_show(db_url):
    # --no-update throughout: the update itself (models, training) is tested in tests/training
    out = ok("facts", "add", "The capital of Ostrava Minor is Kell.", "--source", "atlas", "--no-update")
    assert out.splitlines() == ["added fact 1: The capital of Ostrava Minor is Kell.",
                                "update left pending (job 1)"]
    assert ok("facts", "add", "Kell has three bridges.", "--no-update").splitlines()[1] == "update left pending (job 2)"
    assert ok("facts", "list").splitlines() == ["1  The capital of Ostrava Minor is Kell.", "2  Kell has three bridges."]

    dup = amend("facts", "add", "the capital of ostrava minor is kell")
    assert dup.returncode == 1 and dup.stderr.strip().splitlines() == [
        "Error: fact 1 already says this: 'The capital of Ostrava Minor is Kell.'"]

    ok("facts", "edit", "1", "The capital of Ostrava Minor is Dell.", "--no-update")
    show = ok("facts", "show", "1")
    assert "fact 1 (active): The capital of Ostrava Minor is Dell." in show
    assert "earlier texts:" in show and "The capital of Ostrava Minor is Kell." in show

    ok("facts", "retract", "2", "--reason", "counted wrong", "--no-update")
    assert "Kell has three bridges." not in ok("facts", "list")
    everything = ok("facts", "list", "--all")
    assert "retracted" in everything and "Kell has three bridges." in everything
    ok("facts", "restore", "2", "--no-update")
    assert "Kell has three bridges." in ok("facts", "list")

    data = json.loads(ok("facts", "list", "--json", "--search", "dell"))
    assert [(d["id"], d["text"], d["status"], d["source"]) for d in data] == [
        (1, "The capital of Ostrava Minor is Dell.", "active", "atlas")]
    assert {"id", "text", "status", "source", "created"} <= set(data[0])
    shown = json.loads(ok("facts", "show", "1", "--json"))
    assert [r["text"] for r in shown["revisions"]] == ["The capital of Ostrava Minor is Kell."]
    assert shown["derived"] == []


@pytest.mark.parametrize("args, message", [
    (("facts", "show", "7"), "Error: no fact with id 7"),
    (("facts", "edit", "7", "x"), "Error: no fact with id 7"),
    (("facts", "retract", "7"), "Error: no fact with id 7"),
    (("facts", "add", ""), "Error: empty fact"),
    (("facts", "add", "x" * 2001), "Error: fact is 2001 characters long (at most 2000)"),
])
def test_mistakes_are_one_line(db_url, args, message):
    result = amend(*args)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [message]
    assert "Traceback" not in result.stderr


def test_import(db_url, tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("# facts\nKell is cold.\nDell is warm.\n\nkell is cold\n", encoding="utf-8")
    assert ok("facts", "import", str(good), "--dry-run").splitlines() == [
        f"would import 2 facts from {good} (1 duplicate skipped, 2 blank or comment lines)"]
    assert ok("facts", "list").startswith("no facts")
    assert ok("facts", "import", str(good), "--keep-both", "--no-update").splitlines() == [
        f"imported 2 facts from {good} (1 duplicate skipped, 2 blank or comment lines)",
        "update left pending (job 1)"]

    bad = tmp_path / "bad.csv"
    bad.write_text("text,source\nNew fact,me\n,me\nAnother,me\n  ,x\n", encoding="utf-8")
    result = amend("facts", "import", str(bad))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"{bad}:3: empty fact", f"{bad}:5: empty fact", f"Error: {bad}: 2 bad lines; nothing imported"]
    assert "New fact" not in ok("facts", "list")

    binary = tmp_path / "photo.txt"
    binary.write_bytes(bytes(range(256)) * 40)
    result = amend("facts", "import", str(binary))
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "not a text file" in result.stderr

    other = tmp_path / "facts.data"
    other.write_text('{"text": "From JSON"}\n', encoding="utf-8")
    assert "cannot tell the format" in amend("facts", "import", str(other)).stderr
    assert ok("facts", "import", str(other), "--format", "jsonl", "--no-update").splitlines()[1].startswith(
        "update left pending")
    missing = amend("facts", "import", str(tmp_path / "nope.txt"))
    assert missing.returncode == 1 and "no such file" in missing.stderr


def test_export(db_url, tmp_path):
    ok("facts", "add", "Kell is cold", "--no-update")
    ok("facts", "add", "Dell is warm", "--no-update")
    ok("facts", "retract", "2", "--no-update")
    out = tmp_path / "facts.jsonl"
    assert ok("facts", "export", str(out)).strip() == f"exported 1 fact to {out}"
    assert [json.loads(line)["text"] for line in out.read_text().splitlines()] == ["Kell is cold"]
    assert ok("facts", "export", str(tmp_path / "all.csv"), "--all").strip().startswith("exported 2 facts")
    result = amend("facts", "export", str(tmp_path / "no" / "such" / "dir.txt"))
    assert result.returncode == 1 and "does not exist" in result.stderr


def test_db_upgrade(db_url):
    first = ok("db", "upgrade").strip()
    assert first.endswith(f"upgraded from empty to revision {HEAD}")
    assert ok("db", "upgrade").strip().endswith(f"already at revision {HEAD}")
