"""The small model's forward beside the large model's, on CPU: a helper thread (`SideThread`).

A proxy step needs two forwards, the large model's (one row) and the small model's (the expert
and base rows), and neither needs the other's result until they are combined. On a GPU the
small model runs on a CUDA stream of its own (amend.assistant.proxy). On a CPU they ran one
after the other, and the small model's products are small: most of its time went into starting
them (each one wakes the sleeping OpenMP threads, about 100 us on the project's virtual machine,
amend.machine) rather than into reading its weights, 5.5 GB/s against the large model's 11.
Run in a second Python thread (torch releases the GIL inside each operation), the small model
computes while the large model's threads wait, and the other way round: the proxy went from
0.63-0.66 to about 0.75 of the large model alone on qwen-coder (docs/DECODING.md). Each thread
keeps torch's thread count (a team of OpenMP threads of its own); one thread each was slower.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class SideThread:
    """One helper thread that runs a function under the caller's autograd mode."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="amend-small-model")

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Start `fn(*args)` on the helper thread; grad and inference mode are per thread in torch,
        so the caller's are set there too (an inference-mode KV cache must stay inference-mode)."""
        import torch

        inference, grad = torch.is_inference_mode_enabled(), torch.is_grad_enabled()

        def call() -> Any:
            with torch.inference_mode(inference), torch.set_grad_enabled(grad):
                return fn(*args)

        return self._pool.submit(call)

    def close(self) -> None:
        """Wait for what runs and end the thread."""
        self._pool.shutdown(wait=True)
