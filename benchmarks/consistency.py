"""Consistency at scale: one graph over N facts and about 10 statements each, settled exactly.

Builds N invented facts ("The capital of Country7 is City7.") and, for each, about 10 derived
statements with random scores: implications and contradictions of its own, statements about a
shared pool of rivers, regions and rulers that other facts also derive (duplicates that merge
into one node, and negations that become hard contradiction edges), correlatives with a random
other fact, and some claims that another fact makes outright. Then it times `graph.settle`, the
whole step the update runs over a store (claims, graph, propagation, components, enumeration or
CP-SAT), and, as the baseline in the same run, settling each fact's statements on their own.
Prints JSON {"facts", "statements", "seconds", "per_fact_seconds", "nodes" (distinct claims),
"accepted"}. Goal: a few seconds for 1000 facts.

    python benchmarks/consistency.py --facts 1000 --json
"""

from __future__ import annotations

import argparse
import json
import random
import time

from amend.training.dct.graph import Derived, settle
from amend.training.dct.parse import claim

POOL = 200  # shared statements of each kind: facts that draw the same one meet in the graph


def make(n: int, seed: int = 0) -> tuple[dict[int, str], list[Derived]]:
    rng = random.Random(seed)
    facts = {i: f"The capital of Country{i} is City{i}." for i in range(n)}
    out: list[Derived] = []

    def add(text: str, kind: str, parents: tuple[int, ...]) -> None:
        out.append(Derived(len(out), text, kind, rng.random(), parents))

    for i in range(n):
        add(f"City{i} is a city in Country{i}.", "implication", (i,))
        add(f"The government of Country{i} sits in City{i}.", "implication", (i,))
        add(f"City{i} is the largest city of Country{i}.", "implication", (i,))
        for _ in range(3):  # shared claims: rivers, regions, rulers (duplicates and negations across facts)
            r = rng.randrange(POOL)
            negated = rng.random() < 0.3
            add(f"The river River{r} does {'not ' if negated else ''}flow through Region{r % 17}.",
                "contradiction" if negated and rng.random() < 0.5 else "implication", (i,))
        j = rng.randrange(n)
        add(f"The capital of Country{i} is twinned with City{j}.", "correlative", tuple(sorted({i, j})))
        add(f"The capital of Country{i} is City{rng.randrange(n)}.", "contradiction", (i,))  # sometimes another fact
        add(f"City{i} is not in Country{i}.", "contradiction", (i,))
        if rng.random() < 0.5:
            add(f"Country{i} is a kingdom.", "implication", (i,))
    return facts, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--facts", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print JSON only")
    args = ap.parse_args()
    facts, statements = make(args.facts, args.seed)

    t = time.perf_counter()
    verdicts = settle(facts, statements)
    seconds = time.perf_counter() - t

    t = time.perf_counter()
    by_fact: dict[tuple, list[Derived]] = {}
    for s in statements:
        by_fact.setdefault(s.parents, []).append(s)
    for parents, group in by_fact.items():
        settle({p: facts[p] for p in parents}, group)
    per_fact = time.perf_counter() - t

    out = {"facts": len(facts), "statements": len(statements), "seconds": round(seconds, 3),
           "per_fact_seconds": round(per_fact, 3), "nodes": len({claim(s.text) for s in statements}),
           "accepted": sum(v.accepted for v in verdicts.values())}
    print(json.dumps(out) if args.json else json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
