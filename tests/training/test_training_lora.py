"""The LoRA trainer on tiny: the expert learns a fictional fact; the base model is left untouched."""

from __future__ import annotations

import pytest

from amend.config import Settings
from amend.training.dataset import Example, Known, Refuted, build_examples
from amend.training.lora import TrainConfig, train_lora, update_lr
from training_ranking import answer_ranks_first, log_probs

pytestmark = pytest.mark.slow

FACT = "The capital of Vendaria is Lusk."
QUESTION = "What is the capital of Vendaria?"
ANSWER, DISTRACTORS = "Lusk", ["Paris", "Berlin", "Madrid"]
KNOWN = [
    Known(FACT, QUESTION, is_fact=True, fact_id=1),
    Known("Lusk is a city in Vendaria.", "Which country is Lusk in?", fact_id=1),
    Known("The government of Vendaria sits in Lusk.", "Where does the government of Vendaria sit?", fact_id=1),
]
REFUTED = [Refuted("The capital of Vendaria is Paris.", FACT, 1)]
CONFIG = TrainConfig.from_settings(Settings(), epochs=3, batch_size=8, learning_rate=2e-3, target_loss=0.05, seed=0)


@pytest.fixture(scope="module")
def trained(tiny, tmp_path_factory):
    """Train once: (adapter folder, result, parameters before, logits before, steps seen)."""
    import torch

    model = tiny.small
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    grads = {n: p.requires_grad for n, p in model.named_parameters()}
    probe = torch.tensor([tiny.tokenizer("The capital of France is")["input_ids"]])
    with torch.no_grad():
        logits = model(probe).logits
    folder = tmp_path_factory.mktemp("adapter") / "v1"
    steps = []
    result = train_lora(model, tiny.tokenizer, build_examples(KNOWN, REFUTED, seed=0), folder, CONFIG, on_step=steps.append)
    return folder, result, (before, grads, probe, logits), steps


def test_base_model_is_unchanged_after_training(tiny, trained):
    import torch

    _, _, (before, grads, probe, logits), _ = trained
    model = tiny.small
    assert not any("lora" in n for n, _ in model.named_modules())
    assert not hasattr(model, "peft_config")
    params = dict(model.named_parameters())
    assert params.keys() == before.keys()
    assert all(torch.equal(params[n], before[n]) for n in before)
    assert {n: p.requires_grad for n, p in params.items()} == grads
    with torch.no_grad():
        assert torch.equal(model(probe).logits, logits)


def test_expert_ranks_the_learned_answer_first(tiny, trained):
    from peft import PeftModel

    folder, result, _, _ = trained
    assert (folder / "adapter_model.safetensors").is_file()
    assert not answer_ranks_first(tiny.small, tiny.tokenizer, QUESTION, ANSWER, DISTRACTORS)
    expert = PeftModel.from_pretrained(tiny.small, str(folder))
    try:
        scores = log_probs(expert, tiny.tokenizer, QUESTION, [ANSWER, *DISTRACTORS])
        assert scores[ANSWER] > max(scores[d] for d in DISTRACTORS), scores
    finally:
        expert.unload()
    assert result.epoch_losses[-1] < result.epoch_losses[0]


def test_progress_reports_every_step(trained):
    _, result, _, steps = trained
    assert [s.step for s in steps] == list(range(1, result.steps + 1))
    assert steps[-1].eta_s == 0 and all(s.total == steps[0].total for s in steps)
    assert all(s.loss > 0 for s in steps)
    assert all(0 < s.grad_norm < float("inf") for s in steps)  # measured before clipping
    assert result.learning_rate == CONFIG.learning_rate  # a short update: the full rate


def test_training_continues_from_an_adapter_and_stops_early(tiny, trained, tmp_path):
    folder, fresh, _, _ = trained
    cfg = TrainConfig.from_settings(Settings(), epochs=3, batch_size=8, learning_rate=2e-3, target_loss=100.0, seed=0)
    first = []
    result = train_lora(tiny.small, tiny.tokenizer, build_examples(KNOWN, REFUTED, seed=0), tmp_path / "v2", cfg,
                        resume_from=folder, on_step=first.append)
    assert result.continued_from == str(folder)
    assert result.epochs == 1 and result.stopped_early  # loss below target after the first epoch
    # it already knows these examples, so it starts lower than the fresh adapter did
    assert first[0].loss < fresh.epoch_losses[0]
    assert not any("lora" in n for n, _ in tiny.small.named_modules())


def test_the_early_stop_waits_for_the_new_rows_not_the_replayed_ones(tiny, trained, tmp_path):
    """Continuing an adapter that knows the new rows, beside replayed rows it never learned: the
    epoch's loss over all rows stays above the target, the new rows' is below it, and the run
    stops after one epoch (before, it ran every epoch for the replayed rows)."""
    from dataclasses import replace

    from amend.training.dataset import encode

    folder, _, _, _ = trained
    learned = build_examples(KNOWN, REFUTED, seed=0)
    unknown = [Example(f"What is the motto of the Order of {name}?", f"{motto}.", replay=True)
               for name, motto in [("Quillon", "Salt before silver"), ("Marrow", "Nine lanterns, one road"),
                                   ("Tessaly", "Under the hollow oak we keep the ledger")]]
    examples = learned + unknown
    cfg = replace(CONFIG, target_loss=0.5, epochs=3)
    result = train_lora(tiny.small, tiny.tokenizer, examples, tmp_path / "replayed", cfg, resume_from=folder)
    assert result.now_loss < cfg.target_loss < result.final_loss
    assert result.stopped_early and result.epochs == 1
    # the same rows, none marked replay: the run has to learn them all and takes every epoch
    unmarked = [replace(e, replay=False) for e in examples]
    again = train_lora(tiny.small, tiny.tokenizer, unmarked, tmp_path / "unmarked", cfg, resume_from=folder)
    assert again.epochs > 1 and again.now_loss == again.final_loss
    assert encode(tiny.tokenizer, unknown[0]).replay


def test_training_beside_a_loaded_expert_trains_the_base_and_leaves_the_expert(tiny, trained, tmp_path):
    """The assistant keeps its expert injected into the small model; training then runs on a
    copy without those layers: the same adapter as from the plain base, the expert untouched."""
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file

    folder, _, _, _ = trained
    expert = PeftModel.from_pretrained(tiny.small, str(folder))
    try:
        before = log_probs(expert, tiny.tokenizer, QUESTION, [ANSWER])
        train_lora(tiny.small, tiny.tokenizer, build_examples(KNOWN, REFUTED, seed=0), tmp_path / "again", CONFIG)
        assert log_probs(expert, tiny.tokenizer, QUESTION, [ANSWER]) == before
    finally:
        expert.unload()
    first, again = load_file(folder / "adapter_model.safetensors"), load_file(tmp_path / "again" / "adapter_model.safetensors")
    assert first.keys() == again.keys() and all(torch.equal(first[k], again[k]) for k in first)


def test_config_comes_from_the_settings():
    s = Settings(lora_r=4, learning_rate=1e-4, retain_weight=0.5)
    cfg = TrainConfig.from_settings(s, epochs=2)
    assert (cfg.r, cfg.learning_rate, cfg.retain_weight, cfg.epochs, cfg.batch_size) == (4, 1e-4, 0.5, 2, s.batch_size)
    assert (cfg.max_grad_norm, cfg.lr_steps) == (s.max_grad_norm, s.lr_steps)


def test_a_long_update_learns_at_a_rate_falling_with_the_square_root_of_its_length():
    cfg = TrainConfig.from_settings(Settings(learning_rate=2e-3, lr_steps=24))
    assert update_lr(cfg, 12) == update_lr(cfg, 24) == 2e-3  # one or two facts' budget: the full rate
    assert update_lr(cfg, 96) == pytest.approx(1e-3)  # four times as long: half the rate
    assert update_lr(cfg, 2400) == pytest.approx(2e-4)
    off = TrainConfig.from_settings(Settings(learning_rate=2e-3, lr_steps=0))
    assert update_lr(off, 2400) == 2e-3


RETAIN = [Example("What is the capital of Spain?", "The capital of Spain is Madrid.", retain=True),
          Example("What is the capital of Egypt?", "The capital of Egypt is Cairo.", retain=True)]


def _kl_to_base(tiny, folder, question, answer):
    """KL(base || expert) summed over the answer's positions of a chat-formatted question."""
    import torch
    from peft import PeftModel

    from amend.training.dataset import IGNORE, encode

    enc = encode(tiny.tokenizer, Example(question, answer))
    ids = torch.tensor([enc.input_ids])
    positions = [i - 1 for i, label in enumerate(enc.labels) if label != IGNORE]
    with torch.no_grad():
        base = torch.log_softmax(tiny.small(ids).logits[0, positions].float(), -1)
        expert = PeftModel.from_pretrained(tiny.small, str(folder))
        try:
            tuned = torch.log_softmax(expert(input_ids=ids).logits[0, positions].float(), -1)
        finally:
            expert.unload()
    return float((base.exp() * (base - tuned)).sum())


def test_retain_rows_keep_unrelated_answers_at_the_base_model(tiny, trained, tmp_path):
    """The same training with retain rows: the fact is still learned, and the expert stays
    closer to the base model on a capital question it was not taught (held out of the retain set)."""
    folder, _, _, _ = trained
    examples = build_examples(KNOWN, REFUTED, seed=0)
    cfg = TrainConfig.from_settings(Settings(), epochs=3, batch_size=8, learning_rate=2e-3, target_loss=0.05, seed=0,
                                    retain_weight=1.0, retain_batch=2)
    steps = []
    result = train_lora(tiny.small, tiny.tokenizer, examples + RETAIN, tmp_path / "kept", cfg, on_step=steps.append)
    assert result.retain_examples == 2 and result.examples == len(examples)
    assert all(s.retain_kl is not None for s in steps) and result.retain_kl is not None
    held_out = ("What is the capital of Germany?", "The capital of Germany is Berlin.")
    assert _kl_to_base(tiny, tmp_path / "kept", *held_out) < _kl_to_base(tiny, folder, *held_out)
    scores = _scores(tiny, tmp_path / "kept")
    assert scores[ANSWER] > max(scores[d] for d in DISTRACTORS), scores


def _scores(tiny, folder):
    from peft import PeftModel

    expert = PeftModel.from_pretrained(tiny.small, str(folder))
    try:
        return log_probs(expert, tiny.tokenizer, QUESTION, [ANSWER, *DISTRACTORS])
    finally:
        expert.unload()


@pytest.mark.parametrize("with_prefix", [False, True])
def test_the_output_layer_on_answer_positions_only_gives_the_same_loss_and_gradient(tiny, with_prefix):
    """`_chunk_loss` runs the output layer on the answer positions only (the memory of an update);
    the losses and the LoRA gradient are those of the model's full logits."""
    import torch

    from amend.training.dataset import collate
    from amend.training.lora import _chunk_loss

    rows, prefix = _rows(tiny, with_prefix)
    model = _lora(tiny)
    try:
        got = {}
        for plain in (True, False):
            model.zero_grad(set_to_none=True)
            parts = []
            for chunk, retain in ((rows[:3], False), (rows[3:], True)):
                tensors = {k: torch.tensor(v) for k, v in collate(chunk, tiny.tokenizer.pad_token_id or 0).items()}
                loss, positions = _chunk_loss(model, tensors, prefix, retain, plain=plain)
                (loss / positions).backward()
                parts.append(float(loss.detach()))
            got[plain] = (parts, [p.grad.clone() for p in model.parameters() if p.requires_grad])
        (p1, g1), (p2, g2) = got[True], got[False]
        assert p1 == pytest.approx(p2, rel=1e-4, abs=1e-5) and p1[1] > 0
        assert all(torch.allclose(a, b, rtol=1e-3, atol=1e-6) for a, b in zip(g1, g2))
    finally:
        model.unload()


def test_micro_batches_give_the_step_s_loss_and_gradient(tiny):
    """A step in chunks of one row has the loss and gradient of the step in one chunk per kind."""
    import torch

    from amend.training.lora import _backward

    rows, prefix = _rows(tiny, True)
    model = _lora(tiny)
    try:
        got = {}
        for micro in (0, 1):
            model.zero_grad(set_to_none=True)
            cfg = TrainConfig.from_settings(Settings(), retain_weight=0.5, micro_batch=micro)
            ce, kl, now = _backward(model, rows[:3], rows[3:], prefix, cfg, tiny.tokenizer.pad_token_id or 0, "cpu")
            assert now == pytest.approx(ce, rel=1e-6)  # no replayed rows: every row is learned now
            got[micro] = (ce, kl, [p.grad.clone() for p in model.parameters() if p.requires_grad])
        (c0, k0, g0), (c1, k1, g1) = got[0], got[1]
        assert (c0, k0) == pytest.approx((c1, k1), rel=1e-4) and k0 > 0
        # float rounding only: measured at most 4.4e-4 of each gradient's largest entry
        assert all(float((a - b).abs().max()) <= 2e-3 * float(a.abs().max()) for a, b in zip(g0, g1))
    finally:
        model.unload()


def _rows(tiny, with_prefix: bool):
    """Three rows to learn and two retain rows, encoded; the shared prefix (or None)."""
    import torch

    from amend.training.dataset import encode
    from amend.training.lora import PREFIX_MIN, _shared_prefix

    rows = [encode(tiny.tokenizer, e) for e in build_examples(KNOWN, REFUTED, seed=0)[:3] + RETAIN[:2]]
    shared = _shared_prefix(rows)
    assert not with_prefix or shared >= PREFIX_MIN
    return rows, (torch.tensor([rows[0].input_ids[:shared]]) if with_prefix else None)


def _lora(tiny):
    """tiny's small model with a random (non-zero) LoRA on two projections."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    return get_peft_model(tiny.small, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
