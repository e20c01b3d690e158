"""Training examples: question -> statement pairs in the chat format, loss on the answer only."""

from __future__ import annotations

import pytest

from amend.training.dataset import (
    GENERIC_PROMPT,
    IGNORE,
    Example,
    Known,
    Refuted,
    build_examples,
    collate,
    encode,
    yes_no_question,
)

FACT = Known("The capital of Vendaria is Lusk.", "What is the capital of Vendaria?", is_fact=True, fact_id=1)
STATEMENT = Known("Lusk is a city in Vendaria.", "Which country is Lusk in?", fact_id=1)
BARE = Known("Vendaria has a capital.", None, fact_id=1)
REFUTED = Refuted("The capital of Vendaria is Paris.", FACT.text, 1)


@pytest.fixture(scope="module")
def tokenizer(tiny):
    return tiny.tokenizer  # SmolLM2's chat template (pulled once, shared by the session)


def test_statements_become_question_answer_pairs():
    examples = build_examples([STATEMENT, BARE], seed=0)
    assert sorted(examples, key=lambda e: e.prompt) == sorted(
        [Example("Which country is Lusk in?", STATEMENT.text), Example(GENERIC_PROMPT, BARE.text)],
        key=lambda e: e.prompt,
    )


def test_facts_are_weighted_up_with_several_prompts():
    examples = build_examples([FACT], fact_repeats=3, seed=0)
    assert len(examples) == 3
    assert {e.prompt for e in examples} == {FACT.question, GENERIC_PROMPT, "Is it true that the capital of Vendaria is Lusk?"}
    assert {e.answer for e in examples} == {FACT.text, f"Yes. {FACT.text}"}


def test_contradictions_become_negatives():
    [example] = build_examples([], [REFUTED], seed=0)
    assert example == Example("Is it true that the capital of Vendaria is Paris?", f"No. {FACT.text}")
    assert yes_no_question("Mira Tallis was born in Oslo.") == "Is it true that Mira Tallis was born in Oslo?"


def test_replay_samples_earlier_statements_deterministically():
    pool = [Known(f"Old statement number {i}.", f"Question {i}?", fact_id=i) for i in range(20)]
    a = build_examples([STATEMENT], replay_pool=pool, replay=5, seed=3)
    b = build_examples([STATEMENT], replay_pool=list(reversed(pool)), replay=5, seed=3)
    c = build_examples([STATEMENT], replay_pool=pool, replay=5, seed=4)
    assert a == b  # the same items whatever order the pool came in
    assert len(a) == 6 and sum(e.answer.startswith("Old statement") for e in a) == 5
    assert a != c
    assert len(build_examples([STATEMENT], replay_pool=pool, replay=0)) == 1


def test_encode_puts_the_loss_on_the_answer_only(tokenizer):
    enc = encode(tokenizer, Example("What is the capital of Vendaria?", "The capital of Vendaria is Lusk."))
    answer = [t for t, label in zip(enc.input_ids, enc.labels) if label != IGNORE]
    prompt = [t for t, label in zip(enc.input_ids, enc.labels) if label == IGNORE]
    assert tokenizer.decode(answer) == "The capital of Vendaria is Lusk.<|im_end|>"
    assert tokenizer.decode(prompt).endswith("What is the capital of Vendaria?<|im_end|>\n<|im_start|>assistant\n")
    assert [label for label in enc.labels if label != IGNORE] == answer


def test_collate_pads_without_loss(tokenizer):
    short = encode(tokenizer, Example("Hi?", "Yes."))
    long = encode(tokenizer, Example("What is the capital of Vendaria?", "The capital of Vendaria is Lusk."))
    batch = collate([short, long], pad_id=0)
    width = len(long.input_ids)
    assert all(len(row) == width for rows in batch.values() for row in rows)
    pad = width - len(short.input_ids)
    assert batch["attention_mask"][0] == [1] * len(short.input_ids) + [0] * pad
    assert batch["labels"][0][len(short.input_ids):] == [IGNORE] * pad
