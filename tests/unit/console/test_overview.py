"""``poetry torch``: the list of the commands, in-process (issue 23, item 4)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from poetry_torch_plugin.plugin import COMMANDS
from poetry_torch_plugin.plugin import TorchApplicationPlugin


if TYPE_CHECKING:
    from collections.abc import Callable

    from cleo.testers.command_tester import CommandTester

    Tester = Callable[[str], CommandTester]


def subcommands() -> list[tuple[str, str]]:
    return [
        (str(command.name), command.description)
        for command in TorchApplicationPlugin().commands
        if command.name and command.name.startswith("torch ")
    ]


def test_lists_every_torch_command_with_its_description(tester: Tester) -> None:
    overview = tester("torch")
    assert overview.execute() == 0
    output = overview.io.fetch_output()
    listed = [line.split(None, 2) for line in output.splitlines() if line.startswith("  torch ")]
    assert [(f"{word} {name}", text) for word, name, text in listed] == subcommands()
    assert "poetry torch COMMAND --help" in output
    assert overview.io.fetch_error() == ""


def test_help_text_carries_the_list(tester: Tester) -> None:
    help_text = tester("torch").command.processed_help
    for name, _ in subcommands():
        assert f"<c1>{name}" in help_text


def test_a_mistyped_command_is_one_line_with_the_nearest(tester: Tester) -> None:
    overview = tester("torch")
    assert overview.execute("instal") == 1
    errors = [line for line in overview.io.fetch_error().splitlines() if line.strip()]
    assert errors == [
        "poetry-torch: `poetry torch instal` is not a command; did you mean"
        " `poetry torch install`? `poetry torch` lists them."
    ]


def test_a_word_near_nothing_still_points_at_the_list(tester: Tester) -> None:
    overview = tester("torch")
    assert overview.execute("zzz") == 1
    assert "`poetry torch` lists them." in overview.io.fetch_error()
    assert "did you mean" not in overview.io.fetch_error()


def test_registered_names_are_the_commands_own(tester: Tester) -> None:
    """The plugin registers its commands by name without importing them; each name must be the
    one its class carries (a renamed command would otherwise be unreachable or misnamed)."""
    classes = TorchApplicationPlugin().commands
    assert [str(command.name) for command in classes] == [name for name, _, _ in COMMANDS]
    for command in classes:
        assert type(tester(str(command.name)).command) is command
