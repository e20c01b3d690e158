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
    (("facts", "show", "99999999999999999999"), "Error: no fact with id 99999999999999999999"),
    (("facts", "edit", "99999999999999999999", "x"), "Error: no fact with id 99999999999999999999"),
    (("facts", "retract", "-1"), "Error: no fact with id -1"),
    (("facts", "restore", "99999999999999999999"), "Error: no fact with id 99999999999999999999"),
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


# --- the conventions of simonw/llm and sqlite-utils, and bad input (in-process: fast) ---

def invoke(*args: str, input: str | bytes | None = None):
    from click.testing import CliRunner

    from amend.cli import cli

    return CliRunner().invoke(cli, list(args), input=input)


def ok_in(*args: str, input: str | bytes | None = None):
    result = invoke(*args, input=input)
    assert result.exit_code == 0, result.output
    return result


def db_bytes(home) -> bytes:
    """The SQLite database as stored: the file and its write-ahead log."""
    return b"".join((home / n).read_bytes() if (home / n).exists() else b"" for n in ("amend.db", "amend.db-wal"))


def test_list_streams_pages_and_formats(db_url):
    import csv
    import io

    for i in range(1, 6):
        ok_in("facts", "add", f"Fact number {i}", "--no-update")
    ok_in("facts", "retract", "2", "--no-update")
    assert ok_in("facts", "list", "-n", "2").stdout.splitlines() == ["1  Fact number 1", "3  Fact number 3"]
    assert ok_in("facts", "list", "--limit", "2", "--offset", "2").stdout.splitlines() == ["4  Fact number 4",
                                                                                          "5  Fact number 5"]
    nl = [json.loads(line) for line in ok_in("facts", "list", "--nl", "--all", "-n", "3").stdout.splitlines()]
    assert [(d["id"], d["status"]) for d in nl] == [(1, "active"), (2, "retracted"), (3, "active")]
    assert [d["id"] for d in json.loads(ok_in("facts", "list", "--json", "-q", "NUMBER 4").stdout)] == [4]
    assert json.loads(ok_in("facts", "list", "--json", "--offset", "9").stdout) == []
    rows = list(csv.DictReader(io.StringIO(ok_in("facts", "list", "--csv").stdout)))
    assert [(r["id"], r["text"], r["status"]) for r in rows][:2] == [("1", "Fact number 1", "active"),
                                                                     ("3", "Fact number 3", "active")]
    both = invoke("facts", "list", "--csv", "--nl")
    assert both.exit_code == 2 and "choose one of --json, --nl and --csv" in both.stderr


def test_changes_print_json(db_url, tmp_path):
    added = ok_in("facts", "add", "Kell is cold", "--source", "atlas", "--json", "--no-update")
    data = json.loads(added.stdout)  # stdout holds only the JSON; "update left pending" went to stderr
    assert (data["id"], data["text"], data["source"], data["job"]) == (1, "Kell is cold", "atlas", 1)
    assert "update left pending (job 1)" in added.stderr
    assert json.loads(ok_in("facts", "edit", "1", "Kell is colder", "--json", "--no-update").stdout)["job"] == 2
    assert json.loads(ok_in("facts", "retract", "1", "--json", "--no-update").stdout)["status"] == "retracted"
    assert json.loads(ok_in("facts", "restore", "1", "--json", "--no-update").stdout)["status"] == "active"
    f = tmp_path / "f.txt"
    f.write_text("Dell is warm\nkell is colder\n\n")
    data = json.loads(ok_in("facts", "import", str(f), "--json", "--no-update").stdout)
    assert data == {"file": str(f), "format": "txt", "dry_run": False, "added": 1, "duplicates": 1, "skipped": 1,
                    "fact_ids": [2], "job": 5}


def test_dash_is_standard_input_and_output(db_url):
    result = ok_in("facts", "import", "-", "--no-update", input='{"text": "From a pipe", "source": "me"}\n')
    assert result.stdout.splitlines()[0] == "imported 1 fact from <stdin> (read as JSONL, 0 duplicates skipped)"
    ok_in("facts", "import", "-", "--format", "txt", "--no-update", input="Another one\r")
    exported = ok_in("facts", "export", "-")
    assert [json.loads(line)["text"] for line in exported.stdout.splitlines()] == ["From a pipe", "Another one"]
    assert exported.stderr.strip() == "exported 2 facts to standard output"
    assert ok_in("facts", "export", "-", "--format", "txt").stdout == "From a pipe\nAnother one\n"


def test_arguments_that_begin_with_a_dash(db_url):
    assert ok_in("facts", "add", "-5 degrees is the record.", "--no-update").stdout.startswith(
        "added fact 1: -5 degrees is the record.")
    assert ok_in("facts", "add", "--no-update", "--", "-x marks the spot").stdout.startswith("added fact 2: -x marks")
    assert ok_in("facts", "edit", "2", "-y marks it now", "--no-update").stdout.startswith("edited fact 2: -y marks")
    result = invoke("facts", "add", "-x")
    assert result.exit_code == 2
    assert "No such option '-x'; to pass a value that begins with '-', put -- before it" in result.stderr
    result = invoke("facts", "show", "-2")
    assert (result.exit_code, result.stderr) == (1, "Error: no fact with id -2\n")
    dash = invoke("facts", "add", "--no-update", "--", "--")
    assert (dash.exit_code, dash.stderr) == (1, "Error: fact has no words, only punctuation\n")


def test_control_characters_are_shown_escaped(db_url):
    ok_in("facts", "add", "Kell is \x1b[31mred\x1b[0m\u202e", "--source", "a\x07b", "--no-update")
    listed = ok_in("facts", "list").stdout
    shown = ok_in("facts", "show", "1").stdout
    assert listed == "1  Kell is \\x1b[31mred\\x1b[0m\\u202e\n"
    assert "\x1b" not in shown + listed and "source: a\\x07b" in shown
    assert json.loads(ok_in("facts", "list", "--json").stdout)[0]["text"] == "Kell is \x1b[31mred\x1b[0m\u202e"


def test_editing_a_retracted_fact_is_refused(db_url):
    ok_in("facts", "add", "Kell is cold", "--no-update")
    ok_in("facts", "retract", "1", "--no-update")
    result = invoke("facts", "edit", "1", "Kell is warm", "--no-update")
    assert (result.exit_code, result.stderr) == (
        1, "Error: fact 1 is retracted; restore it first (amend facts restore 1)\n")


def test_arguments_that_are_not_utf8(db_url):
    # real bytes in argv (a Latin-1 terminal): Python keeps them as surrogate escapes
    result = subprocess.run([sys.executable, "-m", "amend", "facts", "add", b"caf\xe9 cr\xe8me", "--no-update"],
                            capture_output=True)
    assert result.returncode == 1
    assert result.stderr.decode() == "Error: 'TEXT' is not valid UTF-8 (byte 0xE9); is the terminal's encoding UTF-8?\n"
    search = invoke("facts", "list", "-q", "caf\udce9")
    assert search.exit_code == 1 and "'--search' / '-q' is not valid UTF-8 (byte 0xE9)" in search.stderr


def test_refused_input_leaves_the_database_byte_identical(db_url, home, tmp_path):
    if not db_url.startswith("sqlite"):
        pytest.skip("bytes of the SQLite file")
    ok_in("facts", "add", "Kell is cold", "--no-update")
    ok_in("facts", "add", "Dell is warm", "--no-update")
    ok_in("facts", "retract", "2", "--no-update")
    bad = {"a.csv": 'text\nfine\n"never closed\n', "b.jsonl": '{"text": "ok"}\n{"text": "\\ud800"}\n',
           "c.txt": "ok\nnul\x00\n", "d.txt": "Kell\n".encode("utf-16-le"), "e.txt": b"\x89PNG\r\n\x1a\n"}
    before = db_bytes(home)
    for name, data in bad.items():
        (tmp_path / name).write_bytes(data if isinstance(data, bytes) else data.encode())
        assert invoke("facts", "import", str(tmp_path / name)).exit_code == 1
    for args in (("facts", "add", "kell is COLD."), ("facts", "add", "x", "--source", "s" * 501),
                 ("facts", "edit", "2", "Dell is hot"), ("facts", "edit", "1", "Kell is cold"),
                 ("facts", "retract", "99999999999999999999"), ("facts", "restore", "1"),
                 ("facts", "import", str(tmp_path / "missing.txt"))):
        assert invoke(*args).exit_code == 1, args
    assert db_bytes(home) == before


def test_a_held_database_is_exit_75_in_one_line(db_url, home, monkeypatch):
    if not db_url.startswith("sqlite"):
        pytest.skip("the PostgreSQL lock is covered in test_store_db")
    ok_in("facts", "add", "Kell is cold", "--no-update")
    monkeypatch.setenv("AMEND_LOCK_TIMEOUT", "0.3")
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sqlite3, sys\n"
        f"c = sqlite3.connect({str(home / 'amend.db')!r}, isolation_level=None)\n"
        "c.execute('BEGIN IMMEDIATE'); c.execute('DELETE FROM jobs WHERE id < 0')\n"
        "print('held', flush=True); sys.stdin.read()\n")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "held\n"
    try:
        before = db_bytes(home)
        result = invoke("facts", "add", "While it is held", "--no-update")
        assert result.exit_code == 75
        assert result.stderr.startswith("Error: the database ") and result.stderr.count("\n") == 1
        assert ok_in("facts", "list").stdout == "1  Kell is cold\n"  # readers do not wait
        assert db_bytes(home) == before
    finally:
        holder.stdin.close()
        holder.wait()
