"""The entry point begins ``check``'s machine probes as Poetry starts, and only for ``check``."""

from __future__ import annotations

from typing import Any

import pytest

from poetry_torch_plugin.machine import detect
from poetry_torch_plugin.plugin import TorchApplicationPlugin
from poetry_torch_plugin.plugin import runs_check


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["torch", "check"], True),
        (["torch", "check", "--json"], True),
        (["-C", "torch", "torch", "check"], True),  # a project folder named torch
        (["--directory", "/p", "-vvv", "torch", "check"], True),
        (["--directory=/p", "--no-ansi", "torch", "check"], True),
        (["-P", "check", "torch", "check"], True),
        (["-nC", "dir", "torch", "check"], True),
        (["-Cdir", "torch", "check"], True),
        (["-vC", "run", "torch", "check"], True),
        (["--", "torch", "check"], True),  # cleo: after --, every word is an argument
        (["torch"], False),
        (["torch", "install", "--cuda", "12.9"], False),
        (["run", "torch", "check"], False),  # a script of the project's, not the command
        (["-C", "torch", "check"], False),  # `check` alone: Poetry's own command
        (["-nC", "torch", "check"], False),  # the same, the option in a cluster
        (["-qP", "torch", "check"], False),
        (["-Ctorch", "check"], False),
        (["torch", "check", "--help"], False),  # help, not the check
        (["torch", "check", "-h"], False),
        (["-nh", "torch", "check"], False),
        (["torch", "check", "-V"], False),  # Poetry's version
        (["--version", "torch", "check"], False),
        (["torch", "check", "extra"], False),  # refused by cleo: no arguments expected
        ([], False),
    ],
)
def test_the_command_line_asks_for_check(argv: list[str], expected: bool) -> None:
    assert runs_check(argv) is expected


class _Loader:
    def __init__(self) -> None:
        self.names: list[str] = []

    def register_factory(self, name: str, factory: Any) -> None:
        self.names.append(name)


class _Application:
    def __init__(self) -> None:
        self.command_loader = _Loader()
        self.event_dispatcher = None


@pytest.mark.parametrize(
    ("argv", "started"),
    [(["poetry", "torch", "check"], 1), (["poetry", "install"], 0), (["poetry", "torch"], 0)],
)
def test_activate_begins_the_probes_only_for_check(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], started: int
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(detect, "start_probes", lambda: calls.append("probes"))
    monkeypatch.setattr("sys.argv", argv)
    application = _Application()
    TorchApplicationPlugin().activate(application)  # type: ignore[arg-type]
    assert len(calls) == started
    assert "torch check" in application.command_loader.names


def test_the_options_read_are_poetrys_own() -> None:
    """``runs_check`` knows which of Poetry's global options take a value and which ask for
    help or the version; a Poetry that adds one shows here first."""
    from poetry.console.application import Application

    options = Application().definition.options
    assert {(o.name, o.shortcut) for o in options if o.accepts_value()} == {
        ("directory", "C"),
        ("project", "P"),
    }
    assert {o.shortcut for o in options if o.name in ("help", "version")} == {"h", "V"}
