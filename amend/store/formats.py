"""The three file formats (TXT, CSV, JSONL): telling which from a name or from the first bytes,
and the two escapes export writes and import undoes, so every fact survives a round trip.

- CSV cells that a spreadsheet would run as a formula (beginning with `=`, `+`, `-`, `@`, tab
  or carriage return) get a leading `'`, as OWASP's CSV-injection guidance recommends (with
  every cell quoted); a cell that already begins with `'` gets one too, so import can take
  exactly one `'` off again.
- A TXT line that begins with `#` is a comment, so a fact beginning with `#` is written as
  `\\#...` (and one beginning with backslashes and `#` gets one more backslash).
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from amend.store.errors import StoreError

FORMATS = {".txt": "txt", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
NAMES = ("csv", "jsonl", "txt")
STDIO = "-"  # the file name that means standard input or output

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what makes a spreadsheet read a cell as a formula
_TXT_HASH = re.compile(r"\\*#")  # a fact TXT would read as a comment, once escaped or not


def detect_format(path: str | Path, fmt: str | None = None) -> str:
    """The format given, or the one the file name's extension says."""
    if fmt:
        if fmt not in NAMES:
            raise StoreError(f"unknown format {fmt!r} (expected csv, jsonl or txt)")
        return fmt
    try:
        return FORMATS[Path(path).suffix.lower()]
    except KeyError:
        from amend.store.printable import printable

        raise StoreError(f"{printable(str(path))}: cannot tell the format from the extension; "
                         "use --format csv|jsonl|txt") from None


def sniff_format(first_line: str) -> str:
    """The likely format of standard input, from its first non-blank line.

    A JSON object is JSONL; a CSV header naming a `text` (or `fact`) column is CSV; anything else
    is TXT, one fact a line.
    """
    line = first_line.strip()
    if line.startswith("{"):
        try:
            if isinstance(json.loads(line), dict):
                return "jsonl"
        except (ValueError, RecursionError):
            pass
    for delimiter in (",", ";", "\t"):
        cells = next(csv.reader([line], delimiter=delimiter), [])
        if any(c.strip().lower() in ("text", "fact") for c in cells) and (len(cells) > 1 or line.lower() in ("text", "fact")):
            return "csv"
    return "txt"


def csv_cell(value: object) -> str:
    """A value as a CSV cell that no spreadsheet runs as a formula (see the module docstring)."""
    cell = "" if value is None else str(value)
    return "'" + cell if cell.startswith(FORMULA_START + ("'",)) else cell


def csv_uncell(cell: str) -> str:
    """csv_cell undone: one leading `'` taken off a cell it was put on."""
    return cell[1:] if cell.startswith("'") and cell[1:2] and cell[1] in "=+-@\t\r'" else cell


def txt_line(text: str) -> str:
    """A fact as one TXT line: whitespace runs (line breaks too) become one space; `#` escaped."""
    line = " ".join(text.split())
    return "\\" + line if _TXT_HASH.match(line) else line


def txt_unline(line: str) -> str:
    """txt_line's escape undone on a stripped line that is not a comment."""
    return line[1:] if line.startswith("\\") and _TXT_HASH.match(line) else line
