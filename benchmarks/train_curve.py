"""The learning curve of a full retrain of a store's expert: per step, the loss, the KL to the
base model on the retain rows and the gradient norm, for a learning rate (or the settings' rule).

    python benchmarks/train_curve.py --home /path/to/store/home --profile qwen-coder --steps 90 --lr 2e-3 --clip 0

The examples are the ones `amend`'s update would train on for the store at --home (its active
facts and accepted derived statements, a full retrain: amend.training.pipeline), read from a
copy of the database, so the store is not touched. Nothing is published: the adapter goes to a
temporary folder. Prints JSON: the settings used, the learning rate the update learned at, the
mean loss / KL / largest gradient norm of every block of 10 steps, and the epoch losses.
With `--steps` smaller than the update's, the rate is still the whole update's (as a prefix of
it), so short runs show where a long update goes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import amend  # noqa: F401  (sets amend's OpenMP defaults before torch loads: amend.machine)


def examples_of(store, settings, profile: str) -> tuple[list, int]:
    """What a full retrain of `store` trains on (the pipeline's `train`, stage "train"), and
    how many facts it covers."""
    from amend.models.embed import embed
    from amend.training.dataset import build_examples, retain_examples
    from amend.training.plan import make_plan
    from amend.training.retain import retain_set

    with store.session(write=False) as session:
        plan = make_plan(session, profile, None, None)
    facts = [k.text for k in plan.known if k.is_fact]
    examples = build_examples(plan.known, plan.refuted, seed=settings.seed)
    questions = retain_set(facts, settings.retain_neighbours, settings.retain_sample, embed, seed=settings.seed)
    return examples + retain_examples(questions), len(facts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", required=True, type=Path, help="AMEND_HOME of the store (amend.db in it)")
    ap.add_argument("--profile", default="tiny")
    ap.add_argument("--steps", type=int, default=90, help="steps to run (the update's own count if more)")
    ap.add_argument("--lr", type=float, default=None, help="a fixed learning rate (default: the settings' rule)")
    ap.add_argument("--clip", type=float, default=None, help="max_grad_norm (default: the setting; 0 off)")
    args = ap.parse_args()

    from amend.config import load_settings
    from amend.models.load import load_profile
    from amend.store.db import open_store
    from amend.training.lora import TrainConfig, train_lora, update_lr
    from amend.training.pipeline import step_budget

    with tempfile.TemporaryDirectory() as tmp:
        for f in args.home.glob("amend.db*"):
            shutil.copy(f, tmp)
        settings = load_settings(env=dict(os.environ, AMEND_HOME=tmp))  # AMEND_MODELS etc. as set
        examples, n_facts = examples_of(open_store(settings), settings, args.profile)
        learn = sum(not e.retain for e in examples)
        cfg = TrainConfig.from_settings(settings)
        budget = step_budget(settings, n_facts)  # as the pipeline's update: epochs, within the budget
        full = min(-(-learn // cfg.batch_size) * cfg.epochs, budget or 10**9)
        over = {"max_steps": min(args.steps, full), "target_loss": 0.0}
        if args.clip is not None:
            over["max_grad_norm"] = args.clip
        if args.lr is not None:  # a fixed rate: the length rule off
            over |= {"learning_rate": args.lr, "lr_steps": 0}
        else:  # the whole update's rate, also for a shorter run
            over |= {"learning_rate": update_lr(cfg, full), "lr_steps": 0}
        cfg = TrainConfig.from_settings(settings, **over)
        lp = load_profile(args.profile, settings=settings)
        rows: list = []
        start = time.perf_counter()
        result = train_lora(lp.small, lp.tokenizer, examples, Path(tmp) / "adapter", cfg, on_step=rows.append)
        seconds = time.perf_counter() - start

    import torch

    blocks = [rows[i:i + 10] for i in range(0, len(rows), 10)]
    print(json.dumps({
        "profile": args.profile, "facts": n_facts, "examples": learn, "retain": len(examples) - learn,
        "update_steps": full, "steps": result.steps, "learning_rate": cfg.learning_rate,
        "max_grad_norm": cfg.max_grad_norm, "seconds": round(seconds, 1),
        "cpu": torch.backends.cpu.get_cpu_capability(),
        "blocks": [{"from_step": b[0].step, "loss": round(sum(r.loss for r in b) / len(b), 3),
                    "retain_kl": round(sum(r.retain_kl or 0 for r in b) / len(b), 3),
                    "max_grad_norm_seen": round(max(r.grad_norm for r in b), 1)} for b in blocks],
        "epoch_losses": [round(x, 3) for x in result.epoch_losses],
    }, indent=1))


if __name__ == "__main__":
    main()
