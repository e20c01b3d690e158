"""Importing facts from TXT, CSV or JSONL files: streamed, checked line by line, all or nothing.

The input (a file, `-` for standard input, a named pipe) is read once, a line at a time, without
seeking (textfile.py: encodings, line endings, binary files), and facts are inserted in batches
inside the caller's transaction. Every bad line is collected as `FILE:LINE: reason`; if there is
any, ImportFailed is raised and the caller's transaction rolls back, so nothing is written.
Facts equal after normalize() to an active fact (or to an earlier line) are skipped and counted.

Formats: TXT, one fact a line (blank lines and `#` comments skipped; `\\#` is a fact beginning
with `#`); CSV, a header with a `text` (or `fact`) column and optionally `source`, separated by
commas (or by semicolons or tabs, when only that finds the text column); JSONL, one object a line
with `text` (or `fact`) and optionally `source`. Standard input's format, unless given, is told
from its first line (formats.sniff_format).
"""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from amend.store.errors import InvalidFact, StoreError
from amend.store.facts import check_source, checked, lock_facts
from amend.store.formats import FORMATS, csv_uncell, detect_format, sniff_format, txt_unline
from amend.store.jobs import enqueue_update
from amend.store.schema import IS_ACTIVE, Fact, Job
from amend.store.textfile import TextSource, likely_encoding, open_text

BATCH = 500  # facts per INSERT batch (and per duplicate lookup)
MAX_REPORTED = 1000  # bad lines listed one by one; beyond that only counted
PROGRESS_EVERY = 5000  # records between progress reports

Progress = Callable[[str, float, float | None], None]


class ImportFailed(StoreError):
    """Some lines are bad; nothing was imported. `errors` lists them as FILE:LINE: reason."""

    def __init__(self, name: str | Path, errors: list[str], bad_lines: int, hint: str | None = None):
        more = f" (the first {len(errors)} listed)" if bad_lines > len(errors) else ""
        super().__init__(f"{name}: {bad_lines} bad line{'s' if bad_lines != 1 else ''}{more}; nothing imported"
                         + (f"; {hint}" if hint else ""))
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
    name: str = ""  # the file as messages name it (<stdin> for standard input)
    format: str = ""  # csv, jsonl or txt
    format_guessed: bool = False  # told from the first line (standard input, a pipe), not given or named


# Each reader yields (line, text, source, error): a fact to add (error None), a line to skip
# (text None, error None), or a bad line (error set).
Record = tuple[int, str | None, str | None, str | None]


def _txt(lines) -> Iterator[Record]:
    for n, line, err in lines:
        if err:
            yield n, None, None, err
            continue
        line = line.strip()
        if not line or line.startswith("#"):
            yield n, None, None, None
        else:
            yield n, txt_unline(line), None, None


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
        except RecursionError:
            yield n, None, None, "malformed JSON: nested too deeply"
            continue
        except ValueError:  # Python's limit on the digits of an integer (4,300)
            yield n, None, None, "malformed JSON: a number too long to read"
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


def _delimiter(header: str) -> str:
    """A comma, unless only a semicolon or a tab splits the header into a text column."""
    for delimiter in (",", ";", "\t"):
        cells = next(csv.reader([header], delimiter=delimiter), [])
        if any(c.strip().lower() in ("text", "fact") for c in cells):
            return delimiter
    return ","


def _csv_error(e: csv.Error) -> tuple[str, bool]:
    """(reason, whether the rest of the file can still be read) for the csv module's error."""
    message = str(e)
    if message == "unexpected end of data":
        return "malformed CSV: unclosed quote (the quoted field that starts on this line never ends)", False
    if message.startswith("field larger than field limit"):
        return (f"malformed CSV: a field longer than {csv.field_size_limit():,} characters "
                "(an unclosed quote?); the rest of the file was not read"), False
    if "expected after" in message:
        return "malformed CSV: text after a closing quote (a quote inside a quoted field is written \"\")", True
    return f"malformed CSV: {message}", True


def _csv(lines) -> Iterator[Record]:
    decode_errors: dict[int, str] = {}
    lines = iter(lines)
    first = next(lines, None)
    if first is None:
        yield 1, None, None, "empty CSV file: expected a header with a \"text\" column"
        return
    if first[2]:  # a header that cannot be read: no row can be
        yield first[0], None, None, first[2]
        return

    def feed():
        for n, line, err in itertools.chain([first], lines):
            if err:
                decode_errors[n] = err
            yield line

    # strict: an unclosed quote is an error at its line, not the rest of the file read as one field
    reader = csv.reader(feed(), delimiter=_delimiter(first[1]), strict=True)
    header: list[str] | None = None
    text_col = source_col = -1
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            reason, go_on = _csv_error(e)
            yield start, None, None, reason
            if go_on:
                continue
            return
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
            source = csv_uncell(row[source_col]) if 0 <= source_col < len(row) else None
            yield start, csv_uncell(row[text_col]), source or None, None
    if header is None:
        yield 1, None, None, "empty CSV file: expected a header with a \"text\" column"


READERS = {"txt": _txt, "jsonl": _jsonl, "csv": _csv}


def source_format(source: TextSource, fmt: str | None) -> tuple[str, bool]:
    """(format, whether it was guessed): the format given, or told from the file name, or, for
    standard input and pipes whose name says nothing, guessed from the first line."""
    if fmt is None and (source.is_stdin or (source.size is None and Path(source.path).suffix.lower() not in FORMATS)):
        return sniff_format(source.first_line()), True
    return detect_format(source.path, fmt), False


def import_facts(session: Session, path: str | Path | TextSource, fmt: str | None = None, dry_run: bool = False,
                 keep_both: bool = False, on_progress: Progress | None = None) -> ImportResult:
    """Import a file (a path, `-`, or a TextSource opened by the caller) into the session's
    transaction; raises ImportFailed (write nothing) on bad lines, StoreError on a bad file.

    With dry_run everything is checked (duplicates too) and nothing is written. One update job
    (change "import") covers the new facts.
    """
    if fmt is not None:
        detect_format(path, fmt)  # an unknown format fails before anything is opened
    if isinstance(path, TextSource):
        source, closing = path, nullcontext()
    else:
        source = closing = open_text(path)
    with closing:
        fmt, guessed = source_format(source, fmt)
        return _import(session, source, fmt, guessed, dry_run, keep_both, on_progress)


def _import(session: Session, source: TextSource, fmt: str, guessed: bool, dry_run: bool, keep_both: bool,
            on_progress: Progress | None) -> ImportResult:
    name = source.name
    result = ImportResult(path=Path(source.path), dry_run=dry_run, name=name, format=fmt, format_guessed=guessed)
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

    stage = f"importing {Path(name).name}"
    for count, (n, text, src, err) in enumerate(READERS[fmt](source.lines()), start=1):
        if on_progress is not None and count % PROGRESS_EVERY == 0:
            on_progress(stage, source.bytes_read, source.size)
        if err is None and text is not None:
            try:
                text, norm = checked(text)
                src = check_source(src)
            except InvalidFact as e:
                err = str(e)
        if err is not None:
            bad_lines += 1
            if len(errors) < MAX_REPORTED:
                errors.append(f"{name}:{n}: {err}")
            continue
        if text is None:
            result.skipped += 1
            continue
        if bad_lines:
            continue  # nothing will be written: only look for more bad lines
        if norm in batch:
            result.duplicates += 1
            continue
        batch[norm] = {"text": text, "normalized": norm, "source": src}
        if len(batch) >= BATCH:
            flush()
    if on_progress is not None:
        on_progress(stage, source.bytes_read, source.size or source.bytes_read)
    if bad_lines:
        if savepoint is not None:
            savepoint.rollback()
        hint = None
        if source.undecodable:
            enc = likely_encoding(source.undecodable)
            hint = f"the file is not UTF-8 (perhaps {enc}): convert it, e.g. iconv -f {enc} -t UTF-8"
        raise ImportFailed(name, errors, bad_lines, hint)
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
