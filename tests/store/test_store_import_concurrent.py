"""Two processes importing into one database at the same time lose nothing and duplicate nothing."""

from __future__ import annotations

import subprocess
import sys

from amend.store.facts import list_facts

IMPORTER = """
import sys
from amend.config import load_settings
from amend.store import open_store
from amend.store.importer import import_facts
store = open_store(load_settings())
print("ready", flush=True)
sys.stdin.readline()
with store.session() as s:
    r = import_facts(s, sys.argv[1])
print(r.added, r.duplicates, flush=True)
"""


def test_two_processes_import_at_once(store, tmp_path):
    a = [f"Shared fact {i}" for i in range(300)] + [f"Only in A {i}" for i in range(2000)]
    b = [f"shared FACT {i}." for i in range(300)] + [f"Only in B {i}" for i in range(2000)]
    files = []
    for name, lines in (("a.txt", a), ("b.txt", b)):
        (tmp_path / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
        files.append(str(tmp_path / name))
    procs = [subprocess.Popen([sys.executable, "-c", IMPORTER, f], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for f in files]
    for p in procs:  # both have the database open before either starts
        assert p.stdout.readline().strip() == "ready"
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    results = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in results]
    counts = [tuple(map(int, out.split())) for out, _ in results]
    assert sum(added for added, _ in counts) == 4300
    assert sum(dups for _, dups in counts) == 300  # whoever came second skipped the shared ones
    with store.session(write=False) as s:
        texts = [f.text for f in list_facts(s)]
    assert len(texts) == len(set(texts)) == 4300
    assert {t for t in texts if t.startswith("Only")} == {t for t in a + b if t.startswith("Only")}
