"""Incremental detokenization with the real tiny tokenizer: multi-byte text never breaks."""

from __future__ import annotations

import pytest

from amend.assistant.detok import StreamDetokenizer

TEXTS = [
    "Un café, s'il vous plaît ☕ — merci! 🙂🇫🇷",
    "日本語のテキストと emoji 👩‍👩‍👧 mixed with spaces   and\nnewlines",
    "plain ascii, then ünïcödé at the end: é",
]


@pytest.fixture(scope="module")
def tokenizer(tiny):
    return tiny.tokenizer


@pytest.mark.parametrize("text", TEXTS)
def test_pieces_join_to_the_text_and_never_break_a_character(tokenizer, text):
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert len(ids) > len(text.encode("utf-8")) // 8  # multi-byte characters span several tokens
    d = StreamDetokenizer(tokenizer)
    pieces = [d.push(i) for i in ids] + [d.flush()]
    assert "".join(pieces) == tokenizer.decode(ids) == text
    assert not any("\ufffd" in p for p in pieces)
    assert d.text == text


def test_a_split_character_waits_for_its_last_byte(tokenizer):
    ids = tokenizer("🙂", add_special_tokens=False)["input_ids"]
    assert len(ids) > 1  # byte-level BPE: the emoji is several byte tokens
    d = StreamDetokenizer(tokenizer)
    assert [d.push(i) for i in ids[:-1]] == [""] * (len(ids) - 1)
    assert d.push(ids[-1]) == "🙂"


def test_a_truly_broken_tail_is_flushed_as_replacement(tokenizer):
    ids = tokenizer("é", add_special_tokens=False)["input_ids"]
    d = StreamDetokenizer(tokenizer)
    for i in ids[:-1]:
        d.push(i)
    if len(ids) > 1:
        assert d.flush() == "\ufffd"
