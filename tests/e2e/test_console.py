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


def test_cuda_13_means_13_0(project: Project) -> None:
    """The local index has no cu130: the refusal names the index ``--cuda 13`` went to."""
    before = project.pyproject.read_bytes()
    result = project.run("torch", "install", "--cuda", "13", check=False)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("poetry-torch:")]
    assert len(errors) == 1, result.stderr
    assert "/whl/cu130" in errors[0]
    assert project.pyproject.read_bytes() == before


def test_a_cuda_typo_names_the_nearest_and_that_command_works(project: Project) -> None:
    before = project.pyproject.read_bytes()
    result = project.run("torch", "install", "--cuda", "12.99", check=False)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("poetry-torch: invalid --cuda value '12.99'")
    assert "PyTorch publishes builds for CUDA " in errors[0]
    assert "the nearest is 12.9: run `poetry torch install --cuda 12.9`" in errors[0]
    assert project.pyproject.read_bytes() == before
    # the command it names is one the plugin accepts, and it works
    suggested = errors[0].split("run `poetry ", 1)[1].split("`", 1)[0].split()
    project.run(*suggested)
    assert project.version_of("torch") == "2.9.0+cu129"
