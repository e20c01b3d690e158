"""The job worker: claims pending update jobs, keeps them alive, runs them, reports failures.

- `run_pending(settings, profile, on_progress)` runs what is pending now, in the foreground
  (`amend update`, `amend facts add` without --no-update); `run_worker` polls for jobs until
  SIGTERM or ctrl-c (`amend worker`, or a thread of the TUI).
- Every pending job is claimed before the run starts (the store's claim is atomic), so several
  queued changes fold into one training run.
- A heartbeat thread refreshes the claimed jobs every few seconds while derivation or training
  runs. A job whose worker died is claimed again once its heartbeat is stale; a worker of this
  host whose process is gone (worker ids are host:pid:nonce) is known dead at once, so the next
  `amend update` after a SIGKILL picks its jobs up without waiting.
- An error fails the jobs with the message; ctrl-c or SIGTERM puts them back to pending.
- A profile whose active adapter does not cover the active facts (a new profile, a lost folder)
  gets a "sync" job, so updating it brings it up to date even with no changes queued.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable
from contextlib import contextmanager

from sqlalchemy import select, update

from amend.config import Settings
from amend.errors import UserError
from amend.store import open_store
from amend.store.adapters import active_adapter
from amend.store.facts import active_facts
from amend.store.jobs import claim_job, enqueue_update, fail_job, pending_jobs, report
from amend.store.schema import Job
from amend.training import adapters as folders
from amend.training.pipeline import Cancelled, Progress, UpdateResult, run_update

HEARTBEAT_S = 5.0  # seconds between heartbeats of claimed jobs (the store calls a job stale after 60)
POLL_S = 2.0  # seconds between looks at the queue in `amend worker`


class UpdateFailed(UserError):
    """An update job failed; the jobs are marked failed with the reason."""


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _dead_here(worker: str | None) -> bool:
    """The worker ran on this host in a process that no longer exists."""
    if not worker or worker.count(":") < 2:
        return False
    host, pid, _ = worker.rsplit(":", 2)
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def requeue_dead(store) -> list[int]:
    """Running jobs of dead workers on this host go back to pending; returns their ids."""
    with store.session() as session:
        running = session.execute(select(Job.id, Job.worker).where(Job.status == "running")).all()
        requeued = []
        for job_id, worker in running:
            if _dead_here(worker):
                session.execute(update(Job).where(Job.id == job_id, Job.worker == worker, Job.status == "running")
                                .values(status="pending", worker=None, heartbeat=None, stage="requeued"))
                requeued.append(job_id)
    return requeued


def release(store, job_ids: list[int]) -> None:
    """Put claimed jobs back to pending (the run was interrupted, not failed)."""
    with store.session() as session:
        session.execute(update(Job).where(Job.id.in_(job_ids), Job.status == "running")
                        .values(status="pending", worker=None, heartbeat=None, stage="interrupted"))


def ensure_sync_job(store, settings: Settings, profile: str) -> None:
    """Queue a "sync" job if nothing is pending but the profile's adapter lags behind the facts.

    Cheap enough for every poll of `amend worker`: one read, the manifest, no hashing (the
    update itself verifies the folder).
    """
    with store.session(write=False) as session:
        if pending_jobs(session) or session.scalar(select(Job.id).where(Job.status == "running")):
            return
        facts = {f.id: f.text for f in active_facts(session)}
        adapter = active_adapter(session, profile)
        covered = folders.covered_facts(adapter)
    if covered != facts and (facts or adapter is not None):
        with store.session() as session:
            enqueue_update(session, {"fact_ids": [], "change": "sync", "profile": profile})


def claim_all(store, worker: str) -> list[int]:
    """Claim every claimable job (each claim commits at once, so other workers see it)."""
    claimed = []
    while True:
        with store.session() as session:
            job = claim_job(session, worker)
            if job is None:
                return claimed
            claimed.append(job.id)


@contextmanager
def heartbeat(store, job_ids: list[int], every_s: float = HEARTBEAT_S):
    """Refresh the jobs' heartbeat from a thread while the block runs."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every_s):
            try:
                with store.session() as session:
                    for j in job_ids:
                        report(session, j)
            except Exception:  # a busy database now and then must not kill the thread
                pass

    thread = threading.Thread(target=beat, name="amend-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def run_jobs(store, lp, settings: Settings, job_ids: list[int], on_progress: Callable[[Progress], None] | None = None,
             derive: bool = True, isolate: bool = False) -> UpdateResult:
    """Run claimed jobs as one update; fail them on an error, release them on an interrupt."""
    with heartbeat(store, job_ids):
        try:
            return run_update(store, lp, settings, job_ids, on_progress, derive=derive, isolate=isolate)
        except Cancelled:
            return UpdateResult(job_ids=job_ids, mode="cancelled", message="cancelled")
        except (KeyboardInterrupt, SystemExit):
            release(store, job_ids)
            raise
        except Exception as e:
            reason = f"{type(e).__name__}: {e}"
            with store.session() as session:
                for j in job_ids:
                    fail_job(session, j, reason)
            raise UpdateFailed(f"update job(s) {', '.join(map(str, job_ids))} failed: {reason}") from e


def run_pending(settings: Settings, profile: str | None = None, on_progress: Callable[[Progress], None] | None = None,
                lp=None, store=None, derive: bool = True, worker: str | None = None,
                isolate: bool = False) -> list[UpdateResult]:
    """Run every pending update job now, as one training run; [] if there is nothing to do.

    `lp`: a loaded profile, or a function returning one, called only if there is work (default:
    load `profile` here); `store`: an open store (default: the settings' database). isolate: train on a copy
    of the small model (pass True when another thread decodes with `lp` meanwhile, as in the TUI).
    on_progress also gets Progress("load", 0, what) while the models load.
    """
    own_store = store is None
    store = store or open_store(settings)
    try:
        name = lp.profile.name if lp is not None and not callable(lp) else (profile or settings.profile)
        requeue_dead(store)
        ensure_sync_job(store, settings, name)
        job_ids = claim_all(store, worker or new_worker_id())
        if not job_ids:
            return []
        with heartbeat(store, job_ids):
            try:
                lp = _loaded(lp, name, settings, on_progress)
            except BaseException:
                release(store, job_ids)
                raise
        return [run_jobs(store, lp, settings, job_ids, on_progress, derive, isolate)]
    finally:
        if own_store:
            store.dispose()


def _loaded(lp, name: str, settings: Settings, on_progress):
    if lp is not None:
        return lp() if callable(lp) else lp
    from amend.models.load import load_profile

    def loading(stage: str, done: float, total: float | None) -> None:
        if on_progress:
            on_progress(Progress("load", 0.0, stage))

    return load_profile(name, settings=settings, on_progress=loading)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM ends the worker like ctrl-c: claimed jobs go back to pending


def run_worker(settings: Settings, profile: str | None = None, once: bool = False, poll_s: float = POLL_S,
               on_progress: Callable[[Progress], None] | None = None,
               on_result: Callable[[UpdateResult], None] | None = None,
               stop: threading.Event | None = None, lp=None, derive: bool = True, isolate: bool = False,
               on_ready: Callable[[str], None] | None = None) -> int:
    """Poll for jobs and run them until `stop` is set, SIGTERM or ctrl-c; returns the runs done.

    The models are loaded at the first job and kept. once: run what is pending now and return.
    on_ready(worker id) is called once the worker listens for SIGTERM.
    A failed run is passed to on_result (mode "failed") and the loop goes on.
    """
    stop = stop or threading.Event()
    name = lp.profile.name if lp is not None else (profile or settings.profile)
    holder = [lp] if lp is not None else []

    def get_lp():
        if not holder:
            holder.append(_loaded(None, name, settings, on_progress))
        return holder[0]

    store = open_store(settings)
    worker = new_worker_id()
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if main else None
    runs = 0
    try:
        if on_ready:
            on_ready(worker)  # the signal handler is in place from here on
        while not stop.is_set():
            try:
                results = run_pending(settings, name, on_progress, lp=get_lp, store=store, derive=derive,
                                      worker=worker, isolate=isolate)
            except UpdateFailed as e:
                results = [UpdateResult(job_ids=[], mode="failed", message=str(e))]
            for r in results:
                runs += 1
                if on_result:
                    on_result(r)
            if once:
                break
            if not results:
                stop.wait(poll_s)
    except KeyboardInterrupt:
        pass
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
        store.dispose()
    return runs
