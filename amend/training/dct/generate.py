"""Batched greedy generation for derivation prompts.

Prompts are rendered text (chat template already applied), so they are encoded without extra
special tokens. Rows are padded on the left of what differs between them, so every row's last
real token sits at the end and generation continues all rows together; the pad token is the
tokenizer's, else its eos. When the rows share a long token prefix (the question prompts share
their instruction and examples), that prefix runs once and its key/value cache is handed to
`generate` for every row: [shared prefix][pads][own tokens], the pads masked, so each row sees
exactly its own prompt. The tokenizer is shared with the assistant and training, so it is never
modified here.
"""

from __future__ import annotations

import copy
import weakref
from collections import OrderedDict

from amend.models.tokens import end_token_ids, pad_id


MIN_SHARED = 32  # a shared prefix shorter than this many tokens is not cached
MAX_PREFIXES = 8  # key/value caches of fixed prompt prefixes kept per model (LRU)
_PREFIXES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def prefix_cache(model, ids: list[int], keep: bool = True):
    """A fresh key/value cache of `ids` (one row). With `keep`, the cache is remembered for the
    model, so a fixed prompt prefix (few-shot examples) runs once per process, not once per batch;
    never while LoRA layers are in the model (the weights it was computed with would not hold)."""
    import torch

    device = next(model.parameters()).device
    if not keep or any(hasattr(m, "lora_A") for m in model.modules()):
        return model(input_ids=torch.tensor([ids], device=device), use_cache=True).cache
    kept = _PREFIXES.setdefault(model, OrderedDict())
    key = tuple(ids)
    if key not in kept:
        kept[key] = model(input_ids=torch.tensor([ids], device=device), use_cache=True).cache
        while len(kept) > MAX_PREFIXES:
            kept.popitem(last=False)
    kept.move_to_end(key)
    return copy.deepcopy(kept[key])


def split_rows(tokenizer, texts: list[str], prefix: str | None) -> tuple[list[list[int]], int, bool]:
    """(token rows, shared prefix length, whether that prefix is the fixed `prefix` and may be
    kept): `prefix` when every row starts with its tokens, else the rows' longest common prefix."""
    rows = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    # whitespace at the end of a prefix may be tokenized with what follows it in a row: try without
    for start in dict.fromkeys([prefix, prefix.rstrip()] if prefix else []):
        fixed = tokenizer(start, add_special_tokens=False)["input_ids"]
        if fixed and all(len(r) > len(fixed) and r[:len(fixed)] == fixed for r in rows):
            return rows, len(fixed), True
    shared = shared_prefix(rows) if len(rows) > 1 else 0
    return rows, (shared if shared >= MIN_SHARED else 0), False


def shared_prefix(rows: list[list[int]]) -> int:
    """Length of the longest common token prefix, leaving every row at least one token of its own."""
    n = max(min(len(r) for r in rows) - 1, 0)
    first = rows[0]
    return next((i for i in range(n) if any(r[i] != first[i] for r in rows)), n)


def padded(tokenizer, rows: list[list[int]], shared: int = 0):
    """(input_ids, attention_mask): each row's first `shared` tokens (the same in every row), then
    left padding, then the rest of the row."""
    import torch

    width = max(len(r) for r in rows) - shared
    ids = torch.full((len(rows), shared + width), pad_id(tokenizer), dtype=torch.long)
    mask = torch.zeros((len(rows), shared + width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, :shared] = torch.tensor(r[:shared], dtype=torch.long)
        mask[i, :shared] = 1
        ids[i, shared + width - (len(r) - shared):] = torch.tensor(r[shared:], dtype=torch.long)
        mask[i, shared + width - (len(r) - shared):] = 1
    return ids, mask


def generate(
    model,
    tokenizer,
    prompts: list[str],
    max_new_tokens: int,
    stop: list[str] | None = None,
    prefix: str | None = None,
) -> list[str]:
    """Greedy continuations of `prompts` in one batch, decoded without special tokens. `prefix`:
    the fixed start of every prompt (its cache is kept for the next call; see prefix_cache)."""
    import torch

    if not prompts:
        return []
    device = next(model.parameters()).device
    rows, shared, keep = split_rows(tokenizer, prompts, prefix)
    ids, mask = (t.to(device) for t in padded(tokenizer, rows, shared))
    extra = {"stop_strings": stop, "tokenizer": tokenizer} if stop else {}
    with torch.inference_mode():
        if shared:
            cache = prefix_cache(model, rows[0][:shared], keep)
            cache.batch_repeat_interleave(len(rows))
            extra["cache"] = cache  # transformers 5: `cache`, not past_key_values
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
