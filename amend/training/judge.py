"""Whether a profile's contradiction judge can be trusted to supersede the user's facts.

Supersession retracts an older fact on the judge's word ("cannot both be true" above 0.6), so a
judge that cannot tell contradicting pairs from compatible ones would throw away the user's facts:
SmolLM2-135M (the `tiny` profile) scores "Jonah Strand composed The Salt King." against "Jonah Strand
was born in Lisbon." at 0.80 and two capitals of one country at 0.28. Before its first use in a
process, the judge is checked on a few pairs whose answer is known (invented entities, never the
evaluation's): it is trusted only if it puts every contradicting pair above the threshold and
every compatible pair below it. An untrusted judge supersedes nothing; both facts stay active.
"""

from __future__ import annotations

from collections.abc import Callable

# (a, b, cannot both be true)
CHECK_PAIRS = [
    ("The capital of Norland is Brask.", "The capital of Norland is Vell.", True),
    ("Oda Ferris was born in Quito.", "Oda Ferris was born in Perth.", True),
    ("The CEO of Talon Mills is Jan Roe.", "The CEO of Talon Mills is Eva Lund.", True),
    ("The capital of Norland is Brask.", "The mayor of Brask is Ilse Marr.", False),
    ("Oda Ferris was born in Quito.", "Oda Ferris wrote the novel Blue Harbour.", False),
    ("Talon Mills makes paper.", "The CEO of Talon Mills is Jan Roe.", False),
]

_trusted: dict[str, bool] = {}  # model key of the judge -> verdict, once per process


def judge_is_trusted(key: str, judge: Callable[[str, str], float], threshold: float) -> bool:
    """Whether `judge(a, b)` (the probability that a and b cannot both be true) separates the
    check pairs at `threshold`; computed once per judge model `key` in a process."""
    if key not in _trusted:
        scores = [(judge(a, b), contradicts) for a, b, contradicts in CHECK_PAIRS]
        _trusted[key] = all((p > threshold) == contradicts for p, contradicts in scores)
    return _trusted[key]
