"""Assistant fixtures: LoRA adapters for the tiny model (random non-zero and zero-initialised),
and a non-shared pair (tiny as large, a small random Llama with the same vocabulary as small)."""

from __future__ import annotations

import dataclasses

import pytest


@pytest.fixture(scope="session")
def random_adapter(tiny, tmp_path_factory):
    """A LoRA (r=8, every projection) for tiny with random non-zero B: an expert unlike its base."""
    from amend.assistant.synthetic import save_lora

    return save_lora(tiny.small, tmp_path_factory.mktemp("random-lora"), std=0.02, seed=1)


@pytest.fixture(scope="session")
def zero_adapter(tiny, tmp_path_factory):
    """A LoRA with peft's default init (B = 0): the expert equals the base."""
    from amend.assistant.synthetic import save_lora

    return save_lora(tiny.small, tmp_path_factory.mktemp("zero-lora"), std=0.0, seed=1)


@pytest.fixture(scope="session")
def pair(tiny, tmp_path_factory):
    """(LoadedProfile with large=tiny and a different small model, adapter folder for the small one)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from amend.assistant.synthetic import save_lora

    torch.manual_seed(3)
    config = LlamaConfig(vocab_size=tiny.large.config.vocab_size, hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         tie_word_embeddings=True)
    small = LlamaForCausalLM(config).eval()
    loaded = dataclasses.replace(tiny, small=small)
    return loaded, save_lora(small, tmp_path_factory.mktemp("pair-lora"), std=0.05, seed=2)
