"""p_true of statements from the model itself: one forward per prompt, read at "Label:".

The prompt is few-shot "<statement> Label: true|false" text ending in "Label:" (prompts.py). The
model's next-token log-probabilities of " true" and " false" (the first token of each, a single
token in both the SmolLM2 and the Qwen tokenizers) give

    p_true = P(true) / (P(true) + P(false)) = 1 / (1 + exp(log P(false) - log P(true)))

renormalised over the two labels only. (DCT's reference code applies a softmax to the two
*probabilities*, which pulls every score toward 0.5; this does not.)
"""

from __future__ import annotations

import math

from amend.training.dct import prompts
from amend.training.dct.generate import left_padded


def label_token_ids(tokenizer) -> tuple[int, int]:
    """Token ids of " true" and " false" (the first token of each if one splits)."""
    true = tokenizer(" true", add_special_tokens=False)["input_ids"]
    false = tokenizer(" false", add_special_tokens=False)["input_ids"]
    if true[0] == false[0]:
        raise ValueError("the tokenizer gives ' true' and ' false' the same first token")
    return true[0], false[0]


def p_true_from_logprobs(logp_true: float, logp_false: float) -> float:
    """P(true) / (P(true) + P(false)) from the two log-probabilities (stable for any magnitude)."""
    d = logp_false - logp_true
    return 1.0 / (1.0 + math.exp(d)) if d < 700 else 0.0


def label_probabilities(model, tokenizer, texts: list[str], batch_size: int = 16) -> list[float]:
    """p_true for each prompt text that ends in "Label:", in left-padded batches."""
    import torch

    if not texts:
        return []
    t_id, f_id = label_token_ids(tokenizer)
    device = next(model.parameters()).device
    out: list[float] = []
    for start in range(0, len(texts), batch_size):
        ids, mask, positions = left_padded(tokenizer, texts[start:start + batch_size], device)
        with torch.inference_mode():
            logits = model(input_ids=ids, attention_mask=mask, position_ids=positions,
                           logits_to_keep=1).logits[:, -1, :]
        logp = torch.log_softmax(logits.float(), dim=-1)
        out += [p_true_from_logprobs(float(row[t_id]), float(row[f_id])) for row in logp]
    return out


def score_statements(model, tokenizer, statements: list[str], batch_size: int = 16) -> list[float]:
    """p_true of each statement on its own (few-shot "<statement> Label:")."""
    return label_probabilities(model, tokenizer, [prompts.score_prompt(s) for s in statements], batch_size)


def contradiction_probability(model, tokenizer, a: str, b: str) -> float:
    """Probability that a and b cannot both be true: the judge claim in both orders, averaged."""
    texts = [prompts.judge_prompt(tokenizer, a, b), prompts.judge_prompt(tokenizer, b, a)]
    both = label_probabilities(model, tokenizer, texts)
    return sum(both) / 2
