"""`amend chat` as a command: the mistakes it reports before any window opens."""

from __future__ import annotations

import subprocess
import sys


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "amend", "chat", *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120)


def test_an_unknown_session_is_one_line():
    result = run("--session", "42")
    assert result.returncode == 1
    assert result.stderr.strip() == "Error: no chat session with id 42"


def test_an_unknown_profile_is_one_line():
    result = run("--profile", "no-such-profile")
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "unknown profile 'no-such-profile'" in result.stderr


def test_help_names_the_keys():
    result = run("--help")
    assert result.returncode == 0 and "--session N" in result.stdout and "ctrl+q" in result.stdout
