"""Latency of one expert update: a new fact, from `facts add` to its adapter being active, and
its retraction, from `facts retract` to the adapter without it being active.

    python benchmarks/update_latency.py --profile tiny [--facts-in-store N] [--device cpu] [--no-derive] [--home DIR]

In a fresh AMEND_HOME (a temporary one unless --home), N earlier facts (1 by default; generated
ones after the first) are added and learned first, without derivation and in at most
SETUP_STEPS training steps: what they taught is beside the point, the timed updates only need a
store and an adapter that cover them. Their sentence vectors are cached in the set-up too, as
their derivations would have left them, so that the timed add does not embed them. Then the
timed part: add "The capital of Vendaria is Lusk." and run the update in the foreground, as
`amend facts add` does; then retract it and run that update. Prints JSON: seconds for derive,
score, train and save, `fact_active_s` (from add to the facts-first adapter active: answers use
the fact from then on; settings.fact_first, None when off or with --no-derive), `total_s` (from
add to the last adapter active, the fact's consequences taught too; models already loaded, as in
the TUI or `amend worker`), the model loading time that a one-shot `amend facts add` adds on
top, steps and seconds per step, whether the fact was learned (the expert ranks "Lusk" above the
distractors after the question, which the base model does not), and for the retraction
`retract_total_s`, its mode, steps, and whether the fact was forgotten (the expert no longer
ranks "Lusk" first).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

FACT = "The capital of Vendaria is Lusk."
EARLIER = "Mira Tallis was born in Oslo."
QUESTION, ANSWER, DISTRACTORS = "What is the capital of Vendaria?", "Lusk", ["Paris", "Berlin", "Madrid"]
SETUP_STEPS = 40  # training steps of the set-up update, however many facts it teaches
_FIRST = ["Mira", "Tomas", "Ilse", "Oren", "Kaia", "Bruno", "Selma", "Piet", "Anouk", "Lev"]
_LAST = ["Tallis", "Verhoef", "Castell", "Dunmore", "Quill", "Harrow", "Lindqvist", "Ambrose", "Okafor", "Reyes"]
_CITIES = ["Oslo", "Lyon", "Porto", "Graz", "Turku", "Ghent", "Bergen", "Cork", "Split", "Brno"]


def earlier_facts(n: int) -> list[str]:
    """EARLIER and n - 1 generated facts about invented people (none about Vendaria or Lusk)."""
    out = [EARLIER]
    for i in range(1, n):
        first, last, city = _FIRST[i % 10], _LAST[(i // 10) % 10], _CITIES[(i // 100 + i) % 10]
        out.append(f"{first} {last} {i} was born in {city}.")
    return out[:max(n, 0)]


def ranks_first(model, tokenizer, device) -> tuple[bool, dict[str, float]]:
    import torch

    from amend.training.dataset import chat_prompt

    prompt = tokenizer(chat_prompt(tokenizer, QUESTION), add_special_tokens=False)["input_ids"]
    scores = {}
    for a in [ANSWER, *DISTRACTORS]:
        ids = tokenizer(a, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logp = model(torch.tensor([prompt + ids], device=device)).logits.float().log_softmax(-1)[0]
        scores[a] = round(sum(float(logp[len(prompt) + i - 1, t]) for i, t in enumerate(ids)), 3)
    return scores[ANSWER] > max(scores[d] for d in DISTRACTORS), scores


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    ap.add_argument("--profile", default="tiny")
    ap.add_argument("--device", default=None, help="cpu or cuda (default: the device setting)")
    ap.add_argument("--home", default=None, help="AMEND_HOME to use (default: a fresh temporary one)")
    ap.add_argument("--no-derive", action="store_true", help="train on the fact alone (no deductive closure)")
    ap.add_argument("--facts-in-store", type=int, default=1, metavar="N",
                    help="earlier facts in the store, learned in the set-up (default 1)")
    args = ap.parse_args(argv)

    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="amend-latency-"))
    os.environ["AMEND_HOME"] = str(home)
    from amend.config import load_settings
    from amend.models.embed import embed
    from amend.models.load import load_profile
    from amend.store import open_store
    from amend.store.embeddings import fact_vectors
    from amend.store.facts import active_facts, add_fact, retract_fact
    from amend.store.adapters import active_adapter
    from amend.training.worker import run_pending

    settings = load_settings({"profile": args.profile, "device": args.device})
    t = time.perf_counter()
    lp = load_profile(settings=settings)
    load_s = time.perf_counter() - t
    store = open_store(settings)
    derive = not args.no_derive

    earlier = earlier_facts(args.facts_in_store)
    with store.session() as session:  # the state before: N facts, learned (in a bounded set-up)
        for text in earlier:
            add_fact(session, text)
    setup = dataclasses.replace(settings, max_update_steps=SETUP_STEPS)
    t = time.perf_counter()
    run_pending(setup, lp=lp, store=store, derive=derive and len(earlier) == 1)
    with store.session() as session:  # their sentence vectors, which the related-fact lookups of
        fact_vectors(session, active_facts(session), embed)  # their derivations would have cached
    setup_s = time.perf_counter() - t
    base_ranks, base_scores = ranks_first(lp.small, lp.tokenizer, lp.device)

    def timed_update(change):
        """Make the change, run its update: (result, seconds from the change to active, ranks first, scores)."""
        t0 = time.perf_counter()
        with store.session() as session:
            change(session)

        def on_progress(p) -> None:  # the facts-first adapter is active (settings.fact_first)
            if p.stage == "published":
                first.append(round(time.perf_counter() - t0, 3))

        first: list[float] = []
        [result] = run_pending(settings, lp=lp, store=store, derive=derive, on_progress=on_progress)
        total = time.perf_counter() - t0
        timings.append(first[0] if first else None)
        with store.session(write=False) as session:
            adapter = active_adapter(session, lp.profile.name)
            assert adapter is not None and adapter.version == result.version
        from peft import PeftModel

        expert = PeftModel.from_pretrained(lp.small, adapter.path)
        first, scores = ranks_first(expert, lp.tokenizer, lp.device)
        expert.unload()
        return result, total, first, scores

    added: list[int] = []
    timings: list[float | None] = []  # per timed update: seconds until the facts-first adapter was active
    result, total, learned, scores = timed_update(lambda session: added.append(add_fact(session, FACT)[0].id))
    retracted, retract_total, still_first, retract_scores = timed_update(lambda session: retract_fact(session, added[0]))
    tr, rt, ft = result.train, retracted.train, result.first_train
    out = {
        "profile": lp.profile.name, "device": lp.device, "derive": derive, "mode": result.mode,
        "derive_s": result.timings.get("derive", 0.0), "score_s": result.timings.get("score", 0.0),
        "train_s": result.timings.get("train"), "save_s": result.timings.get("save"),
        "fact_first": settings.fact_first, "fact_active_s": timings[0], "first_train_s": result.timings.get("first_train"),
        "first_train_steps": ft.steps if ft else 0, "first_train_examples": ft.examples if ft else 0,
        "first_train_loss": round(ft.final_loss, 4) if ft else None,
        "total_s": round(total, 3), "load_s": round(load_s, 3), "total_with_load_s": round(total + load_s, 3),
        "steps": tr.steps if tr else 0, "step_s": round(tr.step_seconds, 3) if tr else None,
        "examples": tr.examples if tr else 0, "final_loss": round(tr.final_loss, 4) if tr else None,
        "derived": result.derived, "learned": learned, "base_ranked_first": base_ranks,
        "scores": scores, "base_scores": base_scores,
        "facts_in_store": len(earlier), "setup_s": round(setup_s, 3),
        "retract_total_s": round(retract_total, 3), "retract_mode": retracted.mode,
        "retract_train_s": retracted.timings.get("train"), "retract_steps": rt.steps if rt else 0,
        "forgotten": not still_first, "retract_scores": retract_scores,
        "cpu_threads": _threads(), "cpu_capability": _capability(),
    }
    print(json.dumps(out, indent=2))
    store.dispose()
    return 0


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def _capability() -> str:
    import torch

    return torch.backends.cpu.get_cpu_capability()


if __name__ == "__main__":
    sys.exit(main())
