"""p_true from label log-probabilities: the formula, the label tokens, batching over a shared
prefix cache, the judge."""

from __future__ import annotations

import math

import pytest

from amend.training.dct import prompts
from amend.training.dct.generate import shared_prefix
from amend.training.dct.score import (
    contradiction_probability,
    label_probabilities,
    label_token_ids,
    p_true_from_logprobs,
    score_statements,
)


def test_p_true_renormalises_the_two_label_probabilities():
    # P(true)=0.3, P(false)=0.1 (the rest of the mass on other tokens) -> 0.75, not softmax(0.3, 0.1)
    assert p_true_from_logprobs(math.log(0.3), math.log(0.1)) == pytest.approx(0.75)
    assert p_true_from_logprobs(-1.0, -1.0) == pytest.approx(0.5)
    assert p_true_from_logprobs(0.0, -2000.0) == pytest.approx(1.0)
    assert p_true_from_logprobs(-2000.0, 0.0) == 0.0


def test_prompts_end_at_the_label():
    assert prompts.score_prompt("Lusk is in Vendaria.").endswith("Statement: Lusk is in Vendaria.\nLabel:")
    judge = prompts.judge_prompt(None, "A is B.", "A is C.", style="plain")
    assert judge.endswith("Statement 1: A is B.\nStatement 2: A is C.\nThey cannot both be true. Label:")


def test_shared_prefix_leaves_each_row_a_token():
    assert shared_prefix([[1, 2, 3, 4], [1, 2, 5]]) == 2
    assert shared_prefix([[1, 2, 3], [1, 2, 3]]) == 2
    assert shared_prefix([[7], [7, 8]]) == 0


@pytest.mark.slow
def test_label_tokens_and_batched_scores_match_single_ones(tiny):
    tok = tiny.tokenizer
    t, f = label_token_ids(tok)
    assert tok.decode([t]) == " true" and tok.decode([f]) == " false"
    texts = ["Paris is the capital of France.", "The Sun is a cold planet made of ice cream and rock."]
    batched = score_statements(tiny.large, tok, texts)  # rows of different lengths: left padding
    single = [score_statements(tiny.large, tok, [x])[0] for x in texts]
    assert all(0.0 <= p <= 1.0 for p in batched)
    assert batched == pytest.approx(single, abs=1e-4)
    assert label_probabilities(tiny.large, tok, []) == []
    # the shared few-shot prefix runs once, rows of different lengths right-padded after it: the
    # same as each whole prompt alone (batch_size 2 also splits the rows over two cached batches)
    texts = [prompts.entail_prompt(["The capital of Vendaria is Lusk."], s) for s in
             ["Lusk is a city in Vendaria.", "Lusk is a very large and very old city in the north of Vendaria.", "x y z."]]
    single = [label_probabilities(tiny.large, tok, [t])[0] for t in texts]
    assert label_probabilities(tiny.large, tok, texts, batch_size=2) == pytest.approx(single, abs=1e-4)
    # the fixed few-shot start is kept for the model: a second call reuses it, with the same scores
    from amend.training.dct.generate import _PREFIXES

    kept = label_probabilities(tiny.large, tok, texts, prefix=prompts.entail_shots())
    assert len(_PREFIXES[tiny.large]) >= 1
    assert label_probabilities(tiny.large, tok, texts[::-1], prefix=prompts.entail_shots())[::-1] == pytest.approx(kept)
    assert kept == pytest.approx(single, abs=1e-4)


@pytest.mark.slow
def test_the_judge_averages_two_different_orders(tiny):
    a, b = "The capital of Vendaria is Lusk.", "The capital of Vendaria is Brell."
    ab, ba = (label_probabilities(tiny.large, tiny.tokenizer, [prompts.judge_prompt(tiny.tokenizer, x, y)])[0]
              for x, y in ((a, b), (b, a)))
    assert ab != pytest.approx(ba, abs=1e-3)  # one order alone would depend on the order
    assert contradiction_probability(tiny.large, tiny.tokenizer, a, b) == pytest.approx((ab + ba) / 2, abs=1e-4)
