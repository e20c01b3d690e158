"""The proxy-tuned forward pass (Liu et al. 2024): `large + alpha * (expert - base)`.

The method is `combine` below, one line. The large model answers; the expert (the small base
model plus a LoRA adapter) steers it by how much it differs from its own base, at every token.
All three share one tokenizer. Three refinements, each a setting that can turn it off:
`strength` (steer only where the large model hesitates), `plausible_only` (pick only tokens the
expert finds plausible) and `tail_smoothed_base` (the large model's edge over the base only
where either gives the token real probability). The rest of this module computes exactly that,
faster:

- **Expert and base in one forward.** They share the small model's weights, so they run as ONE
  forward of two identical rows (row 0 expert, row 1 base), the rows peft's
  `model(x.repeat(2, 1), adapter_names=["default", "__base__"])` gives. Here the LoRA branch runs
  on the expert rows only: a pre-hook on each lora_A keeps the first rows (the expert's), and a
  hook on lora_B gives the base rows zeros, what LoRA would add to them, so the base rows get
  exactly the base layer's output (hooks registered once). peft's mixed batch computes the same
  rows, but registers a hook on every LoRA layer at every call and gathers rows by Python index
  lists (on CUDA a synchronising copy, twice per LoRA layer). Running the LoRA products on one row
  instead of two also matters on CPU: a one-row product is a matrix-vector product that torch runs
  on the calling thread, while a two-row one wakes the OpenMP threads, and with threads that sleep
  between operations (amend.machine) that wake-up cost more than the product: float32
  [2, 896] x [896, 8] 121 us against 2-9 us for one row, about 35 ms of every qwen-coder token
  (docs/DECODING.md). Adapters this does not hold for (DoRA, LoRA bias, embedding LoRA) use
  peft's API. The adapter is never merged: the base row must stay the base. The rows are per
  thread, and `as_base()` gives another thread (the trainer deriving with a shared model) the
  base model while this one decodes.
- **One model in both parts** (`tiny`): the base row stands in for the large model, so that
  single two-row forward is the whole step.
- **Output layer once.** The output layer is linear and bias-free (`amend.models.heads.plain_head`), so
  with h_e, h_b the small model's final hidden states `expert - base = W(h_e - h_b)`, and when the
  base row is the large model `combine(W h_b, W h_e, W h_b, a) = W combine(h_b, h_e, h_b, a)`:
  one row through the large-vocabulary output layer instead of two.
- **KV caches kept between answers** (amend.assistant.kvcache): a prompt encodes only what the
  model's cache does not already hold; then one token per step. Only the last position's logits
  are computed (`logits_to_keep`).
- **Only real tokens.** An output layer may have more rows than the tokenizer has ids (Qwen2.5:
  151,936 against 151,665); those padding columns are cut off before anything is combined, so
  they get no probability (the same as a -inf mask) when sampling or scoring.
- **The two forwards overlap**: on CUDA the small model runs on a stream of its own, on CPU on a
  helper thread (amend.assistant.overlap). **float32 on CPU**: some weights are stored
  column-major while decoding (amend.assistant.layout).
"""

from __future__ import annotations

import threading
from concurrent.futures import wait
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from amend.assistant import layout
from amend.assistant.kvcache import CacheSet, PromptCache
from amend.assistant.overlap import SideThread
from amend.models.heads import plain_head

EXPERT, BASE = "default", "__base__"  # peft adapter names of the two small-model rows


def combine(large: Any, expert: Any, base: Any, alpha: Any) -> Any:
    """Proxy-tuning in one line: the large model's logits steered by the expert's difference from
    its base (logits, or hidden states before a shared linear output layer)."""
    return large + alpha * (expert - base)


def strength(large: Any, alpha: float, below: float) -> Any:
    """alpha, or per position (a column) alpha where the large model is unsure, 0 where it is sure:
    its top token's probability is at least `below` ("Nudging", Fei et al. 2024: a small model
    steers a large one only at the tokens where the large one hesitates, so what it copies or
    knows, a name from the question, stays its own). below >= 1: every token. `below` may be a
    column (one value per row, amend.assistant.batch)."""
    if every_token(below):
        return alpha
    import torch

    if torch.is_tensor(below):  # rows at >= 1 steer every token, even where the top token is certain
        below = below.masked_fill(below >= 1.0, float("inf"))
    top = torch.softmax(large.float(), dim=-1).amax(dim=-1, keepdim=True)
    return alpha * (top < below).float()


def every_token(below: Any) -> bool:
    """Whether `strength` steers every token of every row: a number of at least 1."""
    return isinstance(below, (int, float)) and below >= 1.0


def tail_smoothed_base(large: Any, base: Any, floor: float) -> Any:
    """The base row as the expert's difference is taken from, where the large model and the base
    are two models (log-probs, float32): log p_large - log(p_large + floor) + log(p_base + floor).

    With it, `large + alpha*(expert - base)` at alpha 1 is `expert + log((p_large + floor) /
    (p_base + floor))`: the large model's edge over the base counts only where one of them gives
    the token some probability. Where both find it implausible (below `floor`) their ratio is two
    tiny numbers' noise, and the expert alone decides: unsmoothed, a taught "Frozen" that the base
    gave 4e-8 and the large 5e-6 won by that ratio (x120) over the expert's own top answer "Am"
    (Amara) on "Who founded Kestrel Foods?". floor 0: the base row as given."""
    import math

    import torch

    if floor <= 0.0:
        return base
    base, large = torch.log_softmax(base.float(), dim=-1), torch.log_softmax(large.float(), dim=-1)
    f = large.new_tensor(math.log(floor))  # on the logits' device
    return large - torch.logaddexp(large, f) + torch.logaddexp(base, f)


def plausible_only(combined: Any, expert: Any, floor: float, steered: Any = True) -> Any:
    """`combined` with every token the expert itself finds implausible set to -inf: those below
    `floor` times the probability of the expert's top token (the "adaptive plausibility
    constraint" of contrastive decoding, Li et al. 2023). The difference `expert - base` is
    large for every token near what the expert learned, and the large model's prior then picks a
    real word among them ("Korea" for a taught "Kell"); the expert's own distribution says which
    of them it means. Only at `steered` positions (a bool column, or True: all)."""
    import math

    import torch

    if floor <= 0.0:
        return combined
    expert = torch.log_softmax(expert.float(), dim=-1)
    cut = expert.amax(dim=-1, keepdim=True) + math.log(floor)
    return combined.masked_fill((expert < cut) & steered, float("-inf"))


def token_count(tokenizer: Any) -> int | None:
    """How many ids the tokenizer can produce (None without a tokenizer)."""
    if tokenizer is None:
        return None
    vocab = tokenizer.get_vocab()
    return max(len(tokenizer), max(vocab.values()) + 1 if vocab else 0)


class ProxyModels:
    """A loaded profile plus, optionally, the expert adapter wrapped around its small model.

    Wrapping injects LoRA layers into the small model in place (into the large one too when
    they are one model); `unload()` removes them, `close()` also restores the weights' layout.
    """

    def __init__(self, loaded: Any, adapter_path: str | Path | None = None, transpose: bool | None = None) -> None:
        self.loaded = loaded
        self.large = loaded.large
        self.small = loaded.small
        self.shared = loaded.large is loaded.small
        self.device = loaded.device
        self.tokens = token_count(getattr(loaded, "tokenizer", None))
        self.peft: Any = None  # PeftModel around `small`, or None without an adapter
        self.adapter_path: Path | None = None
        self.adapter_serial = 0  # changes with every adapter loaded or unloaded (cache validity)
        self.rows_by_hooks = False  # rows told apart by the LoRA hooks below (see the module docstring)
        self._hooks: list[Any] = []  # pre-hooks on the LoRA A layers, hooks on the LoRA B layers
        # this thread's .expert_rows: LoRA on the first n rows only, None: on every row (as it is);
        # .rows: the rows of the forward in progress
        self._local = threading.local()
        self.stream: Any = None  # CUDA stream for the small model
        if str(self.device).startswith("cuda"):
            import torch

            self.stream = torch.cuda.Stream()
        # CPU, two models: the small model's forward on a helper thread, beside the large one's
        self.side = SideThread() if str(self.device) == "cpu" and not self.shared else None
        self._transposed: list[Any] = []  # Linear modules whose weight is stored transposed
        if transpose is None:
            transpose = self.device == "cpu"
        if transpose:
            for model in [self.large] if self.shared else [self.large, self.small]:
                self._transposed += layout.store_transposed(model)
        if adapter_path is not None:
            self.load_adapter(adapter_path)

    def load_adapter(self, path: str | Path | None) -> None:
        """Use the peft adapter folder at `path` as the expert (None: no expert, large alone)."""
        self.unload()
        if path is None:
            return
        from peft import PeftModel
        from peft.tuners.lora import LoraLayer

        self.peft = PeftModel.from_pretrained(self.small, str(path), adapter_name=EXPERT).eval()
        self.adapter_path = Path(path)
        self.adapter_serial += 1
        layers = [m for m in self.peft.modules() if isinstance(m, LoraLayer)]
        self.rows_by_hooks = all(EXPERT in m.lora_A and not getattr(m, "lora_variant", {}).get(EXPERT)
                                 and m.lora_B[EXPERT].bias is None for m in layers)
        if self.rows_by_hooks:
            self._hooks = [m.lora_A[EXPERT].register_forward_pre_hook(self._expert_rows_in) for m in layers]
            self._hooks += [m.lora_B[EXPERT].register_forward_hook(self._base_rows_out) for m in layers]

    def _expert_rows_in(self, module: Any, args: tuple) -> tuple | None:
        # the LoRA branch sees only the expert rows (rows come first in the batch dimension)
        n = getattr(self._local, "expert_rows", None)
        if n is None:
            return None
        self._local.rows = args[0].shape[0]
        return (args[0][:n],)

    def _base_rows_out(self, module: Any, args: tuple, out: Any) -> Any:
        # ...and adds B(A(x)) = 0 to the base rows, which is what LoRA does with an input of zeros
        n = getattr(self._local, "expert_rows", None)
        if n is None or n == self._local.rows:
            return None
        import torch

        return torch.cat([out, out.new_zeros((self._local.rows - n, *out.shape[1:]))])

    @contextmanager
    def as_base(self):
        """Within the block, this thread's forwards of the small model are the base model's
        (the LoRA branch runs on no row), while other threads keep decoding with the expert.
        Only for such adapters (`rows_by_hooks`); with none loaded the model is the base anyway."""
        before = getattr(self._local, "expert_rows", None)
        if self.peft is not None and not self.rows_by_hooks:
            raise RuntimeError("as_base needs an adapter the LoRA hooks can split by rows "
                               "(no DoRA, LoRA bias or embedding LoRA)")
        self._local.expert_rows = 0
        try:
            yield self
        finally:
            self._local.expert_rows = before

    def run_small(self, ids: Any, rows: list[str], cache: Any, keep: int, hidden: bool = False,
                  **inputs: Any) -> Any:
        """Logits (len(rows), keep, vocab) of the small model, row i under adapter rows[i]
        (EXPERT or BASE, the EXPERT rows first); with `hidden`, the final hidden states
        (len(rows), keep, d) instead. `inputs`: attention_mask and position_ids of a padded batch."""
        x = ids.expand(len(rows), -1)
        if not self.rows_by_hooks:  # peft's own mixed-batch forward (DoRA, LoRA bias, embedding LoRA, ...)
            return self.peft(input_ids=x, adapter_names=rows, cache=cache, use_cache=True,
                             logits_to_keep=keep, **inputs).logits
        experts = rows.count(EXPERT)
        if rows[:experts] != [EXPERT] * experts:
            raise ValueError(f"the expert rows must come first: {rows}")
        before, self._local.expert_rows = getattr(self._local, "expert_rows", None), experts
        try:
            model = self.peft.base_model.model  # the transformers model, LoRA layers inside
            if hidden:
                out = model.get_decoder()(input_ids=x, cache=cache, use_cache=True, **inputs)
                return out.last_hidden_state[:, -keep:]
            return model(input_ids=x, cache=cache, use_cache=True, logits_to_keep=keep, **inputs).logits
        finally:
            self._local.expert_rows = before

    @property
    def foldable(self) -> bool:
        """Whether the small model's logits are just its bias-free output Linear (see above)."""
        import torch

        head = self.small.get_output_embeddings()
        return (self.rows_by_hooks and plain_head(self.small) and type(head) is torch.nn.Linear
                and head.bias is None)

    def unload(self) -> None:
        """Remove the LoRA layers (not merged): the models are the plain loaded ones again."""
        for hook in self._hooks:
            hook.remove()
        self._hooks = []
        if self.peft is not None:
            self.peft.unload()
            self.peft, self.adapter_path, self.rows_by_hooks = None, None, False
            self.adapter_serial += 1

    def close(self) -> None:
        """Unload the adapter and give the weights back their usual row-major layout."""
        self.unload()
        layout.restore(self._transposed)
        self._transposed = []
        if self.side is not None:
            self.side.close()
            self.side = None

    @property
    def vocab(self) -> int:
        """Logit columns that are real tokens: both output layers have them and the tokenizer can
        produce them (a model may pad its output layer beyond the tokenizer)."""
        sizes = [self.large.get_output_embeddings().weight.shape[0]]
        if not self.shared:
            sizes.append(self.small.get_output_embeddings().weight.shape[0])
        if self.tokens:
            sizes.append(self.tokens)
        return min(sizes)


def steer(m: ProxyModels, e: Any, b: Any, large: Any, alpha: float, below: float, fold: bool, vocab: int,
          floor: float = 0.0) -> Any:
    """float32 (..., vocab): large + strength*(expert - base), from the small model's expert and
    base rows `e`, `b` (hidden states if `fold`, else logits); `large` None: the base row is it.
    `floor`: the base's tail smoothed against a separate large model's (`tail_smoothed_base`)."""
    v, one_model = vocab, large is None  # one model in both parts: nothing to smooth
    if fold:  # one row through the output layer (see the module docstring)
        head = m.small.get_output_embeddings()
        if one_model and every_token(below):
            return head(combine(b, e, b, alpha).to(head.weight.dtype))[..., :v].float()
        if one_model:  # the large model's logits are needed to see where it hesitates
            large = head(b.to(head.weight.dtype))[..., :v]
        if one_model or floor <= 0.0:
            difference = head((e - b).to(head.weight.dtype))[..., :v].float()  # W h_e - W h_b
            return combine(large.float(), difference, 0.0, strength(large, alpha, below))
        # the tail smoothing needs each row's own logits
        e, b = head(e.to(head.weight.dtype)).float(), head(b.to(head.weight.dtype)).float()
    e, b = e[..., :v], b[..., :v]
    if one_model:
        return combine(b, e, b, strength(b, alpha, below))
    large = large.float()
    return combine(large, e, tail_smoothed_base(large, b, floor), strength(large, alpha, below))


def steer_plausible(m: ProxyModels, e: Any, b: Any, large: Any, alpha: Any, below: Any, fold: bool, vocab: int,
                    floor: float, plausible: float) -> Any:
    """`steer`, then with `plausible` only the tokens the expert finds plausible where it steers:
    where its strength is not 0 (`alpha`, a number or one per row, and `below`, see `strength`)."""
    combined = steer(m, e, b, large, alpha, below, fold, vocab, floor)
    if plausible <= 0.0:
        return combined
    head = m.small.get_output_embeddings()
    logits = (lambda h: head(h.to(head.weight.dtype))) if fold else (lambda x: x)  # hidden states: the output layer
    steered: Any = True if isinstance(alpha, (int, float)) else alpha != 0  # a row at alpha 0 is the large model's
    if not every_token(below):  # where the large model is sure it is not steered: its choice stands
        reference = large if large is not None else logits(b)[..., :vocab]  # one model: the base row is it
        steered = steered & (strength(reference, 1.0, below) > 0)
    return plausible_only(combined, logits(e)[..., :vocab], plausible, steered)


class ProxyStep:
    """One decoding run: a KV cache per model; `start`/`feed` return the combined logits of the
    last position as float32 (vocab,). With `alpha == 0` or no adapter only the large model runs.

    `caches`: a decoder's CacheSet to reuse (and leave updated) across runs; None: fresh caches.
    """

    def __init__(self, models: ProxyModels, alpha: float, caches: CacheSet | None = None,
                 steer_below: float = 1.0, plausible: float = 0.0, tail_floor: float = 0.0) -> None:
        self.m = models
        self.alpha = float(alpha)
        self.steer_below = float(steer_below)  # see `strength`
        self.plausible = float(plausible)  # see `plausible_only` (0: off; decoding only, not scoring)
        self.tail_floor = float(tail_floor)  # see `tail_smoothed_base` (0: off)
        self.proxy = models.peft is not None and self.alpha != 0.0
        self.vocab = models.vocab
        self.fold = self.proxy and models.foldable
        # shared and no small forward needed: the large model must still bypass injected LoRA layers
        self.base_only = models.shared and models.peft is not None and not self.proxy
        caches = caches or CacheSet()
        # the large model's cache (for `tiny`'s base-only row too: there the base row IS the large model)
        self.large_cache: PromptCache | None = None
        if not (self.proxy and models.shared):
            self.large_cache = caches.get("large", models.large.config)
        # the small model's two rows, valid only for the adapter they were computed with
        self.small_cache: PromptCache | None = None
        if self.proxy:
            self.small_cache = caches.get("small", models.small.config, key=models.adapter_serial)
        self.reused: dict[str, int] = {}  # prompt tokens each model's cache already held (`start`)
        self.large_logits: Any = None  # of the last call, for `parts`
        self.rows: Any = None  # the small model's (expert, base) hidden states or logits, last call

    # --- the models' parts ---
    def _large(self, ids: Any, keep: int) -> Any:
        pc = self.large_cache
        if self.base_only:
            out = self.m.run_small(ids, [BASE], pc.cache, keep)[0, :, : self.vocab]
        else:
            out = self.m.large(input_ids=ids, cache=pc.cache, use_cache=True, logits_to_keep=keep).logits[0, :, : self.vocab]
        pc.fed(ids)
        return out

    def _small(self, ids: Any, keep: int) -> Any:
        pc = self.small_cache
        self.rows = self.m.run_small(ids, [EXPERT, BASE], pc.cache, keep, hidden=self.fold)
        pc.fed(ids)
        return self.rows

    def _combined(self, rows: Any, large: Any) -> Any:
        """float32 (keep, vocab): large + alpha*(expert - base); `large` None: the base row is it."""
        return steer_plausible(self.m, rows[0].float(), rows[1].float(), large, self.alpha, self.steer_below,
                               self.fold, self.vocab, self.tail_floor, self.plausible)

    def _forward(self, large_ids: Any, small_ids: Any, keep: int) -> Any:
        import torch

        if not self.proxy:
            self.large_logits = self._large(large_ids, keep)
            return self.large_logits.float()
        if self.m.shared:  # one two-row forward; the base row is the large model
            return self._combined(self._small(small_ids, keep), None)
        if self.m.stream is not None:  # CUDA: small on its own stream, overlapping the large
            stream = self.m.stream
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                rows = self._small(small_ids, keep)
            self.large_logits = self._large(large_ids, keep)
            torch.cuda.current_stream().wait_stream(stream)
        elif self.m.side is not None:  # CPU: small on a helper thread, beside the large
            pending = self.m.side.submit(self._small, small_ids, keep)
            try:
                self.large_logits = self._large(large_ids, keep)
            except BaseException:
                wait([pending])  # never leave the small model's cache mid-update
                raise
            rows = pending.result()
        else:
            rows = self._small(small_ids, keep)
            self.large_logits = self._large(large_ids, keep)
        return self._combined(rows, self.large_logits)

    # --- what callers use ---
    def logits(self, ids: Any, keep: int = 1) -> Any:
        """Combined logits (keep, vocab) of the last `keep` positions after feeding `ids` (1, n)."""
        return self._forward(ids, ids, keep)

    def start(self, prompt: Any) -> Any:
        """Combined last-position logits (vocab,) after the prompt (1, n): each model is fed only
        what its cache does not already hold (the longest common prefix is reused)."""
        fresh = {}
        for name, pc in (("large", self.large_cache), ("small", self.small_cache)):
            if pc is not None:
                self.reused[name] = pc.reuse(prompt[0].tolist())
                fresh[name] = prompt[:, self.reused[name]:]
        return self._forward(fresh.get("large"), fresh.get("small"), 1)[-1]

    def feed(self, ids: Any) -> Any:
        """Feed the next token(s) (1, n) and return the combined last-position logits (vocab,)."""
        return self.logits(ids, 1)[-1]

    def parts(self) -> tuple[Any, Any, Any]:
        """(large, expert, base) float32 logits (keep, vocab) of the last call, for inspection."""
        import torch

        rows = self.rows
        if self.fold:
            with torch.inference_mode():
                rows = self.m.small.get_output_embeddings()(rows)
        expert, base = rows[0, :, : self.vocab].float(), rows[1, :, : self.vocab].float()
        return (base if self.m.shared else self.large_logits.float()), expert, base
