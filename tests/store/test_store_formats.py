"""The format rules: names, guessing standard input's format, and the two escapes export writes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from amend.store.errors import StoreError
from amend.store.formats import csv_cell, csv_uncell, detect_format, sniff_format, txt_line, txt_unline


def test_detect_format():
    assert [detect_format(n) for n in ("a.TXT", "b.csv", "c.jsonl", "d.ndjson")] == ["txt", "csv", "jsonl", "jsonl"]
    assert detect_format("x.dat", "csv") == "csv"
    with pytest.raises(StoreError, match="cannot tell the format"):
        detect_format("x.dat")
    with pytest.raises(StoreError, match="unknown format 'xlsx'"):
        detect_format("x.txt", "xlsx")


@pytest.mark.parametrize("first, fmt", [
    ('{"text": "Kell is cold"}', "jsonl"), ("text,source", "csv"), ("ID;Fact;Source", "csv"), ("text", "csv"),
    ("id\ttext", "csv"), ("Kell is cold", "txt"), ("{not json", "txt"), ("[1, 2]", "txt"),
    ("The text of it, in full", "txt"), ("", "txt"),
])
def test_sniff_format(first, fmt):
    assert sniff_format(first) == fmt


@pytest.mark.parametrize("cell, written", [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"), ("+1", "'+1"), ("-5 degrees", "'-5 degrees"),
    ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"), ("'quoted", "''quoted"),
    ("Kell = Dell", "Kell = Dell"), ("", ""), (None, ""), (42, "42"),
])
def test_csv_cells_never_start_a_formula(cell, written):
    assert csv_cell(cell) == written
    assert csv_uncell(written) == ("" if cell is None else str(cell))


@pytest.mark.parametrize("fact, line", [
    ("#1 is the loneliest number", "\\#1 is the loneliest number"), ("\\#tag", "\\\\#tag"),
    ("a\nb  c", "a b c"), ("\\\\server\\share", "\\\\server\\share"), ("C# is a language", "C# is a language"),
])
def test_txt_lines_keep_a_leading_hash(fact, line):
    assert txt_line(fact) == line
    assert txt_unline(line) == " ".join(fact.split())


@settings(max_examples=200, derandomize=True)
@given(st.text(st.characters(blacklist_categories=["Cs"]), max_size=20))
def test_escapes_round_trip(text):
    assert csv_uncell(csv_cell(text)) == text
    assert not csv_cell(text).startswith(("=", "+", "-", "@", "\t", "\r"))
    one_line = " ".join(text.split())
    if one_line:
        assert txt_unline(txt_line(text)) == one_line and not txt_line(text).startswith("#")
