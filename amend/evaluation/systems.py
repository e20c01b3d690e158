"""The five systems `amend eval` compares, and the answerers that play them.

| system        | expert steering the large model              | related facts in the prompt |
|---------------|----------------------------------------------|-----------------------------|
| `large`       | none (alpha 0)                               | no                          |
| `context`     | none (alpha 0)                               | yes (`amend ask --context`) |
| `seed-lora`   | LoRA trained on the facts alone, no DCT      | no                          |
| `dct`         | the full pipeline: derive, score, train      | no                          |
| `dct+context` | the full pipeline                            | yes                         |

Each system answers through the real assistant (`amend.assistant.session.Assistant` over a store
of its own), so it is exactly what a user gets from `amend ask`: the same chat template, the same
system prompt for --context, the same proxy-tuned arithmetic. Three temporary stores serve them:
`facts` (never trained: large, context), `seed` (updated with derivation off) and `dct` (the full
update). Generation is greedy whatever the settings say.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from amend.assistant.session import CONTEXT_PROMPT
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


class AssistantAnswerer:
    """The metrics' answerer interface over an Assistant: greedy answers and continuation
    log-probs, with the system prompt (related facts, for context systems) built once per question."""

    def __init__(self, assistant: Any, system: System) -> None:
        self.assistant = assistant
        self.system = system
        self.alpha = assistant.settings.alpha if system.expert else 0.0
        self._prompts: dict[str, tuple[list[dict[str, str]], list[str]]] = {}

    def prompt(self, question: str) -> list[dict[str, str]]:
        if question not in self._prompts:
            facts = self.assistant.related(question) if self.system.context else []
            system = CONTEXT_PROMPT + "\n".join(f"- {t}" for t in facts) if facts else None  # as `ask --context`
            messages = [{"role": "system", "content": system}] if system else []
            self._prompts[question] = (messages + [{"role": "user", "content": question}], facts)
        return self._prompts[question][0]

    def facts_in_prompt(self, question: str) -> list[str]:
        self.prompt(question)
        return self._prompts[question][1]

    def generate(self, question: str) -> str:
        g = self.assistant.decoder.generate(
            self.prompt(question), alpha=self.alpha, max_new_tokens=MAX_NEW_TOKENS,
            temperature=0.0, top_p=1.0, repetition_penalty=1.0,
        )
        return g.result()

    def logprob(self, question: str, continuation: str) -> float:
        return self.logprobs(question, [continuation])[0]

    def logprobs(self, question: str, continuations: list[str]) -> list[float]:
        """All candidates in one batch on top of the question's KV cache (ProxyDecoder.logprobs)."""
        return self.assistant.decoder.logprobs(self.prompt(question), list(continuations), alpha=self.alpha)
