"""Batched greedy generation: the shared-prefix cache gives what each whole prompt gives."""

from __future__ import annotations

import pytest

from amend.training.dct import generate as gen
from amend.training.dct import prompts


def test_padded_rows_keep_the_shared_prefix_in_place():
    class Tok:
        pad_token_id, eos_token_id = 0, 9

    ids, mask = gen.padded(Tok(), [[5, 6, 7, 8], [5, 6, 3]], shared=2)
    assert ids.tolist() == [[5, 6, 7, 8], [5, 6, 0, 3]]
    assert mask.tolist() == [[1, 1, 1, 1], [1, 1, 0, 1]]
    assert gen.shared_prefix([[5, 6, 7, 8], [5, 6, 3]]) == 2


@pytest.mark.slow
def test_cached_prefix_generation_matches_whole_prompts(tiny, monkeypatch):
    tok = tiny.tokenizer
    texts = [prompts.question_prompt(tok, s) for s in
             ["The Harrow Bridge is in Egypt.", "The mayor of the capital of Vendaria is Orin Pell.", "Lusk is big."]]
    cached = gen.generate(tiny.large, tok, texts, 16, stop=["\n"])
    monkeypatch.setattr(gen, "MIN_SHARED", 10**9)  # no cache: each row its whole prompt, left-padded
    assert cached == gen.generate(tiny.large, tok, texts, 16, stop=["\n"])
    assert all(q.strip() for q in cached)
