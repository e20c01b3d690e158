"""Calibrate the scope gate: how often it opens for questions about a case's facts, and for others.

For every case of a cases file (amend eval's format) the case's facts are the taught set (as after
an update; derived statements are left out: they need the models, `amend eval` reports the gate
with them). Positives are the case's direct, paraphrase and multihop probes; negatives are its
locality probes, the probes of other cases (a sample), and everyday questions (the retain pool).
For each threshold the gate (at the softness setting) is counted open when above 0.

    python benchmarks/scope_gate.py --cases ../shared/eval/dev-cases.jsonl --json
    python benchmarks/scope_gate.py --cases akew-dev.jsonl --others 20 --json

Prints {"cases", "thresholds": {T: {"direct": tpr, ..., "locality": fpr, "other cases": fpr,
"everyday": fpr}}}; only the embedding model runs (seconds).
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=Path, required=True)
    parser.add_argument("--thresholds", default="0.45,0.5,0.55,0.6,0.65,0.7,0.75,0.8")
    parser.add_argument("--softness", type=float, default=0.1)
    parser.add_argument("--others", type=int, default=10, help="probes of other cases per case (negatives)")
    parser.add_argument("--everyday", type=int, default=20, help="everyday questions per case (negatives)")
    parser.add_argument("--names", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from amend.assistant.scope import ScopeIndex, gate
    from amend.evaluation.cases import load_cases
    from amend.models.embed import embed
    from amend.store.taught import Taught
    from amend.training.retain import pool

    cases = load_cases(args.cases)
    rng = random.Random(0)
    everyday = [q.question for q in pool()]
    thresholds = [float(t) for t in args.thresholds.split(",")]
    relevances: dict[str, list[float]] = {}
    all_probes = [(c.id, p.question) for c in cases for p in c.probes]
    for case in cases:
        facts = list(case.facts)
        taught = Taught(state=(), fact_ids=list(range(len(facts))), fact_texts=facts, fact_vectors=embed(facts),
                        taught_facts=set(range(len(facts))))
        index = ScopeIndex(taught)
        groups = {p.kind: [] for p in case.probes}
        for p in case.probes:
            groups[p.kind].append(p.question)
        others = [q for cid, q in all_probes if cid != case.id]
        groups["other cases"] = rng.sample(others, min(args.others, len(others)))
        groups["everyday"] = rng.sample(everyday, min(args.everyday, len(everyday)))
        for kind, questions in groups.items():
            if not questions:
                continue
            vectors = embed(questions)
            for q, v in zip(questions, vectors):
                scope = index.judge(q, v, 1.0, 1.0, 0.0, names=args.names)  # relevance only
                relevances.setdefault(kind, []).append(scope.relevance)
    table = {}
    for t in thresholds:
        table[str(t)] = {kind: round(float(np.mean([gate(r, t, args.softness) > 0 for r in rs])), 3)
                         for kind, rs in relevances.items()}
    out = {"cases": len(cases), "softness": args.softness, "names": args.names,
           "n": {k: len(v) for k, v in relevances.items()}, "thresholds": table}
    print(json.dumps(out, indent=None if args.json else 1))


if __name__ == "__main__":
    main()
