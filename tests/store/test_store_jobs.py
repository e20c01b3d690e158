"""The job queue: claim order, stale claims, reports, and two processes claiming at once."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

from amend.store.jobs import (cancel_job, claim_job, enqueue_update, fail_job, finish_job, get_job, list_jobs,
                              pending_jobs, report)
from amend.store.schema import utcnow


def test_claim_in_order_then_none(store):
    with store.session() as s:
        ids = [enqueue_update(s, {"fact_ids": [i], "change": "add"}).id for i in range(3)]
    with store.session() as s:
        assert [j.id for j in pending_jobs(s)] == ids
    claimed = []
    for _ in range(3):
        with store.session() as s:
            job = claim_job(s, "w1")
            assert (job.status, job.worker, job.attempts) == ("running", "w1", 1)
            assert job.started is not None and job.heartbeat is not None
            claimed.append(job.id)
    assert claimed == ids
    with store.session() as s:
        assert claim_job(s, "w2") is None
        assert pending_jobs(s) == []


def test_report_finish_fail_cancel(store):
    with store.session() as s:
        a = enqueue_update(s, {"fact_ids": [1], "change": "add"})
        b = enqueue_update(s, {"fact_ids": [2], "change": "edit"})
        c = enqueue_update(s, {"fact_ids": [3], "change": "retract"})
    with store.session() as s:
        job = claim_job(s, "w")
        beat = job.heartbeat
    with store.session() as s:
        job = report(s, a.id, progress=1.7, stage="deriving", message="3 statements")
        assert (job.progress, job.stage, job.message) == (1.0, "deriving", "3 statements")
        assert job.heartbeat >= beat
        report(s, a.id, progress=0.25)
        assert (get_job(s, a.id).progress, get_job(s, a.id).stage) == (0.25, "deriving")
        finish_job(s, a.id)
        fail_job(s, b.id, "out of memory")
        cancel_job(s, c.id)
    with store.session() as s:
        a, b, c = get_job(s, a.id), get_job(s, b.id), get_job(s, c.id)
        assert (a.status, a.progress, a.finished is not None) == ("done", 1.0, True)
        assert (b.status, b.error) == ("failed", "out of memory")
        assert c.status == "cancelled"
        assert [j.id for j in list_jobs(s)] == [c.id, b.id, a.id]
        assert claim_job(s, "w") is None


def test_stale_running_job_is_claimed_again(store):
    with store.session() as s:
        job_id = enqueue_update(s, {"fact_ids": [1], "change": "add"}).id
    with store.session() as s:
        claim_job(s, "dead worker")
    with store.session() as s:
        assert claim_job(s, "w2", stale_after_s=60) is None  # its heartbeat is fresh
        get_job(s, job_id).heartbeat = utcnow() - timedelta(seconds=120)
    with store.session() as s:
        job = claim_job(s, "w2", stale_after_s=60)
        assert (job.id, job.worker, job.attempts) == (job_id, "w2", 2)


CLAIMER = """
import sys
from amend.config import load_settings
from amend.store import open_store
from amend.store.jobs import claim_job, finish_job
store = open_store(load_settings())
print("ready", flush=True)
sys.stdin.readline()
while True:
    with store.session() as s:
        job = claim_job(s, sys.argv[1])
        if job is None:
            break
        finish_job(s, job.id)
        print(job.id, flush=True)
"""


def test_two_processes_claim_each_job_once(store):
    with store.session() as s:
        ids = [enqueue_update(s, {"fact_ids": [i], "change": "add"}).id for i in range(60)]
    procs = [subprocess.Popen([sys.executable, "-c", CLAIMER, f"w{i}"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True) for i in range(2)]
    for p in procs:  # both are connected before either starts claiming
        assert p.stdout.readline().strip() == "ready"
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    outputs = [p.communicate(timeout=300)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    claimed = [int(x) for out in outputs for x in out]
    assert sorted(claimed) == ids  # every job once, none twice
    with store.session() as s:
        assert {get_job(s, i).status for i in ids} == {"done"}
