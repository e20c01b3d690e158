"""Exporting facts to JSONL, CSV or TXT (format from the extension), in a form import reads back.

The file is written beside its destination and renamed into place, so a failed export leaves
no half-written file. TXT holds one fact a line: line breaks inside a fact become spaces.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from amend.store.errors import StoreError
from amend.store.importer import detect_format
from amend.store.schema import IS_ACTIVE, Fact

FIELDS = ("id", "text", "source", "status", "created", "updated")


def _rows(session: Session, include_all: bool):
    query = select(Fact).order_by(Fact.id)
    if not include_all:
        query = query.where(IS_ACTIVE)
    for fact in session.scalars(query.execution_options(yield_per=1000)):
        yield {"id": fact.id, "text": fact.text, "source": fact.source, "status": fact.status,
               "created": fact.created.isoformat(), "updated": fact.updated.isoformat()}


def export_facts(session: Session, path: str | Path, fmt: str | None = None, include_all: bool = False) -> int:
    """Write the active facts (every fact with include_all) to path; returns how many."""
    path = Path(path)
    fmt = detect_format(path, fmt)
    if not path.parent.is_dir():
        raise StoreError(f"{path}: folder {path.parent} does not exist")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    count = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, FIELDS) if fmt == "csv" else None
            if writer:
                writer.writeheader()
            for row in _rows(session, include_all):
                if writer:
                    writer.writerow(row)
                elif fmt == "jsonl":
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
                else:
                    f.write(" ".join(row["text"].split()) + "\n")
                count += 1
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count
