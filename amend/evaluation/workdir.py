"""The folder an evaluation runs in: its stores, the updates done and the answers so far.

`amend eval --work DIR` keeps it, so that a run stopped by ctrl-c, a reboot or a kill continues
when the same command is given again: done updates are not run again (an interrupted one goes on
from its stored derivations and training checkpoint, amend.training.checkpoint), answered probes
are not asked again. Without --work the folder is temporary and goes when the run ends.

    DIR/run.json        what the run is (cases, profile, --batch, settings) and seconds per stage
                        (answers: every run's, counted a chunk at a time; an update: only the
                        run that finished it)
    DIR/updates.jsonl   one line per finished expert update (its summary, or its error)
    DIR/answers.jsonl   one line per answered probe: [case, system, probe index] and its result
    DIR/<group>/<store> the temporary stores (group: "batch" or the case's number)

A folder of another run (other cases, profile or settings) is refused with the settings that
differ, so two runs' answers never mix. Lines are appended and fsynced as each update or chunk
of answers finishes; a line cut short by a kill is dropped on open (that work is done again).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

from amend.config import Settings
from amend.errors import UserError
from amend.evaluation.cases import Case, case_to_json

# settings that say where things are or how long to wait, not what is computed: a run may
# continue with other values
NOT_IDENTITY = ("home", "models", "database_url", "lock_timeout", "checkpoint_every_s", "sources", "user_profiles")


class OtherRun(UserError):
    """--work names a folder that holds another run."""


def identity(cases: Sequence[Case], profile: str, batch: bool, settings: Settings) -> dict:
    """What makes two runs the same run: the cases (hashed), the profile, --batch, the settings."""
    text = json.dumps([case_to_json(c) for c in cases], sort_keys=True, ensure_ascii=False)
    values = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings) if f.name not in NOT_IDENTITY}
    return {"cases": hashlib.sha256(text.encode()).hexdigest(), "n_cases": len(cases), "profile": profile,
            "batch": batch, "settings": {k: v if isinstance(v, int | float | str | bool) else str(v)
                                         for k, v in values.items()}}


class WorkDir:
    """A run's folder: open it with `WorkDir.open(folder, identity)`."""

    def __init__(self, folder: Path, meta: dict) -> None:
        self.folder = folder
        self.meta = meta  # run.json: {"identity": ..., "stages": {stage: seconds}}

    @classmethod
    def open(cls, folder: Path, ident: dict) -> WorkDir:
        """Start a run in `folder` (created if need be) or continue the one there; OtherRun if it
        holds another run."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "run.json"
        if path.is_file():
            try:
                meta = json.loads(path.read_text(encoding="utf-8"))
                before = meta["identity"]
            except (ValueError, KeyError, TypeError):
                raise OtherRun(f"{path}: not an amend eval run; use an empty or new folder for --work") from None
            if before != ident:
                raise OtherRun(f"--work {folder}: it holds another run ({_difference(before, ident)}); "
                               "give the same command as before, or use another folder")
        else:
            meta = {"identity": ident, "stages": {}}
        for name in ("updates.jsonl", "answers.jsonl"):
            _cut_partial_line(folder / name)
        work = cls(folder, meta)
        work._write_meta()
        return work

    def store_dir(self, group: str, store: str) -> Path:
        return self.folder / group / store

    def updates(self) -> dict[tuple[str, str], dict]:
        """The finished updates: (case or "batch", store) -> summary."""
        return {(u["case"], u["store"]): u for u in _lines(self.folder / "updates.jsonl")}

    def add_update(self, summary: dict) -> None:
        _append(self.folder / "updates.jsonl", [summary])

    def answers(self) -> dict[tuple[str, str, int], dict]:
        """The answered probes: (case id, system, probe index) -> ProbeResult JSON."""
        return {tuple(a["key"]): a["result"] for a in _lines(self.folder / "answers.jsonl")}

    def add_answers(self, done: list[tuple[tuple[str, str, int], dict]]) -> None:
        _append(self.folder / "answers.jsonl", [{"key": list(k), "result": r} for k, r in done])

    def add_seconds(self, stage: str, seconds: float) -> None:
        """Count `seconds` to a stage ("batch: dct update", "batch: context", ...): the times of
        every run of this folder add up."""
        stages = self.meta["stages"]
        stages[stage] = round(stages.get(stage, 0.0) + seconds, 2)
        self._write_meta()

    @property
    def stages(self) -> dict[str, float]:
        return dict(self.meta["stages"])

    def _write_meta(self) -> None:
        tmp = self.folder / "run.json.tmp"
        tmp.write_text(json.dumps(self.meta, indent=1, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self.folder / "run.json")


def _difference(before: dict, now: dict) -> str:
    if before.get("cases") != now.get("cases"):
        return f"other cases: {before.get('n_cases')} there, {now.get('n_cases')} here"
    for key in ("profile", "batch"):
        if before.get(key) != now.get(key):
            return f"{key} {before.get(key)!r} there, {now.get(key)!r} here"
    a, b = before.get("settings", {}), now.get("settings", {})
    changed = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
    return "settings " + ", ".join(f"{k} {a.get(k)!r} there, {b.get(k)!r} here" for k in changed[:3])


def _lines(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a line cut short by a kill (open drops it): that work is done again
    return out


def _cut_partial_line(path: Path) -> None:
    """Drop a last line that a kill cut short, so that the next line appended starts clean."""
    if not path.is_file():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)


def _append(path: Path, rows: list[dict]) -> None:
    with path.open("a", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())
