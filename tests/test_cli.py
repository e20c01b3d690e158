"""The `amend` command as a user meets it: help, config, models, one-line errors."""

import json
import subprocess
import sys

from click.testing import CliRunner

from amend.cli import cli


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "amend", *args], capture_output=True, text=True)


def test_help_answers_both_ways() -> None:
    result = run("--help")
    assert result.returncode == 0 and "knowledge you can edit" in result.stdout
    assert CliRunner().invoke(cli, ["--help"]).exit_code == 0


def test_help_does_not_import_torch() -> None:
    code = "import sys; from amend.cli import cli; assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_unknown_profile_is_one_line_listing_profiles() -> None:
    result = run("models", "pull", "no-such-profile")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "known profiles: tiny, qwen-coder" in lines[0]
    assert "Traceback" not in result.stderr


def test_config_prints_sources(home) -> None:
    (home / "config.toml").write_text("alpha = 0.5\n")
    result = CliRunner().invoke(cli, ["config", "--json"], env={"AMEND_HOME": str(home), "AMEND_LORA_R": "4"})
    assert result.exit_code == 0, result.output
    table = json.loads(result.output)
    assert table["alpha"] == {"value": "0.5", "source": "config.toml"}
    assert table["lora_r"] == {"value": "4", "source": "env AMEND_LORA_R"}
    assert table["profile"]["source"] == "env AMEND_PROFILE"  # set to tiny by the test fixture


def test_models_list_shows_every_profile(tiny) -> None:
    result = CliRunner().invoke(cli, ["models", "list", "--json"])
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert {"tiny", "qwen-coder"} <= set(rows)
    assert rows["tiny"]["pulled"] and rows["tiny"]["bytes"] > 100e6


def test_shell_completion_as_the_readme_says() -> None:
    runner = CliRunner()
    script = runner.invoke(cli, [], prog_name="amend", env={"_AMEND_COMPLETE": "bash_source"})
    assert script.exit_code == 0 and "_amend_completion" in script.output
    words = runner.invoke(cli, [], prog_name="amend",
                          env={"_AMEND_COMPLETE": "bash_complete", "COMP_WORDS": "amend facts l", "COMP_CWORD": "2"})
    assert words.output.split() == ["plain,list"]


def test_a_user_error_keeps_its_exit_code() -> None:
    from amend.errors import UserError

    class Busy(UserError):
        exit_code = 75

    @cli.command("fail-for-test", hidden=True)
    def fail() -> None:
        raise Busy("held \x1b[31m elsewhere")

    try:
        result = CliRunner().invoke(cli, ["fail-for-test"])
    finally:
        cli.commands.pop("fail-for-test")
    assert (result.exit_code, result.stderr) == (75, "Error: held \\x1b[31m elsewhere\n")
