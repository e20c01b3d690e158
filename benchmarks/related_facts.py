"""Related facts at scale: one question against N facts through the vector index.

Generates N facts (default 100,000) from a small vocabulary, imports them with amend's importer
into a fresh store (SQLite in a temporary folder, or a fresh schema of the PostgreSQL database in
AMEND_DATABASE_URL), builds the index with the first question (untimed), then times
`related_facts` over Q other questions: the index catching up with the log, the question's
vector, the search, and loading the k facts. Vectors come from a fast deterministic embedding
(each word a fixed random direction; a text the normalised sum of its words' directions), so the
set-up takes seconds instead of the real model's minutes; the index does the same work either way.

Baselines in the same run: recall@k against an exact numpy scan of all the vectors, and the
time of the scan related facts used before the index (load every active fact and its cached
vector, one matrix product) over a few questions.

Prints JSON: {"backend", "facts", "median_ms", "index", "k", "queries", "recall", "build_s",
"import_s", "scan_median_ms", "cpu"}. Goal: median_ms <= 50 at 100,000 facts on each backend.

    python benchmarks/related_facts.py --facts 100000 --json [--memory] [--queries 30] [--k 5]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import numpy as np
from sqlalchemy import create_engine, select, text

from amend.config import load_settings
from amend.store import open_store, vector_search, vectors
from amend.store.importer import import_facts
from amend.store.embeddings import fact_vectors
from amend.store.related import related_facts
from amend.store.schema import IS_ACTIVE, Fact

DIMS = 384
SUBJECTS = ["Kell", "Dell", "the river", "Ostrava Minor", "the mayor", "the bridge", "the museum", "the library",
            "Lusk", "Vendaria", "Halvorsen Motors", "Petra Lind", "the harbour", "the old town", "the festival"]
VERBS = ["has", "was founded in", "borders", "is twinned with", "is larger than", "exports", "is run by",
         "was built by", "lies north of", "is famous for"]
THINGS = ["copper", "glass", "wine", "a tower", "a canal", "trams", "bread", "the north", "the sea", "a castle",
          "silver", "printing", "salt", "clocks", "ships", "wool", "apples", "a university", "a zoo", "steel"]


class WordEmbed:
    """Each word a fixed random unit direction (seeded by the word); a text the normalised sum."""

    def __init__(self) -> None:
        self.words: dict[str, np.ndarray] = {}

    def word(self, w: str) -> np.ndarray:
        if w not in self.words:
            seed = int.from_bytes(w.encode()[:16].ljust(16, b"\0"), "little") % (2**63)
            self.words[w] = np.random.default_rng(seed).standard_normal(DIMS).astype(np.float32)
        return self.words[w]

    def __call__(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), DIMS), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().replace(".", " ").split():
                out[i] += self.word(w)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def fact(rng: random.Random, i: int) -> str:
    return f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(THINGS)} and {rng.choice(THINGS)} (record {i})."


def question(rng: random.Random) -> str:
    return f"What {rng.choice(VERBS)} {rng.choice(THINGS)} near {rng.choice(SUBJECTS)}?"


def scan(session, q: str, k: int, embed) -> list[int]:
    """Related facts as they were found before the index: every active fact and vector, one scan."""
    facts = list(session.scalars(select(Fact).where(IS_ACTIVE).order_by(Fact.id)))
    matrix = np.concatenate([fact_vectors(session, facts[i:i + 10_000], embed, "bench")
                             for i in range(0, len(facts), 10_000)])
    scores = matrix @ embed([q])[0]
    return [facts[i].id for i in np.argsort(-scores, kind="stable")[:k]]


def open_bench_store(folder: Path):
    """A fresh store: SQLite in `folder`, or a new schema in AMEND_DATABASE_URL's database."""
    url = os.environ.get("AMEND_DATABASE_URL", "")
    if not url:
        return open_store(load_settings({"home": folder, "database_url": ""})), None
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in url else "?"
    scoped = f"{url}{sep}options={quote(f'-csearch_path={schema}')}"
    return open_store(load_settings({"home": folder, "database_url": scoped})), (admin, schema)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--facts", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=30, help="timed questions")
    parser.add_argument("--k", type=int, default=5, help="related facts per question")
    parser.add_argument("--scans", type=int, default=3, help="questions timed with the old full scan")
    parser.add_argument("--memory", action="store_true", help="the in-memory fallback index, not the extension")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args()
    vector_search.USE_EXTENSIONS = not args.memory
    rng = random.Random(0)
    embed = WordEmbed()
    log = (lambda *a: None) if args.json else print
    with tempfile.TemporaryDirectory(prefix="amend-bench-") as tmp:
        path = Path(tmp) / "facts.txt"
        path.write_text("".join(fact(rng, i) + "\n" for i in range(args.facts)), encoding="utf-8")
        store, pg = open_bench_store(Path(tmp) / "home")
        try:
            started = time.perf_counter()
            with store.session() as s:
                import_facts(s, path)
            import_s = time.perf_counter() - started
            log(f"imported {args.facts} facts in {import_s:.1f} s")
            started = time.perf_counter()
            with store.session() as s:
                related_facts(s, question(rng), args.k, embed, model="bench")  # builds the index
                index = vector_search.open_index(s, vectors.FACTS, "bench").backend
            build_s = time.perf_counter() - started
            log(f"{index} index built in {build_s:.1f} s")
            times, hits, wanted = [], 0, 0
            with store.session() as s:
                ids = np.asarray(s.scalars(select(Fact.id).where(IS_ACTIVE).order_by(Fact.id)).all())
                texts = s.scalars(select(Fact.text).where(IS_ACTIVE).order_by(Fact.id)).all()
            matrix = embed(texts)
            for _ in range(args.queries):
                q = question(rng)
                with store.session() as s:
                    t = time.perf_counter()
                    got = related_facts(s, q, args.k, embed, model="bench")
                    times.append(time.perf_counter() - t)
                exact = set(ids[np.argsort(-(matrix @ embed([q])[0]), kind="stable")[:args.k]].tolist())
                hits += len(exact & {f.id for f, _ in got})
                wanted += len(exact)
            scans = []
            for _ in range(args.scans):
                with store.session() as s:
                    t = time.perf_counter()
                    scan(s, question(rng), args.k, embed)
                    scans.append(time.perf_counter() - t)
        finally:
            store.dispose()
            if pg is not None:
                admin, schema = pg
                with admin.begin() as conn:
                    conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
                admin.dispose()
    import torch  # only for the CPU capability the numbers were measured with

    result = {
        "backend": store.engine.dialect.name, "facts": args.facts, "median_ms": round(1000 * statistics.median(times), 2),
        "index": index, "k": args.k, "queries": args.queries, "recall": round(hits / max(wanted, 1), 4),
        "build_s": round(build_s, 2), "import_s": round(import_s, 2),
        "scan_median_ms": round(1000 * statistics.median(scans), 1) if scans else None,
        "cpu": torch.backends.cpu.get_cpu_capability(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
