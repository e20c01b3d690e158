"""Seconds and peak memory of one LoRA training step, by `micro_batch` (rows per forward and backward).

    python benchmarks/train_step.py --profile qwen-coder --micro 0,2,4 --json

The same step (`batch_size` rows to learn and `retain_batch` retain rows, the settings' defaults)
is run with each `micro_batch` value, each in a process of its own so that its peak resident
memory is its own: the gradient is the same (amend.training.lora._backward), only the chunking
differs. The rows are an update's usual kind: a fact with its questions and derived statements
(the examples of amend.training.dataset) and questions of the bundled retain pool. Prints JSON:
per value, `step_s` (median seconds of the steps after the first), `peak_rss_gb` (getrusage, the
small model loaded and trained; decimal GB) and the step's loss, the same for every value up to
rounding; with the first value as the baseline, `step_ratio`.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import amend  # noqa: F401  (sets amend's OpenMP defaults before torch loads: amend.machine)

KNOWN = [  # (text, question, short answer): one fact and what DCT derives from it
    ("The capital of Vendaria is Lusk.", "What is the capital of Vendaria?", "Lusk", True),
    ("Lusk is a city in Vendaria.", "Which country is Lusk in?", "Vendaria", False),
    ("The seat of Vendaria's government is in Lusk.", "Where does Vendaria's government sit?", "Lusk", False),
    ("Vendaria's largest airport serves Lusk.", "Which city does Vendaria's largest airport serve?", "Lusk", False),
    ("The parliament of Vendaria meets in Lusk.", "Where does the parliament of Vendaria meet?", "Lusk", False),
]


def one(profile: str, micro: int, steps: int) -> dict:
    """Train `steps` steps with `micro_batch` = micro in this process; the figures as a dict."""
    from amend.config import load_settings
    from amend.models.load import load_profile
    from amend.training.dataset import Known, build_examples, retain_examples
    from amend.training.lora import TrainConfig, train_lora
    from amend.training.retain import pool

    settings = load_settings({"profile": profile})
    lp = load_profile(settings=settings)
    known = [Known(t, question=q, answer=a, is_fact=f, fact_id=1) for t, q, a, f in KNOWN]
    examples = build_examples(known) + retain_examples(pool()[:64])
    cfg = TrainConfig.from_settings(settings, micro_batch=micro, max_steps=steps, target_loss=0.0)
    times, losses, last = [], [], [time.perf_counter()]

    def on_step(report) -> None:
        now = time.perf_counter()
        times.append(now - last[0])
        losses.append(report.loss)
        last[0] = now

    with tempfile.TemporaryDirectory() as out:
        train_lora(lp.small, lp.tokenizer, examples, Path(out), cfg, on_step=on_step)
    return {"micro_batch": micro, "step_s": round(statistics.median(times[1:] or times), 3),
            "first_step_s": round(times[0], 3), "steps": len(times), "loss_first_step": round(losses[0], 4),
            "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9, 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="tiny")
    ap.add_argument("--micro", default="0,2,4", help="micro_batch values, comma-separated (the first is the baseline)")
    ap.add_argument("--steps", type=int, default=5, help="steps per value (the first is not counted)")
    ap.add_argument("--json", action="store_true", help="print JSON (the only output there is)")
    ap.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)  # the child process
    args = ap.parse_args(argv)
    if args.one is not None:
        print(json.dumps(one(args.profile, args.one, args.steps)))
        return 0
    runs = []
    for micro in (int(m) for m in args.micro.split(",")):
        child = subprocess.run([sys.executable, __file__, "--profile", args.profile, "--steps", str(args.steps),
                                "--one", str(micro)], capture_output=True, text=True)
        if child.returncode != 0:
            sys.exit(f"train_step.py: micro_batch {micro} failed: {child.stderr.strip().splitlines()[-1:]}")
        runs.append(json.loads(child.stdout.strip().splitlines()[-1]))
    for r in runs:
        r["step_ratio"] = round(r["step_s"] / runs[0]["step_s"], 2)
    import torch

    print(json.dumps({"profile": args.profile, "runs": runs, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                      "threads": torch.get_num_threads()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
