"""What a user meets first in the console: ``poetry torch`` lists the commands (issue 23,
item 4), through the real ``poetry`` executable."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest


if TYPE_CHECKING:
    from tests.support.project import Project

pytestmark = [pytest.mark.e2e]

COMMANDS = ("install", "check", "lock", "export", "wheelhouse")


def listed(output: str) -> list[str]:
    """The command names of the ``Commands:`` list, in the order shown."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "Commands:")
    names = []
    for line in lines[start + 1 :]:
        words = line.split()
        if len(words) < 3 or words[0] != "torch":
            break
        names.append(words[1])
    return names


@pytest.mark.smoke
@pytest.mark.parametrize("args", [(), ("--help",), ("-h",)], ids=["bare", "help", "h"])
def test_poetry_torch_lists_the_commands(project: Project, args: tuple[str, ...]) -> None:
    result = project.run("torch", *args)
    assert result.returncode == 0
    assert listed(result.stdout) == list(COMMANDS)
    assert "does not exist" not in result.stdout + result.stderr
    assert "poetry torch COMMAND --help" in result.stdout


@pytest.mark.smoke
def test_subcommands_are_still_found(project: Project) -> None:
    result = project.run("torch", "lock", "--help")
    assert "Description:" in result.stdout
    assert "poetry-torch.lock" in result.stdout


def test_a_mistyped_command_names_the_nearest(project: Project) -> None:
    result = project.run("torch", "instal", check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "poetry-torch: `poetry torch instal` is not a command; did you mean"
        " `poetry torch install`? `poetry torch` lists them."
    )
