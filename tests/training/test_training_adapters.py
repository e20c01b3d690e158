"""Adapter folders: manifest, atomic publish and activation, orphans after a crash."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from amend.store import open_store
from amend.store.adapters import active_adapter, list_adapters
from amend.training import adapters as folders


@pytest.fixture
def store(settings):
    s = open_store(settings)
    yield s
    s.dispose()


def staged(settings, content: bytes = b"weights"):
    folder = folders.staging_dir(settings, "tiny")
    (folder / "adapter_model.safetensors").write_bytes(content)
    (folder / "adapter_config.json").write_text('{"r": 8}')
    return folder


def test_publish_writes_a_manifest_renames_and_activates(settings, store):
    first = folders.publish(store, settings, "tiny", staged(settings), "SmolLM2", {1: "A."}, {"loss": 0.1})
    second = folders.publish(store, settings, "tiny", staged(settings, b"other"), "SmolLM2", {1: "A.", 2: "B."}, {})
    assert (first.version, second.version) == (1, 2)
    assert second.path == settings.adapters_dir / "tiny" / "v2"
    manifest = json.loads((second.path / "manifest.json").read_text())
    assert manifest["files"]["adapter_model.safetensors"] == folders.sha256_file(second.path / "adapter_model.safetensors")
    assert manifest["facts"] == {"1": "A.", "2": "B."} and manifest["base_model"] == "SmolLM2"
    assert folders.verify(second.path, second.sha256)
    with store.session(write=False) as session:
        active = active_adapter(session, "tiny")
        assert (active.version, active.facts, active.sha256) == (2, [1, 2], second.sha256)
        assert folders.covered_facts(active) == {1: "A.", 2: "B."}
        assert folders.active_folder(session, "tiny") == second.path
    (second.path / "adapter_model.safetensors").write_bytes(b"tampered")
    assert not folders.verify(second.path, second.sha256)
    with store.session(write=False) as session:
        assert folders.active_folder(session, "tiny") is None
    assert not list((settings.adapters_dir / "tiny").glob(".tmp-*"))


def test_a_crash_before_the_commit_keeps_the_previous_adapter(settings, store):
    folders.publish(store, settings, "tiny", staged(settings), "SmolLM2", {1: "A."}, {})

    def crash(session, path):
        assert path.is_dir()  # renamed already, not yet committed
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        folders.publish(store, settings, "tiny", staged(settings), "SmolLM2", {1: "A.", 2: "B."}, {}, in_transaction=crash)
    with store.session(write=False) as session:
        assert [(a.version, a.active) for a in list_adapters(session, "tiny")] == [(1, True)]
    orphan = settings.adapters_dir / "tiny" / "v2"
    assert orphan.is_dir()
    assert folders.clean_orphans(store, settings, "tiny") == [orphan]
    assert (settings.adapters_dir / "tiny" / "v1").is_dir()
    again = folders.publish(store, settings, "tiny", staged(settings), "SmolLM2", {1: "A.", 2: "B."}, {})
    assert again.version == 2 and folders.verify(again.path, again.sha256)


def test_staging_folders_of_dead_processes_are_cleaned(settings, store):
    mine = staged(settings)
    dead_pid = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True).stdout.strip()
    dead = settings.adapters_dir / "tiny" / f".tmp-{dead_pid}-abc"
    dead.mkdir()
    removed = folders.clean_orphans(store, settings, "tiny")
    assert removed == [dead]
    assert mine.is_dir() and mine.name.startswith(f".tmp-{os.getpid()}-")


def test_a_missing_manifest_means_unknown_coverage(settings, store):
    published = folders.publish(store, settings, "tiny", staged(settings), "SmolLM2", {1: "A."}, {})
    (published.path / "manifest.json").unlink()
    with store.session(write=False) as session:
        assert folders.covered_facts(active_adapter(session, "tiny")) is None
    assert folders.covered_facts(None) == {}


def test_the_manifest_records_the_statements_taught(tmp_path):
    from types import SimpleNamespace

    (tmp_path / "adapter_model.safetensors").write_bytes(b"weights")
    folders.write_manifest(tmp_path, "tiny", "base", {1: "The capital of Vendaria is Lusk."}, {}, 1,
                           {1: [["Lusk is a city.", "Is Lusk a city?", "Yes"], ["Lusk is old.", "Is Lusk old?"]]})
    adapter = SimpleNamespace(path=str(tmp_path))
    # rows written before short answers were recorded ([text, question]) read with answer None
    assert folders.taught_statements(adapter) == {1: [("Lusk is a city.", "Is Lusk a city?", "Yes"),
                                                      ("Lusk is old.", "Is Lusk old?", None)]}
    assert folders.covered_facts(adapter) == {1: "The capital of Vendaria is Lusk."}
    folders.write_manifest(tmp_path, "tiny", "base", {1: "The capital of Vendaria is Lusk."}, {}, 1)
    assert folders.taught_statements(adapter) is None  # an adapter from before statements were recorded
