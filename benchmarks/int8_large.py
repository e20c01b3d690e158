"""Would int8 weights serve the large model on a CPU without native bfloat16? Speed against damage.

    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 python benchmarks/int8_large.py --profile qwen-coder --json

The profile's large model is loaded in float32 (what amend uses where bfloat16 is slow) and in
three int8 forms of its decoder's Linear layers (the output layer and embedding stay float32):
- `dynamic`: torch.ao's dynamic quantization, one scale per weight matrix and one per input
  (int8 x int8 products, fbgemm / oneDNN);
- `dynamic_per_channel`: the same with one scale per weight row;
- `weight_only`: int8 weights with one scale per row, float32 inputs (`torch._weight_int8pack_mm`).
For each: `top1_agree` (share of the prompts' positions whose most likely next token is
float32's), `mean_abs_dlogp` (mean |log p - log p_float32| over the tokens float32 gives more
than e^-10) and milliseconds per forward for 1 row of 1 token, 4 rows of 1 token (decoding) and
1 row of 64 tokens (a prompt). Prints JSON with `torch.backends.cpu.get_cpu_capability()`.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
import warnings

import amend  # noqa: F401  (sets amend's OpenMP defaults before torch loads: amend.machine)

PROMPTS = [  # generic questions (not the evaluation's)
    "Who wrote the novel Moby-Dick, and when was it published?",
    "Explain in two sentences why the sky is blue.",
    "What is the capital of Australia? Answer in one sentence.",
    "Write a Python function that returns the square of a number.",
]
SHAPES = ((1, 1), (4, 1), (1, 64))  # (rows, tokens) per timed forward


class WeightOnlyInt8:
    """A Linear's forward with int8 weights (one scale per output row) and float32 inputs."""

    def __init__(self, linear):
        import torch

        w = linear.weight.detach().float()
        self.scale = w.abs().amax(1).clamp(min=1e-8) / 127
        self.weight = torch.round(w / self.scale[:, None]).to(torch.int8)
        self.bias = None if linear.bias is None else linear.bias.detach().float()

    def __call__(self, x):
        import torch

        y = torch._weight_int8pack_mm(x.reshape(-1, x.shape[-1]), self.weight, self.scale)
        y = y.reshape(*x.shape[:-1], -1)
        return y if self.bias is None else y + self.bias


def load(source: str, form: str):
    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.bfloat16 if form != "float32" else torch.float32)
    for layer in model.get_decoder().layers:  # one layer at a time: no float32 copy of the whole model
        layer.float()
        linears = {n: m for n, m in layer.named_modules() if isinstance(m, torch.nn.Linear)}
        if form == "weight_only":
            for m in linears.values():
                m.forward = WeightOnlyInt8(m)
                del m.weight
        elif form.startswith("dynamic"):
            spec = {n: per_channel_dynamic_qconfig for n in linears} if form == "dynamic_per_channel" else set(linears)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch.ao's deprecation notices
                quantize_dynamic(layer, spec, dtype=torch.qint8, inplace=True)
        gc.collect()
    return model.float().eval()


def measure(model, prompts, reference) -> dict:
    import torch

    out, agree, diffs = {}, [], []
    with torch.inference_mode():
        for ids, ref in zip(prompts, reference):
            logp = model(ids).logits[0].float().log_softmax(-1)
            agree.append((logp.argmax(-1) == ref.argmax(-1)).float().mean().item())
            diffs.append((logp - ref).abs()[ref > -10].mean().item())
        for rows, tokens in SHAPES:
            x = torch.randint(0, 1000, (rows, tokens))
            start = time.perf_counter()
            model(x)
            first = time.perf_counter() - start
            repeats = 3 if first < 2 else 1  # a slow form is timed once more, not three times
            start = time.perf_counter()
            for _ in range(repeats):
                model(x)
            out[f"ms_{rows}x{tokens}"] = round((time.perf_counter() - start) / repeats * 1000, 1)
    return {"top1_agree": round(sum(agree) / len(agree), 3), "mean_abs_dlogp": round(sum(diffs) / len(diffs), 3), **out}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--profile", default="qwen-coder")
    p.add_argument("--forms", default="float32,dynamic,dynamic_per_channel,weight_only")
    p.add_argument("--json", action="store_true", help="print JSON (the default prints it indented)")
    args = p.parse_args()

    import torch

    from amend.config import load_settings
    from amend.models.hf import quiet_transformers
    from amend.models.load import load_tokenizer, source_of
    from amend.models.profiles import get_profile

    torch.manual_seed(0)
    quiet_transformers()
    settings = load_settings({"profile": args.profile})
    spec = get_profile(settings, args.profile).large
    tokenizer = load_tokenizer(settings, spec)
    prompts = [tokenizer.apply_chat_template([{"role": "user", "content": q}], add_generation_prompt=True,
                                             return_tensors="pt")["input_ids"] for q in PROMPTS]
    reference_model = load(source_of(settings, spec), "float32")
    with torch.inference_mode():
        reference = [reference_model(ids).logits[0].float().log_softmax(-1) for ids in prompts]
    result = {"profile": args.profile, "model": spec.key, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
              "threads": torch.get_num_threads(), "forms": {}}
    for form in args.forms.split(","):
        model = reference_model if form == "float32" else load(source_of(settings, spec), form)
        result["forms"][form] = measure(model, prompts, reference)
        if model is not reference_model:
            del model
            gc.collect()
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
