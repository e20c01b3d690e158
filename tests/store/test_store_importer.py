"""Import (TXT, CSV, JSONL; every kind of bad line; all or nothing) and export round trips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from amend.store.errors import StoreError
from amend.store.exporter import export_facts
from amend.store.facts import add_fact, list_facts, retract_fact
from amend.store.importer import ImportFailed, import_facts
from amend.store.schema import Fact, Job


def write(path: Path, data: str | bytes) -> Path:
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def facts_and_jobs(store) -> tuple[int, int]:
    with store.session() as s:
        return (s.scalar(select(func.count()).select_from(Fact)), s.scalar(select(func.count()).select_from(Job)))


def run(store, path, **kw):
    with store.session() as s:
        return import_facts(s, path, **kw)


def test_txt(store, tmp_path):
    f = write(tmp_path / "facts.txt", "# my facts\nKell is cold.\n\n  Dell is warm  \r\nkell is COLD\n# end\n")
    r = run(store, f)
    assert (r.added, r.duplicates, r.skipped) == (2, 1, 3)
    with store.session() as s:
        assert [x.text for x in list_facts(s)] == ["Kell is cold.", "Dell is warm"]
        job = s.get(Job, r.job.id)
        assert job.payload == {"fact_ids": r.fact_ids, "change": "import"} and len(r.fact_ids) == 2
    again = run(store, f)
    assert (again.added, again.duplicates, again.job) == (0, 3, None)
    assert facts_and_jobs(store) == (2, 1)


def test_csv(store, tmp_path):
    f = write(tmp_path / "f.csv", '\ufeffID,Fact,Source\n1,"Kell, the capital, is cold",atlas\n2,Dell is warm,\n\n'
                                  '3,"A fact\non two lines",x\n')
    r = run(store, f, keep_both=True)
    assert (r.added, r.duplicates) == (3, 0)
    with store.session() as s:
        rows = [(x.text, x.source) for x in list_facts(s)]
        assert s.get(Job, r.job.id).payload["keep_both"] is True
    assert rows == [("Kell, the capital, is cold", "atlas"), ("Dell is warm", None), ("A fact\non two lines", "x")]


def test_jsonl(store, tmp_path):
    f = write(tmp_path / "f.jsonl", '{"text": "Kell is cold", "source": "atlas"}\n\n{"fact": "Dell is warm", "x": 1}\n')
    r = run(store, f)
    assert r.added == 2
    with store.session() as s:
        assert [(x.text, x.source) for x in list_facts(s)] == [("Kell is cold", "atlas"), ("Dell is warm", None)]


@pytest.mark.parametrize("name, data, expected", [
    ("a.txt", "ok\n" + "x" * 2001 + "\nfine\n", ["a.txt:2: fact is 2001 characters long (at most 2000)"]),
    ("a.txt", b"ok\nbad \xff\xfe byte\nfine\n", ["a.txt:2: invalid UTF-8 (byte 5 of the line)"]),
    ("a.txt", "ok\nnul\x00here\n", ["a.txt:2: fact contains a NUL byte"]),
    ("a.csv", "text,source\nok,s\n,s\n  ,s\n", ["a.csv:3: empty fact", "a.csv:4: empty fact"]),
    ("a.csv", "text,source\nok\n", []),  # source is optional per row
    ("a.csv", "source,text\nonly-source\n", ["a.csv:2: missing the text column (the row has 1 fields, the header 2)"]),
    ("a.csv", "name,source\nok,s\n", ["a.csv:1: the header has no \"text\" (or \"fact\") column"]),
    ("a.csv", "", ["a.csv:1: empty CSV file: expected a header with a \"text\" column"]),
    ("a.csv", b"text\nok\nbad \xc3(\n", ["a.csv:3: invalid UTF-8 (byte 5 of the line)"]),
    ("a.jsonl", '{"text": "ok"}\n{"text": "bad"\n[1]\n{"source": "s"}\n{"text": 5}\n{"text": ""}\n'
                '{"text": "x", "source": 3}\n',
     ['a.jsonl:2: malformed JSON: Expecting \',\' delimiter (column 15)', 'a.jsonl:3: expected a JSON object with a "text" field',
      'a.jsonl:4: missing "text"', 'a.jsonl:5: "text" must be a string', "a.jsonl:6: empty fact",
      'a.jsonl:7: "source" must be a string']),
    ("a.jsonl", '{"text": "ok"}\n{"text": "\\ud800 x"}\n{"fact": "x \\udfff"}\n',
     ["a.jsonl:2: fact contains a lone surrogate (\\ud800), which is not valid Unicode",
      "a.jsonl:3: fact contains a lone surrogate (\\udfff), which is not valid Unicode"]),
    ("a.jsonl", '{"text": ' + "[" * 50_000 + "]" * 50_000 + "}\n", ["a.jsonl:1: malformed JSON: nested too deeply"]),
    ("a.jsonl", '{"text": "a", "n": ' + "9" * 5000 + "}\n", ["a.jsonl:1: malformed JSON: a number too long to read"]),
    ("a.jsonl", '{"text": "ok fact", "source": "s\\u0000"}\n{"text": "x", "source": "' + "s" * 501 + '"}\n',
     ["a.jsonl:1: source contains a NUL byte", "a.jsonl:2: source is 501 characters long (at most 500)"]),
    ("a.txt", "--\n…\n", ["a.txt:1: fact has no words, only punctuation", "a.txt:2: fact has no words, only punctuation"]),
    ("a.csv", 'text\nfine\n"quoted"then more\nafter\n',
     ['a.csv:3: malformed CSV: text after a closing quote (a quote inside a quoted field is written "")']),
    ("a.csv", 'text\n"' + "x" * 140_000 + "\nmore\n",
     ["a.csv:2: malformed CSV: a field longer than 131,072 characters (an unclosed quote?); the rest of the file "
      "was not read"]),
    ("a.csv", b"te\xffxt\nok\n", ["a.csv:1: invalid UTF-8 (byte 3 of the line)"]),
])
def test_bad_lines_write_nothing(store, tmp_path, name, data, expected):
    with store.session() as s:
        add_fact(s, "already here")
    f = write(tmp_path / name, data)
    if not expected:
        assert run(store, f).added == 1
        return
    with pytest.raises(ImportFailed) as e:
        run(store, f)
    assert e.value.errors == [f"{tmp_path}/{line}" for line in expected]
    assert e.value.bad_lines == len(expected)
    assert "; nothing imported" in str(e.value)
    assert facts_and_jobs(store) == (1, 1)


def test_every_bad_line_is_reported(store, tmp_path):
    lines = ["good"] * 3 + ["x" * 2500] * 1500 + ["also good"]
    f = write(tmp_path / "many.txt", "\n".join(lines) + "\n")
    with pytest.raises(ImportFailed) as e:
        run(store, f)
    assert e.value.bad_lines == 1500
    assert len(e.value.errors) == 1000  # listed one by one up to MAX_REPORTED
    assert e.value.errors[0].startswith(f"{f}:4: ") and e.value.errors[-1].startswith(f"{f}:1003: ")
    assert "1500 bad lines (the first 1000 listed)" in str(e.value)


def test_binary_file_is_one_error(store, tmp_path):
    f = write(tmp_path / "picture.txt", bytes(range(256)) * 64)
    with pytest.raises(StoreError, match="not a text file") as e:
        run(store, f)
    assert not isinstance(e.value, ImportFailed)
    bare = write(tmp_path / "utf16.txt", "Kell\n".encode("utf-16-le"))  # no byte order mark
    with pytest.raises(StoreError, match="looks like UTF-16-LE text without a byte order mark"):
        run(store, bare)
    assert facts_and_jobs(store) == (0, 0)


def test_file_and_format_errors(store, tmp_path):
    with pytest.raises(StoreError, match="no such file"):
        run(store, tmp_path / "missing.txt")
    with pytest.raises(StoreError, match="cannot tell the format"):
        run(store, write(tmp_path / "facts.dat", "x\n"))
    assert run(store, tmp_path / "facts.dat", fmt="txt").added == 1
    with pytest.raises(StoreError, match="is a folder"):
        run(store, tmp_path, fmt="txt")


def test_dry_run_writes_nothing(store, tmp_path):
    with store.session() as s:
        add_fact(s, "Kell is cold")
    lines = [f"Fact {i}" for i in range(1200)] + ["kell is cold.", "Fact 3"]
    f = write(tmp_path / "f.txt", "\n".join(lines))
    r = run(store, f, dry_run=True)
    assert (r.added, r.duplicates, r.job, r.fact_ids) == (1200, 2, None, [])
    assert facts_and_jobs(store) == (1, 1)
    r = run(store, f)
    assert (r.added, r.duplicates) == (1200, 2)
    assert facts_and_jobs(store) == (1201, 2)


def test_progress_reports(store, tmp_path):
    f = write(tmp_path / "f.txt", "".join(f"Fact {i}\n" for i in range(12000)))
    seen = []
    run(store, f, on_progress=lambda stage, done, total: seen.append((stage, done, total)))
    assert seen[-1] == ("importing f.txt", f.stat().st_size, f.stat().st_size)
    assert len(seen) >= 3 and all(a[1] <= b[1] for a, b in zip(seen, seen[1:]))


@pytest.mark.parametrize("ext", ["jsonl", "csv", "txt"])
def test_export_round_trip(store, tmp_path, ext):
    texts = ["Kell, the capital, is \"cold\"", "Ελλάδα 東京", "Dell is warm"]
    with store.session() as s:
        for t in texts:
            add_fact(s, t, source="atlas")
        retract_fact(s, 3)
    out = tmp_path / f"out.{ext}"
    with store.session(write=False) as s:
        assert export_facts(s, out) == 2
        assert export_facts(s, tmp_path / f"all.{ext}", include_all=True) == 3
    if ext == "jsonl":
        first = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
        assert {"id", "text", "status", "source", "created"} <= set(first)
    with store.session() as s:
        for f in list_facts(s):
            retract_fact(s, f.id)
    r = run(store, out)
    assert r.added == 2
    with store.session() as s:
        assert [f.text for f in list_facts(s)] == texts[:2]
        if ext != "txt":
            assert {f.source for f in list_facts(s)} == {"atlas"}
    assert not list(tmp_path.glob(".*tmp"))  # no temporary files left behind


def test_csv_unclosed_quote_is_an_error_at_its_line(store, tmp_path):
    # the first 9,999 lines are fine; without strict parsing the rest of the file became one fact
    lines = ["text"] + [f"Fact number {i}" for i in range(2, 10_000)] + ['"never closed, at all', "more", "and more"]
    f = write(tmp_path / "q.csv", "\n".join(lines) + "\n")
    with pytest.raises(ImportFailed) as e:
        run(store, f)
    assert e.value.errors == [f"{f}:10000: malformed CSV: unclosed quote (the quoted field that starts on this line "
                              "never ends)"]
    assert facts_and_jobs(store) == (0, 0)


@pytest.mark.parametrize("ending", ["\r", "\r\n", "\n"])
def test_every_line_ending_imports(store, tmp_path, ending):
    for name, text in (("f.txt", "one fact{0}two fact{0}# a comment{0}"),
                       ("f.csv", 'text,source{0}"three{0}lines, quoted{0}here",s{0}four fact,s{0}'),
                       ("f.jsonl", '{{"text": "five fact"}}{0}{{"text": "six fact"}}{0}')):
        run(store, write(tmp_path / name, text.format(ending)))
    with store.session() as s:
        assert [x.text for x in list_facts(s)] == ["one fact", "two fact", f"three{ending}lines, quoted{ending}here",
                                                   "four fact", "five fact", "six fact"]


def test_other_delimiters_and_encodings(store, tmp_path):
    assert run(store, write(tmp_path / "semi.csv", "text;source\nKell is cold;atlas\n")).added == 1
    assert run(store, write(tmp_path / "tabs.csv", "id\ttext\n1\tDell is warm\n")).added == 1
    assert run(store, write(tmp_path / "u16.txt", "Lusk is far\n".encode("utf-16"))).added == 1
    assert run(store, write(tmp_path / "u8.txt", "\ufeffBree is near\n".encode())).added == 1
    with store.session() as s:
        assert [(x.text, x.source) for x in list_facts(s)] == [
            ("Kell is cold", "atlas"), ("Dell is warm", None), ("Lusk is far", None), ("Bree is near", None)]


def test_latin1_file_names_the_likely_encoding(store, tmp_path):
    f = write(tmp_path / "l1.txt", "Café is open\nfine\n".encode("latin-1"))
    with pytest.raises(ImportFailed) as e:
        run(store, f)
    assert e.value.errors == [f"{f}:1: invalid UTF-8 (byte 4 of the line)"]
    assert str(e.value).endswith("the file is not UTF-8 (perhaps WINDOWS-1252): convert it, e.g. iconv -f WINDOWS-1252 -t UTF-8")


def test_sources_are_stripped(store, tmp_path):
    f = write(tmp_path / "s.jsonl", '{"text": "Kell is cold", "source": "  atlas  "}\n{"text": "Dell", "source": "  "}\n')
    run(store, f)
    with store.session() as s:
        assert [x.source for x in list_facts(s)] == ["atlas", None]


def test_standard_input_format_is_told_from_the_first_line(store, monkeypatch):
    import io
    import os
    import sys

    for data, fmt in ((b'\n{"text": "From JSON"}\n', "jsonl"), (b"text,source\nFrom CSV,me\n", "csv"),
                      (b"From TXT\n", "txt")):
        read, write_end = os.pipe()
        os.write(write_end, data)
        os.close(write_end)
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(os.fdopen(read, "rb")))
        r = run(store, "-")
        assert (r.name, r.format, r.format_guessed, r.added) == ("<stdin>", fmt, True, 1)
    with store.session() as s:
        assert [(x.text, x.source) for x in list_facts(s)] == [("From JSON", None), ("From CSV", "me"), ("From TXT", None)]


@pytest.mark.parametrize("ext", ["jsonl", "csv", "txt"])
def test_every_fact_survives_a_round_trip(store, tmp_path, ext):
    texts = ["#1 is the loneliest number", "\\#tag was escaped already", "=SUM(A1:A2) is a formula",
             "-5 degrees is the record", "+1 for Kell", "@home is Dell", "'Tis the season", "Kell \x1b[31mred"]
    with store.session() as s:
        for t in texts:
            add_fact(s, t, source="=cmd|' /C calc'!A0")
    out = tmp_path / f"out.{ext}"
    with store.session(write=False) as s:
        export_facts(s, out)
    if ext == "csv":
        assert all(line.startswith('"') for line in out.read_text().splitlines())  # every cell quoted
        assert '"\'=SUM(A1:A2) is a formula"' in out.read_text() and "\"'=cmd|" in out.read_text()
    with store.session() as s:
        for f in list_facts(s):
            retract_fact(s, f.id)
    assert run(store, out).added == len(texts)
    with store.session() as s:
        back = list_facts(s)
    assert [f.text for f in back] == texts
    if ext != "txt":
        assert {f.source for f in back} == {"=cmd|' /C calc'!A0"}
