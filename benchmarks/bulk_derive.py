"""Deriving an import: N facts one at a time, few-shot prompts encoded every time (as before), against
`derive_many` in batches of `derive_batch` with every prompt's few-shot start cached.

    python benchmarks/bulk_derive.py --profile tiny --facts 8 [--batch 4]

Both derive the same generated facts (each with no related facts, so the work does not depend
on the order) in one process with the models loaded, chunk by chunk in turns (the baseline on a
chunk, then the batched run on it), so that a changing load on the machine falls on both. Prints
JSON: seconds of each, their ratio, how many facts' statements came out the same, the CPU
capability and threads.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

SUBJECTS = ["Vendaria", "Ostrava Minor", "Pellucia", "Tarrow", "Kestrel Bay", "Morrow", "Ardis", "Lindholm",
            "Quenby", "Harrowgate", "Velmar", "Dunmore"]


def facts(n: int) -> list[str]:
    """n invented facts, capitals and founders of invented places."""
    out = []
    for i in range(n):
        place = SUBJECTS[i % len(SUBJECTS)] + ("" if i < len(SUBJECTS) else f" {i // len(SUBJECTS) + 1}")
        out.append(f"The capital of {place} is Lusk {i}." if i % 2 == 0 else f"{place} was founded by Mira Tallis {i}.")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="tiny")
    ap.add_argument("--facts", type=int, default=8)
    ap.add_argument("--batch", type=int, default=4, help="facts per shared batch (the derive_batch setting)")
    args = ap.parse_args(argv)

    import torch

    from amend.config import load_settings
    from amend.models.load import load_profile
    from amend.training.dct import prompts
    from amend.training.dct.derive import DeriveSettings, derive, derive_many

    lp = load_profile(settings=load_settings({"profile": args.profile}))
    s = DeriveSettings()
    todo = facts(args.facts)

    fixed_prefix = prompts.fixed_prefix

    def before_prefix(tokenizer, prompt, style=None):  # before: only the question prompts' start was cached
        return fixed_prefix(tokenizer, prompt, style) if prompt is prompts.question_prompt else ""

    # chunk by chunk, the baseline then the batched run on the same facts: a load that comes and
    # goes on a shared machine falls on both alike
    before, after, one_by_one, batched = [], [], 0.0, 0.0
    for i in range(0, len(todo), args.batch):
        chunk = todo[i:i + args.batch]
        prompts.fixed_prefix = before_prefix
        try:
            t = time.perf_counter()
            before += [derive(lp, f, [], s) for f in chunk]
            one_by_one += time.perf_counter() - t
        finally:
            prompts.fixed_prefix = fixed_prefix
        t = time.perf_counter()
        after += derive_many(lp, [(f, []) for f in chunk], s)
        batched += time.perf_counter() - t

    same = sum([x.text for x in a.statements] == [x.text for x in b.statements] for a, b in zip(before, after))
    print(json.dumps({
        "profile": lp.profile.name, "facts": len(todo), "batch": args.batch,
        "one_by_one_s": round(one_by_one, 2), "batched_s": round(batched, 2),
        "speedup": round(one_by_one / batched, 2), "same_statements": same,
        "statements": sum(len(d.statements) for d in after),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads(),
    }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
