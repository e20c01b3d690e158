"""Shared fixtures: a temporary AMEND_HOME per test, pulled models shared through AMEND_MODELS.

AMEND_MODELS keeps the developer's value (default: the user's model cache), so a pulled `tiny`
survives between runs and is shared with the `amend` command itself. Model fixtures are session-scoped: `tiny` is pulled and loaded once.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import platformdirs
import pytest

MODELS = Path(os.environ.get("AMEND_MODELS") or platformdirs.user_cache_dir("amend")) / ("" if os.environ.get("AMEND_MODELS") else "models")


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh AMEND_HOME for every test; settings from the developer's environment are cleared."""
    for var in list(os.environ):
        if var.startswith("AMEND_") and var not in ("AMEND_TEST_POSTGRES_URL",):
            monkeypatch.delenv(var)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("AMEND_HOME", str(home))
    monkeypatch.setenv("AMEND_MODELS", str(MODELS))
    monkeypatch.setenv("AMEND_PROFILE", "tiny")
    # tiny learns a fact in 4 steps; the default (12) is what qwen-coder's 0.5B expert needs
    # (docs/RESULTS.md), and would triple every test update's training
    monkeypatch.setenv("AMEND_STEPS_PER_FACT", "4")
    # one forward and backward per kind of row: chunks only save memory, which tiny does not need,
    # and on a CPU they cost time (docs/TRAINING.md); test_micro_batches_give_the_step_s_loss_and_gradient
    # checks that chunks give the same step
    monkeypatch.setenv("AMEND_MICRO_BATCH", "0")
    random.seed(0)
    return home


@pytest.fixture
def settings(home: Path):
    from amend.config import load_settings

    return load_settings()


@pytest.fixture(scope="session")
def tiny():
    """The tiny profile (SmolLM2-135M, float32 on CPU), pulled once into AMEND_MODELS and loaded once.

    Tests must not change its weights; wrap it in a peft model of their own when they train.
    """
    import torch

    from amend.config import load_settings

    torch.manual_seed(0)
    env = {"AMEND_MODELS": str(MODELS), "AMEND_HOME": str(MODELS / "_home")}
    from amend.models.load import load_profile

    return load_profile("tiny", device="cpu", dtype="float32", settings=load_settings(env=env))
