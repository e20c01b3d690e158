"""What amend relies on about a model's output layer.

For these architectures the logits are the output layer (a bias-free Linear) applied to the final
hidden state, and nothing more (no soft-capping, no scaling). So the layer may be applied to a
few positions only (training: the answer tokens, amend.training.lora) or to a difference of
hidden states (decoding: amend.assistant.proxy), and give exactly the logits there.
"""

from __future__ import annotations

from typing import Any

FOLDABLE = {"llama", "qwen2", "qwen3", "mistral"}  # logits = lm_head(final hidden state), nothing more


def plain_head(model: Any) -> bool:
    """Whether `model`'s logits are its output layer applied to its decoder's last hidden state."""
    return getattr(model.config, "model_type", None) in FOLDABLE
