"""The two scores of a probe, and their means per system and probe kind.

- generation: the answerer's greedy answer (at most 32 new tokens) contains an answer alias,
  case-insensitive, as a whole word or phrase ("US" is not found in "because"); an alias of up
  to three characters is a code and must match in its own case ("US" is not "us"), and an
  all-lower-case one does not count (MQuAKE lists "is" for Iceland and "it" for Italian: every
  "... is ..." would match);
- ranking: the best alias's total log probability, as the continuation of the chat-formatted
  question, is higher than every distractor's. The margin is best alias minus best distractor
  (positive = ranked right), kept per probe to see how close a miss was.

An answerer is anything with `generate(question) -> str` and `logprobs(question, continuations)
-> list[float]` (see systems.py for the real ones; tests use a scripted one). All the candidates
of a probe (aliases and distractors) are scored in one call, which the real answerers run as one
batched forward on top of the question's KV cache.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Protocol

from amend.evaluation.cases import KINDS, Case, Probe

MAX_NEW_TOKENS = 32  # the generation metric's answer length
SHORT_ALIAS = 3  # an alias this short is a code ("IT", "HRV"): matched in its own case (contains_answer)


class Answerer(Protocol):
    def generate(self, question: str) -> str:
        """The greedy answer to a question (at most MAX_NEW_TOKENS new tokens)."""

    def logprobs(self, question: str, continuations: list[str]) -> list[float]:
        """Total log probability of each continuation as the answer to the chat-formatted question."""


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def contains_answer(text: str, answers: Iterable[str]) -> bool:
    """Whether any alias occurs in text, not inside a longer word: case-insensitive, except a
    short alias (a code), which matches only in its own case and only with a capital or digit."""
    folded, normal = _fold(text), unicodedata.normalize("NFKC", text)
    for alias in (a.strip() for a in answers):
        short = len(alias) <= SHORT_ALIAS
        if not alias or (short and alias == alias.lower() and not any(c.isdigit() for c in alias)):
            continue
        needle, haystack = (unicodedata.normalize("NFKC", alias), normal) if short else (_fold(alias), folded)
        if re.search(r"(?<!\w)" + re.escape(needle) + r"(?!\w)", haystack):
            return True
    return False


@dataclass
class ProbeResult:
    case: str  # case id
    system: str  # which system answered
    kind: str  # probe kind
    question: str
    answer: str  # the generated answer ("" when generation was not measured)
    generation: bool  # the answer contains an alias
    ranking: bool  # the best alias outscored every distractor
    margin: float  # best alias log-prob minus best distractor log-prob
    best_alias: str  # the alias with the highest log-prob
    best_distractor: str  # the distractor with the highest log-prob
    facts_in_prompt: list[str] = field(default_factory=list)  # related facts a context system was shown
    scope: dict | None = None  # the scope gate's decision (expert systems): relevance, gate, alpha, matches

    def to_json(self) -> dict:
        return asdict(self)


def score_probe(answerer: Answerer, probe: Probe, case: str = "", system: str = "") -> ProbeResult:
    """Both scores of one probe for one answerer."""
    answer = answerer.generate(probe.question)
    candidates = list(probe.answers) + list(probe.distractors)
    scores = answerer.logprobs(probe.question, candidates)
    alias_lp = dict(zip(probe.answers, scores[: len(probe.answers)]))
    wrong_lp = dict(zip(probe.distractors, scores[len(probe.answers):]))
    best_alias = max(alias_lp, key=alias_lp.get)
    best_wrong = max(wrong_lp, key=wrong_lp.get)
    margin = alias_lp[best_alias] - wrong_lp[best_wrong]
    return ProbeResult(
        case=case, system=system, kind=probe.kind, question=probe.question, answer=answer,
        generation=contains_answer(answer, probe.answers), ranking=margin > 0, margin=float(margin),
        best_alias=best_alias, best_distractor=best_wrong,
    )


def score_case(answerer: Answerer, case: Case, system: str = "") -> list[ProbeResult]:
    return [score_probe(answerer, p, case.id, system) for p in case.probes]


def aggregate(results: Iterable[ProbeResult]) -> dict[str, dict[str, dict]]:
    """{system: {kind: {"ranking": mean, "generation": mean, "n": probes}}}, kinds in KINDS order;
    expert systems also get "gate": the share of the kind's probes that opened the scope gate
    (direct, paraphrase and multihop probes should; locality probes should not)."""
    groups: dict[str, dict[str, list[ProbeResult]]] = {}
    for r in results:
        groups.setdefault(r.system, {}).setdefault(r.kind, []).append(r)
    table: dict[str, dict[str, dict]] = {}
    for system, kinds in groups.items():
        table[system] = {}
        for kind in sorted(kinds, key=lambda k: KINDS.index(k) if k in KINDS else len(KINDS)):
            rs = kinds[kind]
            table[system][kind] = {
                "ranking": sum(r.ranking for r in rs) / len(rs),
                "generation": sum(r.generation for r in rs) / len(rs),
                "n": len(rs),
            }
            gated = [r for r in rs if r.scope is not None]
            if gated:
                table[system][kind]["gate"] = sum(r.scope["gate"] > 0 for r in gated) / len(gated)
    return table
