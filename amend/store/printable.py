"""Texts made safe to show on a terminal: control characters escaped, never interpreted.

Facts, sources, file names and command-line arguments are the user's data and may hold escape
sequences (ESC [ ...), other C0/C1 controls, bidirectional overrides or, from a file name or an
argument that is not UTF-8, undecodable bytes (Python's surrogate escapes). Printed raw they can
recolour or rewrite the terminal, or crash the print itself. `printable()` writes each as a
Python-style escape (`\\x1b`, `\\n`, `\\u202e`; an undecodable byte as `\\xe9`); `json_text()` does
the same inside JSON, where the standard library leaves C1 controls and bidi overrides raw.
"""

from __future__ import annotations

import json
import re

# C0 controls, DEL and C1 controls, line/paragraph separators, bidi embeddings, overrides and
# isolates (not the LRM/RLM marks that right-to-left text uses), and any lone surrogate
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# what JSON leaves raw among those (C0 controls it escapes itself; surrogates never reach it)
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match) -> str:
    c = match.group()
    if c in _NAMED:
        return _NAMED[c]
    code = ord(c)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str, keep: str = "") -> str:
    """`text` with every control character escaped (one line, nothing the terminal acts on);
    characters in `keep` (e.g. "\\n" for multi-line output) stay as they are."""
    if text.isprintable():
        return text
    if keep:
        return _UNSAFE.sub(lambda m: m.group() if m.group() in keep else _escape(m), text)
    return _UNSAFE.sub(_escape, text)


def json_text(obj: object, indent: int | None = None) -> str:
    """json.dumps (non-ASCII kept) with C1 controls and bidi overrides written as \\u escapes."""
    out = json.dumps(obj, ensure_ascii=False, indent=indent)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", out)
