"""Greedy answers to many prompts at once: the proxy-tuned step over a left-padded batch.

`amend eval` answers hundreds of probes, and one answer at a time leaves most of the CPU's
arithmetic unused: a one-row forward reads every weight to multiply it by one vector. Here the
prompts go through each model as ONE batch, each row with its own expert strength (the scope
gate's alpha) and its own `steer_below`; every row gets what `ProxyDecoder.generate` would give it
alone, greedy, up to float rounding:

- **A shared prefix once.** The prefix all prompts share (the chat template's, a system
  prompt's) goes through each model as one row; its KV cache is then repeated to every row.
- **Padding.** After it, prompts of different lengths are padded on the left of their own part,
  masked out of attention (`attention_mask`) and skipped by the positions (`position_ids` count
  real tokens only), so the next token of every row is predicted at the same column.
- **Per-row arithmetic.** `large + alpha*(expert - base)` with alpha a column (B, 1): a row at
  alpha 0 gets the large model's logits exactly, and the expert's plausibility filter applies only
  to the rows it steers. The small model runs B expert rows then B base rows, as
  `decoder._batch_logits` does for scoring.
- **Rows leave when done.** A row that reaches the end token or starts looping is dropped from
  the batch and from the KV caches (`batch_select_indices`), so a long answer does not carry
  the short ones along.

Text comes from the same incremental detokenizer as streamed answers, so it is the same string.
Sampling, the repetition penalty and stop flags are not supported here (evaluation answers are
greedy); the interactive path stays `ProxyDecoder.generate`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from concurrent.futures import wait
from typing import Any

from amend.assistant.detok import StreamDetokenizer
from amend.assistant.kvcache import common_prefix
from amend.assistant.proxy import BASE, EXPERT, steer_plausible


class BatchStep:
    """A KV cache per model for B rows; `feed(ids)` -> combined float32 logits (B, vocab) of each
    row's last position. `keep(rows)` drops the other rows from the batch."""

    def __init__(self, decoder: Any, alphas: Sequence[float], steer_below: Sequence[float]) -> None:
        import torch
        from transformers import DynamicCache

        m, o = decoder.models, decoder.options
        self.m, self.vocab = m, m.vocab
        self.plausible, self.tail_floor = o.plausible, o.tail_floor
        self.alpha = torch.tensor(alphas, dtype=torch.float32, device=m.device).view(-1, 1)
        self.below = torch.tensor(steer_below, dtype=torch.float32, device=m.device).view(-1, 1)
        self.proxy = m.peft is not None and bool((self.alpha != 0).any())
        self.fold = self.proxy and m.foldable
        self.base_only = m.shared and m.peft is not None and not self.proxy  # see ProxyStep
        self.large_cache = None if (self.proxy and m.shared) else DynamicCache(config=m.large.config)
        self.small_cache = DynamicCache(config=m.small.config) if self.proxy else None
        self.mask: Any = None  # (B, tokens so far): 1 for real tokens, 0 for left padding

    def _below(self) -> Any:
        """steer_below as proxy.strength takes it: a number when every row steers every token
        (the one-row path's arithmetic exactly), else a column."""
        return 1.0 if bool((self.below >= 1.0).all()) else self.below

    def feed(self, ids: Any, mask: Any, combine: bool = True) -> Any:
        """Feed `ids` (B, n) whose new attention-mask columns are `mask` (B, n); combine=False:
        only fill the caches (a prefix all rows share, see `repeat`), return None."""
        import torch

        self.mask = mask if self.mask is None else torch.cat([self.mask, mask], dim=1)
        positions = (self.mask.cumsum(-1) - 1).clamp(min=0)[:, -ids.shape[1]:]
        inputs = {"attention_mask": self.mask, "position_ids": positions}
        b, m = ids.shape[0], self.m

        def run_large() -> Any:  # the large model's rows (`tiny` without steering: the base rows)
            if self.base_only:
                return m.run_small(ids, [BASE] * b, self.large_cache, 1, **inputs)[:, -1, : self.vocab]
            return m.large(input_ids=ids, cache=self.large_cache, use_cache=True, logits_to_keep=1,
                           **inputs).logits[:, -1, : self.vocab]

        def run_small() -> Any:  # b expert rows, then b base rows
            two = {k: torch.cat([v, v]) for k, v in inputs.items()}
            return m.run_small(torch.cat([ids, ids]), [EXPERT] * b + [BASE] * b, self.small_cache, 1,
                               hidden=self.fold, **two)[:, -1]

        large = None
        if not self.proxy:
            large = run_large()
            return large.float() if combine else None
        if m.shared:  # one forward; the base rows are the large model
            rows = run_small()
        elif m.side is not None:  # CPU, two models: the small one on the helper thread (ProxyStep)
            pending = m.side.submit(run_small)
            try:
                large = run_large()
            except BaseException:
                wait([pending])  # never leave the small model's cache mid-update
                raise
            rows = pending.result()
        else:
            rows = run_small()
            large = run_large()
        return self._combined(rows[:b].float(), rows[b:].float(), large) if combine else None

    def repeat(self, n: int) -> None:
        """One row (a prefix every prompt shares, fed once) becomes n rows."""
        for cache in (self.large_cache, self.small_cache):
            if cache is not None:  # the small model's [expert, base] become n expert then n base rows
                cache.batch_repeat_interleave(n)
        self.mask = self.mask.repeat(n, 1)

    def _combined(self, e: Any, b: Any, large: Any) -> Any:
        """ProxyStep's arithmetic, row by row: alpha and steer_below are columns."""
        return steer_plausible(self.m, e, b, large, self.alpha, self._below(), self.fold, self.vocab,
                               self.tail_floor, self.plausible)

    def keep(self, rows: Any) -> None:
        """Only these rows (a LongTensor of indices) from now on."""
        import torch

        b = self.alpha.shape[0]
        if self.large_cache is not None:
            self.large_cache.batch_select_indices(rows)
        if self.small_cache is not None:  # B expert rows then B base rows
            self.small_cache.batch_select_indices(torch.cat([rows, rows + b]))
        self.mask, self.alpha, self.below = self.mask[rows], self.alpha[rows], self.below[rows]


def greedy_answers(decoder: Any, prompts: Sequence[Any], alphas: Sequence[float],
                   steer_below: Sequence[float], max_new_tokens: int) -> list[str]:
    """Greedy answers to all `prompts` in one batch, each steered with its own alpha and
    steer_below; the text `decoder.generate(prompt, alpha=..., steer_below=..., temperature=0,
    repetition_penalty=1)` would give each alone (the loop rule and end tokens included)."""
    import torch

    o, device = decoder.options, decoder.device
    encoded = [decoder.encode(p)[0] for p in prompts]
    n, longest = len(encoded), max((len(e) for e in encoded), default=0)
    if n == 0:
        return []
    # the prefix every prompt shares (the chat template's, a system prompt's) is fed once, as one row
    lists = [e.tolist() for e in encoded]
    shared = min(min(common_prefix(lists[0], x) for x in lists), min(len(x) for x in lists) - 1)
    pad = decoder.tokenizer.pad_token_id if decoder.tokenizer.pad_token_id is not None else 0
    ids = torch.full((n, longest - shared), pad, dtype=torch.long)
    mask = torch.zeros((n, longest - shared), dtype=torch.long)
    for r, e in enumerate(encoded):
        ids[r, longest - len(e):], mask[r, longest - len(e):] = e[shared:].cpu(), 1
    detoks = [StreamDetokenizer(decoder.tokenizer) for _ in range(n)]
    tokens: list[list[int]] = [[] for _ in range(n)]
    loops: list[Counter] = [Counter() for _ in range(n)]
    live = list(range(n))  # the prompts still answering, in batch-row order
    with torch.inference_mode():
        run = BatchStep(decoder, alphas, steer_below)
        if shared:
            prefix = encoded[0][:shared].view(1, -1)
            run.feed(prefix, torch.ones_like(prefix), combine=False)
            run.repeat(n)
        logits = run.feed(ids.to(device), mask.to(device))
        for i in range(max_new_tokens):
            picked = logits.argmax(dim=-1).tolist()  # the one host sync per step
            staying = []
            for row, (p, tid) in enumerate(zip(live, picked)):
                if tid in decoder.end_ids:
                    continue
                tokens[p].append(tid)
                detoks[p].push(tid)
                if o.loop_repeats and len(tokens[p]) >= o.loop_ngram:
                    gram = tuple(tokens[p][-o.loop_ngram:])
                    loops[p][gram] += 1
                    if loops[p][gram] >= o.loop_repeats:
                        continue
                staying.append(row)
            if not staying or i == max_new_tokens - 1:
                break
            if len(staying) < len(live):
                index = torch.tensor(staying, device=device)
                run.keep(index)
                picked = [picked[r] for r in staying]
                live = [live[r] for r in staying]
            step = torch.tensor(picked, dtype=torch.long, device=device).view(-1, 1)
            logits = run.feed(step, torch.ones_like(step))
    for d in detoks:
        d.flush()
    return [d.text for d in detoks]
