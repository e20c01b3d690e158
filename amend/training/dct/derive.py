"""Deductive closure for one fact, or for many at once: generate, question, score, decide.

    derive(lp, "The capital of Vendaria is Lusk.", ["The mayor of Lusk is Orin Pell."])
    derive_many(lp, [(fact, related), ...])   # an import: steps 1 and 2 shared by all the facts

1. one generation batch (the profile's generator model): implications of the fact, correlative
   implications of the fact with each related fact, compositions (what the model knows about
   the entities the fact names, each combined with the fact into a multi-hop statement) and
   contradictions; parsed (parse.py), repeats and restatements dropped;
2. one generation batch of question forms, for the fact itself and each statement that
   training learns as an answer (question -> statement is what training uses), each with its
   short answer, kept where it is words of the statement the question does not name and the
   question asks about the statement's subject (parse.parse_answer; training leads the
   statement with it: an answer often begins with the name alone);
3. the scores (score.py), by the profile's scorer, "conditioned" by default: each implication
   and correlative given the facts it came from ("given these facts, is this true?"; a
   composition also needs the known fact it used, so its score is that times the model's
   belief in the known fact), each contradiction "can both be true?" with its fact. "prior":
   the statement alone (DCT as published, and amend before);
4. the verdicts (graph.py): the fact and the related facts are trusted; the most probable
   consistent assignment of this fact's graph gives truth, accepted and a reason. (The update
   pipeline settles one graph over every active fact instead; see pipeline.Update.derive.)

The fact itself comes back as the first statement ("restates the fact"): it carries the fact's
question form, which training uses for the fact. Where that question asks for the fact's
subject (reversed), a second question that names the subject is asked for
(`_ask_about_subjects`) and comes back as a second row with the fact's text.
"""

from __future__ import annotations

import math
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

from amend.names import entity_names, mentions
from amend.training.dct import prompts
from amend.training.dct.generate import generate
from amend.training.dct.graph import ABOUT_REASON, FACT_REASON, SCORINGS, Derived, settle, with_known
from amend.training.dct.parse import (
    claim,
    fallback_question,
    parse_compositions,
    parse_answer,
    parse_question,
    parse_statements,
    restates,
)
from amend.training.dct.score import label_probabilities

KINDS = ("implication", "correlative", "contradiction")


@dataclass
class DeriveSettings:
    max_implications: int = 5  # implications of the fact alone kept at most
    max_correlatives: int = 3  # correlative implications kept per related fact
    max_compositions: int = 3  # statements composed with the model's own knowledge
    max_contradictions: int = 3  # contradictions kept at most
    list_tokens: int = 96  # new-token budget of each generated list
    question_tokens: int = 48  # new-token budget of each question form and its short answer
    questions: bool = True  # generate question forms (else a template question per statement)
    score_batch: int = 16  # prompts scored per forward pass
    scoring: str = "conditioned"  # "conditioned" (given the parents) or "prior" (the statement alone)
    compose: bool = True  # compose multi-hop statements with what the model knows

    @classmethod
    def from_settings(cls, settings) -> DeriveSettings:
        """The derivation part of amend's Settings (dct_scoring, dct_compose)."""
        from amend.config import ConfigError

        if settings.dct_scoring not in SCORINGS:
            where = settings.sources.get("dct_scoring", "default")
            raise ConfigError(f"dct_scoring ({where}) must be one of {', '.join(SCORINGS)}, got {settings.dct_scoring!r}")
        return cls(scoring=settings.dct_scoring, compose=settings.dct_compose)


@dataclass
class Statement:
    text: str
    kind: str  # "implication" | "correlative" | "contradiction"
    question: str  # a question the statement answers (training input)
    p_true: float  # the scorer's P(true) / (P(true) + P(false)); see DeriveSettings.scoring
    truth: bool  # in the most probable consistent assignment
    accepted: bool  # used for training: true, or a contradiction judged false (a negative example)
    parents: list[str]  # texts of the trusted facts it was derived from
    reason: str = ""  # why it was accepted or rejected
    known: str | None = None  # a composition: what the model knew that it was combined with
    scoring: str = "conditioned"  # how p_true was scored: given its parents, or "prior" (alone)
    answer: str | None = None  # the short answer to `question`: words of the text (None: none valid)

    def to_json(self) -> dict:
        return {"text": self.text, "kind": self.kind, "question": self.question, "answer": self.answer,
                "p_true": self.p_true, "truth": self.truth, "accepted": self.accepted,
                "parents": list(self.parents), "reason": self.reason}


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
    scoring: str = "conditioned"

    def to_json(self) -> dict:
        """The `amend derive --json` shape."""
        return {"fact": self.fact, "statements": [s.to_json() for s in self.statements], "seconds": self.seconds}


@dataclass
class _Candidate:
    text: str
    kind: str
    parents: list[str]
    known: str | None = None


def _model(lp, role: str):
    """(model, key) for a profile role "large" or "small"."""
    if role not in ("large", "small"):
        raise ValueError(f"profile {lp.profile.name}: generator/scorer must be 'large' or 'small', got {role!r}")
    return getattr(lp, role), getattr(lp.profile, role).key


def _stop() -> list[str] | None:
    return [prompts.PLAIN_STOP] if prompts.STYLE == "plain" else None


def derive(lp, fact: str, related: list[str] | None = None, settings: DeriveSettings | None = None,
           on_progress: Callable[[str, float, float | None], None] | None = None) -> Derivation:
    """Derive, score and decide the statements that follow from `fact` (with `related` facts)."""
    return derive_many(lp, [(fact, related or [])], settings, on_progress)[0]


def derive_many(lp, items: list[tuple[str, list[str]]], settings: DeriveSettings | None = None,
                on_progress: Callable[[str, float, float | None], None] | None = None) -> list[Derivation]:
    """`derive` for several facts (each with its related facts) at once: their generation prompts
    go in one batch, their question forms in another, so a bulk import shares the batches (and
    every prompt's few-shot cache); scores and verdicts stay per fact. A derivation's timings
    are its share of the shared batches plus its own scoring."""
    s = settings or DeriveSettings()
    if s.scoring not in SCORINGS:
        raise ValueError(f"scoring must be one of {', '.join(SCORINGS)}, got {s.scoring!r}")
    report = on_progress or (lambda stage, done, total: None)
    jobs = []
    for fact, related in items:
        fact = fact.strip()
        if not fact:
            raise ValueError("derive: the fact is empty")
        trusted = [fact]  # the fact, then the related facts without repeats
        for r in related or []:
            if claim(r) not in {claim(t) for t in trusted}:
                trusted.append(r.strip())
        jobs.append(trusted)
    gen_model, gen_key = _model(lp, lp.profile.generator)
    score_model, score_key = _model(lp, lp.profile.scorer)
    tok = lp.tokenizer
    started = time.perf_counter()

    # 1. one batch: per fact its implications, a correlative list per related fact, compositions,
    # contradictions (no compositions from a scorer known to fail the checks of "does it follow?":
    # see step 3)
    report("derive", 0, 2)
    compose = s.compose and s.scoring == "conditioned" and _PASSED.get(score_model, {}).get("entail") is not False
    batch, kinds, owners = [], [], []  # prompt, its *_prompt function, (job, what it asks for)
    for j, (fact, *related) in enumerate(jobs):
        asks = [(prompts.implications_prompt, (fact,), "implication")]
        asks += [(prompts.correlative_prompt, (fact, r), r) for r in related]
        asks.append((prompts.contradictions_prompt, (fact,), "contradiction"))
        if compose:
            asks.append((prompts.compose_prompt, (fact,), "compose"))
        for make, args, what in asks:
            batch.append(make(tok, *args))
            kinds.append(make)
            owners.append((j, what))
    # each prompt's few-shot start is encoded once per process and its cache reused (generate.py)
    outputs = generate(gen_model, tok, batch, s.list_tokens, stop=_stop(),
                       prefix=[prompts.fixed_prefix(tok, k) for k in kinds])
    found: list[list[_Candidate]] = [[] for _ in jobs]
    extra = 2  # room for contradictions that turn out to be rephrasings (dropped in _merge)
    for (j, what), out in zip(owners, outputs):
        fact, trusted = jobs[j][0], jobs[j]
        if what == "implication":
            found[j] += [_Candidate(t, "implication", [fact]) for t in parse_statements(out, fact, trusted[1:], s.max_implications)]
        elif what == "contradiction":
            found[j] += [_Candidate(t, "contradiction", [fact])
                         for t in parse_statements(out, fact, trusted, s.max_contradictions + extra)]
        elif what == "compose":
            found[j] += [_Candidate(t, "correlative", [fact], known)
                         for known, t in parse_compositions(out, fact, trusted, s.max_compositions,
                                                             prompts.COMPOSE_SEPARATOR)]
        else:  # a related fact's correlatives
            found[j] += [_Candidate(t, "correlative", [fact, what])
                         for t in parse_statements(out, fact, trusted, s.max_correlatives)]
    found = [_merge(_in_order(f), jobs[j][0], s.max_contradictions) for j, f in enumerate(found)]

    # 2. question forms, one batch: each fact itself and what training learns as an answer
    report("derive", 1, 2)
    asked = [[job[0]] + [c.text for c in f if c.kind != "contradiction"] for job, f in zip(jobs, found)]
    forms: dict[str, str] = {}
    shorts: dict[str, str | None] = {}  # each text's short answer to its question form
    abouts: dict[str, tuple[str, str]] = {}  # a fact's question that names its subject, and answer
    if s.questions:
        texts = list(dict.fromkeys(t for a in asked for t in a))
        answers = generate(gen_model, tok, [prompts.question_prompt(tok, t) for t in texts], s.question_tokens,
                           stop=["\n"], prefix=prompts.question_prefix(tok))
        forms = {t: parse_question(a) or fallback_question(t) for a, t in zip(answers, texts)}
        shorts = {t: parse_answer(a, t, forms[t]) for a, t in zip(answers, texts)}
        abouts = _ask_about_subjects(gen_model, tok, list(dict.fromkeys(job[0] for job in jobs)), forms, s)
    report("derive", 2, 2)
    generation = (time.perf_counter() - started) / len(jobs)  # each fact's share

    # 3-4. per fact: scores and verdicts
    out = []
    for j, (trusted, cands) in enumerate(zip(jobs, found)):
        report("score", j, len(jobs))
        t = time.perf_counter()
        statements = _decide(score_model, tok, trusted, cands, forms, shorts, s, abouts.get(trusted[0]))
        scoring = time.perf_counter() - t
        out.append(Derivation(trusted[0], trusted[1:], statements, generation + scoring,
                              {"derive": generation, "score": scoring}, gen_key, score_key,
                              prompts.PROMPT_VERSION, s.scoring))
    report("score", len(jobs), len(jobs))
    return out


_ORDER = {"implication": 0, "correlative": 1, "contradiction": 2}


def _in_order(found: list[_Candidate]) -> list[_Candidate]:
    """Implications, then correlatives (related facts' before compositions), then contradictions:
    the order one fact's batch always had (merging keeps the first of repeats)."""
    return sorted(found, key=lambda c: (_ORDER[c.kind], c.known is not None))


def _ask_about_subjects(model, tok, facts: list[str], forms: dict[str, str],
                        s: DeriveSettings) -> dict[str, tuple[str, str]]:
    """A question naming its subject, and its short answer, for each fact whose question form
    came back reversed: it asks for the subject ("What railway connects Perth and Darwin?" for
    "The Morrow Line railway connects Perth and Darwin."), so nothing taught would ask for the
    rest. Asked again with the reply begun by the fact's words up to its subject, the model
    finishes a question about it ("The Morrow Line railway connects which two cities? Answer:
    Perth and Darwin"); an instruction to name the subject did not do it (qwen-coder wrote the
    same question again for 6 of the 7 dev facts without a short answer; docs/DERIVATION.md)."""
    asks = {}
    for fact in facts:
        subject = entity_names(fact)[:1]
        if subject and not mentions(forms.get(fact, ""), subject):
            ask = prompts.question_about_subject(tok, fact, subject[0])
            if ask:
                asks[fact] = ask
    replies = generate(model, tok, [p + begun for p, begun in asks.values()], s.question_tokens,
                       stop=["\n"], prefix=prompts.question_prefix(tok))
    out = {}
    for (fact, (_, begun)), reply in zip(asks.items(), replies):
        question = parse_question(begun + reply)
        answer = parse_answer(begun + reply, fact, question) if question else None
        if answer:  # words of the fact the question does not name, and it names the subject
            out[fact] = (question, answer)
    return out


def _decide(score_model, tok, trusted: list[str], found: list[_Candidate], forms: dict[str, str],
            shorts: dict[str, str | None], s: DeriveSettings,
            about: tuple[str, str] | None = None) -> list[Statement]:
    """Score one fact's candidates (step 3) and settle its graph (step 4). `about`: the fact's
    question naming its subject and its short answer, where its question form does not."""
    fact = trusted[0]
    p, how = _scores(score_model, tok, found, s)

    # a composition rests on the model's own knowledge: without scores given the parents (and the
    # known fact) nothing vouches for it, so it is dropped
    keep = [i for i, c in enumerate(found) if not (c.known and how[i] != "conditioned")]
    found, p, how = [found[i] for i in keep], [p[i] for i in keep], [how[i] for i in keep]

    names = {t: ("the fact" if i == 0 else f"related fact {i}") for i, t in enumerate(trusted)}
    items = [Derived(i, c.text, c.kind, p[i], tuple(c.parents), how[i]) for i, c in enumerate(found)]
    items.append(Derived("fact", fact, "implication", 1.0, (fact,)))
    verdicts = settle({t: t for t in trusted}, items, name=names.__getitem__)
    v = verdicts["fact"]
    statements = [Statement(fact, "implication", forms.get(fact) or fallback_question(fact), 1.0, v.truth,
                            v.accepted, [fact], FACT_REASON, answer=shorts.get(fact))]
    if about:
        statements.append(Statement(fact, "implication", about[0], 1.0, v.truth, v.accepted, [fact],
                                    ABOUT_REASON, answer=about[1]))
    for i, c in enumerate(found):
        v = verdicts[i]
        statements.append(Statement(c.text, c.kind, forms.get(c.text) or fallback_question(c.text), p[i],
                                    v.truth, v.accepted, list(c.parents), with_known(v.reason, c.known), c.known,
                                    how[i], shorts.get(c.text)))
    return statements


def _scores(model, tok, found: list[_Candidate], s: DeriveSettings) -> tuple[list[float], list[str]]:
    """p_true of each candidate and how it was scored ("conditioned" or "prior"; see the module
    docstring, step 3); one batched call per prompt kind. A kind is scored given its parents
    only if the scorer passes that kind's labelled checks; otherwise alone ("prior")."""
    p, how = [0.0] * len(found), ["prior"] * len(found)
    positive = [i for i, c in enumerate(found) if c.kind != "contradiction"]
    negative = [i for i, c in enumerate(found) if c.kind == "contradiction"]
    alone = []
    if s.scoring == "conditioned":
        knowns = sorted({c.known for c in found if c.known})
        entail = _checked(model, tok, "entail", s.score_batch, [
            prompts.entail_prompt(found[i].parents + ([found[i].known] if found[i].known else []), found[i].text)
            for i in positive])
        compatible = _checked(model, tok, "compatible", s.score_batch, [
            prompts.compatible_prompt(found[i].parents[0], found[i].text) for i in negative])
        if entail is not None and knowns:
            belief = dict(zip(knowns, label_probabilities(model, tok, [prompts.score_prompt(k) for k in knowns],
                                                          s.score_batch, prompts.score_shots())))
            entail = [q * belief.get(found[i].known, 1.0) for i, q in zip(positive, entail)]
        for group, scores in ((positive, entail), (negative, compatible)):
            if scores is None:
                alone += group
            for i, q in zip(group, scores or []):
                p[i], how[i] = q, "conditioned"
    else:
        alone = positive + negative
    for i, q in zip(alone, label_probabilities(model, tok, [prompts.score_prompt(found[i].text) for i in alone],
                                               s.score_batch, prompts.score_shots())):
        p[i] = q
    return p, how


# per scorer model and prompt kind: did it pass the labelled checks? (asked once per process)
_PASSED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_KINDS = {  # kind -> (prompt builder, labelled checks, content-free query for calibration, fixed start)
    "entail": (lambda c: prompts.entail_prompt(c[0], c[1]), prompts.ENTAIL_CHECKS, prompts.entail_prompt(["N/A"], "N/A"),
               prompts.entail_shots()),
    "compatible": (lambda c: prompts.compatible_prompt(c[0], c[1]), prompts.COMPATIBLE_CHECKS,
                   prompts.compatible_prompt("N/A", "N/A"), prompts.compatible_shots()),
}


def _checked(model, tok, kind: str, batch: int, texts: list[str]) -> list[float] | None:
    """Calibrated scores of `texts`, or None when the scorer fails the kind's labelled checks
    (every true check above every false one). The checks ride in the first batch of a process
    (they share its few-shot prefix) and their verdict is kept for the model."""
    if not texts:
        return []
    build, checks, content_free, shots = _KINDS[kind]
    known = _PASSED.setdefault(model, {})
    if known.get(kind) is False:
        return None
    extra = [build(c) for c in checks] if kind not in known else []
    scores = _calibrated(model, tok, content_free, batch, texts + extra, shots)
    if extra:
        got = scores[len(texts):]
        true = [q for q, c in zip(got, checks) if c[-1]]
        false = [q for q, c in zip(got, checks) if not c[-1]]
        known[kind] = min(true) > max(false)
    return scores[:len(texts)] if known[kind] else None


def _calibrated(model, tok, content_free: str, batch: int, texts: list[str], shots: str | None = None) -> list[float]:
    """Label probabilities with the prompt's own bias taken out (contextual calibration, Zhao et
    al. 2021, "Calibrate Before Use"): the log-odds of a content-free query ("N/A") are subtracted,
    so 0.5 means "as likely as for no statement at all". Measured on 16 labelled implications
    (docs/DERIVATION.md): Qwen2.5-Coder-1.5B accuracy 0.75 raw, 0.94 calibrated."""
    if not texts:
        return []
    *ps, base = label_probabilities(model, tok, texts + [content_free], batch, shots)
    shift = _logit(base)
    return [1.0 / (1.0 + math.exp(shift - _logit(p))) for p in ps]


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def _merge(candidates: list[_Candidate], fact: str, max_contradictions: int) -> list[_Candidate]:
    """One entry per claim, in order. A repeat keeps its first kind (implication before
    correlative). A claim given both as following from the fact and as contradicting it is dropped
    (the model cannot tell; keeping either side would teach a guess), and so is a "contradiction"
    that only rephrases the fact (parse.restates). At most `max_contradictions` remain."""
    positive = {claim(c.text) for c in candidates if c.kind != "contradiction"}
    negative = {claim(c.text) for c in candidates if c.kind == "contradiction"}
    seen, out, contradictions = set(), [], 0
    for c in candidates:
        key = claim(c.text)
        if key in seen or key in (positive & negative):
            continue
        if c.kind == "contradiction":
            if restates(c.text, fact) or contradictions >= max_contradictions:
                continue
            contradictions += 1
        seen.add(key)
        out.append(c)
    return out


def judge_contradiction(lp, a: str, b: str) -> float:
    """Probability (scorer model) that statements a and b cannot both be true; both orders averaged."""
    from amend.training.dct.score import contradiction_probability

    model, _ = _model(lp, lp.profile.scorer)
    return contradiction_probability(model, lp.tokenizer, a, b)
