"""Importing facts from TXT, CSV or JSONL files: streamed, checked line by line, all or nothing.

The file is read once, a line at a time (memory stays flat), and facts are inserted in batches
inside the caller's transaction. Every bad line is collected as `FILE:LINE: reason`; if there is
any, ImportFailed is raised and the caller's transaction rolls back, so nothing is written.
Facts equal after normalize() to an active fact (or to an earlier line) are skipped and counted.

Formats: TXT, one fact a line (blank lines and `#` comments skipped); CSV, a header with a
`text` (or `fact`) column and optionally `source`; JSONL, one object a line with `text` (or
`fact`) and optionally `source`.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from amend.store.errors import InvalidFact, StoreError
from amend.store.facts import checked, lock_facts
from amend.store.jobs import enqueue_update
from amend.store.schema import IS_ACTIVE, Fact, Job

FORMATS = {".txt": "txt", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
BATCH = 500  # facts per INSERT batch (and per duplicate lookup)
MAX_REPORTED = 1000  # bad lines listed one by one; beyond that only counted
SNIFF = 8192  # bytes read first to tell a binary file from a text file

Progress = Callable[[str, float, float | None], None]


class ImportFailed(StoreError):
    """Some lines are bad; nothing was imported. `errors` lists them as FILE:LINE: reason."""

    def __init__(self, path: Path, errors: list[str], bad_lines: int):
        more = f" (the first {len(errors)} listed)" if bad_lines > len(errors) else ""
        super().__init__(f"{path}: {bad_lines} bad line{'s' if bad_lines != 1 else ''}{more}; nothing imported")
        self.errors, self.bad_lines = errors, bad_lines


@dataclass
class ImportResult:
    path: Path
    added: int = 0  # new facts (would be added, in a dry run)
    duplicates: int = 0  # equal to an active fact or an earlier line
    skipped: int = 0  # blank lines and comments
    fact_ids: list[int] = field(default_factory=list)
    job: Job | None = None  # the update job for the new facts (None in a dry run or if none added)
    dry_run: bool = False


def detect_format(path: Path, fmt: str | None = None) -> str:
    if fmt:
        if fmt not in ("txt", "csv", "jsonl"):
            raise StoreError(f"unknown format {fmt!r} (expected csv, jsonl or txt)")
        return fmt
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise StoreError(f"{path}: cannot tell the format from the extension; use --format csv|jsonl|txt") from None


def _check_binary(path: Path, head: bytes) -> None:
    """One clear error for a file that is not UTF-8 text at all (an image, UTF-16, ...)."""
    if b"\x00" not in head:
        return
    try:  # an incremental decoder accepts a character cut off at the end of the sniffed bytes
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        looks_text = head.count(b"\x00") <= 4
    except UnicodeDecodeError:
        looks_text = False
    if not looks_text:
        raise StoreError(f"{path}: not a text file (binary data, or not UTF-8); expected UTF-8 TXT, CSV or JSONL")


def _lines(path: Path, f, on_progress: Progress | None, total: int) -> Iterator[tuple[int, str, str | None]]:
    """(line number, text with its line ending, decode error or None) for each physical line."""
    done = 0
    for n, raw in enumerate(f, start=1):
        done += len(raw)
        if n == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]  # a UTF-8 byte order mark
        try:
            yield n, raw.decode("utf-8"), None
        except UnicodeDecodeError as e:
            yield n, raw.decode("utf-8", errors="replace"), f"invalid UTF-8 (byte {e.start + 1} of the line)"
        if on_progress is not None and n % 5000 == 0:
            on_progress(f"importing {path.name}", done, total)
    if on_progress is not None:
        on_progress(f"importing {path.name}", total, total)


# Each reader yields (line, text, source, error): a fact to add (error None), a line to skip
# (text None, error None), or a bad line (error set).
Record = tuple[int, str | None, str | None, str | None]


def _txt(lines) -> Iterator[Record]:
    for n, line, err in lines:
        line = line.rstrip("\r\n")
        if err:
            yield n, None, None, err
        elif not line.strip() or line.lstrip().startswith("#"):
            yield n, None, None, None
        else:
            yield n, line, None, None


def _field(obj: dict, *names: str):
    for name in names:
        if name in obj:
            return obj[name]
    return None


def _jsonl(lines) -> Iterator[Record]:
    for n, line, err in lines:
        if err:
            yield n, None, None, err
            continue
        if not line.strip():
            yield n, None, None, None
            continue
        try:
            obj = json.loads(line.rstrip("\r\n"))
        except json.JSONDecodeError as e:
            yield n, None, None, f"malformed JSON: {e.msg} (column {e.colno})"
            continue
        if not isinstance(obj, dict):
            yield n, None, None, "expected a JSON object with a \"text\" field"
            continue
        text, source = _field(obj, "text", "fact"), obj.get("source")
        if text is None:
            yield n, None, None, "missing \"text\""
        elif not isinstance(text, str):
            yield n, None, None, "\"text\" must be a string"
        elif source is not None and not isinstance(source, str):
            yield n, None, None, "\"source\" must be a string"
        else:
            yield n, text, source, None


def _csv(lines) -> Iterator[Record]:
    decode_errors: dict[int, str] = {}

    def feed():
        for n, line, err in lines:
            if err:
                decode_errors[n] = err
            yield line

    reader = csv.reader(feed())
    header: list[str] | None = None
    text_col = source_col = -1
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            yield start, None, None, f"malformed CSV: {e}"
            continue
        bad = [decode_errors.pop(n) for n in range(start, reader.line_num + 1) if n in decode_errors]
        if bad:
            yield start, None, None, bad[0]
            continue
        if header is None:
            header = [h.strip().lower() for h in row]
            text_col = next((header.index(c) for c in ("text", "fact") if c in header), -1)
            source_col = header.index("source") if "source" in header else -1
            if text_col < 0:
                yield start, None, None, "the header has no \"text\" (or \"fact\") column"
                return
            yield start, None, None, None
            continue
        if not any(cell.strip() for cell in row):
            yield start, None, None, None
        elif len(row) <= text_col:
            yield start, None, None, f"missing the text column (the row has {len(row)} fields, the header {len(header)})"
        else:
            yield start, row[text_col], (row[source_col] or None) if 0 <= source_col < len(row) else None, None
    if header is None:
        yield 1, None, None, "empty CSV file: expected a header with a \"text\" column"


READERS = {"txt": _txt, "jsonl": _jsonl, "csv": _csv}


def import_facts(session: Session, path: str | Path, fmt: str | None = None, dry_run: bool = False,
                 keep_both: bool = False, on_progress: Progress | None = None) -> ImportResult:
    """Import a file into the session's transaction; raises ImportFailed (write nothing) on bad lines.

    With dry_run everything is checked (duplicates too) and nothing is written. One update job
    (change "import") covers the new facts.
    """
    path = Path(path)
    fmt = detect_format(path, fmt)
    try:
        f = path.open("rb")
    except FileNotFoundError:
        raise StoreError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise StoreError(f"{path}: is a folder, not a file") from None
    except OSError as e:
        raise StoreError(f"{path}: cannot read it ({e.strerror})") from None

    result = ImportResult(path=path, dry_run=dry_run)
    errors: list[str] = []
    bad_lines = 0
    batch: dict[str, dict] = {}  # normalized -> row, in file order

    lock_facts(session)
    savepoint = session.begin_nested() if dry_run else None  # before connection(): it emits SAVEPOINT
    # Plain Core executemany on the session's connection (no ORM objects, no RETURNING): the
    # speed goal (within 5x of raw sqlite3) needs it. New ids are read back at the end: writers
    # of facts are serialized (lock_facts), so every id above the old maximum is this import's.
    facts = Fact.__table__
    conn = session.connection()
    first_new_id = (conn.execute(select(func.max(facts.c.id))).scalar() or 0) + 1
    add_rows = insert(facts).values(status="active", created=func.now(), updated=func.now())

    def flush() -> None:
        if not batch:
            return
        existing = set(conn.execute(
            select(facts.c.normalized).where(IS_ACTIVE, facts.c.normalized.in_(list(batch)))
        ).scalars())
        rows = [row for norm, row in batch.items() if norm not in existing]
        result.duplicates += len(batch) - len(rows)
        result.added += len(rows)
        if rows:  # a dry run inserts too (inside a savepoint), so later batches see these rows
            conn.execute(add_rows, rows)
        batch.clear()

    with f:
        _check_binary(path, f.read(SNIFF))
        f.seek(0)
        total = path.stat().st_size
        for n, text, source, err in READERS[fmt](_lines(path, f, on_progress, total)):
            if err is None and text is not None:
                try:
                    text, norm = checked(text)
                except InvalidFact as e:
                    err = str(e)
            if err is not None:
                bad_lines += 1
                if len(errors) < MAX_REPORTED:
                    errors.append(f"{path}:{n}: {err}")
                continue
            if text is None:
                result.skipped += 1
                continue
            if bad_lines:
                continue  # nothing will be written: only look for more bad lines
            if norm in batch:
                result.duplicates += 1
                continue
            batch[norm] = {"text": text, "normalized": norm, "source": source or None}
            if len(batch) >= BATCH:
                flush()
    if bad_lines:
        if savepoint is not None:
            savepoint.rollback()
        raise ImportFailed(path, errors, bad_lines)
    flush()
    if savepoint is not None:
        savepoint.rollback()
    elif result.added:
        result.fact_ids = list(conn.execute(select(facts.c.id).where(facts.c.id >= first_new_id).order_by(facts.c.id)).scalars())
        payload: dict = {"fact_ids": result.fact_ids, "change": "import"}
        if keep_both:
            payload["keep_both"] = True
        result.job = enqueue_update(session, payload)
    return result
