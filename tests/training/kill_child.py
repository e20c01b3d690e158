"""Child process of test_training_kill: runs the pending update, printing where it is.

Prints "STEP k/n" after each training step and "COMMIT" once the new adapter folder is renamed
into place, inside the not-yet-committed transaction (then it waits there to be killed).
Settings come from the environment (AMEND_HOME, AMEND_MODELS, AMEND_EPOCHS, ...).
"""

from __future__ import annotations

import sys
import time

from amend.config import load_settings
from amend.models.load import load_profile
from amend.store import open_store
from amend.training.pipeline import run_update
from amend.training.worker import claim_all, heartbeat, new_worker_id


def main() -> None:
    settings = load_settings()
    lp = load_profile("tiny", device="cpu", dtype="float32", settings=settings)
    store = open_store(settings)
    job_ids = claim_all(store, new_worker_id())
    print("CLAIMED", *job_ids, flush=True)

    def on_progress(p) -> None:
        if p.step is not None:
            print(f"STEP {p.step}/{p.total}", flush=True)

    def before_commit(path) -> None:
        print("COMMIT", path, flush=True)
        time.sleep(600)

    with heartbeat(store, job_ids):
        run_update(store, lp, settings, job_ids, on_progress, derive=False, before_commit=before_commit)
    print("DONE", flush=True)


if __name__ == "__main__":
    sys.exit(main())
