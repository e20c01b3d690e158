"""Batched greedy generation for derivation prompts.

Prompts are rendered text (chat template already applied), so they are encoded without extra
special tokens. Rows are padded on the left of what differs between them, so every row's last
real token sits at the end and generation continues all rows together; the pad token is the
tokenizer's, else its eos. When the rows share a long token prefix (the question prompts share
their instruction and examples), that prefix runs once and its key/value cache is handed to
`generate` for every row: [shared prefix][pads][own tokens], the pads masked, so each row sees
exactly its own prompt. The tokenizer is shared with the assistant and training, so it is never
modified here.

Rows of different prompts (implications, contradictions, compositions of several facts in one
batch) each start with their own fixed few-shot prefix: `generate(prefix=[one per row])` runs
each distinct prefix once per process (kept, LRU) and stacks their caches, left-padded to the
longest: [pads][own prefix][pads][own tokens], the pads masked. Positions come from the mask
(transformers' generate counts only unmasked tokens), so every row's tokens sit exactly where
they would in its own unpadded prompt, and the few-shot examples of an import of a thousand
facts are encoded once, not a thousand times.
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


def row_prefixes(tokenizer, rows: list[list[int]], prefixes: list[str | None]) -> list[list[int]] | None:
    """The token ids of each row's fixed prefix, or None unless every row starts with its own
    (and has a token after it)."""
    known: dict[str, list[list[int]]] = {}
    out = []
    for row, text in zip(rows, prefixes):
        if not text:
            return None
        if text not in known:  # whitespace at a prefix's end may go with the next token: try without
            known[text] = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in dict.fromkeys([text, text.rstrip()])]
        fixed = next((f for f in known[text] if f and len(row) > len(f) and row[:len(f)] == f), None)
        if fixed is None:
            return None
        out.append(fixed)
    return out


def stacked(tokenizer, rows: list[list[int]], fixed: list[list[int]]):
    """(input_ids, attention_mask, prefix width) for rows that each start with their own fixed
    prefix: [pads][prefix][pads][rest], the prefixes ending together at column `width`."""
    import torch

    width = max(len(f) for f in fixed)
    rest = max(len(r) - len(f) for r, f in zip(rows, fixed))
    ids = torch.full((len(rows), width + rest), pad_id(tokenizer), dtype=torch.long)
    mask = torch.zeros((len(rows), width + rest), dtype=torch.long)
    for i, (r, f) in enumerate(zip(rows, fixed)):
        own = r[len(f):]
        ids[i, width - len(f):width] = torch.tensor(f, dtype=torch.long)
        ids[i, width + rest - len(own):] = torch.tensor(own, dtype=torch.long)
        mask[i, width - len(f):width] = 1
        mask[i, width + rest - len(own):] = 1
    return ids, mask, width


def stack_caches(caches: list, width: int):
    """One batch cache from one-row caches of different lengths, each left-padded to `width`
    (the padding is masked out by the caller's attention mask)."""
    import torch

    out = copy.deepcopy(caches[0])
    for n, layer in enumerate(out.layers):
        pad = [(0, 0, width - c.layers[n].keys.shape[-2], 0) for c in caches]
        layer.keys = torch.cat([torch.nn.functional.pad(c.layers[n].keys, p) for c, p in zip(caches, pad)])
        layer.values = torch.cat([torch.nn.functional.pad(c.layers[n].values, p) for c, p in zip(caches, pad)])
    return out


def generate(
    model,
    tokenizer,
    prompts: list[str],
    max_new_tokens: int,
    stop: list[str] | None = None,
    prefix: str | list[str | None] | None = None,
) -> list[str]:
    """Greedy continuations of `prompts` in one batch, decoded without special tokens. `prefix`:
    the fixed start of every prompt, or a list of each prompt's own (their caches are kept for
    the next call; see prefix_cache)."""
    import torch

    if not prompts:
        return []
    device = next(model.parameters()).device
    extra = {"stop_strings": stop, "tokenizer": tokenizer} if stop else {}
    fixed = None
    if isinstance(prefix, list):
        rows = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in prompts]
        fixed = row_prefixes(tokenizer, rows, prefix)
        if fixed is None:  # not every row starts with its prefix: no cache but a common start
            rows, shared, keep = split_rows(tokenizer, prompts, None)
    else:
        rows, shared, keep = split_rows(tokenizer, prompts, prefix)
    with torch.inference_mode():
        if fixed is not None:
            ids, mask, width = stacked(tokenizer, rows, fixed)
            caches = {tuple(f): prefix_cache(model, f) for f in fixed}
            extra["cache"] = stack_caches([caches[tuple(f)] for f in fixed], width)
        else:
            ids, mask = padded(tokenizer, rows, shared)
            if shared:
                cache = prefix_cache(model, rows[0][:shared], keep)
                cache.batch_repeat_interleave(len(rows))
                extra["cache"] = cache  # transformers 5: `cache`, not past_key_values
        ids, mask = ids.to(device), mask.to(device)
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
