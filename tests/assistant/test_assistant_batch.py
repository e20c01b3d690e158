"""Greedy answers in one batch (amend.assistant.batch) against one answer at a time, on tiny."""

from __future__ import annotations

import pytest
import torch

from amend.assistant.batch import BatchStep, greedy_answers
from amend.assistant.decoder import DecodeOptions, ProxyDecoder
from amend.assistant.proxy import strength

pytestmark = pytest.mark.slow

# prompts of different lengths, one with a system prompt: padding, a shared template prefix
PROMPTS = [
    "What is the capital of France?",
    "Name a color.",
    [{"role": "system", "content": "Facts: The CEO of Halvorsen Motors is Petra Lind."},
     {"role": "user", "content": "Who leads Halvorsen Motors?"}],
    "Who wrote Hamlet? Answer in one word.",
]
ALPHAS = [1.5, 0.0, 0.7, 1.0]  # a row at alpha 0 is the large model alone
BELOW = [1.0, 1.0, 0.6, 0.6]  # two rows steered only where the large model hesitates
# the assistant's refinements on (amend.config defaults), a short answer length for speed
OPTIONS = DecodeOptions(plausible=0.1, tail_floor=1e-5, max_new_tokens=12)


def one_at_a_time(d: ProxyDecoder, alphas=ALPHAS, below=BELOW) -> list[str]:
    return [d.generate(p, alpha=a, steer_below=b, temperature=0.0).result() for p, a, b in zip(PROMPTS, alphas, below)]


@pytest.mark.parametrize("setup", ["shared", "pair", "none", "pair-bias"])
def test_batched_greedy_answers_are_the_answers_one_at_a_time(tiny, random_adapter, pair, tmp_path, setup):
    """The one-model profile, two models, the large model alone, and peft's own mixed batch (LoRA bias)."""
    from amend.assistant.synthetic import save_lora

    loaded, adapter = {"shared": (tiny, random_adapter), "pair": pair, "none": (tiny, None),
                       "pair-bias": (pair[0], None)}[setup]
    if setup == "pair-bias":
        adapter = save_lora(loaded.small, tmp_path / "bias-lora", std=0.05, seed=4, lora_bias=True)
    with ProxyDecoder(loaded, adapter, OPTIONS) as d:
        alone = one_at_a_time(d)
        together = greedy_answers(d, PROMPTS, ALPHAS, BELOW, OPTIONS.max_new_tokens)
    assert together == alone
    assert all(together) and len(set(together)) == len(PROMPTS)  # real, different answers
    assert greedy_answers(d, [], [], [], 5) == []


def test_rows_that_end_leave_the_batch_and_the_rest_go_on(tiny, random_adapter, monkeypatch):
    """A row that reaches the end token is dropped from the caches; the others answer on."""
    kept: list[int] = []
    real_keep = BatchStep.keep
    monkeypatch.setattr(BatchStep, "keep", lambda self, rows: (kept.append(len(rows)), real_keep(self, rows)))
    prompts = ["Say only: yes", "Count from one to twenty, in words."]
    with ProxyDecoder(tiny, random_adapter, OPTIONS) as d:
        alone = [d.generate(p, alpha=1.0, temperature=0.0, max_new_tokens=20).result() for p in prompts]
        together = greedy_answers(d, prompts, [1.0, 1.0], [1.0, 1.0], 20)
    assert together == alone
    assert kept == [1]  # the short answer ended, the long one went on alone
    assert len(alone[1]) > 2 * len(alone[0])


def test_strength_takes_a_column_of_steer_below():
    """Per row, the column gives what the number gives alone; a row at 1 steers even a certain token."""
    large = torch.tensor([[10.0, 0.0, 0.0], [0.0, 0.1, 0.0], [100.0, 0.0, 0.0]])
    below = torch.tensor([[0.6], [0.6], [1.0]])
    column = strength(large, 2.0, below)
    rows = [strength(large[i: i + 1], 2.0, float(below[i])) for i in range(3)]
    assert column.view(-1).tolist() == [0.0, 2.0, 2.0]
    assert [float(torch.as_tensor(r).view(-1)[0]) for r in rows] == [0.0, 2.0, 2.0]
