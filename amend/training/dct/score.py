"""p_true of statements from the model itself: one forward per prompt, read at "Label:".

Each prompt is few-shot text ending in "Label:" (prompts.py). The model's next-token
log-probabilities of " true" and " false" (the first token of each, a single token in both the
SmolLM2 and the Qwen tokenizers) give

    p_true = P(true) / (P(true) + P(false)) = 1 / (1 + exp(log P(false) - log P(true)))

renormalised over the two labels only. (DCT's reference code applies a softmax to the two
*probabilities*, which pulls every score toward 0.5; this does not.)

Prompts of one kind share their few-shot examples, which are most of their tokens: the longest
common token prefix of a batch runs once, and its key/value cache is reused by every row (the
rows run right-padded after it). The tokens are exactly those of each whole prompt, so the
scores are the same as one prompt at a time.
"""

from __future__ import annotations

import copy
import math

from amend.models.heads import plain_head
from amend.models.tokens import pad_id
from amend.training.dct.generate import prefix_cache, split_rows
from amend.training.dct import prompts


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


def label_probabilities(model, tokenizer, texts: list[str], batch_size: int = 16, prefix: str | None = None
                        ) -> list[float]:
    """p_true for each prompt text that ends in "Label:", batched over a shared prefix cache
    (`prefix`: the fixed few-shot start of every text, whose cache is kept; see generate.prefix_cache)."""
    import torch

    if not texts:
        return []
    t_id, f_id = label_token_ids(tokenizer)
    device = next(model.parameters()).device
    rows, shared, keep = split_rows(tokenizer, texts, prefix)
    if len(rows) == 1 and not keep:
        shared = 0  # one row alone: nothing to share
    out: list[float] = []
    with torch.inference_mode():
        cache = prefix_cache(model, rows[0][:shared], keep) if shared else None
        for start in range(0, len(rows), batch_size):
            tails = [r[shared:] for r in rows[start:start + batch_size]]
            width = max(len(t) for t in tails)
            ids = torch.full((len(tails), width), pad_id(tokenizer), dtype=torch.long)
            mask = torch.zeros((len(tails), shared + width), dtype=torch.long)
            mask[:, :shared] = 1
            for i, t in enumerate(tails):  # right padding: a real token never sees a pad after it
                ids[i, :len(t)] = torch.tensor(t, dtype=torch.long)
                mask[i, shared:shared + len(t)] = 1
            positions = (shared + torch.arange(width)).expand(len(tails), width)
            past = None
            if cache is not None:
                past = copy.deepcopy(cache)
                past.batch_repeat_interleave(len(tails))  # transformers 5 takes `cache`, not past_key_values
            inputs = dict(input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=positions.to(device),
                          cache=past, use_cache=past is not None)
            last = (torch.arange(len(tails), device=device), torch.tensor([len(t) - 1 for t in tails], device=device))
            if plain_head(model):  # the output layer on each row's last position only, not on every position
                logits = model.get_output_embeddings()(model.get_decoder()(**inputs).last_hidden_state[last])
            else:
                logits = model(**inputs).logits[last]
            logp = torch.log_softmax(logits.float(), dim=-1)
            out += [p_true_from_logprobs(float(row[t_id]), float(row[f_id])) for row in logp]
    return out


def score_statements(model, tokenizer, statements: list[str], batch_size: int = 16) -> list[float]:
    """p_true of each statement on its own (few-shot "Statement: <statement>\\nLabel:")."""
    return label_probabilities(model, tokenizer, [prompts.score_prompt(s) for s in statements], batch_size,
                               prompts.score_shots())


def contradiction_probability(model, tokenizer, a: str, b: str) -> float:
    """Probability that a and b cannot both be true: the judge claim in both orders, averaged."""
    texts = [prompts.judge_prompt(tokenizer, a, b), prompts.judge_prompt(tokenizer, b, a)]
    both = label_probabilities(model, tokenizer, texts)
    return sum(both) / 2
