"""The documentation keeps up with the code: every command and every setting is documented."""

from pathlib import Path

from crawler.cli import cli
from crawler.config import describe_settings

ROOT = Path(__file__).parents[1]


def test_every_command_is_in_the_readme_and_has_an_example():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name, command in cli.commands.items():
        assert f"govarchive {name}" in readme, f"README does not mention `govarchive {name}`"
        assert "Example:" in (command.help or ""), f"`govarchive {name} --help` has no example"


def test_every_setting_is_documented_with_its_default():
    docs = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    for name, default, help_text in describe_settings():
        assert f"| `{name}` | `{default}` | {help_text} |" in docs, f"docs/configuration.md: {name}"


def test_the_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in readme and "\nmake test\n" in ci
