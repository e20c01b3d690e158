"""`amend adapters list/activate/rollback` and `amend update` with nothing to do (no model loaded)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from amend.cli import cli
from amend.store import open_store
from amend.training import adapters as folders


@pytest.fixture
def two_versions(settings):
    store = open_store(settings)
    for content in (b"one", b"two"):
        staged = folders.staging_dir(settings, "tiny")
        (staged / "adapter_model.safetensors").write_bytes(content)
        folders.publish(store, settings, "tiny", staged, "SmolLM2-135M-Instruct", {1: "A."},
                        {"mode": "full", "steps": 3, "final_loss": 0.25})
    store.dispose()
    return settings


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_list_json_has_version_active_created_facts(two_versions):
    result = run("adapters", "list", "--json")
    assert result.exit_code == 0
    rows = json.loads(result.output)
    assert [(r["version"], r["active"], r["facts"]) for r in rows] == [(1, False, [1]), (2, True, [1])]
    assert all(r["created"] and r["loss"] == 0.25 and r["mode"] == "full" for r in rows)
    text = run("adapters", "list").output
    assert "* v2" in text and "  v1" in text


def test_activate_and_rollback(two_versions):
    assert "v1 of tiny is active" in run("adapters", "activate", "1").output
    assert [r["active"] for r in json.loads(run("adapters", "list", "--json").output)] == [True, False]
    result = run("adapters", "rollback")
    assert result.exit_code == 1 and "no adapter version before 1" in result.output
    run("adapters", "activate", "2")
    assert "rolled back: adapter v1" in run("adapters", "rollback").output


def test_a_damaged_version_is_not_activated(two_versions):
    (two_versions.adapters_dir / "tiny" / "v1" / "adapter_model.safetensors").write_bytes(b"damaged")
    result = run("adapters", "activate", "1")
    assert result.exit_code == 1
    assert result.output.startswith("Error: adapter v1 of tiny:") and "Traceback" not in result.output
    assert [r["active"] for r in json.loads(run("adapters", "list", "--json").output)] == [False, True]


def test_unknown_version_is_one_line(settings):
    result = run("adapters", "activate", "7")
    assert result.exit_code == 1 and result.output == "Error: no adapter version 7 for profile tiny\n"


def test_update_with_nothing_to_do_loads_no_model(settings):
    result = run("update")
    assert result.exit_code == 0 and "nothing to update" in result.output
    assert run("worker", "--once").output.strip().endswith("up to date")


def test_worker_stops_on_sigterm(settings):
    import os
    import signal
    import subprocess
    import sys
    import time

    worker = subprocess.Popen([sys.executable, "-m", "amend", "worker", "--poll", "0.2"], env=os.environ.copy(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "waiting for jobs" in worker.stdout.readline()  # started, polling an empty queue
        time.sleep(0.5)
        assert worker.poll() is None
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    finally:
        worker.kill()
