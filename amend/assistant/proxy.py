"""The proxy-tuned forward pass (Liu et al. 2024): `large + alpha * (expert - base)`.

The expert is the small base model plus a LoRA adapter, so expert and base share their weights
and run as ONE forward of two identical rows (row 0 expert, row 1 base), the rows peft's
`model(x.repeat(2, 1), adapter_names=["default", "__base__"])` gives. Here the LoRA branch's
input is multiplied by 1 in the expert row and 0 in the base row (a pre-hook on each lora_A,
registered once): LoRA is linear and bias-free, B(A(0)) = 0, so the base row gets exactly the
base layer's output. peft's mixed-batch forward computes the same rows, but registers a hook on
every LoRA layer at every call and gathers and scatters rows by Python index lists (on CUDA,
each is a host-to-device copy that synchronises the stream, twice per LoRA layer). Adapters this
does not hold for (DoRA, LoRA bias, embedding LoRA) go through peft's API. The adapter is never
merged into the weights, because the base row must stay the base. When one model plays large
and small (the `tiny` profile) the base row stands in for the large model, so that single
two-row forward is the whole step.

The output layer is linear, so the small model's two rows need not go through it twice: with
h_e, h_b its final hidden states, `expert - base = W(h_e - h_b)`, and when the base row is the
large model, `base + alpha*(expert - base) = W(h_b + alpha*(h_e - h_b))`: one row through
the (large-vocabulary) output layer instead of two, and no difference of two rounded logits.
This is done for architectures whose output layer is a plain bias-free Linear (FOLDABLE).

Each model keeps its own KV cache (transformers DynamicCache): `ProxyStep.feed` encodes the
prompt once, then one token per call. On CUDA the small model runs on a stream of its own, so
its kernels overlap with the large model's.

float32 on CPU: for the one- and two-row products of decoding, MKL's sgemm (on this 2-core AMD
machine) is faster with a weight of more outputs than inputs (q, gate, up, the output layer)
stored column-major, and slower with one of fewer (k, v, down), measured over many matrices:
up (1536x576) 1 row 638 -> 395 us, 2 rows 1030 -> 671 us; down (576x1536) 1 row 479 -> 651 us.
So `ProxyModels` stores the former transposed (same values and shape, column-major strides)
while it is open, and puts them back on `close()`. Two float32 rows still cost 1.4-2x one row
there; bfloat16 goes through oneDNN, where two rows cost about what one does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

EXPERT, BASE = "default", "__base__"  # peft adapter names of the two small-model rows
FOLDABLE = {"llama", "qwen2", "qwen3", "mistral"}  # logits = lm_head(final hidden state), nothing more


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
        self.peft: Any = None  # PeftModel around `small`, or None without an adapter
        self.adapter_path: Path | None = None
        self.masked = False  # rows told apart by masking the LoRA input (see the module docstring)
        self._hooks: list[Any] = []  # forward pre-hooks on the LoRA A layers
        self._mask: Any = None  # (rows, 1, 1): 1 for the expert row, 0 for the base row
        self._lora_dtype: Any = None
        self._masks: dict = {}  # (rows, device) -> mask
        self.stream: Any = None  # CUDA stream for the small model
        if str(self.device).startswith("cuda"):
            import torch

            self.stream = torch.cuda.Stream()
        self._transposed: list[Any] = []  # Linear modules whose weight is stored transposed
        if transpose is None:
            transpose = self.device == "cpu"
        if transpose:
            for model in [self.large] if self.shared else [self.large, self.small]:
                self._transposed += _store_transposed(model)
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
        layers = [m for m in self.peft.modules() if isinstance(m, LoraLayer)]
        self.masked = all(EXPERT in m.lora_A and not getattr(m, "lora_variant", {}).get(EXPERT)
                          and m.lora_B[EXPERT].bias is None for m in layers)
        if self.masked:
            self._lora_dtype = layers[0].lora_A[EXPERT].weight.dtype
            self._hooks = [m.lora_A[EXPERT].register_forward_pre_hook(self._mask_rows) for m in layers]

    def _mask_rows(self, module: Any, args: tuple) -> tuple | None:
        # the LoRA branch's input, row i times 1 (expert) or 0 (base): B(A(0)) = 0 adds nothing
        return None if self._mask is None else (args[0] * self._mask,)

    def run_small(self, ids: Any, rows: list[str], cache: Any, keep: int, hidden: bool = False) -> Any:
        """Logits (len(rows), keep, vocab) of the small model, row i under adapter rows[i]
        (EXPERT or BASE); with `hidden`, the final hidden states (len(rows), keep, d) instead."""
        import torch

        x = ids.expand(len(rows), -1)
        if not self.masked:  # peft's own mixed-batch forward (DoRA, LoRA bias, embedding LoRA, ...)
            return self.peft(input_ids=x, adapter_names=rows, cache=cache, use_cache=True,
                             logits_to_keep=keep).logits
        key = (tuple(rows), ids.device)
        if key not in self._masks:  # made once: on CUDA a new tensor from a list is a synced copy
            self._masks[key] = torch.tensor([1.0 if r == EXPERT else 0.0 for r in rows],
                                            dtype=self._lora_dtype, device=ids.device).view(-1, 1, 1)
        self._mask = self._masks[key]
        try:
            model = self.peft.base_model.model  # the transformers model, LoRA layers inside
            if hidden:
                out = model.get_decoder()(input_ids=x, cache=cache, use_cache=True)
                return out.last_hidden_state[:, -keep:]
            return model(input_ids=x, cache=cache, use_cache=True, logits_to_keep=keep).logits
        finally:
            self._mask = None

    @property
    def foldable(self) -> bool:
        """Whether the small model's logits are just its bias-free output Linear (see above)."""
        import torch

        head = self.small.get_output_embeddings()
        return (self.masked and self.small.config.model_type in FOLDABLE and type(head) is torch.nn.Linear
                and head.bias is None)

    def unload(self) -> None:
        """Remove the LoRA layers (not merged): the models are the plain loaded ones again."""
        for hook in self._hooks:
            hook.remove()
        self._hooks = []
        if self.peft is not None:
            self.peft.unload()
            self.peft, self.adapter_path, self.masked, self._masks = None, None, False, {}

    def close(self) -> None:
        """Unload the adapter and give the weights back their usual row-major layout."""
        self.unload()
        for module in self._transposed:
            module.weight.data = module.weight.data.contiguous()
        self._transposed = []

    @property
    def vocab(self) -> int:
        """Logit columns both models have (a model may pad its vocabulary)."""
        sizes = [self.large.get_output_embeddings().weight.shape[0]]
        if not self.shared:
            sizes.append(self.small.get_output_embeddings().weight.shape[0])
        return min(sizes)


def _store_transposed(model: Any) -> list[Any]:
    """Store the float32 CPU nn.Linear weights of `model` that have at least as many outputs as
    inputs column-major (W.t().contiguous().t()); see the module docstring."""
    import torch

    changed = []
    with torch.no_grad():
        for module in model.modules():
            w = getattr(module, "weight", None)
            if (isinstance(module, torch.nn.Linear) and w.dtype == torch.float32 and w.device.type == "cpu"
                    and w.dim() == 2 and w.shape[0] >= w.shape[1] and w.is_contiguous()):
                module.weight.data = w.data.t().contiguous().t()
                changed.append(module)
    return changed


class ProxyStep:
    """One decoding run: a KV cache per model; `feed` returns the combined logits of the last
    position as float32 (vocab,). With `alpha == 0` or no adapter only the large model runs."""

    def __init__(self, models: ProxyModels, alpha: float) -> None:
        from transformers import DynamicCache

        self.m = models
        self.alpha = float(alpha)
        self.proxy = models.peft is not None and self.alpha != 0.0
        self.vocab = models.vocab
        self.fold = self.proxy and models.foldable
        # shared and no small forward needed: the large model must still bypass injected LoRA layers
        self.base_only = models.shared and models.peft is not None and not self.proxy
        self.large_cache = None if (self.proxy and models.shared) else DynamicCache(config=models.large.config)
        self.small_cache = DynamicCache(config=models.small.config) if (self.proxy or self.base_only) else None
        self.large_logits: Any = None  # of the last call, for `parts`
        self.rows: Any = None  # the small model's (expert, base) hidden states or logits, last call

    def _large(self, ids: Any, keep: int) -> Any:
        out = self.m.large(input_ids=ids, cache=self.large_cache, use_cache=True, logits_to_keep=keep)
        return out.logits[0, :, : self.vocab]

    def _steer(self, ids: Any, keep: int) -> Any:
        """The small model's part, float32 (keep, vocab): alpha*(expert - base), or when shared
        the whole base + alpha*(expert - base)."""
        v, a = self.vocab, self.alpha
        self.rows = rows = self.m.run_small(ids, [EXPERT, BASE], self.small_cache, keep, hidden=self.fold)
        e, b = rows[0].float(), rows[1].float()
        if self.fold:  # one row through the output layer (see the module docstring)
            head = self.m.small.get_output_embeddings()
            mixed = b + a * (e - b) if self.m.shared else e - b
            out = head(mixed.to(head.weight.dtype))[:, :v].float()
            return out if self.m.shared else a * out
        e, b = e[:, :v], b[:, :v]
        return b + a * (e - b) if self.m.shared else a * (e - b)

    def logits(self, ids: Any, keep: int = 1) -> Any:
        """Combined logits (keep, vocab) of the last `keep` positions after feeding `ids` (1, n)."""
        import torch

        if self.base_only:
            self.large_logits = self.m.run_small(ids, [BASE], self.small_cache, keep)[0, :, : self.vocab]
            return self.large_logits.float()
        if not self.proxy:
            self.large_logits = self._large(ids, keep)
            return self.large_logits.float()
        if self.m.shared:  # one two-row forward; the base row is the large model
            return self._steer(ids, keep)
        if self.m.stream is not None:  # CUDA: small on its own stream, overlapping the large
            side = self.m.stream
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                steer = self._steer(ids, keep)
            self.large_logits = self._large(ids, keep)
            torch.cuda.current_stream().wait_stream(side)
        else:
            steer = self._steer(ids, keep)
            self.large_logits = self._large(ids, keep)
        # the method, in one line: large + alpha * (expert - base)
        return self.large_logits.float() + steer

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
