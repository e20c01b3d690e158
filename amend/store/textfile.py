"""Reading an import file once, from the start, without seeking.

The input may be a path, `-` (standard input), a named pipe, `/dev/stdin` or a device, so the
first bytes are read once for sniffing and then handed on ahead of the rest (nothing seeks).
Sniffing tells the encoding from a byte order mark (UTF-8, UTF-16, UTF-32; UTF-8 without one)
and refuses, in one message that names what the file looks like, a file that is not text: an
archive, an image, UTF-16 without a byte order mark, binary data. Lines are then decoded one
physical line at a time, ending at CR, LF or CRLF, numbered from 1; a line that is not valid
UTF-8 is passed on with an error that says at which byte, so import reports it as FILE:LINE.

A named pipe that nothing writes to would block the open (and the import) forever: it is
opened without blocking and given PIPE_WAIT seconds to produce its first byte.
"""

from __future__ import annotations

import codecs
import io
import os
import re
import select
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from amend.store.errors import StoreError
from amend.store.formats import STDIO
from amend.store.printable import printable

SNIFF = 8192  # bytes read first to tell the encoding and text from binary data
MAX_LINE = 1_000_000  # characters: a longer physical line is one error (memory stays bounded)
PIPE_WAIT = 10.0  # seconds a named pipe may stay silent before the import gives up on it
STDIN_NAME = "<stdin>"  # what messages call standard input

BOMS = ((codecs.BOM_UTF32_LE, "utf-32", "UTF-32"), (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
        (codecs.BOM_UTF8, "utf-8-sig", "UTF-8"), (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
        (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"))  # UTF-32-LE's mark begins like UTF-16-LE's
MAGIC = ((b"\x1f\x8b", "a gzip archive"), (b"PK\x03\x04", "a ZIP archive (an .xlsx or .ods workbook?)"),
         (b"%PDF-", "a PDF document"), (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
         (b"GIF8", "a GIF image"), (b"SQLite format 3\x00", "an SQLite database"), (b"\x7fELF", "a program"),
         (b"\xd0\xcf\x11\xe0", "an old Office document (.xls or .doc?)"))
_ESCAPED = re.compile("[\udc80-\udcff]")  # bytes that were not UTF-8, kept by surrogateescape
_CONTROL = bytes(sorted(set(range(32)) - set(b"\t\n\v\f\r\x1b")))  # control bytes text does not hold


def _reason(e: OSError) -> str:
    return (e.strerror or type(e).__name__).lower()


def _wide_encoding(head: bytes) -> str | None:
    """UTF-32 or UTF-16 (and which byte order) when the NUL bytes fall where those put them."""
    for width, name in ((4, "UTF-32"), (2, "UTF-16")):
        n = len(head) - len(head) % width
        units = n // width
        if not units:
            continue
        zeros = [head[i:n:width].count(0) for i in range(width)]
        high = units * 0.9 if width == 4 else max(1, units * 0.3)
        if all(z >= high for z in zeros[1:]) and zeros[0] <= units * 0.1:
            return f"{name}-LE"
        if all(z >= high for z in zeros[:-1]) and zeros[-1] <= units * 0.1:
            return f"{name}-BE"
    return None


def sniff_encoding(name: str, head: bytes) -> tuple[str, str]:
    """(Python codec, name for messages) of a text file, or StoreError saying what it is instead."""
    for bom, codec, label in BOMS:
        if head.startswith(bom):
            return codec, label
    for magic, what in MAGIC:
        if head.startswith(magic):
            raise StoreError(f"{name}: {what}, not a text file; expected UTF-8 TXT, CSV or JSONL")
    if b"\x00" in head:
        wide = _wide_encoding(head)
        if wide:
            raise StoreError(f"{name}: looks like {wide} text without a byte order mark; amend reads UTF-8 "
                             f"(convert it, e.g. iconv -f {wide} -t UTF-8)")
    # Binary data is full of NUL and other control bytes and is not UTF-8; text has a few control
    # bytes at most, on bad lines that import reports one by one (8-bit text is not UTF-8 either,
    # but holds no control bytes). Many NULs alone also mean binary (/dev/zero).
    few = max(4, len(head) // 100)
    if head.count(0) > few:
        raise StoreError(f"{name}: not a text file (binary data); expected UTF-8 TXT, CSV or JSONL")
    if len(head) - len(head.translate(None, _CONTROL)) > few:
        try:  # an incremental decoder accepts a character cut off at the end of the sniffed bytes
            codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        except UnicodeDecodeError:
            raise StoreError(f"{name}: not a text file (binary data); expected UTF-8 TXT, CSV or JSONL") from None
    return "utf-8", "UTF-8"


def likely_encoding(samples: list[bytes]) -> str:
    """The 8-bit encoding lines that are not UTF-8 most likely are in (for the hint to convert)."""
    try:
        for s in samples:
            s.decode("cp1252")
        return "WINDOWS-1252"
    except UnicodeDecodeError:
        return "LATIN1"


class _HeadThenRest(io.RawIOBase):
    """The sniffed head, then the rest of the stream, as one raw stream; counts the bytes."""

    def __init__(self, head: bytes, stream: BinaryIO, source: TextSource):
        self._head, self._pos, self._stream, self._source = head, 0, stream, source
        self._read = getattr(stream, "readinto1", stream.readinto)  # return what has arrived

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._pos < len(self._head):
            n = min(len(buffer), len(self._head) - self._pos)
            buffer[:n] = self._head[self._pos:self._pos + n]
            self._pos += n
        else:
            n = self._read(buffer) or 0
        self._source.bytes_read += n
        return n


class TextSource:
    """An open input, sniffed: `path` as given, `name` for messages, `size` in bytes (None for a
    pipe), `encoding`, `lines()`.

    Use it as a context manager (it closes what it opened, never standard input).
    """

    def __init__(self, path: str | Path, name: str, stream: BinaryIO, size: int | None, owned: bool):
        self.path, self.name, self.size, self._stream, self._owned = path, name, size, stream, owned
        self.bytes_read = 0
        self.undecodable: list[bytes] = []  # the first few lines that were not UTF-8, for a hint
        try:
            self.head = stream.read(SNIFF) or b""
        except OSError as e:
            self.close()
            raise StoreError(f"{name}: cannot read it ({_reason(e)})") from None
        try:
            self.codec, self.encoding = sniff_encoding(name, self.head)
        except StoreError:
            self.close()
            raise

    def __enter__(self) -> TextSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._owned:
            self._stream.close()

    @property
    def is_stdin(self) -> bool:
        return str(self.path) == STDIO

    def first_line(self) -> str:
        """The first non-blank line of the sniffed head (for telling the format of stdin)."""
        text = self.head.decode(self.codec, errors="replace")
        return next((line for line in re.split("\r\n|\r|\n", text) if line.strip()), "")

    def lines(self) -> Iterator[tuple[int, str, str | None]]:
        """(line number, text with its line ending, error or None) for each physical line."""
        utf8 = self.codec.startswith("utf-8")
        raw = _HeadThenRest(self.head, self._stream, self)
        f = io.TextIOWrapper(io.BufferedReader(raw, 1 << 16), encoding=self.codec,
                             errors="surrogateescape" if utf8 else "strict", newline="")
        n = 0
        while True:
            try:
                line = f.readline(MAX_LINE)
                if len(line) == MAX_LINE and not line.endswith(("\n", "\r")):
                    while (rest := f.readline(MAX_LINE)) and not rest.endswith(("\n", "\r")):
                        pass  # skip the rest of an overlong line
                    n += 1
                    yield n, "", f"line is longer than {MAX_LINE:,} characters"
                    continue
            except UnicodeDecodeError:
                yield n + 1, "", f"invalid {self.encoding} (the text breaks off mid-character)"
                return
            except OSError as e:
                raise StoreError(f"{self.name}: cannot read it ({_reason(e)})") from None
            if not line:
                return
            n += 1
            if line.startswith("\ufeff"):  # a byte order mark inside: files joined with cat
                line = line[1:]
            bad = None if line.isascii() else _ESCAPED.search(line)
            if bad is None:
                yield n, line, None
                continue
            if len(self.undecodable) < 20:
                self.undecodable.append(line.encode("utf-8", "surrogateescape"))
            at = len(line[:bad.start()].encode("utf-8", "surrogateescape")) + 1
            yield n, line, f"invalid UTF-8 (byte {at} of the line)"


def _size(stream) -> int | None:
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


def _wait_for_writer(fd: int, name: str, wait: float) -> None:
    readable, _, _ = select.select([fd], [], [], wait)
    if not readable:
        raise StoreError(f"{name}: a named pipe that nothing wrote to within {wait:g} s")


def open_text(path: str | Path, pipe_wait: float = PIPE_WAIT) -> TextSource:
    """Open and sniff a file (`-` is standard input), or StoreError in one line saying why not."""
    if str(path) == STDIO:
        stream = getattr(sys.stdin, "buffer", None)
        if stream is None:
            raise StoreError("standard input is closed: pipe the facts in, or name a file")
        if stream.isatty():
            raise StoreError("standard input is a terminal: pipe the facts in (... | amend facts import -) "
                             "or name a file")
        return TextSource(STDIO, STDIN_NAME, stream, _size(stream), owned=False)

    name = printable(str(path))
    try:  # O_NONBLOCK: opening a named pipe must not wait for a writer
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except (FileNotFoundError, NotADirectoryError):
        raise StoreError(f"{name}: no such file") from None
    except PermissionError:
        raise StoreError(f"{name}: cannot read it (permission denied)") from None
    except OSError as e:
        raise StoreError(f"{name}: cannot open it ({_reason(e)})") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise StoreError(f"{name}: is a folder, not a file")
        if stat.S_ISSOCK(st.st_mode) or stat.S_ISBLK(st.st_mode):
            raise StoreError(f"{name}: is a {'socket' if stat.S_ISSOCK(st.st_mode) else 'block device'}, not a file")
        if os.isatty(fd):
            raise StoreError(f"{name}: is a terminal, not a file")
        if stat.S_ISFIFO(st.st_mode):
            _wait_for_writer(fd, name, pipe_wait)
        os.set_blocking(fd, True)
        stream = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    return TextSource(path, name, stream, st.st_size if stat.S_ISREG(st.st_mode) else None, owned=True)
