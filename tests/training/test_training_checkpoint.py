"""Training checkpoints on tiny: an interrupted run continues from its last checkpoint and ends
with the adapter an uninterrupted run makes; another run's checkpoint is ignored."""

from __future__ import annotations

from dataclasses import replace

import pytest

from amend.config import Settings
from amend.training.dataset import Example, Known, Refuted, build_examples
from amend.training.lora import TrainConfig, train_lora

pytestmark = pytest.mark.slow

FACT = "The capital of Vendaria is Lusk."
KNOWN = [Known(FACT, "What is the capital of Vendaria?", is_fact=True, fact_id=1),
         Known("Lusk is a city in Vendaria.", "Which country is Lusk in?", fact_id=1)]
REFUTED = [Refuted("The capital of Vendaria is Paris.", FACT, 1)]
RETAIN = [Example("What is the capital of Spain?", "The capital of Spain is Madrid.", retain=True),
          Example("What is the capital of Egypt?", "The capital of Egypt is Cairo.", retain=True)]
# two rows a step over two epochs, the second shuffled: a resume has to get the order right; no
# early stop, so both runs take every step
CONFIG = TrainConfig.from_settings(Settings(), epochs=2, batch_size=2, retain_batch=1, target_loss=0.0, seed=0,
                                   micro_batch=0)
EVERY_STEP = 1e-9  # checkpoint_every_s: a checkpoint after each step


class Stop(Exception):
    """Raised from on_step to interrupt a run."""


def stop_at(step: int):
    """An on_step that interrupts the run once `step` is done."""
    def on_step(r) -> None:
        if r.step == step:
            raise Stop
    return on_step


def _weights(folder):
    from safetensors.torch import load_file

    return load_file(folder / "adapter_model.safetensors")


def _examples():
    return build_examples(KNOWN, REFUTED, seed=0) + RETAIN


def test_an_interrupted_run_continues_and_ends_with_the_uninterrupted_adapter(tiny, tmp_path):
    import torch

    whole = train_lora(tiny.small, tiny.tokenizer, _examples(), tmp_path / "whole", CONFIG)
    assert whole.epochs == 2 and whole.steps > 4

    checkpoint = tmp_path / "state.pt"
    cut = whole.steps // 2 + 1  # inside the second epoch (shuffled), after an odd number of steps

    with pytest.raises(Stop):
        train_lora(tiny.small, tiny.tokenizer, _examples(), tmp_path / "cut", CONFIG, on_step=stop_at(cut),
                   checkpoint=checkpoint, checkpoint_every_s=EVERY_STEP)
    assert checkpoint.is_file()
    assert not any("lora" in n for n, _ in tiny.small.named_modules())  # the model came back clean

    steps = []
    resumed = train_lora(tiny.small, tiny.tokenizer, _examples(), tmp_path / "resumed", CONFIG,
                         on_step=steps.append, checkpoint=checkpoint, checkpoint_every_s=EVERY_STEP)
    # the checkpoint is written after on_step, so the step that raised is done again
    assert steps[0].step == cut and steps[-1].step == whole.steps
    assert (resumed.steps, resumed.epochs) == (whole.steps, whole.epochs)
    assert resumed.epoch_losses == pytest.approx(whole.epoch_losses, abs=1e-6)
    a, b = _weights(tmp_path / "whole"), _weights(tmp_path / "resumed")
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert resumed.seconds > 0 and resumed.step_seconds > 0


def test_another_run_s_checkpoint_is_ignored(tiny, tmp_path):
    checkpoint = tmp_path / "state.pt"
    other = replace(CONFIG, learning_rate=CONFIG.learning_rate / 2, max_steps=2)

    with pytest.raises(Stop):
        train_lora(tiny.small, tiny.tokenizer, _examples(), tmp_path / "other", other,
                   on_step=stop_at(2),  # raised before the checkpoint of step 2: the one of step 1 is there
                   checkpoint=checkpoint, checkpoint_every_s=EVERY_STEP)
    assert checkpoint.is_file()

    steps = []
    short = replace(CONFIG, max_steps=2)  # another learning rate: another fingerprint
    result = train_lora(tiny.small, tiny.tokenizer, _examples(), tmp_path / "mine", short, on_step=steps.append,
                        checkpoint=checkpoint, checkpoint_every_s=EVERY_STEP)
    assert [s.step for s in steps] == [1, 2] and result.steps == 2

    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint")
    steps.clear()
    train_lora(tiny.small, tiny.tokenizer, _examples(), tmp_path / "again", short, on_step=steps.append,
               checkpoint=tmp_path / "garbage.pt", checkpoint_every_s=0)
    assert [s.step for s in steps] == [1, 2]  # an unreadable file: a fresh start, no error
