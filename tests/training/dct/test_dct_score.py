"""p_true from label log-probabilities: the formula, the label tokens, batching, the judge prompt."""

from __future__ import annotations

import math

import pytest

from amend.training.dct import prompts
from amend.training.dct.score import label_probabilities, label_token_ids, p_true_from_logprobs, score_statements


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
