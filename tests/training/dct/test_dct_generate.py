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


@pytest.mark.slow
def test_rows_with_their_own_cached_prefixes_match_whole_prompts(tiny, monkeypatch):
    """A batch of different prompt kinds, each row's few-shot prefix cached and the caches
    stacked (left-padded to the longest), generates what each prompt gives alone."""
    tok = tiny.tokenizer
    fact, related = "The capital of Vendaria is Lusk.", "The mayor of Lusk is Orin Pell."
    kinds = [(prompts.implications_prompt, (fact,)), (prompts.correlative_prompt, (fact, related)),
             (prompts.contradictions_prompt, (fact,)), (prompts.question_prompt, (fact,))]
    texts = [k(tok, *args) for k, args in kinds]
    prefixes = [prompts.fixed_prefix(tok, k) for k, _ in kinds]
    fixed = gen.row_prefixes(tok, [tok(t, add_special_tokens=False)["input_ids"] for t in texts], prefixes)
    assert fixed is not None and len({len(f) for f in fixed}) == 4  # four different prefixes, all used
    batched = gen.generate(tiny.large, tok, texts, 24, prefix=prefixes)
    monkeypatch.setattr(gen, "MIN_SHARED", 10**9)
    alone = [gen.generate(tiny.large, tok, [t], 24)[0] for t in texts]
    assert batched == alone
    assert all(a.strip() for a in alone)
    # a prefix that a row does not start with: no per-row cache, the same answers
    assert gen.generate(tiny.large, tok, texts, 24, prefix=prefixes[:3] + ["Nothing like it\n"]) == alone
