"""Do the scores decide? Real derivations, scored as before and as now, on the same facts.

For each fact of the cases (the other facts of its case are its related facts), `derive` runs
twice with the profile's models loaded once: as amend did before ("prior": each statement
scored alone, hard edges, no compositions) and as it does now ("conditioned": scored given its
parents, soft edges, compositions). It counts the statements each gives, how many the scores
reject (before, only the kind decided: every statement was accepted), and the generation and
scoring seconds of each, in the same run. Prints JSON:

    {"profile", "facts", "cpu", "before": {"statements", "rejected", "derive_s", "score_s"},
     "now": {... , "compositions", "compositions_accepted", "rejected_by_kind": {...}},
     "examples": [rejected statements with their reasons], "composed": [compositions]}

    python benchmarks/derivation.py --profile tiny --cases ../shared/eval/dev-cases.jsonl [--limit N]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from amend.config import load_settings
from amend.models.load import load_profile
from amend.training.dct.derive import DeriveSettings, derive


def _facts(path: Path, limit: int | None) -> list[tuple[str, list[str]]]:
    out = []
    for line in path.read_text().splitlines():
        facts = json.loads(line)["facts"]
        out += [(f, [g for g in facts if g != f]) for f in facts]
    return out[:limit] if limit else out


def _tally(derivations) -> dict:
    statements = [s for d in derivations for s in d.statements[1:]]  # [0] is the fact itself
    rejected = [s for s in statements if not s.accepted]
    composed = [s for s in statements if s.known]
    return {
        "statements": len(statements), "rejected": len(rejected),
        "rejected_by_kind": dict(Counter(s.kind for s in rejected)),
        "compositions": len(composed), "compositions_accepted": sum(s.accepted for s in composed),
        "derive_s": round(sum(d.timings["derive"] for d in derivations), 2),
        "score_s": round(sum(d.timings["score"] for d in derivations), 2),
    }


def main() -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="tiny")
    ap.add_argument("--cases", type=Path, default=Path("../shared/eval/dev-cases.jsonl"))
    ap.add_argument("--limit", type=int, default=None, help="only the first N facts")
    args = ap.parse_args()
    lp = load_profile(settings=load_settings({"profile": args.profile}))
    before, now = [], []
    for fact, related in _facts(args.cases, args.limit):
        before.append(derive(lp, fact, related, DeriveSettings(scoring="prior", compose=False)))
        now.append(derive(lp, fact, related, DeriveSettings()))
    examples = [{"fact": d.fact, "text": s.text, "kind": s.kind, "p_true": round(s.p_true, 2), "reason": s.reason}
                for d in now for s in d.statements[1:] if not s.accepted]
    composed = [{"fact": d.fact, "text": s.text, "question": s.question, "p_true": round(s.p_true, 2),
                 "accepted": s.accepted, "known": s.known} for d in now for s in d.statements if s.known]
    print(json.dumps({"profile": args.profile, "facts": len(now), "cpu": torch.backends.cpu.get_cpu_capability(),
                      "before": _tally(before), "now": _tally(now), "examples": examples, "composed": composed},
                     indent=1))


if __name__ == "__main__":
    main()
