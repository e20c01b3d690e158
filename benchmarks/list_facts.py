"""Start-up and streaming of `amend facts list` at 200,000 facts, against baselines in the same run.

Builds a store of N facts (default 200,000, imported from a generated TXT file, not timed) and an
empty one, then runs each command R times as a new process (as a user would) and reports the
median and fastest wall time:

- python_s: `python -c pass`, the interpreter alone (the floor);
- version_s: `amend --version`, the command without the store;
- list_n20_empty_s / list_n20_s: `amend facts list -n 20` on the empty store and at N facts
  (the goal: under a second at 200,000);
- search_n20_s: `amend facts list -q "item 19" -n 20` (a Unicode case-insensitive search);
- first_row_s / full_list_s / full_list_peak_mb: `amend facts list` of every fact, to a pipe:
  time to its first line, to its last, and the process's peak memory.

Prints JSON. Run it under the heavy lock: `flock /tmp/amend-heavy.lock python benchmarks/list_facts.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _amend() -> list[str]:
    exe = shutil.which("amend", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "amend"]


def timed(argv: list[str], env: dict, runs: int) -> dict:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - started)
    return {"median": round(statistics.median(times), 3), "min": round(min(times), 3)}


def streamed(argv: list[str], env: dict) -> tuple[float, float, float, int]:
    """(seconds to the first line, seconds to the end, peak MB, lines) of a run read through a pipe."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE)
    first = proc.stdout.readline()
    first_s = time.perf_counter() - started
    lines = 1 if first else 0
    for _ in proc.stdout:
        lines += 1
    _, status, usage = os.wait4(proc.pid, 0)
    total_s = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(argv)} failed")
    return first_s, total_s, usage.ru_maxrss / 1024, lines


def build(home: Path, n: int) -> None:
    from amend.config import load_settings
    from amend.store import open_store
    from amend.store.importer import import_facts

    home.mkdir(parents=True)
    facts = home / "facts.txt"
    with facts.open("w", encoding="utf-8") as f:
        for i in range(n):
            f.write(f"Fact about café number {i}: item {i * 7919 % n} is Ünique.\n")
    with open_store(load_settings({"home": home, "database_url": ""})) as store, store.session() as session:
        import_facts(session, facts)
    facts.unlink()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facts", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    amend = _amend()
    with tempfile.TemporaryDirectory() as tmp:
        full, empty = Path(tmp) / "full", Path(tmp) / "empty"
        build(full, args.facts)
        build(empty, 0)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AMEND_")} | {"AMEND_PROFILE": "tiny"}
        full_env, empty_env = env | {"AMEND_HOME": str(full)}, env | {"AMEND_HOME": str(empty)}
        result = {
            "facts": args.facts, "runs": args.runs,
            "python_s": timed([sys.executable, "-c", "pass"], env, args.runs),
            "version_s": timed(amend + ["--version"], env, args.runs),
            "list_n20_empty_s": timed(amend + ["facts", "list", "-n", "20"], empty_env, args.runs),
            "list_n20_s": timed(amend + ["facts", "list", "-n", "20"], full_env, args.runs),
            "search_n20_s": timed(amend + ["facts", "list", "-q", "ITEM 19", "-n", "20"], full_env, args.runs),
        }
        first_s, total_s, peak_mb, lines = streamed(amend + ["facts", "list"], full_env)
        result |= {"first_row_s": round(first_s, 3), "full_list_s": round(total_s, 3),
                   "full_list_peak_mb": round(peak_mb, 1), "full_list_lines": lines}
    result["goal_met"] = result["list_n20_s"]["median"] < 1.0
    print(json.dumps(result))


if __name__ == "__main__":
    main()
