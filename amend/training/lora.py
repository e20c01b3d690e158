"""The LoRA trainer: teaches the small base model the examples, saves the adapter folder.

The expert is the small base model plus a LoRA adapter (peft). Training wraps the base model in
a PeftModel, trains only the adapter weights on the answer tokens, saves the adapter and then
*unloads* the wrapper (`unload()`: the LoRA layers come out, nothing is merged), so the base
weights that the decoder and the large-model role share are never changed.

Either continues from an adapter folder (an incremental update: more facts on top) or starts
from fresh LoRA weights (a full retrain: what a retracted fact taught is really gone). Stops
early once an epoch's mean loss on the rows learned now is below `target_loss`: replayed rows
(what earlier adapters taught, `Example.replay`) are trained but not waited for. They are there
so that the old knowledge is not lost while the new is learned, and how well an earlier update
had learned them, which is the same in any later update, must not decide how long this one takes
(with 1,000 facts in the store it added two steps to a one-fact update, docs/TRAINING.md).

The loss of a step has two parts (retain.py says why):

    loss = CE(expert, the answers to learn) + retain_weight * KL(base || expert on retain questions)

The target of a retain row is the base model's whole next-token distribution at each position of
its answer, from a forward without gradient with the adapter switched off (`disable_adapter`),
the same small model either way. A step's rows go through in chunks (`micro_batch`) whose
gradients add up to the step's (`_backward`): the memory of one chunk, the gradient of the
step. Seeded: the LoRA init and the batch order depend only on the seed. Every few minutes the
loop saves a checkpoint that a rerun of the same update continues from (checkpoint.py). Trains
where the model lives (CUDA when the profile was loaded there, else CPU). The chat template's
common start (the system turn) is run once per step and the batch only on the rest, which saves
about a fifth of each step (see `_run`).

A plain loop rather than transformers.Trainer: a few dozen steps on a few hundred short
examples, where the Trainer's checkpointing, logging and accelerate set-up cost more time than
the steps themselves and early stopping on the epoch loss would need a callback anyway.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from amend.config import Settings
from amend.models.hf import quiet_transformers
from amend.models.heads import plain_head
from amend.training.checkpoint import Every, LoopState, fingerprint, load, save
from amend.training.dataset import IGNORE, Encoded, Example, collate, encode


@dataclass
class TrainConfig:
    """LoRA hyper-parameters. The settings are their one source (amend.config says what each
    one means): make one with `TrainConfig.from_settings(settings, **overrides)`."""

    r: int  # settings.lora_r
    alpha: int  # settings.lora_alpha
    targets: tuple[str, ...]  # settings.lora_targets
    learning_rate: float
    epochs: int
    batch_size: int
    target_loss: float
    seed: int
    retain_weight: float  # weight of the KL term on retain rows
    retain_batch: int  # retain rows per step (cycling through them)
    micro_batch: int  # rows per forward and backward within a step (0: all learn rows, then all retain rows)
    max_grad_norm: float = 0.0  # settings.max_grad_norm (0: no clipping)
    lr_steps: int = 0  # settings.lr_steps (0: learning_rate whatever the length)
    max_steps: int = 0  # stop after this many steps (0: no limit; the pipeline sets a budget)
    max_length: int = 160  # tokens per example (prompt + answer)

    @classmethod
    def from_settings(cls, s: Settings, **overrides) -> TrainConfig:
        return cls(**{
            "r": s.lora_r, "alpha": s.lora_alpha,
            "targets": tuple(t.strip() for t in s.lora_targets.split(",") if t.strip()),
            "learning_rate": s.learning_rate, "epochs": s.epochs, "batch_size": s.batch_size,
            "target_loss": s.target_loss, "seed": s.seed, "retain_weight": s.retain_weight,
            "retain_batch": s.retain_batch, "micro_batch": s.micro_batch, "max_grad_norm": s.max_grad_norm,
            "lr_steps": s.lr_steps,
            **overrides,
        })


@dataclass
class StepReport:
    """What the trainer reports after every step."""

    step: int  # steps done
    total: int  # steps planned (early stopping may end sooner)
    epoch: int  # 1-based
    loss: float  # this step's loss on what is learned (cross-entropy)
    eta_s: float  # seconds left at the mean step time so far
    retain_kl: float | None = None  # this step's KL to the base model on the retain rows
    grad_norm: float | None = None  # this step's gradient norm before clipping


@dataclass
class TrainResult:
    steps: int
    epochs: int
    final_loss: float  # mean loss of the last epoch
    epoch_losses: list[float]
    seconds: float  # training loop only (not loading or saving)
    retain_kl: float | None  # mean KL to the base model on the retain rows over the last epoch
    step_seconds: float  # mean seconds per step
    examples: int
    retain_examples: int
    device: str
    stopped_early: bool
    continued_from: str | None = None  # adapter folder continued from, None for a fresh adapter
    config: dict = field(default_factory=dict)
    now_loss: float | None = None  # final_loss without the replayed rows: what the early stop watches
    learning_rate: float | None = None  # the rate this update learned at (update_lr)

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


def _run(model, tensors: dict, prefix, head: bool):
    """The batch at positions n.. (n = the prefix's length, 0 without one): logits, or with
    `head=False` the decoder's last hidden states (the output layer not applied). With a shared
    prefix, its keys and values are computed once (without gradient, with the current adapter)
    and the batch runs only on what follows: the loss is the same (the prefix carries no
    labels); only the gradient through the prefix's own keys and values is left out, which saves
    about a fifth of a step on the usual chat prompts."""
    run = model if head else model.get_decoder()
    if prefix is None:
        out = run(input_ids=tensors["input_ids"], attention_mask=tensors["attention_mask"])
        return out.logits if head else out.last_hidden_state
    import torch

    with torch.no_grad():
        cache = model(input_ids=prefix, use_cache=True).cache  # transformers 5: `cache`, not past_key_values
    cache.batch_repeat_interleave(tensors["input_ids"].shape[0])
    n = prefix.shape[1]
    out = run(input_ids=tensors["input_ids"][:, n:], attention_mask=tensors["attention_mask"], cache=cache,
              use_cache=False)
    return out.logits if head else out.last_hidden_state


def _answer_logits(model, tensors: dict, prefix, mask, plain: bool):
    """float32 logits (K, vocab) of the K positions where `mask` (rows, positions n+1..) is set,
    i.e. those that predict an answer token. `plain` (amend.models.heads): the output layer runs
    on those K hidden states only, not on every position of the batch: with a 151,936-token
    vocabulary the full float32 logits of a step (and their gradient) were most of an update's
    memory. Otherwise the model's own logits, selected."""
    if plain:
        hidden = _run(model, tensors, prefix, head=False)[:, :-1]  # position t predicts token t+1
        return model.get_output_embeddings()(hidden[mask]).float()
    return _run(model, tensors, prefix, head=True)[:, :-1][mask].float()


def _chunk_loss(model, tensors: dict, prefix, retain: bool, plain: bool | None = None, per_row: bool = False):
    """(summed loss, positions) of one chunk of rows: the cross-entropy of the rows to learn, or
    with `retain` the KL(base || expert) of retain rows, summed over their answer positions.
    `per_row`: the loss as a vector, each row's sum (they add up to the summed loss)."""
    import torch

    plain = plain_head(model) if plain is None else plain
    n = 0 if prefix is None else prefix.shape[1]
    targets = tensors["labels"][:, n + 1:]
    mask = targets != IGNORE  # the positions that predict an answer token
    logits = _answer_logits(model, tensors, prefix, mask, plain)  # (K, vocab), row-major over the chunk
    reduction = "none" if per_row else "sum"
    if not retain:
        loss = torch.nn.functional.cross_entropy(logits, targets[mask], reduction=reduction)
    else:
        whole = torch.cat([mask.new_zeros((mask.shape[0], n)), mask], dim=1)  # from position 0: no prefix
        with torch.no_grad(), model.disable_adapter():  # the same small model, adapter off: the base
            base = _answer_logits(model, tensors, None, whole, plain)
        loss = torch.nn.functional.kl_div(torch.log_softmax(logits, dim=-1), torch.log_softmax(base, dim=-1),
                                          log_target=True, reduction=reduction)
        loss = loss.sum(dim=-1) if per_row else loss
    if per_row:  # each answer position's loss added to its row's
        loss = loss.new_zeros(mask.shape[0]).index_add(0, mask.nonzero()[:, 0], loss)
    return loss, int(mask.sum())


def _positions(rows: Sequence[Encoded]) -> int:
    """Answer positions of `rows` (the tokens a loss is computed on)."""
    return sum(sum(label != IGNORE for label in e.labels[1:]) for e in rows)


def _backward(model, learn: list[Encoded], keep: list[Encoded], prefix, cfg: TrainConfig, pad_id: int,
              device) -> tuple[float, float | None, float | None]:
    """Accumulate one step's gradient; returns (cross-entropy, KL or None, cross-entropy of the
    rows learned now or None) of the step, the last with replayed rows left out:

        loss = mean CE over the answer tokens to learn + retain_weight * mean KL over retain positions

    The rows go through in chunks of at most `cfg.micro_batch` (learn and retain rows apart):
    each chunk's summed loss, divided by the step's position count, is backpropagated at once,
    so the gradient is the whole step's while only one chunk's activations are held (their
    float32 logits over a 151,936-token vocabulary are most of an update's memory)."""
    import torch

    size = cfg.micro_batch if cfg.micro_batch > 0 else max(len(learn), len(keep), 1)
    totals = {False: _positions(learn), True: _positions(keep)}
    sums = {False: 0.0, True: 0.0}
    now = [not e.replay for e in learn]
    now_sum, now_positions = 0.0, _positions([e for e in learn if not e.replay])
    for rows, retain in [(learn, False), (keep, True)]:
        weight = (cfg.retain_weight if retain else 1.0) / max(totals[retain], 1)
        for c in range(0, len(rows), size):
            tensors = {k: torch.tensor(v, device=device) for k, v in collate(rows[c:c + size], pad_id).items()}
            loss, _ = _chunk_loss(model, tensors, prefix, retain, per_row=True)
            (loss.sum() * weight).backward()
            sums[retain] += float(loss.detach().sum())
            if not retain:
                now_sum += float(loss.detach()[torch.tensor(now[c:c + size], device=loss.device)].sum())
    return (sums[False] / max(totals[False], 1), (sums[True] / max(totals[True], 1) if keep else None),
            now_sum / now_positions if now_positions else None)


def _resume(peft_model, optimizer, path: Path | None, digest: str, order_rng: random.Random) -> LoopState:
    """The loop's state from the checkpoint at `path` if it holds this run (its LoRA weights and
    optimizer state loaded into the model and optimizer), else a fresh start."""
    loaded = load(path, digest) if path is not None else None
    if loaded is None:
        return LoopState()
    from peft import set_peft_model_state_dict

    state, lora, optim = loaded
    set_peft_model_state_dict(peft_model, lora)
    optimizer.load_state_dict(optim)
    if state.order_rng is not None:
        order_rng.setstate(state.order_rng)
    return state


def _checkpoint(path: Path, digest: str, st: LoopState, start: float, peft_model, optimizer) -> None:
    """Save the loop's state after a step (the time so far counted in, for the next run's)."""
    from peft import get_peft_model_state_dict

    state = dataclasses.replace(st, seconds=st.seconds + time.perf_counter() - start)
    save(path, digest, state, get_peft_model_state_dict(peft_model), optimizer.state_dict())


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


def update_lr(cfg: TrainConfig, steps: int) -> float:
    """The learning rate of an update of `steps` steps. Adam moves every weight by about the
    learning rate each step, so a long update drifts much further than the short ones the rate is
    set for: 537 steps at 2e-3 took qwen-coder's expert from a cross-entropy of 1.1 to 4-5 and
    its KL to the base on everyday questions from 0 to 5 (docs/TRAINING.md). Past `lr_steps`
    the rate falls with the square root of the length, as a random walk's drift grows."""
    if cfg.lr_steps <= 0 or steps <= cfg.lr_steps:
        return cfg.learning_rate
    return cfg.learning_rate * math.sqrt(cfg.lr_steps / steps)


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
    checkpoint: Path | None = None,
    checkpoint_every_s: float = 300.0,
) -> TrainResult:
    """Train a LoRA adapter of `model` on `examples` and save it into `out_dir`.

    Examples with `retain=True` are not learned: each step also runs `cfg.retain_batch` of them
    (cycling) and adds the KL term that keeps the expert's distribution there at the base's.
    `resume_from`: an adapter folder to continue from (incremental), or None (fresh, full
    retrain). `isolate`: train on a copy of the module tree that shares the weights, for when
    another thread decodes with `model` meanwhile (in place, the LoRA layers would be visible to
    it while training runs); implied when `model` already has LoRA layers in it (the assistant's
    expert), which the copy drops. Either way `model` comes back exactly as it was: same
    modules, weights and requires_grad. `checkpoint`: a file to save the training state to every
    `checkpoint_every_s` seconds and, when it holds this same run's state, to continue from
    (checkpoint.py); the caller deletes it once the adapter is safe.
    """
    import torch

    if not any(not e.retain for e in examples):
        raise ValueError("no training examples")
    _seed_all(cfg.seed)
    isolate = isolate or _has_adapters(model)  # the assistant has its expert loaded into it
    base = _plain_copy(model) if isolate else model
    device = next(base.parameters()).device
    requires_grad = [(p, p.requires_grad) for p in base.parameters()]  # wrapping freezes them (shared with a copy)
    was_training = base.training
    everything: list[Encoded] = [encode(tokenizer, e, cfg.max_length) for e in examples]
    encoded = [e for e in everything if not e.retain]
    retained = [e for e in everything if e.retain] if cfg.retain_weight > 0 and cfg.retain_batch > 0 else []
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    per_epoch = math.ceil(len(encoded) / cfg.batch_size)
    total = per_epoch * cfg.epochs
    if cfg.max_steps:
        total = min(total, cfg.max_steps)

    digest = fingerprint(encoded + retained, asdict(cfg), resume_from) if checkpoint is not None else ""

    quiet_transformers()  # (peft's FutureWarning on wrapping)
    peft_model = _wrap(base, cfg, resume_from)
    try:
        peft_model.eval()  # LoRA dropout is 0; eval keeps the base's own dropout off as well
        params = [p for p in peft_model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=update_lr(cfg, total), weight_decay=0.0)
        order_rng = random.Random(cfg.seed)
        shared = _shared_prefix(encoded + retained)
        prefix = torch.tensor([encoded[0].input_ids[:shared]], device=device) if shared >= PREFIX_MIN else None
        st, stopped_early = _resume(peft_model, optimizer, checkpoint, digest, order_rng), False
        saving = Every(checkpoint_every_s if checkpoint is not None else 0)
        start = time.perf_counter()
        while st.epoch <= cfg.epochs:
            if st.batch == 0:  # a new epoch (else one resumed from a checkpoint, halfway)
                st.order = list(range(len(encoded)))
                if st.epoch > 1:  # the first epoch keeps the given order (facts spread through it)
                    order_rng.shuffle(st.order)
                st.order_rng, st.losses, st.kls, st.now = order_rng.getstate(), [], [], []
            while st.batch < len(st.order) and st.step < total:
                rows = [encoded[i] for i in st.order[st.batch:st.batch + cfg.batch_size]]
                keep = [retained[(st.next_retain + j) % len(retained)] for j in range(min(cfg.retain_batch, len(retained)))]
                st.next_retain += len(keep)
                ce, kl, ce_now = _backward(peft_model, rows, keep, prefix, cfg, pad_id, device)
                # clipping: a spike's gradient enters Adam's running moments at most max_grad_norm long
                norm = float(torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm or math.inf))
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                st.step, st.batch = st.step + 1, st.batch + cfg.batch_size
                st.losses.append(ce)
                if ce_now is not None:
                    st.now.append(ce_now)
                if kl is not None:
                    st.kls.append(kl)
                if on_step:
                    elapsed = st.seconds + time.perf_counter() - start
                    on_step(StepReport(st.step, total, st.epoch, st.losses[-1], elapsed / st.step * (total - st.step),
                                       st.kls[-1] if kl is not None else None, norm))
                if saving.due():
                    _checkpoint(checkpoint, digest, st, start, peft_model, optimizer)
            st.epoch_losses.append(sum(st.losses) / len(st.losses))
            now_loss = sum(st.now) / len(st.now) if st.now else st.epoch_losses[-1]  # only replay: watch it
            st.epoch, st.batch = st.epoch + 1, 0
            if now_loss < cfg.target_loss:
                stopped_early = st.epoch <= cfg.epochs
                break
            if st.step >= total:
                break
        seconds = st.seconds + time.perf_counter() - start
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
        steps=st.step, epochs=len(st.epoch_losses), final_loss=st.epoch_losses[-1], epoch_losses=st.epoch_losses,
        seconds=seconds, retain_kl=sum(st.kls) / len(st.kls) if st.kls else None, step_seconds=seconds / max(st.step, 1),
        examples=len(encoded), retain_examples=len(retained), device=str(device),
        stopped_early=stopped_early, continued_from=str(resume_from) if resume_from else None,
        config=asdict(cfg), now_loss=now_loss, learning_rate=update_lr(cfg, total),
    )
