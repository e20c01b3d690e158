"""The contradiction judge is checked on known pairs before it may supersede the user's facts."""

from __future__ import annotations

import json

import pytest

from amend.training import judge
from amend.training.judge import CHECK_PAIRS, judge_line


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    monkeypatch.setattr(judge, "_lines", {})


def scripted(contradicting: float, compatible: float, calls: list | None = None):
    def score(a, b):
        if calls is not None:
            calls.append((a, b))
        return contradicting if next(c for x, y, c in CHECK_PAIRS if (x, y) == (a, b)) else compatible
    return score


def test_a_judge_that_separates_the_pairs_is_trusted_with_its_own_line():
    calls = []
    assert judge_line("m", scripted(0.56, 0.44, calls)) == pytest.approx(0.5)  # the middle of its gap
    assert judge_line("m", scripted(0.56, 0.44, calls)) == pytest.approx(0.5)
    assert len(calls) == len(CHECK_PAIRS)  # checked once per model and process


def test_the_line_is_kept_on_disk_for_the_next_process(tmp_path):
    """A later process (here: the per-process lines cleared) reads the line instead of checking
    the judge again, a line of None (not trusted) too; a damaged file is checked and rewritten;
    a folder that cannot be written costs only the check."""
    cache = tmp_path / "judge-lines.json"

    def never(a, b):
        raise AssertionError("the judge was checked again")

    assert judge_line("m|bfloat16", scripted(0.56, 0.44), cache) == pytest.approx(0.5)
    assert judge_line("always", lambda a, b: 0.9, cache) is None
    judge._lines.clear()
    assert judge_line("m|bfloat16", never, cache) == pytest.approx(0.5)
    assert judge_line("always", never, cache) is None
    assert json.loads(cache.read_text()) == {"always": None, "m|bfloat16": pytest.approx(0.5)}
    judge._lines.clear()
    cache.write_text("{not json")
    assert judge_line("m|bfloat16", scripted(0.7, 0.3), cache) == pytest.approx(0.5)
    assert json.loads(cache.read_text()) == {"m|bfloat16": pytest.approx(0.5)}
    judge._lines.clear()
    cache.write_text('{"m|bfloat16": "high"}')  # edited by hand: not a line
    assert judge_line("m|bfloat16", scripted(0.7, 0.3), cache) == pytest.approx(0.5)
    judge._lines.clear()
    assert judge_line("m", scripted(0.56, 0.44), tmp_path / "missing" / "lines.json") == pytest.approx(0.5)
    assert not list(tmp_path.glob(".judge-lines*")) and not (tmp_path / "missing").exists()  # nothing half-written


def test_a_judge_that_cannot_tell_is_not_trusted():
    assert judge_line("always", lambda a, b: 0.9) is None
    assert judge_line("backwards", scripted(0.3, 0.7)) is None


@pytest.mark.slow
def test_tinys_judge_is_not_trusted(tiny):
    """SmolLM2-135M's judge is near chance (its scores even run the wrong way on some pairs)."""
    from amend.training.dct.derive import judge_contradiction

    assert judge_line("tiny", lambda a, b: judge_contradiction(tiny, a, b)) is None


def test_a_judge_that_mistakes_a_chained_pair_for_a_contradiction_is_not_trusted():
    """Qwen2.5-Coder-1.5B's profile: two CEOs of one company 0.53, "X orbits Osk" with "Osk is a
    gas giant" 0.58 (it superseded a user's fact that way)."""
    def score(a, b):
        contradicting = next(c for x, y, c in CHECK_PAIRS if (x, y) == (a, b))
        chained = a.split()[-1].rstrip(".") == b.split()[0]
        return 0.53 if contradicting else 0.58 if chained else 0.44
    assert judge_line("chained", score) is None
