"""The five systems `amend eval` compares, and the answerers that play them.

| system        | expert steering the large model              | related facts in the prompt |
|---------------|----------------------------------------------|-----------------------------|
| `large`       | none (alpha 0)                               | no                          |
| `context`     | none (alpha 0)                               | yes (`amend ask --context`) |
| `seed-lora`   | LoRA trained on the facts alone, no DCT      | no                          |
| `dct`         | the full pipeline: derive, score, train      | no                          |
| `dct+context` | the full pipeline                            | yes                         |

The expert systems steer with the strength the scope gate gives each question (alpha * gate,
amend.assistant.scope), exactly as `amend ask` does; each probe result records the gate's
decision (`scope`), so the report can say how often each kind of probe opened it.

Each system answers through the real assistant (`amend.assistant.session.Assistant` over a store
of its own), so it is exactly what a user gets from `amend ask`: the same chat template, the same
system prompt for --context, the same proxy-tuned arithmetic. Three temporary stores serve them:
`facts` (never trained: large, context), `seed` (updated with derivation off) and `dct` (the full
update). Generation is greedy whatever the settings say.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from amend.assistant.session import context_prompt
from amend.errors import UserError
from amend.evaluation.metrics import MAX_NEW_TOKENS


@dataclass(frozen=True)
class System:
    name: str
    store: str  # which temporary store answers: "facts" (no expert), "seed" or "dct"
    context: bool  # related facts in the system prompt
    expert: bool  # steered by the store's active adapter (alpha from the settings), else alpha 0


SYSTEMS: dict[str, System] = {s.name: s for s in (
    System("large", "facts", context=False, expert=False),
    System("context", "facts", context=True, expert=False),
    System("seed-lora", "seed", context=False, expert=True),
    System("dct", "dct", context=False, expert=True),
    System("dct+context", "dct", context=True, expert=True),
)}


class UnknownSystem(UserError):
    """An unknown system name in --systems."""


def parse_systems(text: str | None) -> list[System]:
    """'large,dct' -> [System, ...] in the order given; all five when empty."""
    if not text:
        return list(SYSTEMS.values())
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in SYSTEMS]
    if unknown or not names:
        raise UnknownSystem(f"--systems: unknown system {', '.join(map(repr, unknown)) or repr(text)}; "
                           f"known: {', '.join(SYSTEMS)}")
    return [SYSTEMS[n] for n in dict.fromkeys(names)]


@dataclass
class Prepared:
    """How a system answers one question: the messages, the facts in them, the gate's decision."""

    messages: list[dict[str, str]]
    facts: list[str]
    scope: dict | None  # Scope.to_json() for the expert systems, None for the others
    alpha: float  # the expert's strength for this question (0 for large and context)
    steer_below: float = 1.0  # which tokens the expert steers (Assistant.steer_below)


class EvalAnswerer:
    """The metrics' answerer interface over an Assistant: greedy answers and continuation
    log-probs, with the system prompt (related facts, for context systems) and the scope gate's
    strength (for expert systems) decided once per question, as `amend ask` decides them."""

    def __init__(self, assistant: Any, system: System) -> None:
        self.assistant = assistant
        self.system = system
        self._prepared: dict[str, Prepared] = {}
        self._answers: dict[str, str] = {}  # answered ahead (`answer_ahead`), not yet asked for

    def prepare(self, question: str) -> Prepared:
        if question not in self._prepared:
            a = self.assistant
            index, vector = a.knowledge(), a.embed_one(question)
            facts = a.related(question, index, vector) if self.system.context else []
            system = context_prompt(facts)
            messages = [{"role": "system", "content": system}] if system else []
            scope = a.scope(question, index=index, vector=vector) if self.system.expert else None
            self._prepared[question] = Prepared(messages + [{"role": "user", "content": question}], facts,
                                                scope.to_json() if scope else None, scope.alpha if scope else 0.0,
                                                a.steer_below(facts))
        return self._prepared[question]

    def answer_ahead(self, questions: list[str]) -> None:
        """The greedy answers to these questions, in one batch (amend.assistant.batch: what
        `generate` gives each alone), kept for `generate` to hand out."""
        from amend.assistant.batch import greedy_answers

        todo = [q for q in dict.fromkeys(questions) if q not in self._answers]
        if todo:
            ps = [self.prepare(q) for q in todo]
            texts = greedy_answers(self.assistant.decoder, [p.messages for p in ps], [p.alpha for p in ps],
                                   [p.steer_below for p in ps], MAX_NEW_TOKENS)
            self._answers.update(zip(todo, texts))

    def generate(self, question: str) -> str:
        if question in self._answers:
            return self._answers.pop(question)
        p = self.prepare(question)
        g = self.assistant.decoder.generate(
            p.messages, alpha=p.alpha, steer_below=p.steer_below, max_new_tokens=MAX_NEW_TOKENS,
            temperature=0.0, top_p=1.0, repetition_penalty=1.0,
        )
        return g.result()

    def logprob(self, question: str, continuation: str) -> float:
        return self.logprobs(question, [continuation])[0]

    def logprobs(self, question: str, continuations: list[str]) -> list[float]:
        """All candidates in one batch on top of the question's KV cache (ProxyDecoder.logprobs)."""
        p = self.prepare(question)
        return self.assistant.decoder.logprobs(p.messages, list(continuations), alpha=p.alpha, steer_below=p.steer_below)
