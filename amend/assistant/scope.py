"""The scope gate: which questions the expert may change, and how strongly; and which facts go
into the prompt.

Proxy-tuning adds `alpha * (expert - base)` to every token of every answer, so an expert trained
on a few facts also pushes them into unrelated answers ("What is the capital of Germany?" ->
"The capital of Ostra is Kell."). Knowledge editors that keep locality decide first whether an
input is about an edit at all (SERAC's scope classifier, GRACE's deferral radius, WISE's router).
amend does it with what it already has, the sentence vectors of what the expert was taught:

    relevance(q) = max( cosine(q, t) for t in taught texts,
                        cosine(q, f) for f in their question forms, if q names an entity of that item,
                        1.0 if q names the subject of a taught fact, or another of its names
                            and shares a relation word with it )
    gate(r)      = clip((r - (threshold - softness)) / softness, 0, 1)   # a ramp; a step if softness 0
    alpha_used   = alpha * gate(relevance(q))

A question with gate 0 is answered by the large model alone, token for token. "Taught" is what
the active adapter was trained on (amend.store.taught): a retracted or edited fact leaves the
scope at once. Threshold and softness are settings (scope_threshold, scope_softness); their
calibration is in docs/RESULTS.md ("The scope gate").

A fact's answer is not its subject: "What is the official language of Turkey?" names Turkey,
which "Ann Lee is a citizen of Turkey." names too, but the fact changes nothing about Turkey's
language. Opened by every name, the gate let an expert of 293 facts answer such neighbours
("The official language of Trinidad and Tobago is Spanish.", docs/RESULTS.md). So a name opens it
when it is the fact's subject (its first name, as derivation's questions take it) or when the
question also shares one of the fact's relation words ("Who are the citizens of Turkey?",
"Which sport does the team coached by Lena Brix play?", "… the composer of The Salt King" for
"Jonah Strand composed …"); otherwise meaning decides ("Who wrote Quiet Algebra?" is 0.73 from
"Ivo Renn is the author of the textbook Quiet Algebra.", enough on its own).

A question form counts only with a name: "Which star does the planet Ardis orbit?" is one name
away from "Which star does the Earth orbit?" (cosine 0.9), since a question form is mostly the
relation's wording, which every neighbour question shares. A statement itself carries its
answer, so its meaning alone may open the gate, with one exception: the vector of a short derived
statement is mostly its names ("Croatia is a country.", cosine 0.76 with "What is the name of the
current head of state in Croatia?"), so a statement that shares a name with the question counts
only if the question asks about nothing else (no relation word) or shares one of its relation
words, or its question form's, or its parent facts' (the same test as a fact's answer above).

The context (facts in the system prompt) uses the same relevance per fact, with its own floor
(context_floor): facts named in the question or close to it in meaning, then facts that share a
name with those (the second hop: "capital of Vendaria is Lusk" brings "mayor of Lusk is ...").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from amend.names import NameIndex, entity_names, fold, relation_words, share_a_word
from amend.store.taught import Taught

NAME_RELEVANCE = 1.0  # relevance of a question that names an entity of a fact


def gate(relevance: float, threshold: float, softness: float) -> float:
    """0 below threshold - softness, 1 from threshold on, linear in between (a step if softness <= 0)."""
    if relevance >= threshold:
        return 1.0
    if softness <= 0:
        return 0.0
    return float(max(0.0, (relevance - (threshold - softness)) / softness))


@dataclass
class Match:
    """One taught item a question is related to."""

    text: str  # the fact or statement
    score: float  # cosine similarity, or NAME_RELEVANCE for a named entity
    via: str  # "name" (the question names an entity of it) or "meaning" (sentence vectors)
    fact_ids: list[int] = field(default_factory=list)  # the fact itself, or a statement's parents

    def to_json(self) -> dict:
        return {"text": self.text, "score": round(self.score, 3), "via": self.via, "facts": self.fact_ids}


@dataclass
class Scope:
    """The gate's decision for one question."""

    relevance: float  # 0-1: how related the question is to what the expert was taught
    gate: float  # 0-1: gate(relevance)
    alpha: float  # the expert's strength for this answer: alpha * gate
    matches: list[Match] = field(default_factory=list)  # what opened the gate, best first

    @property
    def steered(self) -> bool:
        return self.alpha != 0.0

    def to_json(self) -> dict:
        return {"relevance": round(self.relevance, 3), "gate": round(self.gate, 3), "alpha": round(self.alpha, 3),
                "steered": self.steered, "matches": [m.to_json() for m in self.matches]}


def about(question: str, vector: np.ndarray, texts: list[str], text_vectors: np.ndarray, floor: float) -> bool:
    """Whether `question` names an entity of one of `texts` or is at least `floor` similar to one
    (the same test the context uses)."""
    if not texts:
        return False
    if NameIndex(n for t in texts for n in entity_names(t)).find(question):
        return True
    return bool((text_vectors @ vector >= floor).any())


class ScopeIndex:
    """The taught items of one knowledge state, ready to be compared with questions."""

    def __init__(self, taught: Taught) -> None:
        self.taught = taught
        self.fact_names = [entity_names(t) for t in taught.fact_texts]
        self.rows_by_name: dict[str, list[int]] = {}  # a name -> the rows of the active facts that name it
        for i, ns in enumerate(self.fact_names):
            for n in ns:
                self.rows_by_name.setdefault(n, []).append(i)
        self.names = NameIndex(self.rows_by_name)  # every name of an active fact
        self.subjects = [fold(ns[0]) if ns else "" for ns in self.fact_names]  # each fact's first name
        self.relation_words = [relation_words(t) for t in taught.fact_texts]
        self.taught_rows = np.array([i for i, f in enumerate(taught.fact_ids) if f in taught.taught_facts], dtype=np.int64)
        # the names of each statement and of its question form: a question form counts only for
        # a question that names one of them (see the module docstring)
        self.statement_names = [{fold(n) for n in entity_names(s) + entity_names(q)}
                                for s, q in zip(taught.statements, taught.questions)]
        self.all_statement_names = NameIndex(n for ns in self.statement_names for n in ns)
        # what each statement says about its names: its words, its question form's, its parent facts'
        row_of = {f: i for i, f in enumerate(taught.fact_ids)}
        self.statement_relation_words = [
            relation_words(s) | relation_words(q)
            | {w for p in parents if p in row_of for w in self.relation_words[row_of[p]]}
            for s, q, parents in zip(taught.statements, taught.questions, taught.statement_parents)]

    def judge(self, question: str, vector: np.ndarray, alpha: float, threshold: float, softness: float,
              names: bool = True, top: int = 3) -> Scope:
        """The gate's decision for `question` (its unit sentence vector `vector`)."""
        t = self.taught
        matches: list[Match] = []
        asked = relation_words(question)
        if names:
            for name in self.names.find(question):
                rows = [r for r in self.rows_by_name[name] if t.fact_ids[r] in t.taught_facts
                        and (fold(name) == self.subjects[r] or share_a_word(asked, self.relation_words[r]))]
                if rows:
                    matches.append(Match(t.fact_texts[rows[0]], NAME_RELEVANCE, "name", [t.fact_ids[r] for r in rows]))
        if len(self.taught_rows):
            sims = t.fact_vectors[self.taught_rows] @ vector
            for i in np.argsort(-sims, kind="stable")[:top]:
                r = int(self.taught_rows[i])
                matches.append(Match(t.fact_texts[r], float(sims[i]), "meaning", [t.fact_ids[r]]))
        if t.statements:
            named = {fold(n) for n in self.all_statement_names.find(question)}
            with_name = np.array([bool(ns & named) for ns in self.statement_names])
            sims = np.where(with_name, np.maximum(t.statement_vectors @ vector, t.question_vectors @ vector),
                            t.statement_vectors @ vector)
            # a statement alike only in a name: the question asks about something it does not say
            name_only = ({i for i in np.flatnonzero(with_name)
                          if not share_a_word(asked, self.statement_relation_words[i])} if names and asked else set())
            for i in [i for i in np.argsort(-sims, kind="stable") if i not in name_only][:top]:
                matches.append(Match(t.statements[i], float(sims[i]), "meaning", t.statement_parents[i]))
        matches.sort(key=lambda m: -m.score)
        relevance = matches[0].score if matches else 0.0
        g = gate(relevance, threshold, softness)
        return Scope(relevance, g, alpha * g, matches[:top] if g > 0 else [])

    def context(self, question: str, vector: np.ndarray, k: int, floor: float) -> list[str]:
        """Up to k active facts for the system prompt (any active fact, taught or not): those the
        question names or that are at least `floor` similar to it, best first, then facts that
        share a name with them (one hop), while room is left."""
        t = self.taught
        if k <= 0 or not t.fact_ids:
            return []
        sims = t.fact_vectors @ vector
        named = {r for name in self.names.find(question) for r in self.rows_by_name[name]}
        first = sorted((i for i in range(len(t.fact_ids)) if i in named or sims[i] >= floor),
                       key=lambda i: (i not in named, -sims[i]))[:k]
        chosen = list(first)
        if len(chosen) < k:
            linked = {n for i in first for n in self.fact_names[i]}
            hop = [i for i in np.argsort(-sims, kind="stable")
                   if i not in chosen and linked & set(self.fact_names[i])]
            chosen += hop[: k - len(chosen)]
        return [t.fact_texts[i] for i in chosen]


def explain(scope: dict, context: list[str] = ()) -> str:
    """One line on what steered an answer (from Scope.to_json() and the facts in the prompt)."""
    if not scope["steered"]:
        line = f"large model alone (relevance {scope['relevance']:.2f}: outside what the expert was taught)"
    else:
        why = "; ".join(f"{m['text']} ({'named' if m['via'] == 'name' else format(m['score'], '.2f')})"
                        for m in scope["matches"][:2])
        line = f"expert steered at alpha {scope['alpha']:.2f} (gate {scope['gate']:.2f}) by: {why}"
    if context:
        line += f"; {len(context)} fact(s) in the prompt"
    return line
