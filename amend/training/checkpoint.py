"""Training checkpoints: an interrupted update continues from its last step, not from zero.

Every `settings.checkpoint_every_s` seconds of training the trainer writes one file: the LoRA
weights, the optimizer's state (AdamW's moments) and where the loop stands (epoch, next batch,
that epoch's order and the order generator's state, the losses so far). A run that starts with
the same inputs (the fingerprint: the tokenized examples, the hyper-parameters and the adapter
continued from) loads it and goes on from that step; the steps after it are the ones an
uninterrupted run would have taken (the loop's randomness is all in the saved order state), so
the adapter comes out the same. A file with another fingerprint is stale and ignored.

What it is for: a retrain of hundreds of facts is hours on a CPU (docs/TRAINING.md), and an
`amend update` stopped by ctrl-c, a reboot or a SIGKILL puts its jobs back to pending (worker.py);
derivation is already kept per fact (pipeline.py), so with this the rerun loses at most the
steps since the last checkpoint. The file is written to a temporary name and renamed, so a
kill while writing leaves the previous checkpoint whole.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from amend.training.dataset import Encoded

FORMAT = 1  # bump when the saved state's layout changes (older files are then ignored)


@dataclass
class LoopState:
    """Where the training loop stands after a step (what a checkpoint restores)."""

    step: int = 0  # steps done
    epoch: int = 1  # the epoch of the next step (1-based)
    batch: int = 0  # index into `order` of the next step's first row
    order: list[int] = field(default_factory=list)  # this epoch's order of the rows to learn
    order_rng: tuple | None = None  # random.Random.getstate() of the order generator, after `order` was drawn
    next_retain: int = 0  # the next retain row to use (they cycle)
    losses: list[float] = field(default_factory=list)  # this epoch's step losses so far
    now: list[float] = field(default_factory=list)  # the same without replayed rows
    kls: list[float] = field(default_factory=list)  # this epoch's retain KLs so far
    epoch_losses: list[float] = field(default_factory=list)  # mean loss of each finished epoch
    seconds: float = 0.0  # training time before this run (earlier, interrupted runs)


def fingerprint(rows: Sequence[Encoded], config: dict, resume_from: Path | None) -> str:
    """SHA-256 of what decides the training run: the tokenized rows in order, the
    hyper-parameters and the weights of the adapter it continues from."""
    digest = hashlib.sha256(json.dumps([FORMAT, config, [asdict(r) for r in rows]], sort_keys=True).encode())
    if resume_from is not None:
        for name in sorted(p.name for p in resume_from.glob("adapter_model*")):
            digest.update(name.encode())
            digest.update((resume_from / name).read_bytes())
    return digest.hexdigest()


def save(path: Path, digest: str, state: LoopState, lora: dict, optimizer: dict) -> None:
    """Write the checkpoint (temporary name, then an atomic rename)."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    torch.save({"format": FORMAT, "fingerprint": digest, "state": asdict(state), "lora": lora,
                "optimizer": optimizer}, tmp)
    os.replace(tmp, path)


def load(path: Path, digest: str) -> tuple[LoopState, dict, dict] | None:
    """(state, LoRA weights, optimizer state) if `path` holds a checkpoint of this run, else
    None (no file, another run's, an older format or unreadable: a checkpoint is only ever a
    shortcut, so a bad one is ignored and the run starts from its first step)."""
    import torch

    if not path.is_file():
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=False)  # our own file, written by `save`
        if saved.get("format") != FORMAT or saved.get("fingerprint") != digest:
            return None
        state = LoopState(**saved["state"])
    except Exception:
        return None
    return state, saved["lora"], saved["optimizer"]


class Every:
    """True once every `seconds` (0: never): when to write the next checkpoint."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.last = time.perf_counter()

    def due(self) -> bool:
        if self.seconds <= 0 or time.perf_counter() - self.last < self.seconds:
            return False
        self.last = time.perf_counter()
        return True
