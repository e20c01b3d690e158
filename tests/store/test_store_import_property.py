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
