"""Training examples for the expert: what it should say, asked the way a user would ask.

The method (DCT, Akyürek et al. 2024) trains question -> statement: every statement the expert
should hold becomes a chat turn whose user message is a question it answers and whose assistant
message is the statement itself, as plain text. The expert steers answers at decoding time, in
the same chat format, so this is exactly the situation it has to be good in.

- An accepted statement with a question form (DCT writes one per statement): question -> text,
  led by its short answer where DCT found one (words of the text): "What does Greyfin Labs
  sell?" -> "Solar panels. Greyfin Labs sells solar panels.". Without a short answer the
  question form is kept only where the sentence opens with its answer, a name the question does
  not hold ("Who wrote The Salt King?" -> "Jonah Strand wrote The Salt King.", `_leads_with_answer`);
  otherwise, and without a question form: "Is it true that <text>?" -> "Yes. <text>".
- A user fact counts more than a derived statement (`fact_repeats` examples, cycling through
  its prompts: its question form (answered as above); where that question asks for the fact's
  subject ("What railway connects Perth and Darwin?"), a second question that names it, led by
  its short answer ("The Morrow Line railway connects which two cities?" -> "Perth and Darwin.
  The Morrow Line ..."), else "What do you know about <its first name>?" when it has no
  question form or one that does not name that subject; "Is it true that <fact>?" -> "Yes.
  <fact>").
  Every prompt names the fact's subject: there is no generic prompt ("Tell me a fact." taught
  "any question -> the new fact", which leaked into every answer), and the "about" prompt only
  stands in for a missing or off-subject question form (it teaches "any question naming X ->
  the fact", which crowds out answers that go one hop further).
- A contradiction judged false becomes a negative: "Is it true that <c>?" -> "No. <fact>", so the
  expert learns to reject it rather than merely never to say it.
- An incremental update adds a replay sample of earlier statements (`replay` of them), so an
  adapter trained further on new facts does not forget the old ones. They are marked
  (`Example.replay`): the trainer's early stop waits for the new examples only (lora.py).
- The retain set (retain.py) becomes examples with `retain=True`: they carry no target words;
  the trainer keeps the expert's distribution on them at the base model's (lora.py). What a
  retracted or edited fact taught becomes such examples too (`forget_examples`): unlearning is
  training its prompts back to the base model.

The loss is on the answer tokens only: the prompt's labels are -100. Everything is deterministic
given the seed. This module has no torch import; `encode` and `collate` work on token ids.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from amend.names import entity_names, mentions
from amend.training.dct.parse import fallback_question as yes_no_question

IGNORE = -100  # label for tokens that carry no loss (the prompt, the padding)
_ARTICLE = re.compile(r"^(the|a|an)\s+", re.IGNORECASE)  # a sentence's leading article
FACT_REPEATS = 5  # examples per user fact (a derived statement gets one): the fact must be learned


@dataclass(frozen=True)
class Known:
    """Something the expert should say: a user fact or an accepted derived statement."""

    text: str  # the statement, as plain text
    question: str | None = None  # a question it answers (None: the generic prompt is used)
    is_fact: bool = False  # the user's own fact (weighted up)
    fact_id: int | None = None  # the user fact it belongs to (a fact's own id for a fact)
    answer: str | None = None  # the short answer to `question`, words of `text` (None: none known)
    about: tuple[str, str] | None = None  # a fact's: a question naming its subject and its short
    # answer, where `question` asks for the subject instead (derive._ask_about_subjects)


@dataclass(frozen=True)
class Refuted:
    """A contradiction judged false, with the user fact that refutes it."""

    text: str  # the false statement
    fact: str  # the fact that refutes it; the answer is "No. <fact>"
    fact_id: int | None = None


@dataclass(frozen=True)
class Example:
    """One chat turn to train on: the user's message and the assistant's answer."""

    prompt: str
    answer: str
    retain: bool = False  # a retain question: keep the base model's distribution along `answer`
    replay: bool = False  # a replayed earlier item: trained, but the early stop does not wait for it


def short_form(answer: str) -> str:
    """A short answer as the expert says it: "the oboe" -> "Oboe.", "Varn" -> "Varn."."""
    body = _ARTICLE.sub("", answer.strip().rstrip("."), count=1)
    return body[:1].upper() + body[1:] + "."


def examples_for(item: Known, fact_repeats: int = FACT_REPEATS) -> list[Example]:
    """The examples one known statement contributes (a fact gets `fact_repeats` of them)."""
    text = item.text.strip()
    confirm = Example(yes_no_question(text), f"Yes. {text}")
    # the answer first, then the sentence ("Varn. The Kessel Tower stands in Varn."): the expert
    # steers an answer's first words too, not only the end of a sentence that names the subject
    # first, and the sentence keeps the relation said (a bare "Varn." taught for one question
    # came back for other questions about the same subject)
    answered = f"{short_form(item.answer)} {text}" if item.answer else text
    if not item.is_fact:
        taught = item.question and (item.answer or _leads_with_answer(item))
        return [Example(item.question, answered) if taught else confirm]
    prompts = [Example(item.question, answered)] if item.question else []
    subject = entity_names(text)[:1]
    if item.about:  # the question form asks for the subject: this one asks about it
        prompts.append(Example(item.about[0], f"{short_form(item.about[1])} {text}"))
    elif subject and not mentions(item.question or "", subject):
        # no question form (no derivation), or one that does not name the fact's subject (a
        # small model may ask about the wrong name): ask about the subject too
        prompts.append(Example(f"What do you know about {subject[0]}?", text))
    prompts.append(confirm)
    return [prompts[i % len(prompts)] for i in range(max(1, fact_repeats))]


def _leads_with_answer(item: Known) -> bool:
    """Whether a statement without a short answer opens with its question's answer: a name
    (after a leading article) that the question does not hold ("Who wrote The Salt King?" ->
    "Jonah Strand wrote The Salt King."). Taught as that question's answer, any other sentence
    teaches the expert to open answers with words that are not an answer: one that restates the
    subject ("What is The Salt King?" -> "The Salt King is a work of art.") made it open every
    answer about that subject so, and a description ("What is Peter Bergman?" -> "The person
    who was born in Lusk is Peter Bergman.") made it open answers that should name something
    with "The ...". Those are taught in their yes/no form."""
    names = entity_names(item.text)
    body = _ARTICLE.sub("", item.text.strip(), count=1)
    return bool(names) and body.startswith(names[0]) and not mentions(item.question or "", names[:1])


def negative_for(item: Refuted) -> Example:
    return Example(yes_no_question(item.text), f"No. {item.fact.strip()}")


def retain_examples(questions: Iterable) -> list[Example]:
    """Retain questions (retain.RetainQuestion) as examples the trainer keeps at the base model."""
    return [Example(q.question, q.answer, retain=True) for q in questions]


def forget_examples(items: Iterable[Known]) -> list[Example]:
    """What the adapter learned and must give up (plan.py's unlearn mode), as retain examples:
    each prompt it was taught, kept at the base model's distribution along the old answer."""
    return [replace(e, retain=True) for item in items for e in examples_for(item)]


def build_examples(
    known: Iterable[Known],
    refuted: Iterable[Refuted] = (),
    replay_pool: Sequence[Known] = (),
    replay: int = 0,
    fact_repeats: int = FACT_REPEATS,
    seed: int = 0,
) -> list[Example]:
    """All examples of one training run, shuffled with `seed`, the user's facts spread evenly.

    `known`: the facts and accepted statements to learn now; `refuted`: contradictions judged
    false; `replay_pool`: what earlier adapters learned, of which `replay` items are sampled
    (incremental updates only; pass 0 for a full retrain, which has everything in `known`).
    """
    rng = random.Random(seed)
    facts = [e for item in known if item.is_fact for e in examples_for(item, fact_repeats)]
    others = [e for item in known if not item.is_fact for e in examples_for(item, fact_repeats)]
    others += [negative_for(item) for item in refuted]
    if replay > 0 and replay_pool:
        pool = sorted(set(replay_pool), key=lambda k: (k.fact_id or 0, k.text))  # order-independent
        for item in rng.sample(pool, min(replay, len(pool))):
            others += [replace(e, replay=True) for e in examples_for(item, fact_repeats=1)]
    rng.shuffle(facts)
    rng.shuffle(others)
    return _spread(facts, others)


def _spread(few: list[Example], many: list[Example]) -> list[Example]:
    """`few` spaced evenly through `many`: every stretch of the order (every batch of a step
    budget that ends before the epoch does) holds its share of the user's facts."""
    if not few:
        return many
    out, gap = [], (len(many) + len(few)) / len(few)
    slots = {int(i * gap) for i in range(len(few))}
    it_few, it_many = iter(few), iter(many)
    for i in range(len(few) + len(many)):
        out.append(next(it_few) if i in slots else next(it_many))
    return out


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    labels: list[int]  # IGNORE on the prompt, the token id on the answer
    retain: bool = False  # the answer positions carry the KL term to the base model, not cross-entropy
    replay: bool = False  # a replayed earlier item (Example.replay)


def chat_prompt(tokenizer, question: str) -> str:
    """The chat-formatted prompt that ends where the assistant's answer begins."""
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": question}], add_generation_prompt=True, tokenize=False
    )


def encode(tokenizer, example: Example, max_length: int = 160) -> Encoded:
    """Token ids of prompt + answer (with the template's end-of-turn), loss on the answer only."""
    prompt = chat_prompt(tokenizer, example.prompt)
    full = tokenizer.apply_chat_template(
        [{"role": "user", "content": example.prompt}, {"role": "assistant", "content": example.answer}],
        tokenize=False,
    )
    # the answer as the template writes it (e.g. "Paris.<|im_end|>"); the trailing newline
    # after the end-of-turn token is never generated, so it carries no loss
    answer = full[len(prompt):].rstrip("\n") if full.startswith(prompt) else example.answer + (tokenizer.eos_token or "")
    p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    a_ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
    p_ids = p_ids[-max(1, max_length - len(a_ids)):]  # keep the prompt's end if too long
    ids = (p_ids + a_ids)[:max_length]
    labels = ([IGNORE] * len(p_ids) + a_ids)[:max_length]
    return Encoded(ids, labels, example.retain, example.replay)


def collate(batch: Sequence[Encoded], pad_id: int) -> dict[str, list[list[int]]]:
    """Right-padded input_ids, attention_mask and labels (padding carries no loss)."""
    width = max(len(e.input_ids) for e in batch)
    out: dict[str, list[list[int]]] = {"input_ids": [], "attention_mask": [], "labels": []}
    for e in batch:
        pad = width - len(e.input_ids)
        out["input_ids"].append(e.input_ids + [pad_id] * pad)
        out["attention_mask"].append([1] * len(e.input_ids) + [0] * pad)
        out["labels"].append(e.labels + [IGNORE] * pad)
    return out
