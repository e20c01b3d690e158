"""Import speed: `amend facts import` machinery against raw sqlite3 executemany on the same rows.

Generates N facts (default 100,000) into a TXT file, imports it with amend.store.importer into a
fresh SQLite store, and, in the same run, inserts the same rows (text, normalized text, status,
times) with the standard library's sqlite3 executemany into a table with the same schema and
indexes. Prints JSON: {"facts", "amend_seconds", "sqlite3_seconds", "ratio"}. Goal: ratio <= 5.

    python benchmarks/import_facts.py [--facts 100000]
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine

from amend.config import load_settings
from amend.store import open_store
from amend.store.importer import import_facts
from amend.store.schema import Base, normalize, utcnow

SUBJECTS = ["Kell", "Dell", "The river", "Ostrava Minor", "The mayor", "The bridge", "The museum", "The library"]
VERBS = ["has", "was founded in", "borders", "is twinned with", "is larger than", "exports"]


def make_file(path: Path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            f.write(f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} item {i} ({rng.randrange(10**6)}).\n")


def time_amend(folder: Path, facts: Path) -> tuple[float, int]:
    settings = load_settings({"home": folder / "home", "database_url": ""})
    store = open_store(settings)  # creating the schema is not timed
    started = time.perf_counter()
    with store.session() as session:
        result = import_facts(session, facts)
    seconds = time.perf_counter() - started
    store.dispose()
    return seconds, result.added


def time_sqlite3(folder: Path, facts: Path) -> tuple[float, int]:
    db = folder / "raw.db"
    engine = create_engine(f"sqlite:///{db}")
    Base.metadata.create_all(engine)  # the same tables and indexes (not timed)
    engine.dispose()
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    started = time.perf_counter()
    now = utcnow().replace(tzinfo=None).isoformat(sep=" ")
    with facts.open(encoding="utf-8") as f:
        rows = [(t, normalize(t), None, "active", now, now) for line in f if (t := line.strip())]
    conn.executemany("INSERT INTO facts (text, normalized, source, status, created, updated) VALUES (?, ?, ?, ?, ?, ?)",
                     rows)
    conn.commit()
    seconds = time.perf_counter() - started
    conn.close()
    return seconds, len(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facts", type=int, default=100_000, help="how many facts to generate")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        facts = folder / "facts.txt"
        make_file(facts, args.facts)
        amend_s, amend_n = time_amend(folder, facts)
        raw_s, raw_n = time_sqlite3(folder, facts)
    if amend_n != raw_n:
        sys.exit(f"row counts differ: amend {amend_n}, sqlite3 {raw_n}")
    print(json.dumps({"facts": amend_n, "amend_seconds": round(amend_s, 3), "sqlite3_seconds": round(raw_s, 3),
                      "ratio": round(amend_s / raw_s, 2)}))


if __name__ == "__main__":
    main()
