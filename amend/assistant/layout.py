"""A CPU speed trick for float32 decoding: some weights stored column-major while decoding runs.

For the one- and two-row products of decoding, MKL's sgemm (measured on the project's 2-core
AMD EPYC machine) is faster when a weight with more outputs than inputs (q, gate, up, the output
layer) is stored column-major, and slower for one with fewer (k, v, down). Measured over many
matrices: up (1536x576) 1 row 638 -> 395 us, 2 rows 1030 -> 671 us; down (576x1536) 1 row
479 -> 651 us. The values and the shape stay the same (`W.t().contiguous().t()`), only the
strides change, so every caller sees the same module; `restore` puts the usual layout back.
bfloat16 goes through oneDNN, where this makes no difference, so only float32 is touched.
"""

from __future__ import annotations

from typing import Any


def store_transposed(model: Any) -> list[Any]:
    """Store the float32 CPU nn.Linear weights of `model` that have at least as many outputs as
    inputs column-major; returns the modules changed (for `restore`)."""
    import torch

    changed = []
    with torch.no_grad():
        for module in model.modules():
            w = getattr(module, "weight", None)
            if (isinstance(module, torch.nn.Linear) and w.dtype == torch.float32 and w.device.type == "cpu"
                    and w.dim() == 2 and w.shape[0] >= w.shape[1] and w.is_contiguous()):
                module.weight.data = w.data.t().contiguous().t()
                changed.append(module)
    return changed


def restore(modules: list[Any]) -> None:
    """Give the weights changed by `store_transposed` their usual row-major layout back."""
    for module in modules:
        module.weight.data = module.weight.data.contiguous()
