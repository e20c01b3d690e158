"""The job queue in the database: changes enqueue update jobs, workers claim and report on them.

A claim is one conditional UPDATE (`... WHERE id = ? AND <still claimable>`) whose row count says
whether this worker won; on SQLite write transactions already hold the write lock (BEGIN
IMMEDIATE), on PostgreSQL the candidate is picked with FOR UPDATE SKIP LOCKED. A running job
whose heartbeat is older than `stale_after_s` belongs to a dead worker and may be claimed again.
Commit right after claim_job (end the `store.session()` block) so others see the claim.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from amend.store.errors import NotFound
from amend.store.schema import Job, utcnow


def enqueue_update(session: Session, payload: dict) -> Job:
    """A pending update job; payload is e.g. {"fact_ids": [3], "change": "add"}."""
    job = Job(kind="update", status="pending", payload=dict(payload), progress=0.0, stage="queued", message="")
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"no job with id {job_id}")
    return job


def claim_job(session: Session, worker: str, stale_after_s: float = 60) -> Job | None:
    """Take the oldest claimable job for `worker` (status becomes running), or None if there is none."""
    now = utcnow()
    claimable = or_(
        Job.status == "pending",
        and_(Job.status == "running", or_(Job.heartbeat.is_(None), Job.heartbeat < now - timedelta(seconds=stale_after_s))),
    )
    candidates = select(Job.id).where(claimable).order_by(Job.id).limit(20)
    if session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    for job_id in session.scalars(candidates).all():
        won = session.execute(
            update(Job)
            .where(Job.id == job_id, claimable)
            .values(status="running", worker=worker, heartbeat=now, started=now, attempts=Job.attempts + 1,
                    stage="claimed", error=None, finished=None)
            .execution_options(synchronize_session=False)
        ).rowcount
        if won == 1:
            job = session.get(Job, job_id)
            session.refresh(job)
            return job
    return None


def report(session: Session, job_id: int, progress: float | None = None, stage: str | None = None,
           message: str | None = None) -> Job:
    """Record progress (0-1), the stage and a message; always refreshes the heartbeat.

    Returns the job, so a worker can notice that it was cancelled (job.status == "cancelled").
    """
    job = get_job(session, job_id)
    if progress is not None:
        job.progress = min(1.0, max(0.0, float(progress)))
    if stage is not None:
        job.stage = stage
    if message is not None:
        job.message = message
    job.heartbeat = utcnow()
    session.flush()
    return job


def finish_job(session: Session, job_id: int) -> Job:
    job = get_job(session, job_id)
    job.status, job.progress, job.stage, job.finished = "done", 1.0, "done", utcnow()
    session.flush()
    return job


def fail_job(session: Session, job_id: int, error: str) -> Job:
    job = get_job(session, job_id)
    job.status, job.error, job.finished = "failed", error, utcnow()
    session.flush()
    return job


def cancel_job(session: Session, job_id: int) -> Job:
    """Cancel a pending or running job (a running worker sees it at its next report)."""
    job = get_job(session, job_id)
    if job.status in ("pending", "running"):
        job.status, job.finished = "cancelled", utcnow()
        session.flush()
    return job


def pending_jobs(session: Session) -> list[Job]:
    return list(session.scalars(select(Job).where(Job.status == "pending").order_by(Job.id)))


def list_jobs(session: Session, limit: int = 50) -> list[Job]:
    """The newest jobs first."""
    return list(session.scalars(select(Job).order_by(Job.id.desc()).limit(limit)))
