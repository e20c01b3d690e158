"""Reading import files: line endings, encodings, non-text files, pipes, standard input, bad paths."""

from __future__ import annotations

import codecs
import io
import os
import re
import sys
import threading
import time

import pytest

from amend.store import textfile
from amend.store.errors import StoreError
from amend.store.textfile import open_text


def lines_of(path, **kw) -> list[tuple[int, str, str | None]]:
    with open_text(path, **kw) as source:
        return [(n, line.rstrip("\r\n"), err) for n, line, err in source.lines()]


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_every_line_ending(tmp_path, ending):
    f = tmp_path / "f.txt"
    f.write_bytes(ending.join(["one", "two", "", "four"]).encode() + ending.encode())
    assert lines_of(f) == [(1, "one", None), (2, "two", None), (3, "", None), (4, "four", None)]


def test_mixed_endings_and_a_crlf_across_reads(tmp_path, monkeypatch):
    monkeypatch.setattr(textfile, "SNIFF", 4)  # the sniffed head ends between \r and \n
    f = tmp_path / "f.txt"
    f.write_bytes(b"abc\r\ndef\rghi\njkl")
    assert lines_of(f) == [(1, "abc", None), (2, "def", None), (3, "ghi", None), (4, "jkl", None)]


@pytest.mark.parametrize("codec, label", [("utf-8-sig", "UTF-8"), ("utf-16", "UTF-16"), ("utf-16-be", "UTF-16"),
                                          ("utf-32", "UTF-32")])
def test_byte_order_marks_tell_the_encoding(tmp_path, codec, label):
    data = "Ελλάδα is here\r\n東京 too\n".encode(codec)
    if codec == "utf-16-be":
        data = codecs.BOM_UTF16_BE + data
    f = tmp_path / "f.txt"
    f.write_bytes(data)
    with open_text(f) as source:
        assert source.encoding == label
        assert [line for _, line, _ in source.lines()] == ["Ελλάδα is here\r\n", "東京 too\n"]


@pytest.mark.parametrize("data, message", [
    ("Kell\n".encode("utf-16-le"), "looks like UTF-16-LE text without a byte order mark"),
    ("Kell is cold\nDell\n".encode("utf-16-be"), "looks like UTF-16-BE text without a byte order mark"),
    ("Kell\n".encode("utf-32-le"), "looks like UTF-32-LE text"),
    (b"\x1f\x8b\x08\x00rest", "a gzip archive, not a text file"),
    (b"PK\x03\x04rest", "a ZIP archive (an .xlsx or .ods workbook?), not a text file"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (bytes(range(256)) * 8, "not a text file (binary data)"),
    (b"\x00" * 5000, "not a text file (binary data)"),
])
def test_what_is_not_text_is_one_error_naming_it(tmp_path, data, message):
    f = tmp_path / "f.txt"
    f.write_bytes(data)
    with pytest.raises(StoreError, match=re.escape(message)) as e:
        open_text(f)
    assert str(e.value).startswith(f"{f}: ") and "\n" not in str(e.value)


def test_bytes_that_are_not_utf8_are_line_errors_with_a_likely_encoding(tmp_path):
    f = tmp_path / "f.txt"
    f.write_bytes("fine\ncafé crème\nok\n".encode("cp1252"))
    with open_text(f) as source:
        got = list(source.lines())
        assert [(n, err) for n, _, err in got] == [(1, None), (2, "invalid UTF-8 (byte 4 of the line)"), (3, None)]
        assert textfile.likely_encoding(source.undecodable) == "WINDOWS-1252"
    assert textfile.likely_encoding([b"\x81\x8d"]) == "LATIN1"


def test_a_bom_inside_the_file_is_dropped(tmp_path):
    f = tmp_path / "f.txt"
    f.write_bytes(codecs.BOM_UTF8 + b"one\n" + codecs.BOM_UTF8 + b"two\n")  # two files joined with cat
    assert lines_of(f) == [(1, "one", None), (2, "two", None)]


def test_an_overlong_line_is_one_error_and_reading_goes_on(tmp_path, monkeypatch):
    monkeypatch.setattr(textfile, "MAX_LINE", 10)
    f = tmp_path / "f.txt"
    f.write_text("short\n" + "x" * 35 + "\nafter\n")
    assert lines_of(f) == [(1, "short", None), (2, "", "line is longer than 10 characters"), (3, "after", None)]


def test_utf16_cut_off_mid_character(tmp_path):
    f = tmp_path / "f.txt"
    f.write_bytes(codecs.BOM_UTF16_LE + "ab\ncd\n".encode("utf-16-le") + b"\x00")
    got = lines_of(f)
    assert got[:2] == [(1, "ab", None), (2, "cd", None)]
    assert got[2] == (3, "", "invalid UTF-16 (the text breaks off mid-character)")


def test_paths_that_cannot_be_read(tmp_path):
    with pytest.raises(StoreError, match="no such file"):
        open_text(tmp_path / "missing.txt")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(StoreError, match="no such file"):
        open_text(tmp_path / "file.txt" / "below.txt")
    with pytest.raises(StoreError, match="is a folder, not a file"):
        open_text(tmp_path)
    (tmp_path / "loop.txt").symlink_to(tmp_path / "loop.txt")
    with pytest.raises(StoreError, match="cannot open it"):
        open_text(tmp_path / "loop.txt")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_a_file_in_a_folder_that_cannot_be_entered(tmp_path):
    locked = tmp_path / "locked"
    (locked / "in").mkdir(parents=True)
    (locked / "in" / "f.txt").write_text("x\n")
    locked.chmod(0)
    try:
        with pytest.raises(StoreError, match="permission denied"):
            open_text(locked / "in" / "f.txt")
    finally:
        locked.chmod(0o755)


def test_named_pipe_with_a_writer_is_read(tmp_path):
    fifo = tmp_path / "f.txt"
    os.mkfifo(fifo)

    def write() -> None:
        time.sleep(0.2)
        with open(fifo, "w") as f:
            f.write("from a pipe\r\nsecond\n")

    writer = threading.Thread(target=write)
    writer.start()
    assert lines_of(fifo, pipe_wait=30) == [(1, "from a pipe", None), (2, "second", None)]
    writer.join()


def test_named_pipe_nobody_writes_to_gives_up(tmp_path):
    fifo = tmp_path / "f.txt"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(StoreError, match="a named pipe that nothing wrote to within 0.2 s"):
        open_text(fifo, pipe_wait=0.2)
    assert time.monotonic() - started < 5


def test_standard_input(monkeypatch):
    read, write = os.pipe()
    os.write(write, b'{"text": "one"}\n{"text": "two"}')
    os.close(write)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(os.fdopen(read, "rb")))
    with open_text("-") as source:
        assert source.is_stdin and source.name == "<stdin>" and source.size is None
        assert source.first_line() == '{"text": "one"}'
        assert [line for _, line, _ in source.lines()] == ['{"text": "one"}\n', '{"text": "two"}']
    assert not sys.stdin.closed  # standard input is never closed


def test_standard_input_that_is_a_terminal_is_refused(monkeypatch):
    import pty

    parent, child = pty.openpty()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(os.fdopen(child, "rb")))
    with pytest.raises(StoreError, match="standard input is a terminal"):
        open_text("-")
    os.close(parent)


def test_permission_denied_is_one_line_as_root_too(tmp_path, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(textfile.os, "open", denied)
    with pytest.raises(StoreError, match="f.txt: cannot read it \\(permission denied\\)"):
        open_text(tmp_path / "f.txt")
