"""The worker's job handling (no model needed): claiming, dead workers, heartbeats, sync jobs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from amend.store import open_store
from amend.store.facts import add_fact
from amend.store.jobs import claim_job, finish_job, get_job, pending_jobs
from amend.training import adapters as folders
from amend.training.worker import claim_all, ensure_sync_job, heartbeat, new_worker_id, release, requeue_dead


@pytest.fixture
def store(settings):
    s = open_store(settings)
    yield s
    s.dispose()


def add(store, text):
    with store.session() as session:
        return add_fact(session, text)[1].id


def dead_pid() -> int:
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True).stdout)


def test_pending_jobs_are_claimed_together(store):
    ids = [add(store, f"Fact number {i}.") for i in range(3)]
    worker = new_worker_id()
    assert claim_all(store, worker) == ids
    with store.session(write=False) as session:
        assert all(get_job(session, j).status == "running" and get_job(session, j).worker == worker for j in ids)
    assert claim_all(store, new_worker_id()) == []
    release(store, ids)
    with store.session(write=False) as session:
        assert [j.id for j in pending_jobs(session)] == ids


def test_jobs_of_a_dead_worker_on_this_host_are_requeued_at_once(store):
    dead, alive = add(store, "A."), add(store, "B.")
    with store.session() as session:
        claim_job(session, f"{socket.gethostname()}:{dead_pid()}:abc")
    with store.session() as session:
        claim_job(session, f"{socket.gethostname()}:{os.getpid()}:def")
    assert requeue_dead(store) == [dead]
    with store.session(write=False) as session:
        assert get_job(session, dead).status == "pending" and get_job(session, alive).status == "running"


def test_heartbeat_refreshes_claimed_jobs(store):
    job_id = add(store, "A.")
    claim_all(store, new_worker_id())
    with store.session(write=False) as session:
        first = get_job(session, job_id).heartbeat
    with heartbeat(store, [job_id], every_s=0.1):
        time.sleep(0.5)
    with store.session(write=False) as session:
        assert get_job(session, job_id).heartbeat > first


def test_a_profile_whose_adapter_lags_gets_a_sync_job(settings, store):
    job_id = add(store, "A.")
    ensure_sync_job(store, settings, "tiny")
    with store.session() as session:
        assert [j.id for j in pending_jobs(session)] == [job_id]  # pending work: nothing added
        finish_job(session, job_id)
    ensure_sync_job(store, settings, "tiny")  # done, but no adapter covers fact 1
    with store.session() as session:
        [sync] = pending_jobs(session)
        assert sync.payload["change"] == "sync"
        finish_job(session, sync.id)
    staged = folders.staging_dir(settings, "tiny")
    (staged / "adapter_model.safetensors").write_bytes(b"weights")
    folders.publish(store, settings, "tiny", staged, "SmolLM2", {1: "A."}, {})
    ensure_sync_job(store, settings, "tiny")  # covered now
    with store.session(write=False) as session:
        assert pending_jobs(session) == []
