"""Exporting facts to JSONL, CSV or TXT (format from the extension), in a form import reads back.

A file is written beside its destination and renamed into place, so a failed export leaves no
half-written file. The destination is where a symbolic link points (the link stays a link); a
new file gets the permissions the umask allows (0666 less the umask), a replaced one keeps its
own. `-` is standard output; a device or a named pipe (e.g. /dev/stdout) is written to directly.
CSV cells that a spreadsheet would run as formulas are neutralised and a TXT fact beginning with
`#` is escaped (formats.py), so every fact survives a round trip; TXT holds one fact a line, so
line breaks inside a fact become spaces there.
"""

from __future__ import annotations

import csv
import errno
import os
import secrets
import stat
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from sqlalchemy.orm import Session

from amend.store.errors import StoreError
from amend.store.facts import iter_facts
from amend.store.formats import FORMATS, STDIO, csv_cell, detect_format, txt_line
from amend.store.printable import json_text, printable

FIELDS = ("id", "text", "source", "status", "created", "updated")


def fact_record(row) -> dict:
    """A fact (ORM object or row) as the dict export writes: FIELDS, times in ISO 8601."""
    return {"id": row.id, "text": row.text, "source": row.source, "status": row.status,
            "created": row.created.isoformat(), "updated": row.updated.isoformat()}


def write_records(records: Iterable[dict], f: TextIO, fmt: str) -> int:
    """Write fact records to a text stream in fmt (csv, jsonl, txt); returns how many."""
    writer = csv.writer(f, quoting=csv.QUOTE_ALL) if fmt == "csv" else None  # OWASP: quote every cell
    if writer:
        writer.writerow(FIELDS)
    count = 0
    for record in records:
        if writer:
            writer.writerow([csv_cell(record[k]) for k in FIELDS])
        elif fmt == "jsonl":
            f.write(json_text(record) + "\n")
        else:
            f.write(txt_line(record["text"]) + "\n")
        count += 1
    return count


def _reason(e: OSError) -> str:
    return (e.strerror or type(e).__name__).lower()


def _open_stream(path: Path, name: str) -> TextIO:
    """A device or named pipe, opened for writing without waiting for a reader that never comes."""
    try:
        fd = os.open(path, os.O_WRONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        if e.errno == errno.ENXIO:  # a named pipe that no process has open for reading
            raise StoreError(f"{name}: a named pipe that nothing reads from") from None
        raise StoreError(f"{name}: cannot write to it ({_reason(e)})") from None
    os.set_blocking(fd, True)
    return os.fdopen(fd, "w", encoding="utf-8", newline="")


def export_facts(session: Session, path: str | Path, fmt: str | None = None, include_all: bool = False,
                 stdout: TextIO | None = None) -> int:
    """Write the active facts (every fact with include_all) to path; returns how many.

    `-` writes to `stdout` (default sys.stdout); it, and a device or pipe whose name has no known
    extension, get JSONL unless fmt says otherwise.
    """
    if str(path) == STDIO:
        fmt = detect_format(path, fmt or "jsonl")
        return write_records(map(fact_record, iter_facts(session, include_all)), stdout or sys.stdout, fmt)
    path = Path(path)
    name = printable(str(path))
    try:
        st = os.stat(path)  # follows a symbolic link to what it points to
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise StoreError(f"{name}: cannot write there ({_reason(e)})") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise StoreError(f"{name}: is a folder; name a file to write")
    stream = st is not None and not stat.S_ISREG(st.st_mode)  # a device or a named pipe (/dev/stdout)
    fmt = detect_format(path, fmt or ("jsonl" if stream and path.suffix.lower() not in FORMATS else None))
    if stream:
        with _open_stream(path, name) as f:
            return write_records(map(fact_record, iter_facts(session, include_all)), f, fmt)

    target = Path(os.path.realpath(path))  # write through symbolic links (a dangling one too)
    database = session.get_bind().url.database if session.get_bind().dialect.name == "sqlite" else None
    if database and str(target) in {os.path.realpath(database) + end for end in ("", "-wal", "-shm", "-journal")}:
        raise StoreError(f"{name}: is amend's database; export to another file")
    try:
        folder = os.stat(target.parent)
    except FileNotFoundError:
        raise StoreError(f"{name}: folder {printable(str(target.parent))} does not exist") from None
    except OSError as e:
        raise StoreError(f"{name}: cannot write there ({_reason(e)})") from None
    if not stat.S_ISDIR(folder.st_mode):
        raise StoreError(f"{name}: {printable(str(target.parent))} is not a folder")
    if st is not None and not os.access(target, os.W_OK):
        raise StoreError(f"{name}: the file is read-only")
    tmp = target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp"
    try:
        # 0666 less the umask, as for any new file; a file that is replaced keeps its permissions
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError as e:
        raise StoreError(f"{name}: cannot write there ({_reason(e)})") from None
    try:
        if st is not None:
            os.chmod(fd, stat.S_IMODE(st.st_mode))
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            count = write_records(map(fact_record, iter_facts(session, include_all)), f, fmt)
        os.replace(tmp, target)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise StoreError(f"{name}: cannot write it ({_reason(e)})") from None
        raise
    return count
