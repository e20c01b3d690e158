"""Settings precedence: flags > environment > config.toml > defaults, and clear errors."""

from pathlib import Path

import pytest

from amend.config import ConfigError, load_settings


def test_defaults_and_sources(home: Path) -> None:
    s = load_settings(env={"AMEND_HOME": str(home)})
    assert s.profile == "qwen-coder" and s.sources["profile"] == "default"
    assert s.home == home and s.sources["home"] == "env AMEND_HOME"
    assert s.db_url == f"sqlite:///{home / 'amend.db'}"
    assert s.adapters_dir == home / "adapters"


def test_precedence_flag_over_env_over_toml_over_default(home: Path) -> None:
    (home / "config.toml").write_text('profile = "from-toml"\nalpha = 0.5\nlora_r = 4\n')
    env = {"AMEND_HOME": str(home), "AMEND_PROFILE": "from-env", "AMEND_ALPHA": "2"}
    s = load_settings({"profile": "from-flag", "max_new_tokens": None}, env=env)
    assert (s.profile, s.sources["profile"]) == ("from-flag", "flag")
    assert (s.alpha, s.sources["alpha"]) == (2.0, "env AMEND_ALPHA")
    assert (s.lora_r, s.sources["lora_r"]) == (4, "config.toml")
    assert (s.max_new_tokens, s.sources["max_new_tokens"]) == (256, "default")


def test_user_profiles_come_from_toml(home: Path) -> None:
    (home / "config.toml").write_text('[profiles.mine]\nlarge = "Org/Big"\nsmall = "/models/small"\n')
    s = load_settings(env={"AMEND_HOME": str(home)})
    assert s.user_profiles == {"mine": {"large": "Org/Big", "small": "/models/small"}}


@pytest.mark.parametrize(
    "toml, message",
    [
        ("lora_r = 'eight'\n", "lora_r must be int"),
        ("no_such = 1\n", "unknown setting 'no_such'"),
        ("profile = \n", "config.toml"),
    ],
)
def test_bad_toml_is_one_clear_error(home: Path, toml: str, message: str) -> None:
    (home / "config.toml").write_text(toml)
    with pytest.raises(ConfigError, match=message):
        load_settings(env={"AMEND_HOME": str(home)})


def test_bad_env_value_names_the_variable(home: Path) -> None:
    with pytest.raises(ConfigError, match="AMEND_EPOCHS: epochs must be int"):
        load_settings(env={"AMEND_HOME": str(home), "AMEND_EPOCHS": "many"})
