"""Stand-in experts and models for tests and the decode benchmark.

- `save_lora(model, folder)`: a LoRA adapter folder (peft format) for `model`, with random
  non-zero B weights (peft's default init sets B = 0, an expert equal to its base) or zero ones.
  The model is wrapped only while the adapter is made, then unloaded unchanged.
- `random_pair(name)`: randomly initialised large and small models built from the Qwen2.5
  configs (no download), for timing on machines without the real weights: decoding time does
  not depend on the weights' values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

ALL_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

# Qwen2.5 shapes (config.json of the instruct models); vocabulary 151936 for all of them
QWEN_SHAPES = {
    "qwen0.5b": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                     num_key_value_heads=2, tie_word_embeddings=True),
    "qwen1.5b": dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
                     num_key_value_heads=2, tie_word_embeddings=True),
    "qwen7b": dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                   num_key_value_heads=4, tie_word_embeddings=False),
}
RANDOM_PAIRS = {"qwen7b": ("qwen7b", "qwen0.5b"), "qwen1.5b": ("qwen1.5b", "qwen0.5b")}


def save_lora(model: Any, folder: str | Path, r: int = 8, lora_alpha: int = 16, std: float = 0.02,
              seed: int = 0, targets: tuple[str, ...] = ALL_PROJECTIONS, **config: Any) -> Path:
    """Write a LoRA adapter for `model` to `folder`; B ~ N(0, std) (std=0: B = 0, a no-op expert).
    `config`: further LoraConfig fields (lora_bias=True, use_dora=True, ...)."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    lora = LoraConfig(r=r, lora_alpha=lora_alpha, target_modules=list(targets), lora_dropout=0.0, **config)
    peft_model = get_peft_model(model, lora)
    try:
        if std:
            with torch.no_grad():
                for name, p in peft_model.named_parameters():
                    if "lora_B" in name:
                        p.normal_(0.0, std)
        peft_model.save_pretrained(str(folder))
    finally:
        peft_model.unload()  # take the LoRA layers out again; the weights were never touched
    return Path(folder)


def random_model(shape: str, dtype: Any, device: str, seed: int = 0) -> Any:
    """A Qwen2 causal LM with the named shape and random weights, built on `device`."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(vocab_size=151936, max_position_embeddings=32768, eos_token_id=151645,
                         rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0},
                         **QWEN_SHAPES[shape])
    torch.manual_seed(seed)
    with torch.device(device):  # initialise in place on the device, directly in `dtype`
        model = Qwen2ForCausalLM._from_config(config, dtype=dtype)
    return model.eval()


def random_pair(name: str, dtype: Any, device: str) -> tuple[Any, Any]:
    """(large, small) with random weights, e.g. name="qwen7b": Qwen2.5-7B and -0.5B shapes."""
    large, small = RANDOM_PAIRS[name]
    return random_model(large, dtype, device, seed=0), random_model(small, dtype, device, seed=1)
