"""The contradiction judge is checked on known pairs before it may supersede the user's facts."""

from __future__ import annotations

import pytest

from amend.training import judge
from amend.training.judge import CHECK_PAIRS, judge_is_trusted


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    monkeypatch.setattr(judge, "_trusted", {})


def test_a_judge_that_separates_the_pairs_is_trusted_once():
    calls = []

    def perfect(a, b):
        calls.append((a, b))
        return 0.9 if next(c for x, y, c in CHECK_PAIRS if (x, y) == (a, b)) else 0.1

    assert judge_is_trusted("m", perfect, 0.6)
    assert judge_is_trusted("m", perfect, 0.6) and len(calls) == len(CHECK_PAIRS)  # checked once per model


def test_a_judge_that_cannot_tell_is_not_trusted():
    assert not judge_is_trusted("always", lambda a, b: 0.9, 0.6)
    assert not judge_is_trusted("never", lambda a, b: 0.1, 0.6)


@pytest.mark.slow
def test_tinys_judge_is_not_trusted(tiny):
    """SmolLM2-135M's judge is near chance (its scores even run the wrong way on some pairs)."""
    from amend.training.dct.derive import judge_contradiction

    assert not judge_is_trusted("tiny", lambda a, b: judge_contradiction(tiny, a, b), 0.6)
