"""Incremental detokenization: turn a growing list of token ids into stable pieces of text.

Byte-level BPE splits a multi-byte character (é, an emoji) over several tokens, and some
tokenizers drop or add a space depending on what precedes a token. So each new token is decoded
together with a few tokens before it (a window from `prefix` to the end), and only the text after
the window's stable part is emitted, once it no longer ends in U+FFFD (an unfinished UTF-8
sequence). This is the windowed method of text-generation-inference and vLLM; transformers'
TextStreamer instead re-decodes everything and waits for whole words.
"""

from __future__ import annotations

from typing import Any

REPLACEMENT = "\ufffd"  # what a tokenizer decodes an incomplete UTF-8 sequence to


class StreamDetokenizer:
    """Feed token ids one at a time with `push`; it returns the text that became stable."""

    def __init__(self, tokenizer: Any, skip_special_tokens: bool = True) -> None:
        self.tokenizer = tokenizer
        self.skip_special_tokens = skip_special_tokens
        self.ids: list[int] = []
        self.prefix = 0  # window start: ids[prefix:read] were already emitted
        self.read = 0  # ids before this index are emitted
        self.text = ""  # everything emitted so far

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(
            ids, skip_special_tokens=self.skip_special_tokens, clean_up_tokenization_spaces=False
        )

    def push(self, token_id: int) -> str:
        """Add one token; return the newly stable text ("" while a character is unfinished)."""
        self.ids.append(int(token_id))
        before = self._decode(self.ids[self.prefix : self.read])
        after = self._decode(self.ids[self.prefix :])
        if len(after) <= len(before) or after.endswith(REPLACEMENT):
            return ""
        piece = after[len(before) :]
        self.prefix, self.read = self.read, len(self.ids)
        self.text += piece
        return piece

    def flush(self) -> str:
        """The text still held back at the end (a truly broken character decodes to U+FFFD)."""
        before = self._decode(self.ids[self.prefix : self.read])
        after = self._decode(self.ids[self.prefix :])
        piece = after[len(before) :] if after.startswith(before) else ""
        self.prefix = self.read = len(self.ids)
        self.text += piece
        return piece
