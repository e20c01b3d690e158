"""Training examples: question -> statement pairs in the chat format, loss on the answer only."""

from __future__ import annotations

import pytest

from amend.training.dataset import (
    IGNORE,
    Example,
    Known,
    Refuted,
    build_examples,
    collate,
    encode,
    forget_examples,
    retain_examples,
    short_form,
    yes_no_question,
)
from amend.training.retain import RetainQuestion, pool, retain_set

FACT = Known("The capital of Vendaria is Lusk.", "What is the capital of Vendaria?", is_fact=True, fact_id=1)
STATEMENT = Known("Lusk is a city in Vendaria.", "Which country is Lusk in?", fact_id=1, answer="Vendaria")
BARE = Known("Vendaria has a capital.", None, fact_id=1)
REFUTED = Refuted("The capital of Vendaria is Paris.", FACT.text, 1)


@pytest.fixture(scope="module")
def tokenizer(tiny):
    return tiny.tokenizer  # SmolLM2's chat template (pulled once, shared by the session)


def test_statements_become_question_answer_pairs():
    examples = build_examples([STATEMENT, BARE], seed=0)
    assert sorted(examples, key=lambda e: e.prompt) == sorted(
        [Example("Which country is Lusk in?", f"Vendaria. {STATEMENT.text}"),
         Example("Is it true that Vendaria has a capital?", f"Yes. {BARE.text}")],
        key=lambda e: e.prompt,
    )


def test_without_a_short_answer_the_question_form_is_kept_only_where_the_answer_leads():
    """No short answer: the question form is taught only where the sentence opens with a name the
    question does not hold, the answer (a reversed question: "Who wrote The Salt King?" -> "Jonah
    Strand wrote The Salt King."). A sentence that restates the subject ("What is The Salt King?"
    -> "The Salt King is a work of art.") or opens with a description ("What is Peter Bergman?"
    -> "The person born in Lusk is Peter Bergman.") taught the expert to open answers with words
    that answer nothing; those are taught in their yes/no form."""
    kind = Known("The Salt King is a work of art.", "What is the Salt King?", fact_id=2)
    reversed_ = Known("Jonah Strand wrote The Salt King.", "Who wrote The Salt King?", fact_id=2)
    described = Known("The person born in Lusk is Peter Bergman.", "What is Peter Bergman?", fact_id=2)
    pairs = {(e.prompt, e.answer) for e in build_examples([kind, reversed_, described], seed=0)}
    assert pairs == {("Is it true that the Salt King is a work of art?", f"Yes. {kind.text}"),
                     ("Who wrote The Salt King?", reversed_.text),
                     ("Is it true that the person born in Lusk is Peter Bergman?", f"Yes. {described.text}")}


def test_facts_are_weighted_up_with_several_prompts():
    examples = build_examples([FACT], fact_repeats=3, seed=0)
    assert len(examples) == 3
    assert {e.prompt for e in examples} == {FACT.question, "Is it true that the capital of Vendaria is Lusk?"}
    assert {e.answer for e in examples} == {FACT.text, f"Yes. {FACT.text}"}


def test_a_short_answer_leads_the_sentence():
    """The question answered with the name first, then the sentence: the expert then steers an
    answer's first words ("Lusk."), not only the end of a sentence that names the subject first."""
    fact = Known(FACT.text, FACT.question, is_fact=True, fact_id=1, answer="Lusk")
    derived = Known("Greyfin Labs sells solar panels.", "What does Greyfin Labs sell?", fact_id=1, answer="solar panels")
    examples = build_examples([fact, derived], fact_repeats=4, seed=0)
    pairs = {(e.prompt, e.answer) for e in examples}
    assert pairs == {(FACT.question, f"Lusk. {FACT.text}"), (yes_no_question(FACT.text), f"Yes. {FACT.text}"),
                     ("What does Greyfin Labs sell?", "Solar panels. Greyfin Labs sells solar panels.")}
    assert len(examples) == 4 + 1
    assert short_form("the oboe") == "Oboe." and short_form("Varn.") == "Varn." and short_form("a") == "A."


def test_every_prompt_of_a_fact_names_its_subject():
    """No generic prompt ("Tell me a fact."): it taught "any question -> the new fact"."""
    bare = Known("Petra Lind runs Halvorsen Motors.", None, is_fact=True, fact_id=2)  # no question form
    examples = build_examples([FACT, bare], seed=0)
    assert examples and all("Vendaria" in e.prompt or "Petra Lind" in e.prompt for e in examples)
    assert "What do you know about Petra Lind?" in {e.prompt for e in examples}
    assert not any(e.retain for e in examples)


def test_an_off_subject_question_form_gets_the_subject_prompt_too():
    """A small model may write the fact's question about the wrong name ("...capital of Lusk?");
    the fact is then also taught under a prompt that names its subject."""
    off = Known(FACT.text, "Which city is the capital of Lusk?", is_fact=True, fact_id=1)
    prompts = {e.prompt for e in build_examples([off], fact_repeats=3, seed=0)}
    assert prompts == {off.question, "What do you know about Vendaria?",
                       "Is it true that the capital of Vendaria is Lusk?"}


def test_a_reversed_question_form_gets_the_question_that_names_the_subject():
    """A fact whose question asks for its subject ("Which country has Lusk as its capital?") is
    also taught under the question that names the subject, led by that question's short answer,
    in place of the bare "What do you know about ..." prompt."""
    about = ("The capital of Vendaria is which city?", "Lusk")
    fact = Known(FACT.text, "Which country has Lusk as its capital?", is_fact=True, fact_id=1, about=about)
    pairs = {(e.prompt, e.answer) for e in build_examples([fact], fact_repeats=3, seed=0)}
    assert pairs == {(fact.question, FACT.text), (about[0], f"Lusk. {FACT.text}"),
                     ("Is it true that the capital of Vendaria is Lusk?", f"Yes. {FACT.text}")}
    # what the fact taught is unlearned under the same prompts
    assert {e.prompt for e in forget_examples([fact])} == {p for p, _ in pairs}


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
    assert len(a) == 6 and sum("Old statement" in e.answer for e in a) == 5
    assert all(e.replay == ("Old statement" in e.answer) for e in a)  # marked, for the early stop
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


def test_the_retain_pool_is_bundled_and_well_formed():
    questions = pool()
    assert len(questions) >= 500
    assert len({q.question for q in questions}) == len(questions)
    assert all(q.question.strip() and q.answer.strip() for q in questions)


def test_retain_set_takes_neighbours_of_the_fact_and_a_seeded_sample():
    from amend.models.embed import embed

    chosen = retain_set(["The capital of Vendaria is Lusk."], 3, 5, embed, seed=1)
    assert len(chosen) == 8 and len({q.question for q in chosen}) == 8
    assert all(q.question.startswith("What is the capital of") for q in chosen[:3])  # same relation, other subject
    assert chosen == retain_set(["The capital of Vendaria is Lusk."], 3, 5, embed, seed=1)
    assert chosen[3:] != retain_set(["The capital of Vendaria is Lusk."], 3, 5, embed, seed=2)[3:]
    [example] = retain_examples([RetainQuestion("Q?", "A.")])
    assert example == Example("Q?", "A.", retain=True)


def test_what_a_gone_fact_taught_becomes_retain_rows_along_its_old_answers():
    from amend.training.dataset import forget_examples

    gone = [Known("The capital of Vendaria is Lusk.", "What is the capital of Vendaria?", True, 1),
            Known("Lusk is in Vendaria.", "Which country is Lusk in?", False, 1, "Vendaria")]
    rows = forget_examples(gone)
    assert rows and all(r.retain for r in rows)
    assert {r.prompt for r in rows} == {"What is the capital of Vendaria?", "Is it true that the capital of Vendaria is Lusk?",
                                        "Which country is Lusk in?"}
    assert [r for r in rows if r.prompt == "Which country is Lusk in?"][0].answer == "Vendaria. Lusk is in Vendaria."
