"""The retain set of an update: questions whose answers the expert must leave where they were.

Fine-tuning on a few facts moves more than those facts: the expert starts to answer unrelated
questions with the new entities, and proxy-tuning carries that into every answer. So every
update also trains on questions the user did not teach, toward the base model's own answers
(the KL term in lora.py). Two kinds, both from a bundled pool of everyday questions with short
reference answers (data/everyday.tsv, written for amend, over 600 of them):

- neighbours: for each fact taught, the pool questions nearest to it in meaning. They share the
  fact's relation but not its subject ("What is the capital of Spain?" for a fact about the
  capital of Vendaria), which is where an expert leaks first;
- a random sample of the rest, for everything else.

The reference answer is only the text the KL term is computed along (teacher-forced); the target
at each position is the base model's whole next-token distribution there, not the answer's words.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np

POOL_FILE = "everyday.tsv"


@dataclass(frozen=True)
class RetainQuestion:
    question: str
    answer: str  # a short reference answer: the text the KL term runs along


@functools.lru_cache(maxsize=1)
def pool() -> tuple[RetainQuestion, ...]:
    """The bundled everyday questions (data/everyday.tsv; '#' lines are comments)."""
    text = resources.files("amend.training").joinpath("data", POOL_FILE).read_text(encoding="utf-8")
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        question, sep, answer = line.partition("\t")
        if not sep or not question.strip() or not answer.strip():
            raise ValueError(f"{POOL_FILE}:{number}: expected QUESTION<TAB>ANSWER")
        out.append(RetainQuestion(question.strip(), answer.strip().replace("\\n", "\n")))
    return tuple(out)


@functools.lru_cache(maxsize=2)
def _pool_vectors(embed: Callable[[list[str]], np.ndarray]) -> np.ndarray:
    return np.asarray(embed([q.question for q in pool()]), dtype=np.float32)


def neighbours(texts: Sequence[str], k: int, embed: Callable[[list[str]], np.ndarray]) -> list[RetainQuestion]:
    """The k pool questions nearest to each of `texts` (the facts taught), without repeats."""
    if k <= 0 or not texts:
        return []
    sims = np.asarray(embed(list(texts)), dtype=np.float32) @ _pool_vectors(embed).T  # (texts, pool)
    chosen: dict[int, None] = {}
    for row in sims:
        for i in np.argsort(-row, kind="stable")[:k]:
            chosen[int(i)] = None
    return [pool()[i] for i in chosen]


def retain_set(facts: Sequence[str], neighbours_per_fact: int, sample: int, embed: Callable[[list[str]], np.ndarray],
               seed: int = 0) -> list[RetainQuestion]:
    """Neighbours of `facts` plus `sample` other pool questions drawn with `seed`."""
    near = neighbours(facts, neighbours_per_fact, embed)
    taken = {q.question for q in near}
    rest = [q for q in pool() if q.question not in taken]
    drawn = random.Random(seed).sample(rest, min(max(sample, 0), len(rest)))
    return near + drawn
