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
from amend.assistant.proxy import ProxyModels, ProxyStep

Prompt = Any  # a question (str), chat messages [{"role", "content"}], or token ids (list or tensor)
END_TOKENS = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end|>", "<end_of_turn>")


@dataclass
class DecodeOptions:
    alpha: float = 1.0  # expert strength: large + alpha*(expert - base); 0 = large model alone
    max_new_tokens: int = 256  # answer length limit in tokens
    temperature: float = 0.0  # 0 = greedy; applied after combining
    top_p: float = 1.0  # nucleus sampling mass after combining; 1 = off
    repetition_penalty: float = 1.0  # >1 discourages tokens already seen (CTRL-style); 1 = off
    loop_ngram: int = 8  # n-gram length watched for loops
    loop_repeats: int = 4  # stop once the last loop_ngram tokens occurred this often; 0 = off
    seed: int = 0  # seeds sampling (torch.Generator)

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> DecodeOptions:
        base = cls(alpha=settings.alpha, max_new_tokens=settings.max_new_tokens,
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
        return ProxyStep(self.models, self.options.alpha if alpha is None else alpha)

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
            run = ProxyStep(self.models, o.alpha, caches)
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
        log_softmax(large + alpha*(expert - base)), teacher-forced in one forward per model."""
        import torch

        prompt_ids = self.encode(prompt)
        cont = self.tokenizer(continuation, add_special_tokens=False, return_tensors="pt")["input_ids"]
        cont = cont.to(self.device)
        n = cont.shape[1]
        if n == 0:
            return 0.0
        with torch.inference_mode():
            run = ProxyStep(self.models, self.options.alpha if alpha is None else alpha)
            # positions len(prompt)-1 .. end-1 predict the continuation's tokens
            logits = run.logits(torch.cat([prompt_ids, cont], dim=1), keep=n + 1)[:-1]
            logp = torch.log_softmax(logits, dim=-1).gather(1, cont[0].unsqueeze(1))
        return float(logp.sum())

    def logprobs(self, prompt: Prompt, continuations: list[str], alpha: float | None = None) -> list[float]:
        return [self.logprob(prompt, c, alpha) for c in continuations]


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


def end_token_ids(model: Any, tokenizer: Any) -> set[int]:
    """Ids that end an answer: the generation config's eos, the tokenizer's, and the usual chat
    end markers that exist in this vocabulary."""
    ids: set[int] = set()
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for value in (eos, tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif value:
            ids.update(int(v) for v in value)
    vocab = tokenizer.get_vocab()
    ids.update(vocab[t] for t in END_TOKENS if t in vocab)
    return ids
