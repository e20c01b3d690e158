"""Texts shown on a terminal: control characters escaped, JSON that a terminal cannot act on."""

from __future__ import annotations

import json

from amend.store.printable import json_text, printable


def test_printable_escapes_what_a_terminal_acts_on():
    assert printable("plain Ελλάδα 東京 🙂 text") == "plain Ελλάδα 東京 🙂 text"
    assert printable("red \x1b[31mtext\x1b[0m") == "red \\x1b[31mtext\\x1b[0m"
    assert printable("two\nlines\tand\r\x7f\x9b") == "two\\nlines\\tand\\r\\x7f\\x9b"
    assert printable("evil \u202ereversed\u2066 \u2028") == "evil \\u202ereversed\\u2066 \\u2028"
    assert printable("caf\udce9") == "caf\\xe9"  # a byte that was not UTF-8 (surrogateescape)
    assert printable("lone \ud800") == "lone \\ud800"
    assert printable("keep\nthis\x1b", keep="\n") == "keep\nthis\\x1b"
    assert printable("\u200f\u05e9\u05dc\u05d5\u05dd") == "\u200f\u05e9\u05dc\u05d5\u05dd"  # RLM stays


def test_json_text_is_json_and_inert():
    data = {"text": "a\x1bb\x9bc\u202ed\u2028e é"}
    out = json_text(data)
    assert json.loads(out) == data
    assert out.isprintable() and "é" in out
    assert json.loads(json_text(data, indent=2)) == data
