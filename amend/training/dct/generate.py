"""Batched greedy generation for derivation prompts.

Prompts are rendered text (chat template already applied), so they are encoded without extra
special tokens. Rows are padded on the left, so every row's last real token sits at the end and
generation continues all rows together; the pad token is the tokenizer's, else its eos. The
tokenizer is shared with the assistant and training, so it is never modified here.
"""

from __future__ import annotations

from typing import Any

from amend.models.tokens import end_token_ids, pad_id


def left_padded(tokenizer, texts: list[str], device: str | Any = "cpu"):
    """(input_ids, attention_mask) for `texts`, padded on the left."""
    import torch

    rows = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id(tokenizer), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r):] = torch.tensor(r, dtype=torch.long)
        mask[i, width - len(r):] = 1
    return ids.to(device), mask.to(device)


def generate(
    model,
    tokenizer,
    prompts: list[str],
    max_new_tokens: int,
    stop: list[str] | None = None,
) -> list[str]:
    """Greedy continuations of `prompts` in one batch, decoded without special tokens."""
    import torch

    if not prompts:
        return []
    device = next(model.parameters()).device
    ids, mask = left_padded(tokenizer, prompts, device)
    extra = {"stop_strings": stop, "tokenizer": tokenizer} if stop else {}
    with torch.inference_mode():
        out = model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            temperature=None,  # the model's generation_config may carry sampling defaults
            top_p=None,
            top_k=None,
            pad_token_id=pad_id(tokenizer),
            eos_token_id=sorted(end_token_ids(model, tokenizer)),
            **extra,
        )
    return [tokenizer.decode(row[ids.shape[1]:], skip_special_tokens=True) for row in out]
