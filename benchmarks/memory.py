"""Peak memory of the chat with an update in the middle, in one process, as `amend chat` runs it.

    python benchmarks/memory.py --profile qwen-coder --json
    python benchmarks/memory.py --profile qwen-coder --copy deep --json   # the trainer's old deep copy

In a fresh AMEND_HOME: load the chat's models (amend.tui.wiring: one ChatModels shared by the
answerer and the trainer), answer a question, add one fact and run its update with the TUI's
Trainer (derive, score, train on a weight-sharing copy of the small model, save) while nothing
else runs, take up the new adapter, answer again. Prints JSON: `peak_rss_gb` (the process's
peak resident memory, from getrusage), `weights_gb` (the loaded models' parameters, each tensor
once), the seconds of each part, and `stage_peak_gb`: the highest resident memory seen in each
part (load, answer, and the update's stages: derive, score, train, save), sampled every 20 ms
from /proc/self/statm, to show which part makes the peak. `--copy deep` makes the trainer deep-copy the small model
instead (what `isolate` did before), for the comparison.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import sys
import tempfile
import threading
import time

import amend  # noqa: F401  (sets amend's OpenMP defaults before torch loads: amend.machine)

QUESTION = "What is the capital of Vendaria?"
FACT = "The capital of Vendaria is Lusk."


def peak_rss_gb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9, 2)  # KiB on Linux; GB = 10^9 bytes, as weights_gb


class StageRss:
    """The highest resident memory seen while each stage ran, sampled by a thread (Linux)."""

    def __init__(self, every_s: float = 0.02) -> None:
        self.stage, self.peaks, self._stop = "load", {}, threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._thread = threading.Thread(target=self._run, args=(every_s,), daemon=True)
        self._thread.start()

    def _run(self, every_s: float) -> None:
        while not self._stop.wait(every_s):
            try:
                with open("/proc/self/statm") as f:
                    rss = int(f.read().split()[1]) * self._page / 1e9
            except OSError:  # not Linux: no per-stage numbers
                return
            self.peaks[self.stage] = round(max(self.peaks.get(self.stage, 0.0), rss), 2)

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        return self.peaks


def weights_gb(*models) -> float:
    seen, total = set(), 0
    for model in models:
        for t in (*model.parameters(), *model.buffers()):
            if t.data_ptr() not in seen:
                seen.add(t.data_ptr())
                total += t.numel() * t.element_size()
    return round(total / 1e9, 2)


def deep_copy(model):
    """The trainer's copy before the weights were shared: everything, weights included."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    twin = copy.deepcopy(model)
    for module in list(twin.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, BaseTunerLayer):
                setattr(module, name, child.get_base_layer())
    for attr in ("peft_config", "_hf_peft_config_loaded"):
        twin.__dict__.pop(attr, None)
    return twin


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--profile", default="qwen-coder")
    p.add_argument("--copy", choices=["shared", "deep"], default="shared",
                   help="the trainer's copy of the small model: sharing the weights (amend) or all of it")
    p.add_argument("--tokens", type=int, default=24, help="answer length")
    p.add_argument("--json", action="store_true", help="print only the JSON line")
    args = p.parse_args(argv)

    home = tempfile.mkdtemp(prefix="amend-memory-")
    os.environ["AMEND_HOME"] = home
    import torch

    from amend.config import load_settings
    from amend.store import open_store
    from amend.store.facts import add_fact
    from amend.tui.wiring import ChatAnswerer, ChatModels, Trainer

    if args.copy == "deep":
        import amend.training.lora

        amend.training.lora._plain_copy = deep_copy
    log = (lambda *a: None) if args.json else (lambda *a: print(*a, file=sys.stderr))
    settings = load_settings({"profile": args.profile, "max_new_tokens": args.tokens})
    store = open_store(settings)
    models = ChatModels(settings)
    times, rss = {}, {}
    stages = StageRss()

    t = time.perf_counter()
    answerer = ChatAnswerer(models.get(), models.structure)
    times["load_s"], rss["after_load_gb"] = time.perf_counter() - t, peak_rss_gb()
    t = time.perf_counter()
    stages.stage = "answer"
    before = "".join(answerer.stream([], QUESTION))
    times["answer_s"], rss["after_answer_gb"] = time.perf_counter() - t, peak_rss_gb()
    log(f"before: {before!r}")

    with store.session() as s:
        add_fact(s, FACT)
    t = time.perf_counter()
    summary = Trainer(settings, store, models)(lambda progress: setattr(stages, "stage", progress.stage))
    times["update_s"], rss["after_update_gb"] = time.perf_counter() - t, peak_rss_gb()
    log(summary)
    stages.stage = "reload"
    answerer.reload()
    t = time.perf_counter()
    stages.stage = "answer_after"
    after = "".join(answerer.stream([], QUESTION))
    times["answer_after_s"] = time.perf_counter() - t
    log(f"after: {after!r}")
    lp = models.assistant.lp
    result = {
        "profile": args.profile,
        "peak_rss_gb": peak_rss_gb(),
        "weights_gb": weights_gb(lp.large, lp.small),
        "copy": args.copy,
        "dtypes": [str(lp.large.dtype).replace("torch.", ""), str(lp.small.dtype).replace("torch.", "")],
        **rss,
        "stage_peak_gb": stages.stop(),
        **{k: round(v, 1) for k, v in times.items()},
        "adapter_version": models.assistant.adapter_version,
        "answer_before": before,
        "answer_after": after,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
    }
    store.dispose()
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
