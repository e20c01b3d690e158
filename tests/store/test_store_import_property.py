"""Property tests for import: random bytes never cause a traceback and never half-write;
random well-formed CSV/JSONL files import with exact counts or fail as a whole."""

from __future__ import annotations

import csv
import io
import json

from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import func, select

from amend.errors import UserError
from amend.store.facts import check_text
from amend.store.importer import ImportFailed, import_facts
from amend.store.schema import IS_ACTIVE, Fact, Job, normalize

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

texts = st.one_of(
    st.text(st.characters(blacklist_categories=["Cs"]), max_size=40),
    st.sampled_from(["Kell is cold", "kell is COLD.", "", "   ", "a\x00b", "x" * 2001, "Dell, \"warm\"", "#hash", "?!"]),
)
rows = st.lists(st.tuples(texts, st.none() | st.text(st.characters(blacklist_categories=["Cs"]), max_size=10)),
                max_size=12)


def snapshot(store) -> tuple[int, int, set[str]]:
    with store.session() as s:
        return (s.scalar(select(func.count()).select_from(Fact)), s.scalar(select(func.count()).select_from(Job)),
                set(s.scalars(select(Fact.normalized).where(IS_ACTIVE))))


def attempt(store, path):
    """(result, error); any exception other than a UserError fails the test."""
    try:
        with store.session() as s:
            return import_facts(s, path), None
    except UserError as e:
        return None, e


def expected(records, active: set[str]):
    """(added, duplicates), or None if some record must make the import fail."""
    seen, added, dups = set(active), 0, 0
    for text, _source in records:
        try:
            norm = normalize(check_text(text))
        except UserError:
            return None
        if norm in seen:
            dups += 1
        else:
            seen.add(norm)
            added += 1
    return added, dups


def check(store, path, want):
    before = snapshot(store)
    result, error = attempt(store, path)
    after = snapshot(store)
    if want is None:
        assert isinstance(error, ImportFailed), error
        assert after == before  # nothing written
    else:
        assert error is None, error
        assert (result.added, result.duplicates) == want
        assert after[0] == before[0] + want[0]
        assert after[1] == before[1] + (1 if want[0] else 0)


@SETTINGS
@given(data=st.binary(max_size=300), ext=st.sampled_from(["txt", "csv", "jsonl"]))
def test_random_bytes(store, tmp_path, data, ext):
    path = tmp_path / f"random.{ext}"
    path.write_bytes(data)
    before = snapshot(store)
    result, error = attempt(store, path)
    after = snapshot(store)
    if error is not None:
        assert after == before and str(error)
    else:
        assert after[0] == before[0] + result.added


@SETTINGS
@given(records=rows)
def test_random_csv(store, tmp_path, records):
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["text", "source"])
    kept = []
    for text, source in records:
        writer.writerow([text, source or ""])
        if text.strip() or (source or "").strip():  # an all-blank row is a blank line: skipped
            kept.append((text, source))
    path = tmp_path / "random.csv"
    path.write_bytes(buf.getvalue().encode("utf-8"))
    check(store, path, expected(kept, snapshot(store)[2]))


@SETTINGS
@given(records=rows, ascii_only=st.booleans())
def test_random_jsonl(store, tmp_path, records, ascii_only):
    path = tmp_path / "random.jsonl"
    lines = [json.dumps({"text": t, **({"source": s} if s is not None else {})}, ensure_ascii=ascii_only)
             for t, s in records]
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
    check(store, path, expected(records, snapshot(store)[2]))


# --- malformed files of every format through the `amend` command (the property) ---

WORDS = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzÄéß東 0123456789"), min_size=1, max_size=24).filter(
    lambda t: any(c.isalnum() for c in t))
COMMON_BAD = {  # kind -> (line of any format holding a bad text, what the error says)
    "nul": ("nul \x00 inside", "NUL byte"),
    "too_long": ("x" * 2001, "2001 characters long"),
    "no_words": ("?!", "no words"),
}
RAW_BAD = {  # kind -> (raw bytes that stand in for the text, what the error says)
    "latin1": ("café".encode("latin-1"), "invalid UTF-8"),
    "encoded_surrogate": (b"\xed\xa0\x80 x", "invalid UTF-8"),
}
JSONL_BAD = {
    "truncated": (b'{"text": "cut', "malformed JSON"), "array": (b"[1, 2]", "expected a JSON object"),
    "no_text": (b'{"source": "s"}', 'missing "text"'), "not_string": (b'{"text": 5}', '"text" must be a string'),
    "surrogate_escape": (b'{"text": "\\ud800 x"}', "lone surrogate"),
    "deep": (b'{"text": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested too deeply"),
    "huge_int": (b'{"text": "a", "n": ' + b"7" * 4400 + b"}", "number too long"),
    "long_source": (b'{"text": "ok", "source": "' + b"s" * 501 + b'"}', "source is 501 characters long"),
}
CSV_BAD = {"stray_quote": (b'"quoted"then,s', "text after a closing quote"),
           "long_source": (b'"ok",' + b"s" * 501, "source is 501 characters long")}


def _line(fmt: str, text: str) -> bytes:
    if fmt == "jsonl":
        return json.dumps({"text": text}, ensure_ascii=False).encode()
    if fmt == "csv":
        return ('"' + text.replace('"', '""') + '",src').encode()
    return text.encode()


def _raw(fmt: str, raw: bytes) -> bytes:
    return {"jsonl": b'{"text": "' + raw + b'"}', "csv": b'"' + raw + b'",src', "txt": raw}[fmt]


@st.composite
def malformed_files(draw):
    """(format, file bytes, {line number: what its error says}) with one to three bad lines."""
    fmt = draw(st.sampled_from(["txt", "csv", "jsonl"]))
    ending = draw(st.sampled_from([b"\n", b"\r\n", b"\r"]))
    lines = [_line(fmt, t) for t in draw(st.lists(WORDS, max_size=6))]
    kinds = sorted(COMMON_BAD) + sorted(RAW_BAD) + sorted({"csv": CSV_BAD, "jsonl": JSONL_BAD}.get(fmt, {}))
    bad = draw(st.lists(st.sampled_from(kinds), min_size=1, max_size=3))
    marks: list[str | None] = [None] * len(lines)  # what the error on each line says (None: a good line)
    for kind in bad:
        if kind in COMMON_BAD:
            data, says = _line(fmt, COMMON_BAD[kind][0]), COMMON_BAD[kind][1]
        elif kind in RAW_BAD:
            data, says = _raw(fmt, RAW_BAD[kind][0]), RAW_BAD[kind][1]
        else:
            data, says = {"csv": CSV_BAD, "jsonl": JSONL_BAD}[fmt][kind]
        at = draw(st.integers(0, len(lines)))
        lines.insert(at, data)
        marks.insert(at, says)
    if fmt == "csv" and draw(st.booleans()):  # an unclosed quote can only be last: it takes the rest
        lines.append(b'"never closed, and more')
        marks.append("unclosed quote")
    header = [b"text,source"] if fmt == "csv" else []
    expected = {n: says for n, says in enumerate([None] * len(header) + marks, start=1) if says}
    return fmt, ending.join(header + lines) + ending, expected


@settings(max_examples=45, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=malformed_files())
def test_malformed_files_fail_at_their_lines_and_change_nothing(home, tmp_path, case):
    from click.testing import CliRunner

    from amend.cli import cli

    fmt, data, expected = case
    runner = CliRunner()
    if not (home / "amend.db").exists():
        assert runner.invoke(cli, ["facts", "add", "Already here", "--no-update"]).exit_code == 0
    path = tmp_path / f"bad.{fmt}"
    path.write_bytes(data)
    before = (home / "amend.db").read_bytes()

    result = runner.invoke(cli, ["facts", "import", str(path), "--no-update"])

    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # no traceback
    *lines, last = result.stderr.splitlines()
    assert last.startswith(f"Error: {path}: {len(expected)} bad line") and "nothing imported" in last
    assert [int(line.split(":")[1]) for line in lines] == sorted(expected)  # FILE:LINE, in order
    for line in lines:
        assert line.startswith(f"{path}:") and expected[int(line.split(":")[1])] in line
    assert (home / "amend.db").read_bytes() == before and not (home / "amend.db-wal").exists()
