"""Evaluation cases: the JSON-lines format `amend eval` reads, loaded and checked line by line.

One JSON object a line (blank lines are skipped):

    {"id": "d01", "facts": ["The capital of Ostrava Minor is Kell."],
     "probes": [{"kind": "direct", "question": "What is the capital of Ostrava Minor?",
                 "answers": ["Kell"], "distractors": ["Prague", "Vienna"]}]}

A case is run by adding its facts to an empty store, updating the expert, then asking each probe.
`answers` are aliases of one right answer; `distractors` are wrong answers the ranking metric
compares them with. A case may carry a free-form `meta` object (the MQuAKE converter records
where a case came from there). Anything else is a mistake, reported as FILE:LINE: reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from amend.errors import UserError

KINDS = ("direct", "paraphrase", "multihop", "locality")  # probe kinds, in report order


class CaseError(UserError):
    """A case file that cannot be used; the message starts with FILE:LINE."""


@dataclass(frozen=True)
class Probe:
    kind: str  # one of KINDS
    question: str  # asked as the user's chat message
    answers: tuple[str, ...]  # aliases of the right answer
    distractors: tuple[str, ...]  # wrong answers for the ranking metric


@dataclass(frozen=True)
class Case:
    id: str  # unique within a file
    facts: tuple[str, ...]  # what the user tells amend before the probes
    probes: tuple[Probe, ...]
    meta: dict = field(default_factory=dict, compare=False)  # free-form (e.g. MQuAKE case_id)


def _strings(value: object, what: str, allow_empty: bool = False) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"{what} must be a list of non-empty strings")
    if not value and not allow_empty:
        raise ValueError(f"{what} must not be empty")
    return tuple(v.strip() for v in value)


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string")
    return value.strip()


def parse_probe(obj: object, where: str) -> Probe:
    if not isinstance(obj, dict):
        raise ValueError(f"{where} must be an object")
    unknown = set(obj) - {"kind", "question", "answers", "distractors"}
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    kind = obj.get("kind")
    if kind not in KINDS:
        raise ValueError(f"{where}.kind must be one of {', '.join(KINDS)}, got {kind!r}")
    question = _text(obj.get("question"), f"{where}.question")
    answers = _strings(obj.get("answers"), f"{where}.answers")
    distractors = _strings(obj.get("distractors"), f"{where}.distractors")
    clash = {a.casefold() for a in answers} & {d.casefold() for d in distractors}
    if clash:
        raise ValueError(f"{where}: {sorted(clash)[0]!r} is both an answer and a distractor")
    return Probe(kind, question, answers, distractors)


def parse_case(obj: object) -> Case:
    """A Case from one decoded JSON line, or ValueError saying what is wrong with it."""
    if not isinstance(obj, dict):
        raise ValueError("a case must be a JSON object")
    unknown = set(obj) - {"id", "facts", "probes", "meta"}
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(sorted(unknown))}")
    case_id = obj.get("id")
    if isinstance(case_id, int) and not isinstance(case_id, bool):
        case_id = str(case_id)
    case_id = _text(case_id, "id")
    facts = _strings(obj.get("facts"), "facts")
    probes = obj.get("probes")
    if not isinstance(probes, list) or not probes:
        raise ValueError("probes must be a non-empty list")
    meta = obj.get("meta", {})
    if not isinstance(meta, dict):
        raise ValueError("meta must be an object")
    return Case(case_id, facts, tuple(parse_probe(p, f"probes[{i}]") for i, p in enumerate(probes)), meta)


def parse_lines(lines: Iterable[str], name: str) -> list[Case]:
    """Cases from JSON lines; the first bad line raises CaseError('NAME:LINE: reason')."""
    cases: list[Case] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            case = parse_case(json.loads(line))
        except json.JSONDecodeError as e:
            raise CaseError(f"{name}:{number}: not valid JSON ({e.msg} at column {e.colno})") from None
        except ValueError as e:
            raise CaseError(f"{name}:{number}: {e}") from None
        if case.id in seen:
            raise CaseError(f"{name}:{number}: id {case.id!r} repeats line {seen[case.id]}")
        seen[case.id] = number
        cases.append(case)
    if not cases:
        raise CaseError(f"{name}: no cases")
    return cases


def load_cases(path: str | Path, limit: int | None = None) -> list[Case]:
    """Every case in a JSON-lines file (the first `limit` of them if given), checked."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CaseError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise CaseError(f"{path}: cannot read ({e})") from None
    cases = parse_lines(text.splitlines(), str(path))
    return cases[:limit] if limit is not None else cases


def case_to_json(case: Case) -> dict:
    """The JSON object of a case (the inverse of parse_case)."""
    obj: dict = {
        "id": case.id,
        "facts": list(case.facts),
        "probes": [
            {"kind": p.kind, "question": p.question, "answers": list(p.answers), "distractors": list(p.distractors)}
            for p in case.probes
        ],
    }
    if case.meta:
        obj["meta"] = case.meta
    return obj


def write_cases(cases: Iterable[Case], path: str | Path) -> int:
    """Write cases as JSON lines, all or nothing (a temporary file renamed into place)."""
    path = Path(path)
    lines = [json.dumps(case_to_json(c), ensure_ascii=False) for c in cases]
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        tmp.replace(path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise CaseError(f"{path}: cannot write ({e.strerror})") from None
    return len(lines)
