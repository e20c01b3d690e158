"""Deductive closure for one fact: generate, question, score, choose the consistent set.

    derive(lp, "The capital of Vendaria is Lusk.", ["The mayor of Lusk is Orin Pell."])

1. one generation batch (the profile's generator model): implications of the fact, correlative
   implications of the fact with each related fact, contradictions of the fact; parsed into
   statements (parse.py), duplicates and restatements of trusted facts dropped;
2. one generation batch of question forms (question -> statement is what training uses);
3. p_true of every statement from the profile's scorer model (score.py);
4. the graph: the fact and the related facts are trusted (fixed true); the fact implies each
   implication, the fact and its related fact each imply their correlatives, each contradiction
   contradicts the fact; the most probable consistent assignment (consistency.py) gives `truth`.
   With trusted parents this fixes implications true and contradictions false whatever p says;
   p_true is kept for training weights and inspection.
`accepted` = what training uses: true statements, and contradictions judged false (negatives).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from amend.training.dct import prompts
from amend.training.dct.consistency import Graph, most_probable
from amend.training.dct.generate import generate
from amend.training.dct.parse import fallback_question, normalize, parse_question, parse_statements, restates
from amend.training.dct.score import contradiction_probability, score_statements

KINDS = ("implication", "correlative", "contradiction")


@dataclass
class DeriveSettings:
    max_implications: int = 5  # implications of the fact alone kept at most
    max_correlatives: int = 3  # correlative implications kept per related fact
    max_contradictions: int = 3  # contradictions kept at most
    list_tokens: int = 96  # new-token budget of each generated list
    question_tokens: int = 32  # new-token budget of each question form
    questions: bool = True  # generate question forms (else a template question per statement)
    score_batch: int = 16  # statements scored per forward pass


@dataclass
class Statement:
    text: str
    kind: str  # "implication" | "correlative" | "contradiction"
    question: str  # a question the statement answers (training input)
    p_true: float  # the scorer's P(true) / (P(true) + P(false))
    truth: bool  # in the most probable consistent assignment
    accepted: bool  # used for training: true, or a contradiction judged false (a negative example)
    parents: list[str]  # texts of the trusted facts it was derived from

    def to_json(self) -> dict:
        return {"text": self.text, "kind": self.kind, "p_true": self.p_true, "truth": self.truth,
                "accepted": self.accepted, "parents": list(self.parents)}


@dataclass
class Derivation:
    fact: str
    related: list[str]  # the related facts that were combined with it
    statements: list[Statement]
    seconds: float  # wall time of the whole derivation (models already loaded)
    timings: dict[str, float] = field(default_factory=dict)  # "derive" (generation), "score"
    generator: str = ""  # model key of the generator
    scorer: str = ""  # model key of the scorer
    prompt_version: str = prompts.PROMPT_VERSION
    log_probability: float = 0.0  # of the chosen assignment

    def to_json(self) -> dict:
        """The `amend derive --json` shape."""
        return {"fact": self.fact, "statements": [s.to_json() for s in self.statements], "seconds": self.seconds}

    def records(self) -> list[dict]:
        """Statements as dicts (text, kind, question, p_true, truth, accepted, parents) for storing."""
        return [asdict(s) for s in self.statements]

    def by_parents(self) -> dict[tuple[str, ...], list[dict]]:
        """records() grouped by their parents' texts (one save_derivation call per group)."""
        groups: dict[tuple[str, ...], list[dict]] = {}
        for r in self.records():
            groups.setdefault(tuple(r["parents"]), []).append(r)
        return groups


def _model(lp, role: str):
    """(model, key) for a profile role "large" or "small"."""
    if role not in ("large", "small"):
        raise ValueError(f"profile {lp.profile.name}: generator/scorer must be 'large' or 'small', got {role!r}")
    return getattr(lp, role), getattr(lp.profile, role).key


def _stop() -> list[str] | None:
    return [prompts.PLAIN_STOP] if prompts.STYLE == "plain" else None


def derive(lp, fact: str, related: list[str] | None = None, settings: DeriveSettings | None = None,
           on_progress: Callable[[str, float, float | None], None] | None = None) -> Derivation:
    """Derive, score and check the statements that follow from `fact` (with `related` facts)."""
    s = settings or DeriveSettings()
    report = on_progress or (lambda stage, done, total: None)
    fact = fact.strip()
    if not fact:
        raise ValueError("derive: the fact is empty")
    trusted = [fact]  # the fact, then the related facts without repeats
    for r in related or []:
        if normalize(r) not in {normalize(t) for t in trusted}:
            trusted.append(r.strip())
    related = trusted[1:]
    gen_model, gen_key = _model(lp, lp.profile.generator)
    score_model, score_key = _model(lp, lp.profile.scorer)
    tok = lp.tokenizer
    started = time.perf_counter()

    # 1. one batch: implications, a correlative list per related fact, contradictions
    report("derive", 0, 2)
    batch = [prompts.implications_prompt(tok, fact),
             *(prompts.correlative_prompt(tok, fact, r) for r in related),
             prompts.contradictions_prompt(tok, fact)]
    outputs = generate(gen_model, tok, batch, s.list_tokens, stop=_stop())
    candidates = [(t, "implication", [fact]) for t in parse_statements(outputs[0], fact, related, s.max_implications)]
    for r, out in zip(related, outputs[1:-1]):
        candidates += [(t, "correlative", [fact, r]) for t in parse_statements(out, fact, trusted, s.max_correlatives)]
    extra = 2  # room for contradictions that turn out to be rephrasings (dropped in _merge)
    candidates += [(t, "contradiction", [fact]) for t in parse_statements(outputs[-1], fact, trusted, s.max_contradictions + extra)]
    found = _merge(candidates, fact, s.max_contradictions)

    # 2. question forms, one batch
    report("derive", 1, 2)
    texts = [t for t, _, _ in found]
    if s.questions and texts:
        answers = generate(gen_model, tok, [prompts.question_prompt(tok, t) for t in texts], s.question_tokens,
                           stop=["\n"])
        questions = [parse_question(a) or fallback_question(t) for a, t in zip(answers, texts)]
    else:
        questions = [fallback_question(t) for t in texts]
    report("derive", 2, 2)
    generated = time.perf_counter()

    # 3. p_true of every statement
    report("score", 0, 1)
    p = score_statements(score_model, tok, texts, s.score_batch)

    # 4. trusted facts fixed true; the most probable consistent assignment
    graph = Graph(p={i: p[i] for i in range(len(found))}, fixed={("fact", t): True for t in trusted})
    for i, (_, kind, parents) in enumerate(found):
        for parent in parents:
            edges = graph.contradicts if kind == "contradiction" else graph.implies
            edges.append((("fact", parent), i))
    assignment = most_probable(graph)
    statements = []
    for i, (text, kind, parents) in enumerate(found):
        truth = assignment.truth[i]
        statements.append(Statement(text, kind, questions[i], p[i], truth,
                                    truth or kind == "contradiction", list(parents)))
    report("score", 1, 1)
    done = time.perf_counter()
    return Derivation(fact, related, statements, done - started,
                      {"derive": generated - started, "score": done - generated},
                      gen_key, score_key, prompts.PROMPT_VERSION, assignment.log_probability)


def _merge(candidates: list[tuple[str, str, list[str]]], fact: str, max_contradictions: int
           ) -> list[tuple[str, str, list[str]]]:
    """One entry per statement, in order. A repeat keeps its first kind (implication before
    correlative). A text given both as following from the fact and as contradicting it is dropped
    (the model cannot tell; keeping either side would teach a guess), and so is a "contradiction"
    that only rephrases the fact (parse.restates). At most `max_contradictions` remain."""
    positive = {normalize(t) for t, kind, _ in candidates if kind != "contradiction"}
    negative = {normalize(t) for t, kind, _ in candidates if kind == "contradiction"}
    seen, out, contradictions = set(), [], 0
    for text, kind, parents in candidates:
        key = normalize(text)
        if key in seen or key in (positive & negative):
            continue
        if kind == "contradiction":
            if restates(text, fact) or contradictions >= max_contradictions:
                continue
            contradictions += 1
        seen.add(key)
        out.append((text, kind, parents))
    return out


def judge_contradiction(lp, a: str, b: str) -> float:
    """Probability (scorer model) that statements a and b cannot both be true; both orders averaged."""
    model, _ = _model(lp, lp.profile.scorer)
    return contradiction_probability(model, lp.tokenizer, a, b)
