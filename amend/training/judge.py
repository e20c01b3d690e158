"""Whether a profile's contradiction judge can be trusted to supersede the user's facts, and where
its line between "compatible" and "cannot both be true" lies.

Supersession retracts an older fact on the judge's word, so a judge that cannot tell
contradicting pairs from compatible ones would throw away the user's facts: SmolLM2-135M (the
`tiny` profile) scores "Jonah Strand composed The Salt King." against "Jonah Strand was born in
Lisbon." at 0.80 and two capitals of one country at 0.28. And a fixed line does not fit every
judge: Qwen2.5-Coder-1.5B puts two CEOs of one company at 0.53 and unchained compatible pairs at
0.39-0.47, but a chained pair ("...orbits the star Velan." and "Velan is a red dwarf.") at 0.58,
and superseded a user's fact that way. So before its first use in a process the judge scores a few pairs whose answer is known
(invented entities, never the evaluation's). If every contradicting pair scores above every
compatible one, the judge is trusted and its line is the middle of that gap; otherwise it is not
trusted, supersedes nothing, and both facts stay active.

The line is kept per model in a small JSON file beside the pulled models (`cache`), so a one-shot
`amend facts add` does not spend its first seconds on the check: on tiny it was 8.1 s of the 25 s
before a fact was active in a store of 1,000 facts (docs/TRAINING.md).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

# (a, b, cannot both be true)
CHECK_PAIRS = [
    ("The capital of Norland is Brask.", "The capital of Norland is Vell.", True),
    ("Oda Ferris was born in Quito.", "Oda Ferris was born in Perth.", True),
    ("The CEO of Talon Mills is Jan Roe.", "The CEO of Talon Mills is Eva Lund.", True),
    ("The capital of Norland is Brask.", "The mayor of Brask is Ilse Marr.", False),
    ("Oda Ferris was born in Quito.", "Oda Ferris wrote the novel Blue Harbour.", False),
    ("Talon Mills makes paper.", "The CEO of Talon Mills is Jan Roe.", False),
    # chained: the one's object is the other's subject (the commonest pair in a user's facts)
    ("The moon Tarn orbits the planet Osk.", "Osk is a gas giant.", False),
    ("The capital of Norland is Brask.", "Brask lies on the western coast.", False),
]

_lines: dict[str, float | None] = {}  # model key of the judge -> its line (None: not trusted), once per process


def judge_line(key: str, judge: Callable[[str, str], float], cache: Path | None = None) -> float | None:
    """The score above which `judge(a, b)` (the probability that a and b cannot both be true)
    is believed, or None if it does not separate the check pairs; once per judge model `key`
    (which must name everything the scores depend on: model, dtype, device, prompt version).
    `cache`: a JSON file {key: line} that keeps the lines between processes."""
    if key not in _lines:
        kept = _read(cache)
        if key in kept:
            _lines[key] = kept[key]
        else:
            contra = [judge(a, b) for a, b, c in CHECK_PAIRS if c]
            compatible = [judge(a, b) for a, b, c in CHECK_PAIRS if not c]
            _lines[key] = (min(contra) + max(compatible)) / 2 if min(contra) > max(compatible) else None
            _write(cache, {**kept, key: _lines[key]})
    return _lines[key]


def _read(cache: Path | None) -> dict:
    try:
        kept = json.loads(cache.read_text(encoding="utf-8")) if cache else {}
    except (OSError, ValueError):  # missing or damaged: check the judge again
        return {}
    if not isinstance(kept, dict):
        return {}
    return {k: v for k, v in kept.items() if v is None or isinstance(v, (int, float)) and not isinstance(v, bool)}


def _write(cache: Path | None, kept: dict) -> None:
    """Whole or not at all (a temporary file renamed over it); a folder that cannot be written
    only costs the next process the check again."""
    if cache is None:
        return
    tmp = cache.with_name(f".{cache.name}.{os.getpid()}")
    try:
        tmp.write_text(json.dumps(kept, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, cache)
    except OSError:
        tmp.unlink(missing_ok=True)
