"""Decode speed: the large model alone, the naive proxy, and amend's proxy, in one run.

    python benchmarks/decode.py --profile tiny --tokens 64 --json
    python benchmarks/decode.py --random-configs qwen7b --device cuda --tokens 128 --json

- large: the large model alone, one row, its KV cache (amend's decoding loop, alpha = 0).
- naive: proxy-tuning as the reference code does it: three separate one-row forwards per token
  (large, expert = small + LoRA, base = small with the adapter switched off), three caches.
- proxy: amend's `ProxyStep`: the large model plus ONE two-row forward of the small model
  (peft adapter_names ["default", "__base__"]); on CUDA the small model runs on its own stream.

Every variant decodes greedily from the same chat prompt for exactly --tokens tokens (no end
token), timed from the first generated token on (the prompt's encoding is reported apart). The
variants take turns token by token (each with its own caches), so that load from other processes
hits all three alike; each reports the median over --rounds runs. The expert is the store's active adapter for the profile, else
a LoRA (r=8, every attention and MLP projection) with random non-zero B in a temporary folder.
`--random-configs qwen7b` builds randomly initialised Qwen2.5-7B and -0.5B models from their
configs instead (no download; decode time does not depend on the weights' values).

Then the time to the first token of a conversation (amend's decoder, which keeps each model's
KV cache between turns): five questions, each answered with up to --ttft-tokens tokens, the
history growing turn by turn; `ttft_turn1_s` and `ttft_turn5_s` are the medians over --rounds
conversations, and `ttft_turn5_nocache_s` is turn 5 again with the caches emptied first (what
every turn cost before the caches were kept).

Prints one JSON line: large_tok_s, naive_tok_s, proxy_tok_s, ratio (proxy/large), the times to
the first token, peak memory, the CPU capability torch uses and its thread settings.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from copy import deepcopy
from pathlib import Path
from types import SimpleNamespace

import amend  # noqa: F401  (sets amend's OpenMP defaults before torch loads: amend.machine)

QUESTION = "Explain in a few sentences why the sky is blue."
TURNS = ["What is the capital of France?", "What river flows through it?", "How long is that river?",
         "Name a bridge over it.", "When was that bridge built?"]


def load(args):
    """(loaded profile or stand-in, prompt ids, adapter folder or None, description)."""
    import torch

    from amend.config import load_settings

    settings = load_settings({"profile": args.profile} if args.profile else None)
    if args.random_configs:
        from amend.assistant.synthetic import RANDOM_PAIRS, random_pair

        dtype = getattr(torch, args.dtype or "bfloat16")
        device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
        large, small = random_pair(args.random_configs, dtype, device)
        loaded = SimpleNamespace(large=large, small=small, device=device, tokenizer=None,
                                 profile=SimpleNamespace(name=f"random:{args.random_configs}"))
        ids = torch.randint(0, 150000, (1, 40), generator=torch.Generator().manual_seed(0)).to(device)
        return loaded, ids, None, "-".join(RANDOM_PAIRS[args.random_configs])
    from amend.assistant.decoder import encode_prompt
    from amend.models.load import load_profile

    loaded = load_profile(args.profile, device=None if args.device == "auto" else args.device,
                          dtype=args.dtype, settings=settings)
    ids = encode_prompt(loaded.tokenizer, QUESTION, loaded.device)
    return loaded, ids, store_adapter(settings, loaded.profile.name), loaded.profile.name


def store_adapter(settings, profile: str) -> Path | None:
    """The profile's active adapter folder, if the store has one (and it exists)."""
    try:
        from amend.store.adapters import active_adapter
        from amend.store.db import open_store

        with open_store(settings).session(write=False) as session:
            adapter = active_adapter(session, profile)
            path = Path(adapter.path) if adapter else None
    except Exception as e:  # no store yet, or an older schema: fall back to a random adapter
        print(f"store: {e}", file=sys.stderr)
        return None
    return path if path and (path / "adapter_config.json").is_file() else None


def decode(makers: dict, ids, tokens: int, sync) -> tuple[dict, dict]:
    """Greedy decoding of `tokens` tokens by each variant (`make() -> step(ids) -> logits`),
    the variants taking turns token by token, so that load from other processes falls on all
    alike. Returns (prefill seconds, decode seconds) per variant."""
    import torch

    steps = {k: make() for k, make in makers.items()}
    prefill, spent, token = {}, dict.fromkeys(makers, 0.0), {}
    with torch.inference_mode():
        for k, step in steps.items():
            t0 = time.perf_counter()
            token[k] = step(ids).argmax()
            int(token[k])
            prefill[k] = time.perf_counter() - t0
        for _ in range(tokens - 1):
            for k, step in steps.items():
                t0 = time.perf_counter()
                token[k] = step(token[k].view(1, 1)).argmax()
                int(token[k])  # a host sync per token, as when streaming text
                sync()
                spent[k] += time.perf_counter() - t0
    return prefill, spent


def naive_step(large_model, models, alpha: float):
    """Reference proxy-tuning: three separate one-row forwards, three KV caches."""
    from transformers import DynamicCache

    peft = models.peft
    caches = [DynamicCache(config=large_model.config), DynamicCache(config=models.small.config),
              DynamicCache(config=models.small.config)]
    vocab = models.vocab

    def last(model, ids, cache):
        return model(input_ids=ids, cache=cache, use_cache=True, logits_to_keep=1).logits[0, -1, :vocab].float()

    def step(ids):
        large = last(large_model, ids, caches[0])
        expert = last(peft, ids, caches[1])
        with peft.disable_adapter():
            base = last(peft, ids, caches[2])
        return large + alpha * (expert - base)

    return step


def conversation_ttft(loaded, adapter, alpha: float, tokens: int, rounds: int) -> dict:
    """Times to the first token at turns 1 and 5 of a conversation (median over `rounds`), and
    turn 5 with emptied caches."""
    from amend.assistant.chat import Conversation
    from amend.assistant.decoder import DecodeOptions, ProxyDecoder

    turn1, turn5, nocache = [], [], []
    with ProxyDecoder(loaded, adapter, DecodeOptions(alpha=alpha, max_new_tokens=tokens, loop_repeats=0)) as d:
        for _ in range(rounds):
            d.caches.clear()
            chat = Conversation(d)
            for i, question in enumerate(TURNS):
                if i == len(TURNS) - 1:  # turn 5 first without the caches, then as a conversation has it
                    saved = (d.caches.large, d.caches.small)
                    d.caches.clear()
                    g = d.generate(chat.prompt(question))
                    g.result()
                    nocache.append(g.first_token_s)
                    d.caches.large, d.caches.small = saved
                g = chat.ask(question)
                g.result()
                if i == 0:
                    turn1.append(g.first_token_s)
            turn5.append(g.first_token_s)
            prompt_tokens, reused = g.prompt_tokens, g.reused_tokens
    return {"ttft_turn1_s": round(statistics.median(turn1), 3), "ttft_turn5_s": round(statistics.median(turn5), 3),
            "ttft_turn5_nocache_s": round(statistics.median(nocache), 3),
            "ttft_ratio": round(statistics.median(turn5) / statistics.median(turn1), 3),
            "turn5_prompt_tokens": prompt_tokens, "turn5_reused_tokens": reused}


def peak_rss_gb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    return round(kb / 1e6 if platform.system() == "Linux" else kb / 1e9, 2)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--profile", default=None, help="model profile (default: the profile setting)")
    p.add_argument("--tokens", type=int, default=64, help="tokens generated per run")
    p.add_argument("--rounds", type=int, default=2, help="runs (each variant per run), median reported")
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--dtype", default=None, help="override both models' dtype (float32, bfloat16)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--random-configs", choices=["qwen7b", "qwen1.5b"], default=None,
                   help="random-weight Qwen2.5 models from configs (large-0.5B pair), no download")
    p.add_argument("--ttft-tokens", type=int, default=24, help="answer length in the time-to-first-token conversation")
    p.add_argument("--no-ttft", action="store_true", help="skip the time-to-first-token conversation")
    p.add_argument("--json", action="store_true", help="print only the JSON line")
    args = p.parse_args(argv)

    import torch

    from amend.assistant.proxy import ProxyModels, ProxyStep
    from amend.assistant.synthetic import save_lora

    if args.threads:
        torch.set_num_threads(args.threads)
    log = (lambda *a: None) if args.json else (lambda *a: print(*a, file=sys.stderr))
    loaded, ids, adapter, name = load(args)
    cuda = str(loaded.device).startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    with tempfile.TemporaryDirectory() as tmp:
        source = "store"
        if adapter is None:
            adapter, source = save_lora(loaded.small, Path(tmp) / "lora", std=0.02), "random"
        # the large model alone must run without LoRA layers in it: when large and small are one
        # model (tiny), the adapter goes into that model, so the baseline gets a copy of its own
        alone = None
        if loaded.large is loaded.small:
            copy = deepcopy(loaded.large)
            alone = ProxyModels(SimpleNamespace(large=copy, small=copy, device=loaded.device))
        models = ProxyModels(loaded, adapter)
        baseline = alone or models
        variants = {
            "large": lambda: ProxyStep(baseline, 0.0).feed,
            "naive": lambda: naive_step(baseline.large, models, args.alpha),
            "proxy": lambda: ProxyStep(models, args.alpha).feed,
        }
        decode(variants, ids, 4, sync)  # warm-up (allocator, kernels, first-call costs)
        times: dict[str, list[float]] = {k: [] for k in variants}
        prefill: dict[str, list[float]] = {k: [] for k in variants}
        for r in range(args.rounds):
            pre, spent = decode(variants, ids, args.tokens, sync)
            for k in variants:
                times[k].append((args.tokens - 1) / spent[k])
                prefill[k].append(pre[k])
            log(f"round {r + 1}: " + ", ".join(f"{k} {times[k][-1]:.2f} tok/s" for k in variants))
        models.close()
        if alone is not None:
            alone.close()
        ttft = {}
        if not args.no_ttft and loaded.tokenizer is not None:
            ttft = conversation_ttft(loaded, adapter, args.alpha, args.ttft_tokens, args.rounds)
            log(f"time to first token: {ttft}")
    tok_s = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "profile": name,
        "device": torch.cuda.get_device_name() if cuda else f"cpu ({os.cpu_count()} cores, {platform.processor() or platform.machine()})",
        "dtype": str(loaded.large.dtype).replace("torch.", ""),
        "threads": torch.get_num_threads(),
        "tokens": args.tokens,
        "prompt_tokens": int(ids.shape[1]),
        "rounds": args.rounds,
        "adapter": source,
        "alpha": args.alpha,
        "large_tok_s": round(tok_s["large"], 3),
        "naive_tok_s": round(tok_s["naive"], 3),
        "proxy_tok_s": round(tok_s["proxy"], 3),
        "ratio": round(tok_s["proxy"] / tok_s["large"], 3),
        "naive_ratio": round(tok_s["naive"] / tok_s["large"], 3),
        "prefill_s": {k: round(statistics.median(v), 3) for k, v in prefill.items()},
        **ttft,
        "peak_rss_gb": peak_rss_gb(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(libgomp default)"),
    }
    if cuda:
        result["peak_cuda_gb"] = round(torch.cuda.max_memory_allocated() / 1e9, 2)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
