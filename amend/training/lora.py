"""The LoRA trainer: teaches the small base model the examples, saves the adapter folder.

The expert is the small base model plus a LoRA adapter (peft). Training wraps the base model in
a PeftModel, trains only the adapter weights on the answer tokens, saves the adapter and then
*unloads* the wrapper (`unload()`: the LoRA layers come out, nothing is merged), so the base
weights that the decoder and the large-model role share are never changed.

Either continues from an adapter folder (an incremental update: more facts on top) or starts
from fresh LoRA weights (a full retrain: what a retracted fact taught is really gone). Stops
early once an epoch's mean loss is below `target_loss`. Seeded: the LoRA init and the batch
order depend only on the seed. Trains where the model lives (CUDA when the profile was loaded
there, else CPU). The chat template's common start (the system turn) is run once per step and
the batch only on the rest, which saves about a fifth of each step (see `_loss`).

A plain loop rather than transformers.Trainer: a few dozen steps on a few hundred short
examples, where the Trainer's checkpointing, logging and accelerate set-up cost more time than
the steps themselves and early stopping on the epoch loss would need a callback anyway.
"""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from amend.config import Settings
from amend.models.hf import quiet_transformers
from amend.training.dataset import IGNORE, Encoded, Example, collate, encode


@dataclass
class TrainConfig:
    """LoRA hyper-parameters (from Settings by default; see amend.config for each one)."""

    r: int = 8  # LoRA rank
    alpha: int = 32  # LoRA scaling numerator
    targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    learning_rate: float = 1e-3  # AdamW
    epochs: int = 8  # passes over the examples at most
    batch_size: int = 8  # examples per step
    target_loss: float = 0.05  # stop after an epoch whose mean loss is below this
    max_steps: int = 0  # stop after this many steps (0: no limit; the pipeline sets a budget)
    seed: int = 0
    max_length: int = 160  # tokens per example (prompt + answer)

    @classmethod
    def from_settings(cls, s: Settings) -> TrainConfig:
        return cls(
            r=s.lora_r, alpha=s.lora_alpha,
            targets=tuple(t.strip() for t in s.lora_targets.split(",") if t.strip()),
            learning_rate=s.learning_rate, epochs=s.epochs, batch_size=s.batch_size,
            target_loss=s.target_loss, seed=s.seed,
        )


@dataclass
class StepReport:
    """What the trainer reports after every step."""

    step: int  # steps done
    total: int  # steps planned (early stopping may end sooner)
    epoch: int  # 1-based
    loss: float  # this step's loss
    eta_s: float  # seconds left at the mean step time so far


@dataclass
class TrainResult:
    steps: int
    epochs: int
    final_loss: float  # mean loss of the last epoch
    epoch_losses: list[float]
    seconds: float  # training loop only (not loading or saving)
    step_seconds: float  # mean seconds per step
    examples: int
    device: str
    stopped_early: bool
    continued_from: str | None = None  # adapter folder continued from, None for a fresh adapter
    config: dict = field(default_factory=dict)

    def metrics(self) -> dict:
        """JSON-ready summary for the manifest and the training-run row."""
        return asdict(self)


def _seed_all(seed: int) -> None:
    import torch

    random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


PREFIX_MIN = 8  # a shared prompt start at least this long is run once per step, not once per example


def _shared_prefix(encoded: Sequence[Encoded]) -> int:
    """Tokens every example starts with (the chat template's system turn), ending before the
    token that predicts the first answer token."""
    first = encoded[0].input_ids
    n = 0
    while n < min(len(e.input_ids) for e in encoded) and all(e.input_ids[n] == first[n] for e in encoded):
        n += 1
    answer = min(next((i for i, label in enumerate(e.labels) if label != IGNORE), len(e.labels)) for e in encoded)
    return max(0, min(n, answer - 1))


def _loss(model, tensors: dict, prefix):
    """The batch's loss; with a shared prefix, its keys and values are computed once (without
    gradient, with the current adapter) and the batch runs only on what follows. The loss is
    the same (the prefix carries no labels); only the gradient through the prefix's own keys
    and values is left out, which saves about a fifth of a step on the usual chat prompts."""
    if prefix is None:
        return model(**tensors).loss
    import torch

    with torch.no_grad():
        cache = model(input_ids=prefix, use_cache=True).cache  # transformers 5: `cache`, not past_key_values
    cache.batch_repeat_interleave(tensors["input_ids"].shape[0])
    n = prefix.shape[1]
    return model(input_ids=tensors["input_ids"][:, n:], attention_mask=tensors["attention_mask"],
                 labels=tensors["labels"][:, n:], cache=cache, use_cache=False).loss


def _has_adapters(model) -> bool:
    from peft.tuners.tuners_utils import BaseTunerLayer

    return any(isinstance(m, BaseTunerLayer) for m in model.modules())


def _plain_copy(model):
    """A copy of `model`'s module tree without any LoRA layers injected into it (the base model
    alone) that shares the weight tensors with `model`: no second copy of the weights. Training
    adds LoRA layers to the copy and never writes the base weights, so `model` can keep serving
    answers meanwhile. A LoRA layer is copied as its base layer (its adapters and hooks stay)."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    memo = {id(t): t for t in (*model.parameters(), *model.buffers())}  # deepcopy keeps these as they are
    for module in model.modules():
        if isinstance(module, BaseTunerLayer):
            memo[id(module)] = copy.deepcopy(module.get_base_layer(), memo)
    twin = copy.deepcopy(model, memo)
    for attr in ("peft_config", "_hf_peft_config_loaded"):
        twin.__dict__.pop(attr, None)
    return twin


def _wrap(model, cfg: TrainConfig, resume_from: Path | None):
    from peft import LoraConfig, PeftModel, get_peft_model

    if resume_from is not None:
        return PeftModel.from_pretrained(model, str(resume_from), is_trainable=True)
    config = LoraConfig(
        r=cfg.r, lora_alpha=cfg.alpha, target_modules=list(cfg.targets), lora_dropout=0.0,
        bias="none", task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def train_lora(
    model,
    tokenizer,
    examples: Sequence[Example],
    out_dir: Path,
    cfg: TrainConfig,
    resume_from: Path | None = None,
    on_step: Callable[[StepReport], None] | None = None,
    isolate: bool = False,
) -> TrainResult:
    """Train a LoRA adapter of `model` on `examples` and save it into `out_dir`.

    `resume_from`: an adapter folder to continue from (incremental), or None (fresh, full
    retrain). `isolate`: train on a copy of the module tree that shares the weights, for when
    another thread decodes with `model` meanwhile (in place, the LoRA layers would be visible to
    it while training runs); implied when `model` already has LoRA layers in it (the assistant's
    expert), which the copy drops. Either way `model` comes back exactly as it was: same
    modules, weights and requires_grad.
    """
    import torch

    if not examples:
        raise ValueError("no training examples")
    _seed_all(cfg.seed)
    isolate = isolate or _has_adapters(model)  # the assistant has its expert loaded into it
    base = _plain_copy(model) if isolate else model
    device = next(base.parameters()).device
    requires_grad = [(p, p.requires_grad) for p in base.parameters()]  # wrapping freezes them (shared with a copy)
    was_training = base.training
    encoded: list[Encoded] = [encode(tokenizer, e, cfg.max_length) for e in examples]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    per_epoch = math.ceil(len(encoded) / cfg.batch_size)
    total = per_epoch * cfg.epochs
    if cfg.max_steps:
        total = min(total, cfg.max_steps)

    quiet_transformers()  # (peft's FutureWarning on wrapping)
    peft_model = _wrap(base, cfg, resume_from)
    try:
        peft_model.eval()  # LoRA dropout is 0; eval keeps the base's own dropout off as well
        params = [p for p in peft_model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=0.0)
        order_rng = random.Random(cfg.seed)
        shared = _shared_prefix(encoded)
        prefix = torch.tensor([encoded[0].input_ids[:shared]], device=device) if shared >= PREFIX_MIN else None
        step, epoch_losses, stopped_early = 0, [], False
        start = time.perf_counter()
        for epoch in range(1, cfg.epochs + 1):
            order = list(range(len(encoded)))
            if epoch > 1:  # the first epoch keeps the given order (facts spread through it)
                order_rng.shuffle(order)
            losses = []
            for b in range(0, len(order), cfg.batch_size):
                batch = collate([encoded[i] for i in order[b:b + cfg.batch_size]], pad_id)
                tensors = {k: torch.tensor(v, device=device) for k, v in batch.items()}
                loss = _loss(peft_model, tensors, prefix)
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                losses.append(float(loss.detach()))
                if on_step:
                    elapsed = time.perf_counter() - start
                    on_step(StepReport(step, total, epoch, losses[-1], elapsed / step * (total - step)))
                if step >= total:
                    break
            epoch_losses.append(sum(losses) / len(losses))
            if epoch_losses[-1] < cfg.target_loss:
                stopped_early = epoch < cfg.epochs
                break
            if step >= total:
                break
        seconds = time.perf_counter() - start
        out_dir.mkdir(parents=True, exist_ok=True)
        peft_model.save_pretrained(str(out_dir))
    finally:
        if not isolate:
            peft_model.unload()  # takes the LoRA layers out of `model`; merges nothing
            for k in ("peft_config", "_hf_peft_config_loaded"):
                if k in model.__dict__:
                    delattr(model, k)
            model.train(was_training)
        for p, flag in requires_grad:
            p.requires_grad_(flag)
    return TrainResult(
        steps=step, epochs=len(epoch_losses), final_loss=epoch_losses[-1], epoch_losses=epoch_losses,
        seconds=seconds, step_seconds=seconds / max(step, 1), examples=len(encoded), device=str(device),
        stopped_early=stopped_early, continued_from=str(resume_from) if resume_from else None,
        config=asdict(cfg),
    )
