"""What one update trains: which facts to learn, which to unlearn, and from where to start.

The active adapter covers some facts (with the text each had when it was taught). Comparing
that with the active facts now gives the plan:

- **full**: no adapter yet (or its folder is gone): a fresh LoRA on every active fact.
- **incremental**: only new facts: continue the active adapter on them, with a replay sample of
  what it already knew, so it does not forget.
- **unlearn**: some covered facts were retracted, edited or superseded. Continue the active
  adapter, as in an incremental update, and train each gone fact's prompts toward the base
  model (the retain term's KL with the adapter off, lora.py): the expert's answer to "What is
  the capital of Vendaria?" returns to the base model's. The cost is that of the facts that
  changed, not of the store: a retraction in a store of 1,000 facts trains as long as one in a
  store of 10 (benchmarks/update_latency.py --facts-in-store N).
- **full** again when as many covered facts went as stay: a retrain from the base then costs no
  more, and leaves nothing of the gone facts behind.
- **none**: nothing changed; **off**: no active facts (the adapters are switched off).

Derived statements follow the graph: the adapter's manifest records the statements it was
taught per fact. When a later change settles the graph again (a new fact whose statements
contradict an old fact's), a statement of a kept fact that is no longer accepted is unlearned
the same way, and one newly accepted is learned, in the same bounded update.

A retraction leaves the answers' scope at once, before any training (store.taught: only facts
still active with the text they were taught with open the scope gate or enter the context).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from amend.store.derived import accepted_statements
from amend.store.facts import active_facts
from amend.store.schema import Fact, normalize
from amend.training.dataset import Known, Refuted

Taught = tuple[str, "str | None", "str | None"]  # a manifest row: text, question form, short answer


@dataclass
class Plan:
    mode: str  # full | incremental | unlearn | none | off (see the module docstring)
    known: list[Known] = field(default_factory=list)  # to learn now: new or edited facts and their statements
    refuted: list[Refuted] = field(default_factory=list)  # contradictions of those, judged false
    replay_pool: list[Known] = field(default_factory=list)  # what the adapter knew and still should
    forget: list[Known] = field(default_factory=list)  # what the adapter knew and should not any more
    now: dict[int, str] = field(default_factory=dict)  # the facts the new adapter covers: id -> text
    statements: dict[int, list[list[str]]] = field(default_factory=dict)  # what it is taught beside them: id -> [[text, question, answer]]


def known_items(session, facts: list[Fact], profile: str, active_only: bool = True) -> tuple[list[Known], list[Refuted]]:
    """Training items for these facts: each fact, its accepted statements and its refuted ones.

    A statement belongs to the first of its parents among `facts`; one that merely restates its
    fact lends the fact its question form instead of being learned twice. `active_only` False
    also reads the statements of facts no longer active (what a retracted fact taught).
    """
    texts = {f.id: f.text for f in facts}
    questions: dict[int, list[tuple[str, str | None]]] = {}  # a fact's question forms and short answers
    statements, refuted = [], []
    for st in accepted_statements(session, fact_ids=list(texts), profile=profile, active_only=active_only) if facts else []:
        owner = next(p.id for p in st.parents if p.id in texts)
        if st.kind == "contradiction" or not st.truth:
            refuted.append(Refuted(st.text, texts[owner], owner))
        elif normalize(st.text) == normalize(texts[owner]):
            if st.question:
                questions.setdefault(owner, []).append((st.question, st.answer))
        else:
            statements.append(Known(st.text, st.question, False, owner, st.answer))
    known = [fact_item(f.text, f.id, questions.get(f.id, [])) for f in facts]
    return known + statements, refuted


def fact_item(text: str, fact_id: int, forms: list[tuple[str, str | None]]) -> Known:
    """A user fact with its question forms (in the order derived): the first is its question
    form, a second one names its subject where the first asks for it (derive._ask_about_subjects)."""
    question, answer = forms[0] if forms else (None, None)
    about = forms[1] if len(forms) > 1 and forms[1][1] else None
    return Known(text, question, True, fact_id, answer, about)


def forgotten_items(session, gone: dict[int, str], profile: str,
                    taught: dict[int, list[Taught]] | None = None) -> list[Known]:
    """What the adapter learned for facts that are gone: the fact as it was taught and the
    statements it was taught with it (from the manifest; or, where that does not say and the row
    still has that text, as when retracted or superseded, the statements derived from it)."""
    out: list[Known] = []
    for fid, text in sorted(gone.items()):
        if taught is not None:
            rows = taught.get(fid, [])
            own = [(q, a) for t, q, a in rows if t == text and q]  # the fact's own question forms
            out += [fact_item(text, fid, own)] + [Known(t, q, False, fid, a) for t, q, a in rows if t != text]
            continue
        fact = session.get(Fact, fid)
        if fact is not None and fact.text == text:
            out += known_items(session, [fact], profile, active_only=False)[0]
        else:  # edited: the old text is all that is left of it
            out.append(Known(text, None, True, fid))
    return out


def _taught_now(items: list[Known]) -> dict[int, list[list[str]]]:
    """The derived statements among `items`, per fact, as the manifest records them (and each
    fact's own question forms, as [fact text, question, short answer])."""
    out: dict[int, list[list[str]]] = {}
    for k in items:
        if k.fact_id is None or (k.is_fact and not k.question):
            continue
        rows = out.setdefault(k.fact_id, [])
        for row in [[k.text, k.question, k.answer]] + ([[k.text, *k.about]] if k.about else []):
            if row not in rows:
                rows.append(row)
    return out


def make_plan(session, profile: str, covered: dict[int, str] | None,
              taught: dict[int, list[Taught]] | None = None) -> Plan:
    """The plan for the active facts against what the active adapter covers (None: no adapter
    to continue from) and the statements it was taught (None: not recorded)."""
    facts = active_facts(session)
    now = {f.id: f.text for f in facts}
    if not facts:
        return Plan("off")
    if not covered:
        return _full(session, profile, facts, now)
    gone = {fid: text for fid, text in covered.items() if now.get(fid) != text}
    kept = [f for f in facts if f.id in covered and f.id not in gone]
    if gone and len(gone) >= len(kept):  # unlearning would cost as much as a retrain
        return _full(session, profile, facts, now)
    new = [f for f in facts if f.id not in covered or f.id in gone]  # an edited fact is learned anew
    known, refuted = known_items(session, new, profile)
    replay_pool, _ = known_items(session, kept, profile)
    forget = forgotten_items(session, gone, profile, taught)
    if taught is not None:  # statements of kept facts that the graph now decides otherwise
        was = {(f.id, text): (q, a) for f in kept for text, q, a in taught.get(f.id, []) if text != f.text}
        accepted = {(k.fact_id, k.text) for k in replay_pool if not k.is_fact}
        forget += [Known(text, q, False, fid, a) for (fid, text), (q, a) in was.items() if (fid, text) not in accepted]
        known += [k for k in replay_pool if not k.is_fact and (k.fact_id, k.text) not in was]
    if not known and not forget:
        return Plan("none", now=now)  # nothing to train or publish
    return Plan("unlearn" if forget else "incremental", known, refuted, replay_pool, forget, now,
                _taught_now(known + replay_pool))


def facts_only(plan: Plan) -> Plan:
    """`plan` without the derived statements to learn and the refuted ones: the facts as given
    (the first phase of an update, before derivation; pipeline.py). Replay and unlearning stay."""
    known = [k for k in plan.known if k.is_fact]
    return Plan(plan.mode, known, [], plan.replay_pool, plan.forget, plan.now, _taught_now(known + plan.replay_pool))


def _full(session, profile: str, facts: list[Fact], now: dict[int, str]) -> Plan:
    known, refuted = known_items(session, facts, profile)
    return Plan("full", known, refuted, now=now, statements=_taught_now(known))
