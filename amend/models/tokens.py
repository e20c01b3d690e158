"""Special token ids every model user needs: the padding id and the ids that end an answer.

One place for both, so that generation (training/dct), training (training/lora) and decoding
(assistant) agree on when an answer is over and what pads a batch.
"""

from __future__ import annotations

from typing import Any

# chat end markers of the model families amend runs; whichever exist in a vocabulary end an answer
END_TOKENS = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end|>", "<end_of_turn>")


def pad_id(tokenizer: Any) -> int:
    """The tokenizer's padding id, else its eos id (padding is masked out either way)."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def end_token_ids(model: Any, tokenizer: Any) -> set[int]:
    """Ids that end an answer: the generation config's eos, the tokenizer's, and the usual chat
    end markers that exist in this vocabulary."""
    ids: set[int] = set()
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for value in (eos, tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif value:
            ids.update(int(v) for v in value)
    vocab = tokenizer.get_vocab()
    ids.update(vocab[t] for t in END_TOKENS if t in vocab)
    return ids
