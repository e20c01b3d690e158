"""A sweep of bad input through `amend facts`: generated bad files, odd files and odd arguments.

Generates a seeded set of import files (TXT, CSV, JSONL) that are bad in every way we know of
(bad bytes and encodings, broken CSV quoting, malformed or hostile JSON, over-long texts and
sources, NUL bytes, binary data, every line ending) plus random byte-level mutations of good
files, and imports each with the real `amend` command (in-process, through click's test runner,
each under an alarm); then tries the special cases that need a real process (named pipes,
standard input, a held database, bytes that are not UTF-8 in argv, exports onto links and
devices, odd ids) as subprocesses with a timeout. Prints JSON counts:

- tracebacks: a Python traceback instead of a one-line error;
- hangs: still running after the timeout;
- partial_writes: the database (file and WAL) changed although the command failed;
- not_one_line: a failure whose stderr is not FILE:LINE lines plus one `Error:` line;
- wrong_outcome: a case with a known outcome (e.g. an unclosed CSV quote must fail) that differed;
- examples: how many of issue 13's examples were tried again, each with a check of what must
  hold (an unclosed quote on line 10,000 fails at that line, CR-only TXT imports three facts,
  `facts list` prints escapes, `CAFÉ` finds "Café", export keeps `#` and defuses `=`, ...).

    python benchmarks/bad_input_sweep.py [--files 1200] [--seed 0] [--timeout 30]
"""

from __future__ import annotations

import argparse
import codecs
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ERROR_LINE = re.compile(r"^[^\n]*:\d+: \S")  # FILE:LINE: reason


# --- generated files: (name, bytes, expected) with expected "fail", "ok" or "any" -------------

def _good_lines(rng: random.Random, n: int) -> list[str]:
    words = ["Kell", "Dell", "the river", "Ostrava Minor", "the mayor", "Lusk", "Café Ümlaut", "東京"]
    return [f"{rng.choice(words)} has {rng.randrange(10**6)} bridges (item {i})." for i in range(n)]


def _encode(fmt: str, texts: list[str], sources: list[str | None] | None = None) -> str:
    sources = sources or [None] * len(texts)
    if fmt == "txt":
        return "".join(t + "\n" for t in texts)
    if fmt == "jsonl":
        return "".join(json.dumps({"text": t, **({"source": s} if s is not None else {})}, ensure_ascii=False) + "\n"
                       for t, s in zip(texts, sources))
    rows = ["text,source"] + ['"' + t.replace('"', '""') + '",' + (s or "") for t, s in zip(texts, sources)]
    return "".join(r + "\n" for r in rows)


def _row(fmt: str, text: str) -> str:
    """One line of fmt holding text (a CSV row without the header)."""
    return _encode(fmt, [text]).splitlines(keepends=True)[-1]


def _bad_line(rng: random.Random, fmt: str) -> tuple[bytes, str]:
    """One bad line (raw bytes, with its newline) in fmt, and what is wrong with it."""
    kinds = {
        "nul": lambda: _row(fmt, "nul \x00 here").encode(),
        "invalid_utf8": lambda: _row(fmt, "bad byte").encode().replace(b"bad", b"b\xff\xfed"),
        "latin1": lambda: _row(fmt, "café crème").encode("latin-1"),
        "too_long": lambda: _row(fmt, "x" * rng.choice([2001, 5000, 150_000])).encode(),
        "empty": lambda: _row(fmt, "   ").encode() if fmt == "jsonl" else None,
        "punctuation": lambda: _row(fmt, rng.choice(["?!.", "--", "…"])).encode(),
    }
    if fmt == "jsonl":
        kinds |= {
            "truncated": lambda: b'{"text": "cut off\n',
            "array": lambda: b'["a list"]\n',
            "number": lambda: b"42\n",
            "no_text": lambda: b'{"source": "s"}\n',
            "text_not_string": lambda: b'{"text": {"a": 1}}\n',
            "source_not_string": lambda: b'{"text": "ok", "source": [1]}\n',
            "lone_surrogate": lambda: rng.choice([b'{"text": "\\ud800 x"}\n', b'{"text": "x \\udfff"}\n',
                                                  b'{"text": "\\udc00\\ud800"}\n']),
            "deep": lambda: b'{"text": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n",
            "huge_int": lambda: b'{"text": "a", "n": ' + b"9" * 5000 + b"}\n",
            "source_nul": lambda: b'{"text": "ok fact", "source": "s\\u0000"}\n',
            "source_long": lambda: json.dumps({"text": "ok fact", "source": "s" * rng.choice([501, 10_000])}).encode() + b"\n",
            "garbage_after": lambda: b'{"text": "a"} trailing\n',
        }
    if fmt == "csv":
        kinds |= {
            "stray_quote": lambda: b'"quoted"then text,src\n',
            "source_nul": lambda: b'"ok fact","s\x00"\n',
            "source_long": lambda: b'"ok fact",' + b"s" * 600 + b"\n",
        }
    while True:
        name = rng.choice(sorted(kinds))
        data = kinds[name]()
        if data is not None:
            return data, name


def _line_ending(rng: random.Random, data: bytes) -> bytes:
    ending = rng.choice([b"\n", b"\r\n", b"\r"])
    return data.replace(b"\r\n", b"\n").replace(b"\n", ending) if ending != b"\n" else data


def _file(rng: random.Random, fmt: str) -> tuple[bytes, str, str]:
    """(bytes, kind, expected) of one generated bad file."""
    good = [line.encode() for line in _encode(fmt, _good_lines(rng, rng.randrange(0, 40))).splitlines(keepends=True)]
    header, body = (good[:1], good[1:]) if fmt == "csv" else ([], good)
    roll = rng.random()
    if roll < 0.45:  # good lines with bad ones among them, in one line-ending style
        for _ in range(rng.randrange(1, 4)):
            bad, kind = _bad_line(rng, fmt)
            body.insert(rng.randrange(len(body) + 1), bad)
        data = _line_ending(rng, b"".join(header + body))
        return data, f"bad_line:{kind}", "fail"
    if roll < 0.55 and fmt == "csv":  # an unclosed quote somewhere: the rest must not become one fact
        at = rng.randrange(len(body) + 1)
        body.insert(at, b'"this quote is never closed,src\n')
        return _line_ending(rng, b"".join(header + body)), "csv_unclosed_quote", "fail"
    if roll < 0.62:  # another encoding or a non-text file
        text = b"".join(header + body) or b"text\n"
        choice = rng.randrange(9)
        if choice == 0:
            return text.decode().encode("utf-16-le"), "utf16_no_bom", "fail"
        if choice == 1:
            return text.decode().encode("utf-16-be"), "utf16be_no_bom", "fail"
        if choice == 2:
            return codecs.BOM_UTF16_LE + text.decode().encode("utf-16-le") + b"\x00", "utf16_cut_off", "any"
        if choice == 3:
            return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 5000))), "random_bytes", "any"
        if choice == 4:
            return rng.choice([b"\x1f\x8b\x08\x00", b"\x89PNG\r\n\x1a\n", b"PK\x03\x04", b"%PDF-1.4\n"]) + text, "magic", "fail"
        if choice == 5:
            return b"\x00" * rng.randrange(1, 20000), "nuls", "fail"
        if choice == 6:
            return text.decode().encode("utf-32"), "utf32_bom", "any"
        if choice == 7:
            return "Kell\n".encode("utf-16-le"), "utf16_short_no_bom", "fail"
        return b"x" * 1_100_000, "one_huge_line", "fail"
    if roll < 0.70:  # empty and almost empty
        return rng.choice([b"", b"\n", b"\r", b"\xef\xbb\xbf", b"\r\n\r\n", b" \t\n"]), "empty", "any"
    if roll < 0.75 and fmt == "csv":
        return rng.choice([b"source,text\nonly source\n", b"name,age\nx,1\n", b"text;source\nok fact;s\n",
                           b"text\tsource\nok fact\ts\n"]), "csv_header", "any"
    # random byte-level mutations of a good file (a fuzzer's view)
    data = bytearray(b"".join(header + body) or b"text\nseed fact\n")
    for _ in range(rng.randrange(1, 8)):
        op, at = rng.randrange(3), rng.randrange(len(data) + 1)
        if op == 0:
            data[at:at] = bytes([rng.randrange(256)])
        elif op == 1 and at < len(data):
            del data[at]
        elif at < len(data):
            data[at] = rng.choice(b'"\x00\r\n,{}[]\\\xff\xc3#=\'')
    return bytes(data), "mutation", "any"


# --- running -------------------------------------------------------------------------------------

class Hang(Exception):
    pass


def _on_alarm(signum, frame):
    raise Hang()


def db_state(home: Path) -> str:
    """A hash of the database as stored: the file and its write-ahead log."""
    h = hashlib.sha256()
    for name in ("amend.db", "amend.db-wal"):
        p = home / name
        h.update(p.read_bytes() if p.exists() else b"")
    return h.hexdigest()


def one_line(stderr: str) -> bool:
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error: ")]
    return len(errors) == 1 and all(line.startswith("Error: ") or ERROR_LINE.match(line) for line in lines)


def sweep_files(folder: Path, home: Path, n: int, seed: int, timeout: int, counts: Counter, failures: list) -> None:
    from click.testing import CliRunner

    from amend.cli import cli

    rng = random.Random(seed)
    runner = CliRunner()
    pristine = folder / "pristine"
    pristine.mkdir()
    for name in ("amend.db",):
        shutil.copy(home / name, pristine / name)
    signal.signal(signal.SIGALRM, _on_alarm)
    for i in range(n):
        fmt = ("txt", "csv", "jsonl")[i % 3]
        data, kind, expected = _file(rng, fmt)
        path = folder / f"bad{i}.{fmt}"
        path.write_bytes(data)
        before = db_state(home)
        signal.alarm(timeout)
        try:
            result = runner.invoke(cli, ["facts", "import", str(path), "--no-update"])
        except Hang:
            counts["hangs"] += 1
            failures.append({"case": kind, "file": str(path), "problem": "hang"})
            continue
        finally:
            signal.alarm(0)
        counts["files"] += 1
        counts[f"exit_{result.exit_code}"] += 1
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            counts["tracebacks"] += 1
            failures.append({"case": kind, "file": str(path), "problem": f"traceback: {result.exception!r}"})
        if result.exit_code != 0:
            if db_state(home) != before:
                counts["partial_writes"] += 1
                failures.append({"case": kind, "file": str(path), "problem": "database changed"})
            if not one_line(result.stderr):
                counts["not_one_line"] += 1
                failures.append({"case": kind, "file": str(path), "problem": "stderr: " + result.stderr[:300]})
        if (expected == "fail") != (result.exit_code != 0) and expected != "any":
            counts["wrong_outcome"] += 1
            failures.append({"case": kind, "file": str(path), "problem": f"exit {result.exit_code}, expected {expected}"})
        if result.exit_code == 0:  # it was good after all: back to the same database for the next file
            for name in ("amend.db-wal", "amend.db-shm"):
                (home / name).unlink(missing_ok=True)
            shutil.copy(pristine / "amend.db", home / "amend.db")
        path.unlink()


def run(args: list, timeout: int, env: dict, stdin=subprocess.DEVNULL, input: bytes | None = None) -> tuple:
    """(exit code or "hang", stdout, stderr) of `python -m amend ARGS` (args may be bytes)."""
    try:
        p = subprocess.run([sys.executable, "-m", "amend", *args], env=env, timeout=timeout, capture_output=True,
                           stdin=None if input is not None else stdin, input=input)
    except subprocess.TimeoutExpired:
        return "hang", "", ""
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def sweep_special(folder: Path, home: Path, timeout: int, env: dict, counts: Counter, failures: list) -> None:
    fifo = folder / "pipe.txt"
    os.mkfifo(fifo)
    (folder / "good.txt").write_text("A good fact.\n")
    (folder / "target.jsonl").write_text("")
    os.symlink(folder / "target.jsonl", folder / "link.jsonl")
    (folder / "file.txt").write_text("x\n")
    (folder / os.fsdecode(b"caf\xe9.txt")).write_text("A fact from a Latin-1 file name.\n")
    huge = "99999999999999999999"
    cases = [  # (name, argv, stdin bytes or None, expected: "fail", "ok", "any" or a check of (code, out, err))
        ("fifo_no_writer", ["facts", "import", str(fifo), "--no-update"], None, "fail"),
        ("dev_stdin_pipe", ["facts", "import", "/dev/stdin", "--no-update"], b"From a pipe.\n", "ok"),
        ("dash_stdin", ["facts", "import", "-", "--no-update"], b'{"text": "From stdin."}\n', "ok"),
        ("dash_stdin_bad", ["facts", "import", "-", "--no-update"], b'{"text": "\\ud800"}\n', "fail"),
        ("dash_stdin_empty", ["facts", "import", "-", "--no-update"], b"", "ok"),
        ("folder", ["facts", "import", str(folder), "--no-update"], None, "fail"),
        ("missing", ["facts", "import", str(folder / "nope.txt")], None, "fail"),
        ("under_a_file", ["facts", "import", str(folder / "file.txt" / "x.txt")], None, "fail"),
        ("dev_zero", ["facts", "import", "/dev/zero", "--format", "txt"], None, "fail"),
        ("dev_null", ["facts", "import", "/dev/null", "--format", "csv"], None, "fail"),
        *[(f"{cmd}_huge_id", ["facts", cmd, huge, *extra], None, "fail")
          for cmd, extra in (("show", []), ("edit", ["x y", "--no-update"]), ("retract", ["--no-update"]),
                             ("restore", ["--no-update"]))],
        *[(f"{cmd}_negative_id", ["facts", cmd, "-1", *extra], None, "fail")
          for cmd, extra in (("show", []), ("edit", ["x y", "--no-update"]), ("retract", ["--no-update"]))],
        ("latin1_argument", [b"facts", b"add", b"caf\xe9 cr\xe8me", b"--no-update"], None, "fail"),
        ("latin1_source", [b"facts", b"add", b"A fact.", b"--source", b"\xe9", b"--no-update"], None, "fail"),
        ("latin1_search", [b"facts", b"list", b"-q", b"\xe9"], None, "fail"),
        ("latin1_file_name", [b"facts", b"import", os.fsencode(folder) + b"/caf\xe9.txt", b"--no-update"], None, "ok"),
        ("long_source", ["facts", "add", "A fact with a source.", "--source", "x" * 501, "--no-update"], None, "fail"),
        ("export_into_file", ["facts", "export", str(folder / "file.txt" / "out.jsonl")], None, "fail"),
        ("export_missing_folder", ["facts", "export", str(folder / "no" / "out.jsonl")], None, "fail"),
        ("export_unknown_format", ["facts", "export", str(folder / "out.xlsx")], None, "fail"),
        ("export_fifo_no_reader", ["facts", "export", str(fifo.with_suffix(".jsonl"))], None, "fail"),
        ("export_symlink", ["facts", "export", str(folder / "link.jsonl")], None, "ok"),
        ("export_dash", ["facts", "export", "-"], None, "ok"),
        ("export_dev_stdout", ["facts", "export", "/dev/stdout"], None, "ok"),
        ("list_csv_nl_json", ["facts", "list", "--csv", "--nl"], None, "fail"),
        ("edit_retracted", ["facts", "edit", "1", "New text for it.", "--no-update"], None, "fail"),
        ("dash_dash_fact", ["facts", "add", "--no-update", "--", "-5 degrees is the record."], None, "ok"),
        ("negative_text", ["facts", "add", "-5 degrees is the coldest day.", "--no-update"], None, "ok"),
        # the other examples, each with what must hold
        ("csv_unclosed_at_10000", ["facts", "import", str(folder / "q.csv"), "--no-update"], None,
         lambda code, out, err: code == 1 and ":10000: malformed CSV: unclosed quote" in err),
        ("txt_cr_only", ["facts", "import", str(folder / "cr.txt"), "--no-update"], None,
         lambda code, out, err: code == 0 and out.startswith("imported 3 facts")),
        ("source_10mb", ["facts", "import", str(folder / "src.jsonl"), "--no-update"], None,
         lambda code, out, err: code == 1 and "longer than 1,000,000 characters" in err),
        ("utf16_short_no_bom", ["facts", "import", str(folder / "u16.txt"), "--no-update"], None,
         lambda code, out, err: code == 1 and "UTF-16-LE" in err and "NUL" not in err),
        ("escapes_listed_escaped", ["facts", "list"], None,
         lambda code, out, err: code == 0 and "\x1b" not in out and "\\x1b[31m" in out),
        ("search_unicode_case", ["facts", "list", "-q", "CAFÉ"], None,
         lambda code, out, err: code == 0 and "Café au lait" in out),
        ("list_limit_nl", ["facts", "list", "-n", "1", "--nl"], None,
         lambda code, out, err: code == 0 and len(out.splitlines()) == 1 and json.loads(out)["id"]),
        ("add_json", ["facts", "add", "A fact in JSON.", "--json", "--no-update"], None,
         lambda code, out, err: code == 0 and json.loads(out)["job"] > 0),
        ("export_csv_formulas", ["facts", "export", str(folder / "out.csv")], None,
         lambda code, out, err: code == 0 and "\"'=SUM(A1:A9) is a formula\"" in (folder / "out.csv").read_text()),
        ("export_txt_hash", ["facts", "export", str(folder / "out.txt")], None,
         lambda code, out, err: code == 0 and "\\#hashtag fact" in (folder / "out.txt").read_text()),
        ("txt_round_trip", ["facts", "import", str(folder / "out.txt"), "--dry-run"], None,
         lambda code, out, err: code == 0 and out.startswith("would import 0 facts")),
        ("export_umask", ["facts", "export", str(folder / "mode.jsonl")], None,
         lambda code, out, err: code == 0 and (folder / "mode.jsonl").stat().st_mode & 0o777 == 0o666 & ~_umask()),
    ]
    lines = ["text"] + [f"Fact number {i}" for i in range(2, 10_000)] + ['"never closed, at all', "more"]
    (folder / "q.csv").write_text("\n".join(lines) + "\n")
    (folder / "cr.txt").write_bytes(b"One CR fact\rTwo CR fact\rThree CR fact\r")
    (folder / "src.jsonl").write_text(json.dumps({"text": "ok fact", "source": "s" * 10_000_000}) + "\n")
    (folder / "u16.txt").write_bytes("Kell\n".encode("utf-16-le"))
    for text in ("Kell is \x1b[31mred\x1b[0m", "Café au lait is hot.", "=SUM(A1:A9) is a formula", "#hashtag fact"):
        run(["facts", "add", text, "--no-update"], timeout, env)
    os.mkfifo(fifo.with_suffix(".jsonl"))
    run(["facts", "add", "Retracted later.", "--no-update"], timeout, env)
    run(["facts", "retract", "1", "--no-update"], timeout, env)
    for name, argv, data, expected in cases:
        before = db_state(home)
        started = time.monotonic()
        code, out, err = run(argv, timeout, env, input=data)
        counts["special"] += 1
        if code == "hang":
            counts["hangs"] += 1
            failures.append({"case": name, "problem": "hang"})
            continue
        if "Traceback" in err:
            counts["tracebacks"] += 1
            failures.append({"case": name, "problem": "traceback: " + err[-300:]})
        if code != 0 and db_state(home) != before:
            counts["partial_writes"] += 1
            failures.append({"case": name, "problem": "database changed"})
        if code == 1 and not one_line(err):
            counts["not_one_line"] += 1
            failures.append({"case": name, "problem": "stderr: " + err[:300]})
        if callable(expected):
            counts["examples"] += 1
            try:
                held = expected(code, out, err)
            except Exception:  # noqa: BLE001 - a check that cannot even be made failed
                held = False
            if not held:
                counts["wrong_outcome"] += 1
                failures.append({"case": name, "problem": f"exit {code}: {out.strip()[:150]} {err.strip()[:150]}"})
        elif expected != "any" and (expected == "fail") != (code != 0):
            counts["wrong_outcome"] += 1
            failures.append({"case": name, "problem": f"exit {code}, expected {expected}: {err.strip()[:200]}"})
        counts[f"special_seconds_max"] = max(counts["special_seconds_max"], round(time.monotonic() - started))
    if not (folder / "link.jsonl").is_symlink():
        counts["wrong_outcome"] += 1
        failures.append({"case": "export_symlink", "problem": "the link was replaced by a file"})
    # a database held by another writer for longer than the lock timeout
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sqlite3, sys, time\n"
        f"c = sqlite3.connect({str(home / 'amend.db')!r}, isolation_level=None)\n"
        "c.execute('BEGIN IMMEDIATE'); c.execute('DELETE FROM jobs WHERE id < 0')\n"
        "print('held', flush=True); time.sleep(20)\n")], stdout=subprocess.PIPE)
    holder.stdout.readline()
    try:
        held_env = env | {"AMEND_LOCK_TIMEOUT": "1"}
        for name, argv in (("locked_add", ["facts", "add", "While locked.", "--no-update"]),
                           ("locked_import", ["facts", "import", str(folder / "good.txt"), "--no-update"])):
            started = time.monotonic()
            code, out, err = run(argv, timeout, held_env)
            counts["special"] += 1
            ok = code == 75 and one_line(err) and time.monotonic() - started < 10
            if code == "hang":
                counts["hangs"] += 1
            if not ok:
                counts["wrong_outcome"] += 1
                failures.append({"case": name, "problem": f"exit {code}: {err.strip()[:300]}"})
        code, out, err = run(["facts", "list"], timeout, held_env)  # readers never wait
        counts["special"] += 1
        if code != 0:
            counts["wrong_outcome"] += 1
            failures.append({"case": "locked_list", "problem": f"exit {code}: {err.strip()[:300]}"})
    finally:
        holder.kill()
        holder.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1200, help="how many bad files to generate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=int, default=30, help="seconds before a command counts as hung")
    parser.add_argument("--show", type=int, default=10, help="how many failures to list")
    args = parser.parse_args(argv)
    counts: Counter = Counter({"tracebacks": 0, "hangs": 0, "partial_writes": 0, "not_one_line": 0,
                               "wrong_outcome": 0})
    failures: list = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        home = folder / "home"
        home.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AMEND_")}
        env |= {"AMEND_HOME": str(home), "AMEND_PROFILE": "tiny"}
        os.environ.update({"AMEND_HOME": str(home), "AMEND_PROFILE": "tiny"})
        for k in [k for k in os.environ if k.startswith("AMEND_") and k not in ("AMEND_HOME", "AMEND_PROFILE")]:
            del os.environ[k]
        run(["facts", "add", "Kell has 3 bridges (item 1).", "--no-update"], args.timeout, env)
        files = folder / "files"
        files.mkdir()
        sweep_files(files, home, args.files, args.seed, args.timeout, counts, failures)
        sweep_special(folder / "files", home, args.timeout, env, counts, failures)
    print(json.dumps({**dict(sorted(counts.items())), "seconds": round(time.monotonic() - started, 1),
                      "failures": failures[:args.show]}, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
