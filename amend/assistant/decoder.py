"""Proxy-tuned decoding: sample from `large + alpha*(expert - base)` one token at a time, stream
the text as it comes, and score given continuations under the same combined distribution.

Temperature, top-p and the repetition penalty (transformers' logits processors) apply to the
combined logits, after `ProxyStep` has added them up. Decoding stops at the chat template's end
token, at `max_new_tokens`, when the answer starts looping (the same n-gram again and again), or
when the caller's stop flag is set. The decoder keeps each model's KV cache from one answer to
the next (amend.assistant.kvcache), so the next turn of a conversation encodes only what is new.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from amend.assistant.detok import StreamDetokenizer
from amend.assistant.kvcache import CacheSet
from amend.assistant.proxy import BASE, EXPERT, ProxyModels, ProxyStep, steer
from amend.models.tokens import END_TOKENS, end_token_ids  # noqa: F401 (END_TOKENS: re-exported)

Prompt = Any  # a question (str), chat messages [{"role", "content"}], or token ids (list or tensor)


@dataclass
class DecodeOptions:
    alpha: float = 1.0  # expert strength: large + alpha*(expert - base); 0 = large model alone
    steer_below: float = 1.0  # steer only where the large model's top token is below this probability (1: all)
    plausible: float = 0.0  # where steered, pick only tokens the expert gives this fraction of its top token's probability (0: off)
    tail_floor: float = 0.0  # the large model's edge over the base counts only above this probability (proxy.tail_smoothed_base; 0: off)
    max_new_tokens: int = 256  # answer length limit in tokens
    temperature: float = 0.0  # 0 = greedy; applied after combining
    top_p: float = 1.0  # nucleus sampling mass after combining; 1 = off
    repetition_penalty: float = 1.0  # >1 discourages tokens already seen (CTRL-style); 1 = off
    loop_ngram: int = 8  # n-gram length watched for loops
    loop_repeats: int = 4  # stop once the last loop_ngram tokens occurred this often; 0 = off
    seed: int = 0  # seeds sampling (torch.Generator)

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> DecodeOptions:
        base = cls(alpha=settings.alpha, plausible=settings.plausible, tail_floor=settings.tail_floor,
                   max_new_tokens=settings.max_new_tokens,
                   temperature=settings.temperature, top_p=settings.top_p, seed=settings.seed)
        return replace(base, **{k: v for k, v in overrides.items() if v is not None})


class Generation:
    """An answer in progress: iterate it for text pieces. Afterwards (or while) it holds
    `text`, `token_ids`, `seconds`, `finish_reason` ("end", "length", "loop", "stopped"),
    `first_token_s` (time to the first token) and `prompt_tokens` / `reused_tokens` (how much of
    the prompt the kept KV cache already held)."""

    def __init__(self, run: Callable[[Generation], Iterator[str]], on_finish: Callable | None = None) -> None:
        self.text = ""
        self.token_ids: list[int] = []
        self.seconds = 0.0
        self.first_token_s: float | None = None
        self.prompt_tokens = 0
        self.reused_tokens = 0
        self.finish_reason: str | None = None
        self.meta: dict[str, Any] = {}  # what the caller wants to carry along (adapter version, ...)
        self._pieces = run(self)
        self._on_finish = on_finish

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        try:
            piece = next(self._pieces)
        except StopIteration:
            if self._on_finish is not None:
                self._on_finish(self)
                self._on_finish = None
            raise
        self.text += piece
        return piece

    def close(self) -> None:
        """Stop here (a caller that does not want the rest): the answer so far counts as
        finished, "stopped", and `on_finish` runs with it (a Conversation keeps it)."""
        self._pieces.close()
        if self.finish_reason is None:
            self.finish_reason = "stopped"
        if self._on_finish is not None:
            self._on_finish(self)
            self._on_finish = None

    def result(self) -> str:
        """Run to the end and return the whole text."""
        for _ in self:
            pass
        return self.text

    @property
    def tokens(self) -> int:
        return len(self.token_ids)


class ProxyDecoder:
    """Decode with a profile's large model, steered by the expert adapter at `adapter_path`
    (None: the large model alone). Call `close()` (or use `with`) to take the adapter out again
    and give the weights back their layout (see amend.assistant.proxy)."""

    def __init__(self, loaded: Any, adapter_path: str | Path | None = None,
                 options: DecodeOptions | None = None, transpose: bool | None = None) -> None:
        self.models = ProxyModels(loaded, adapter_path, transpose)
        self.tokenizer = loaded.tokenizer
        self.device = loaded.device
        self.options = options or DecodeOptions()
        self.end_ids = end_token_ids(loaded.large, self.tokenizer)
        self.caches = CacheSet()  # each model's KV cache, kept from one answer to the next

    # --- adapter ---
    @property
    def adapter_path(self) -> Path | None:
        return self.models.adapter_path

    def load_adapter(self, path: str | Path | None) -> None:
        self.models.load_adapter(path)
        self.caches.clear(small_only=True)  # the expert's rows were for the old adapter

    def close(self) -> None:
        self.caches.clear()
        self.models.close()

    def __enter__(self) -> ProxyDecoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- prompts ---
    def encode(self, prompt: Prompt) -> Any:
        return encode_prompt(self.tokenizer, prompt, self.device)

    def step(self, alpha: float | None = None) -> ProxyStep:
        """A fresh decoding run (KV caches) for callers that pick tokens themselves."""
        return ProxyStep(self.models, self.options.alpha if alpha is None else alpha,
                         steer_below=self.options.steer_below, plausible=self.options.plausible,
                         tail_floor=self.options.tail_floor)

    # --- generation ---
    def generate(self, prompt: Prompt, options: DecodeOptions | None = None,
                 stop: Callable[[], bool] | Any = None, on_finish: Callable | None = None,
                 **overrides: Any) -> Generation:
        """Stream an answer: returns a Generation that yields text pieces as they become stable.

        `stop` is a callable or a threading.Event checked before every token (a UI's interrupt);
        `overrides` replace DecodeOptions fields (alpha=0.5, max_new_tokens=32, ...).
        """
        opts = replace(options or self.options, **overrides)
        ids = self.encode(prompt)
        stop_fn = stop.is_set if hasattr(stop, "is_set") else (stop or (lambda: False))
        return Generation(lambda g: self._run(g, ids, opts, stop_fn), on_finish)

    def _run(self, g: Generation, ids: Any, o: DecodeOptions, stop: Callable[[], bool]) -> Iterator[str]:
        caches = self.caches.borrow()  # None while another answer has them: fresh ones then
        try:
            yield from self._decode(g, ids, o, stop, caches)
        finally:
            if caches is not None:
                caches.give_back()

    def _decode(self, g: Generation, ids: Any, o: DecodeOptions, stop: Callable[[], bool],
                caches: CacheSet | None) -> Iterator[str]:
        import torch

        start = time.perf_counter()
        pick = Picker(o, self.device)
        detok = StreamDetokenizer(self.tokenizer)
        loops: Counter[tuple[int, ...]] = Counter()
        seen = ids if o.repetition_penalty != 1.0 else None
        with torch.inference_mode():
            run = ProxyStep(self.models, o.alpha, caches, o.steer_below, o.plausible, o.tail_floor)
            logits = run.start(ids)
        g.prompt_tokens, g.reused_tokens = int(ids.shape[1]), min(run.reused.values())
        for i in range(o.max_new_tokens):
            if stop():
                g.finish_reason = "stopped"
                break
            with torch.inference_mode():
                token = pick(logits, seen)
            tid = int(token)  # the one host sync per step: needed to stream and to stop
            if g.first_token_s is None:
                g.first_token_s = time.perf_counter() - start
            if tid in self.end_ids:
                g.finish_reason = "end"
                break
            g.token_ids.append(tid)
            g.seconds = time.perf_counter() - start
            piece = detok.push(tid)
            if piece:
                yield piece
            if o.loop_repeats and len(g.token_ids) >= o.loop_ngram:
                gram = tuple(g.token_ids[-o.loop_ngram :])
                loops[gram] += 1
                if loops[gram] >= o.loop_repeats:
                    g.finish_reason = "loop"
                    break
            if i == o.max_new_tokens - 1:
                g.finish_reason = "length"
                break
            with torch.inference_mode():
                step_ids = token.view(1, 1)
                if seen is not None:
                    seen = torch.cat([seen, step_ids], dim=1)
                logits = run.feed(step_ids)
        else:
            g.finish_reason = "length"
        tail = detok.flush()
        g.seconds = time.perf_counter() - start
        if tail:
            yield tail

    # --- scoring ---
    def logprob(self, prompt: Prompt, continuation: str, alpha: float | None = None) -> float:
        """Total log-probability of `continuation` right after the (chat-formatted) prompt, under
        log_softmax(large + alpha*(expert - base)), teacher-forced (see `logprobs`)."""
        return self.logprobs(prompt, [continuation], alpha)[0]

    def logprobs(self, prompt: Prompt, continuations: list[str], alpha: float | None = None,
                 steer_below: float | None = None) -> list[float]:
        """`logprob` of each continuation, all in one go: the prompt goes through each model once,
        its KV caches are repeated for every continuation, and the continuations go through in
        ONE right-padded batch on top of them. Padding at the end changes nothing before it
        (attention is causal), so each row scores as prompt + that continuation alone would, up
        to float rounding."""
        import torch

        prompt_ids = self.encode(prompt)
        conts = [self.tokenizer(c, add_special_tokens=False)["input_ids"] for c in continuations]
        scores = [0.0] * len(conts)
        rows = [i for i, c in enumerate(conts) if c]
        if not rows:
            return scores
        longest = max(len(conts[i]) for i in rows)
        with torch.inference_mode():
            run = ProxyStep(self.models, self.options.alpha if alpha is None else alpha,
                            steer_below=self.options.steer_below if steer_below is None else steer_below,
                            tail_floor=self.options.tail_floor)
            # the prompt's last position predicts every continuation's first token
            first = torch.log_softmax(run.logits(prompt_ids, keep=1)[-1], dim=-1)
            rest = None
            if longest > 1:  # each continuation but its last token, to predict the tokens after the first
                batch = torch.zeros((len(rows), longest - 1), dtype=torch.long)
                for r, i in enumerate(rows):
                    batch[r, : len(conts[i]) - 1] = torch.tensor(conts[i][:-1])
                rest = torch.log_softmax(_batch_logits(run, batch.to(self.device)), dim=-1)
            for r, i in enumerate(rows):
                c = conts[i]
                total = first[c[0]]
                if len(c) > 1:
                    total = total + rest[r, torch.arange(len(c) - 1), torch.tensor(c[1:])].sum()
                scores[i] = float(total)
        return scores


def _batch_logits(run: ProxyStep, ids: Any) -> Any:
    """Combined float32 logits (B, L, vocab) of every position of `ids` (B, L), each row
    continuing the one prompt that `run` has fed: its caches are repeated to B rows (the small
    model's [expert, base] become B expert rows then B base rows). The arithmetic is
    ProxyStep.logits', row by row; ProxyStep itself keeps one row per model (decoding)."""
    import torch

    b, n = ids.shape
    m, v, a = run.m, run.vocab, run.alpha
    large_cache = run.large_cache.cache if run.large_cache is not None else None
    small_cache = run.small_cache.cache if run.small_cache is not None else None
    for cache in (large_cache, small_cache):  # the run's own caches (not a decoder's kept ones)
        if cache is not None:
            cache.batch_repeat_interleave(b)
    if run.base_only:
        return m.run_small(ids, [BASE] * b, large_cache, n)[..., :v].float()
    large = None if (run.proxy and m.shared) else \
        m.large(input_ids=ids, cache=large_cache, use_cache=True, logits_to_keep=n).logits[..., :v].float()
    if not run.proxy:
        return large
    rows = m.run_small(torch.cat([ids, ids]), [EXPERT] * b + [BASE] * b, small_cache, n, hidden=run.fold)
    return steer(m, rows[:b].float(), rows[b:].float(), large, a, run.steer_below, run.fold, v, run.tail_floor)


def encode_prompt(tokenizer: Any, prompt: Prompt, device: str = "cpu") -> Any:
    """Token ids (1, n) on `device`: chat messages (or one question) through the chat template,
    ending with the assistant's turn; token ids pass through."""
    import torch

    if isinstance(prompt, str):
        prompt = [{"role": "user", "content": prompt}]
    if isinstance(prompt, list) and prompt and isinstance(prompt[0], dict):
        text = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
        ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    else:
        ids = torch.as_tensor(prompt, dtype=torch.long).reshape(1, -1)
    return ids.to(device)


class Picker:
    """Choose the next token from combined logits: repetition penalty, temperature, top-p, then
    argmax (temperature 0) or a draw from a seeded torch.Generator."""

    def __init__(self, o: DecodeOptions, device: str) -> None:
        import torch
        from transformers import (LogitsProcessorList, RepetitionPenaltyLogitsProcessor,
                                  TemperatureLogitsWarper, TopPLogitsWarper)

        self.greedy = o.temperature <= 0
        procs = LogitsProcessorList()
        if o.repetition_penalty != 1.0:
            procs.append(RepetitionPenaltyLogitsProcessor(o.repetition_penalty))
        if not self.greedy:
            procs.append(TemperatureLogitsWarper(o.temperature))
            if o.top_p < 1.0:
                procs.append(TopPLogitsWarper(o.top_p))
        self.procs = procs
        self.generator = None if self.greedy else torch.Generator(device=device).manual_seed(o.seed)

    def __call__(self, logits: Any, seen: Any = None) -> Any:
        import torch

        scores = logits.unsqueeze(0)
        if self.procs:
            scores = self.procs(seen, scores)
        if self.greedy:
            return scores[0].argmax()
        probs = torch.softmax(scores[0], dim=-1)
        return torch.multinomial(probs, 1, generator=self.generator)[0]
