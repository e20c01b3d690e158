"""Greedy-answer speed: the evaluation's probes answered one at a time (`ProxyDecoder.generate`,
before) against in batches (`amend.assistant.batch.greedy_answers`, now), on the same prompts.

The first N probes of the cases file, each prompt with the case's facts as the `context` systems'
system prompt, under two settings: `large` (alpha 0, no adapter: the large and context systems)
and `proxy` (an expert, a LoRA with random non-zero B as benchmarks/decode.py uses; alpha varies
per probe between 0.5 and 1.5 and every other probe steers only below 0.6, as the scope gate and
the context systems make them differ). Both ways run the decoder's own settings (plausible,
tail_floor) at the evaluation's answer length; the one-at-a-time pass runs first, then each batch
size, so keep the machine idle.

Prints JSON: {"profile", "probes", "per_setting": {NAME: {"one_s", "batched": {SIZE: {"s",
"speedup", "same"}}}}, "cpu", "threads"}; "same" counts the probes whose batched answer is
the one-at-a-time answer, character for character.

    python benchmarks/batch_answers.py --profile tiny --cases ../shared/eval/dev-cases.jsonl --probes 32 --json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="tiny")
    parser.add_argument("--cases", required=True)
    parser.add_argument("--probes", type=int, default=32, help="the first N probes of the file")
    parser.add_argument("--sizes", default="4,8,16", help="batch sizes to time, comma-separated")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import torch

    from amend.assistant.batch import greedy_answers
    from amend.assistant.decoder import DecodeOptions, ProxyDecoder
    from amend.assistant.session import CONTEXT_PROMPT
    from amend.assistant.synthetic import save_lora
    from amend.config import load_settings
    from amend.evaluation.cases import load_cases
    from amend.evaluation.metrics import MAX_NEW_TOKENS
    from amend.models.load import load_profile

    settings = load_settings({"profile": args.profile})
    loaded = load_profile(args.profile, settings=settings)
    prompts = []
    for case in load_cases(args.cases):
        system = CONTEXT_PROMPT + "\n".join(f"- {f}" for f in case.facts)
        prompts += [[{"role": "system", "content": system}, {"role": "user", "content": p.question}]
                    for p in case.probes]
    prompts = prompts[: args.probes]
    sizes = [int(s) for s in args.sizes.split(",")]
    log = (lambda *a: None) if args.json else (lambda *a: print(*a, file=sys.stderr))
    options = DecodeOptions.from_settings(settings, temperature=0.0, top_p=1.0)
    per_setting = {}
    with tempfile.TemporaryDirectory(prefix="amend-bench-") as tmp:
        adapter = save_lora(loaded.small, f"{tmp}/lora", std=0.02, seed=1)
        for name, path in (("large", None), ("proxy", adapter)):
            n = len(prompts)
            alphas = [0.0] * n if path is None else [0.5 + (i % 3) * 0.5 for i in range(n)]
            below = [1.0] * n if path is None else [0.6 if i % 2 else 1.0 for i in range(n)]
            with ProxyDecoder(loaded, path, options) as d:
                greedy_answers(d, ["warm up"], [alphas[0]], [1.0], 2)
                t = time.perf_counter()
                one = [d.generate(p, alpha=a, steer_below=b, max_new_tokens=MAX_NEW_TOKENS).result()
                       for p, a, b in zip(prompts, alphas, below)]
                one_s = time.perf_counter() - t
                batched = {}
                for size in sizes:
                    t, answers = time.perf_counter(), []
                    for i in range(0, n, size):
                        answers += greedy_answers(d, prompts[i: i + size], alphas[i: i + size], below[i: i + size],
                                                  MAX_NEW_TOKENS)
                    s = time.perf_counter() - t
                    batched[size] = {"s": round(s, 2), "speedup": round(one_s / s, 2),
                                     "same": sum(a == b for a, b in zip(one, answers))}
            per_setting[name] = {"one_s": round(one_s, 2), "batched": batched}
            log(name, per_setting[name])
    print(json.dumps({"profile": args.profile, "probes": len(prompts), "per_setting": per_setting,
                      "cpu": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
