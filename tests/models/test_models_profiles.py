"""Profiles as data: built-ins, user profiles from config.toml, the unknown-profile error."""

from pathlib import Path

import pytest

from amend.config import load_settings
from amend.models.profiles import BUILTIN, ProfileError, get_profile


def test_builtin_profiles() -> None:
    assert {"tiny", "qwen-coder"} <= set(BUILTIN)
    assert BUILTIN["tiny"].shared and not BUILTIN["qwen-coder"].shared
    assert any(p.large.hub_id for p in BUILTIN.values())  # a hub profile for machines that reach it
    for p in BUILTIN.values():
        for spec in p.specs:
            if spec.gguf:
                assert len(spec.gguf.requirements) == len(spec.gguf.members)
                assert len(spec.gguf.sha256) == 64


def test_unknown_profile_lists_the_known_ones(settings) -> None:
    with pytest.raises(ProfileError, match=r"unknown profile 'nope'; known profiles: tiny, qwen-coder"):
        get_profile(settings, "nope")


def test_user_profile_from_config(home: Path) -> None:
    (home / "config.toml").write_text(
        '[profiles.mine]\nlarge = "Org/Big-7B"\nsmall = "/srv/models/small"\nlarge_dtype = "bfloat16"\n'
    )
    p = get_profile(load_settings(), "mine")
    assert p.large.hub_id == "Org/Big-7B" and p.large_dtype == "bfloat16"
    assert p.small.path == Path("/srv/models/small") and not p.builtin


def test_user_profile_needs_large(home: Path) -> None:
    (home / "config.toml").write_text('[profiles.mine]\nsmall = "x/y"\n')
    with pytest.raises(ProfileError, match="profiles.mine needs large"):
        get_profile(load_settings(), "mine")
