"""Export: through symbolic links, with the umask, to standard output and pipes, never half-written."""

from __future__ import annotations

import errno
import io
import json
import os
import stat
import threading

import pytest

from amend.store import exporter
from amend.store.errors import StoreError
from amend.store.exporter import export_facts
from amend.store.facts import add_fact


@pytest.fixture
def facts(store):
    with store.session() as s:
        add_fact(s, "Kell is cold", source="atlas")
        add_fact(s, "=1+1 is two")
    return store


def export(store, path, **kw) -> int:
    with store.session(write=False) as s:
        return export_facts(s, path, **kw)


def test_a_symlink_is_written_through(facts, tmp_path):
    target = tmp_path / "real" / "facts.jsonl"
    target.parent.mkdir()
    target.write_text("old\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    dangling = tmp_path / "new.txt"
    dangling.symlink_to(tmp_path / "real" / "created.txt")
    assert export(facts, link) == 2 and export(facts, dangling) == 2
    assert link.is_symlink() and dangling.is_symlink()
    assert [json.loads(line)["text"] for line in target.read_text().splitlines()] == ["Kell is cold", "=1+1 is two"]
    assert (tmp_path / "real" / "created.txt").read_text() == "Kell is cold\n=1+1 is two\n"


def test_permissions_follow_the_umask_or_the_file_replaced(facts, tmp_path):
    old = os.umask(0o027)
    try:
        export(facts, tmp_path / "new.csv")
        kept = tmp_path / "kept.csv"
        kept.write_text("x")
        kept.chmod(0o604)
        export(facts, kept)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.csv").stat().st_mode) == 0o640
    assert stat.S_IMODE(kept.stat().st_mode) == 0o604


def test_dash_is_standard_output(facts):
    out = io.StringIO()
    assert export(facts, "-", stdout=out) == 2
    assert [json.loads(line)["text"] for line in out.getvalue().splitlines()] == ["Kell is cold", "=1+1 is two"]
    out = io.StringIO()
    export(facts, "-", fmt="csv", stdout=out)
    assert out.getvalue().splitlines()[2].startswith('"2","\'=1+1 is two",""')


def test_a_named_pipe_is_written_to(facts, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(StoreError, match="a named pipe that nothing reads from"):
        export(facts, fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo).read()))
    reader.start()
    while True:  # wait until the reader has the pipe open
        try:
            export(facts, fifo)
            break
        except StoreError:
            continue
    reader.join()
    assert [json.loads(line)["text"] for line in got[0].splitlines()] == ["Kell is cold", "=1+1 is two"]


def test_places_that_cannot_be_written(facts, tmp_path):
    (tmp_path / "file.txt").write_text("x")
    for path, message in ((tmp_path, "is a folder"), (tmp_path / "no" / "f.txt", "does not exist"),
                          (tmp_path / "file.txt" / "f.txt", "cannot write there"),
                          (tmp_path / "f.xlsx", "cannot tell the format")):
        with pytest.raises(StoreError, match=message):
            export(facts, path)
    if facts.url.startswith("sqlite"):
        database = facts.url.removeprefix("sqlite:///")
        before = open(database, "rb").read()
        with pytest.raises(StoreError, match="is amend's database"):
            export(facts, database, fmt="jsonl")
        assert open(database, "rb").read() == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes everywhere")
def test_unwritable_folder_and_file(facts, tmp_path):
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o555)
    (tmp_path / "ro.txt").write_text("x")
    (tmp_path / "ro.txt").chmod(0o444)
    try:
        with pytest.raises(StoreError, match="cannot write there"):
            export(facts, tmp_path / "ro" / "f.txt")
        with pytest.raises(StoreError, match="read-only"):
            export(facts, tmp_path / "ro.txt")
    finally:
        (tmp_path / "ro").chmod(0o755)


def test_a_failed_export_leaves_the_old_file(facts, tmp_path, monkeypatch):
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "facts.txt"
    target.write_text("old content\n")

    def full_disk(records, f, fmt):
        f.write("partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(exporter, "write_records", full_disk)
    with pytest.raises(StoreError, match="cannot write it \\(no space left on device\\)"):
        export(facts, target)
    assert target.read_text() == "old content\n"
    assert [p.name for p in target.parent.iterdir()] == ["facts.txt"]


def test_permission_denied_is_one_line_as_root_too(facts, tmp_path, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(exporter.os, "open", denied)
    with pytest.raises(StoreError, match="out.txt: cannot write there \\(permission denied\\)"):
        export(facts, tmp_path / "out.txt")
