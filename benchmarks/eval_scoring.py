"""Ranking-score speed: a probe's candidates one at a time (before) against one batch on top of the
question's KV cache (`ProxyDecoder.logprobs`, now), on the evaluation's own probes.

For each probe of the cases file (every alias and distractor), both ways score the candidates as
`amend eval` does, under two settings: alpha 0 (the `large` and `context` systems: the large
model alone) and alpha 1 with an expert (the `seed-lora`/`dct` systems: large + expert - base;
the expert is a LoRA with random non-zero B, r=8 on every projection, as benchmarks/decode.py
uses: scoring time does not depend on the adapter's values). Prompts carry a system prompt with
the case's facts, as the `context` systems' do. Before = a forward of prompt + candidate through
each model per candidate (the code `logprobs` replaced, kept here as the baseline); the two ways
take turns per probe, so load from other processes hits both alike.

With --generate N the greedy answer of the first N probes per setting is timed too (the other
half of a probe's cost in `amend eval`), to tell what the scoring speed-up does to a whole run.

Prints JSON: {"profile", "probes", "candidates", "before_s", "after_s", "speedup", "max_abs_diff",
"mean_abs_diff", "ranking_flips" (probes whose ranking verdict differs between the two ways, over
both settings), "per_setting": {...}, "cpu", "threads"}.

    python benchmarks/eval_scoring.py --profile qwen-coder --cases ../shared/eval/dev-cases.jsonl --json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time


def one_at_a_time(d, prompt, continuation: str, alpha: float) -> float:
    """The scoring before: prompt + continuation in one forward per model, each candidate alone."""
    import torch

    ids = d.encode(prompt)
    cont = d.tokenizer(continuation, add_special_tokens=False, return_tensors="pt")["input_ids"].to(d.device)
    n = cont.shape[1]
    if n == 0:
        return 0.0
    with torch.inference_mode():
        logits = d.step(alpha).logits(torch.cat([ids, cont], dim=1), keep=n + 1)[:-1]
        return float(torch.log_softmax(logits, -1).gather(1, cont[0].unsqueeze(1)).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="tiny")
    parser.add_argument("--cases", required=True)
    parser.add_argument("--limit", type=int, default=None, help="first N cases")
    parser.add_argument("--generate", type=int, default=0,
                        help="also time the greedy answer (32 tokens at most) of the first N probes per setting")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import torch

    from amend.assistant.decoder import ProxyDecoder
    from amend.assistant.session import CONTEXT_PROMPT
    from amend.assistant.synthetic import save_lora
    from amend.config import load_settings
    from amend.evaluation.cases import load_cases
    from amend.evaluation.metrics import MAX_NEW_TOKENS
    from amend.models.load import load_profile

    cases = load_cases(args.cases, args.limit)
    loaded = load_profile(args.profile, settings=load_settings({"profile": args.profile}))
    log = (lambda *a: None) if args.json else (lambda *a: print(*a, file=sys.stderr))
    per_setting, worst, diffs, flips = {}, 0.0, [], 0
    with tempfile.TemporaryDirectory(prefix="amend-bench-") as tmp:
        adapter = save_lora(loaded.small, f"{tmp}/lora", std=0.02, seed=1)
        for name, alpha, path in (("large", 0.0, None), ("proxy", 1.0, adapter)):
            before = after = generate = 0.0
            n_probes = n_cands = 0
            with ProxyDecoder(loaded, path) as d:
                d.logprobs("warm up", ["a", "b c"], alpha=alpha)
                for case in cases:
                    system = CONTEXT_PROMPT + "\n".join(f"- {f}" for f in case.facts)
                    for probe in case.probes:
                        prompt = [{"role": "system", "content": system}, {"role": "user", "content": probe.question}]
                        cands = list(probe.answers) + list(probe.distractors)
                        t = time.perf_counter()
                        old = [one_at_a_time(d, prompt, c, alpha) for c in cands]
                        before += time.perf_counter() - t
                        t = time.perf_counter()
                        new = d.logprobs(prompt, cands, alpha=alpha)
                        after += time.perf_counter() - t
                        worst = max(worst, max(abs(a - b) for a, b in zip(old, new)))
                        diffs += [abs(a - b) for a, b in zip(old, new)]
                        k = len(probe.answers)  # the ranking verdict: best alias above every distractor
                        flips += (max(old[:k]) > max(old[k:])) != (max(new[:k]) > max(new[k:]))
                        if n_probes < args.generate:
                            t = time.perf_counter()
                            d.generate(prompt, alpha=alpha, max_new_tokens=MAX_NEW_TOKENS, temperature=0.0,
                                       top_p=1.0, repetition_penalty=1.0).result()
                            generate += time.perf_counter() - t
                        n_probes, n_cands = n_probes + 1, n_cands + len(cands)
            per_setting[name] = {"before_s": round(before, 2), "after_s": round(after, 2),
                                 "speedup": round(before / after, 2)}
            if args.generate:
                per_setting[name]["generate_s_per_probe"] = round(generate / min(args.generate, n_probes), 2)
            log(name, per_setting[name])
    before = sum(s["before_s"] for s in per_setting.values())
    after = sum(s["after_s"] for s in per_setting.values())
    print(json.dumps({
        "profile": args.profile, "probes": n_probes, "candidates": n_cands, "before_s": round(before, 2),
        "after_s": round(after, 2), "speedup": round(before / after, 2), "max_abs_diff": float(f"{worst:.3g}"),
        "mean_abs_diff": float(f"{sum(diffs) / len(diffs):.3g}"), "ranking_flips": flips,
        "per_setting": per_setting, "cpu": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
    }))


if __name__ == "__main__":
    main()
