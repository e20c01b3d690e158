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

A retraction leaves the answers' scope at once, before any training (store.taught: only facts
still active with the text they were taught with open the scope gate or enter the context).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from amend.store.derived import accepted_statements
from amend.store.facts import active_facts
from amend.store.schema import Fact, normalize
from amend.training.dataset import Known, Refuted


@dataclass
class Plan:
    mode: str  # full | incremental | unlearn | none | off (see the module docstring)
    known: list[Known] = field(default_factory=list)  # to learn now: new or edited facts and their statements
    refuted: list[Refuted] = field(default_factory=list)  # contradictions of those, judged false
    replay_pool: list[Known] = field(default_factory=list)  # what the adapter knew and still should
    forget: list[Known] = field(default_factory=list)  # what the adapter knew and should not any more
    now: dict[int, str] = field(default_factory=dict)  # the facts the new adapter covers: id -> text


def known_items(session, facts: list[Fact], profile: str) -> tuple[list[Known], list[Refuted]]:
    """Training items for these facts: each fact, its accepted statements and its refuted ones.

    A statement belongs to the first of its parents among `facts`; one that merely restates its
    fact lends the fact its question form instead of being learned twice.
    """
    texts = {f.id: f.text for f in facts}
    questions: dict[int, str] = {}
    statements, refuted = [], []
    for st in accepted_statements(session, fact_ids=list(texts), profile=profile) if facts else []:
        owner = next(p.id for p in st.parents if p.id in texts)
        if st.kind == "contradiction" or not st.truth:
            refuted.append(Refuted(st.text, texts[owner], owner))
        elif normalize(st.text) == normalize(texts[owner]):
            if st.question:
                questions.setdefault(owner, st.question)
        else:
            statements.append(Known(st.text, st.question, False, owner))
    known = [Known(f.text, questions.get(f.id), True, f.id) for f in facts]
    return known + statements, refuted


def forgotten_items(session, gone: dict[int, str], profile: str) -> list[Known]:
    """What the adapter learned for facts that are gone: the fact as it was taught and, where the
    row still has that text (retracted, superseded), the statements derived from it."""
    out: list[Known] = []
    for fid, text in sorted(gone.items()):
        fact = session.get(Fact, fid)
        if fact is not None and fact.text == text:
            out += known_items(session, [fact], profile)[0]
        else:  # edited: the old text is all that is left of it
            out.append(Known(text, None, True, fid))
    return out


def make_plan(session, profile: str, covered: dict[int, str] | None) -> Plan:
    """The plan for the active facts against what the active adapter covers (None: no adapter
    to continue from)."""
    facts = active_facts(session)
    now = {f.id: f.text for f in facts}
    if not facts:
        return Plan("off")
    if not covered:
        known, refuted = known_items(session, facts, profile)
        return Plan("full", known, refuted, now=now)
    gone = {fid: text for fid, text in covered.items() if now.get(fid) != text}
    kept = [f for f in facts if f.id in covered and f.id not in gone]
    if gone and len(gone) >= len(kept):  # unlearning would cost as much as a retrain
        known, refuted = known_items(session, facts, profile)
        return Plan("full", known, refuted, now=now)
    new = [f for f in facts if f.id not in covered or f.id in gone]  # an edited fact is learned anew
    if not new and not gone:
        return Plan("none", now=now)
    known, refuted = known_items(session, new, profile)
    replay_pool, _ = known_items(session, kept, profile)
    forget = forgotten_items(session, gone, profile)
    return Plan("unlearn" if gone else "incremental", known, refuted, replay_pool, forget, now)
