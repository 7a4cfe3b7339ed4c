"""The entry point: the ``poetry torch`` commands and the listeners around Poetry's commands."""

from __future__ import annotations

import sys

from importlib import import_module
from typing import TYPE_CHECKING

from poetry.plugins.application_plugin import ApplicationPlugin


if TYPE_CHECKING:
    from collections.abc import Callable

    from poetry.console.application import Application
    from poetry.console.commands.command import Command


# Each command's name, its module under console/commands/torch/ and its class, in the order
# `poetry torch` lists them.  Registered by name, the way Poetry registers its own commands: a
# command's module is imported only when Poetry runs (or lists) it, not on every Poetry start
# (tests/unit/console/test_overview.py holds the names to the classes' own).
COMMANDS = (
    ("torch", "overview", "TorchOverviewCommand"),
    ("torch install", "install", "TorchInstallCommand"),
    ("torch check", "check", "TorchCheckCommand"),
    ("torch lock", "lock", "TorchLockCommand"),
    ("torch export", "export", "TorchExportCommand"),
    ("torch wheelhouse", "wheelhouse", "TorchWheelhouseCommand"),
)


def _command_class(module: str, name: str) -> type[Command]:
    found: type[Command] = getattr(
        import_module(f"poetry_torch_plugin.console.commands.torch.{module}"), name
    )
    return found


def runs_check(argv: list[str]) -> bool:
    """Whether the command line asks for ``poetry torch check`` and nothing else: its words,
    read the way cleo reads them (``-C``/``-P`` and ``--directory``/``--project`` take a value,
    also glued to a cluster such as ``-nCdir``; after ``--`` every word is an argument), are
    exactly ``torch check``, and no help or version is asked for.  Only used to begin the
    machine's slow probes early: a wrong guess costs an unread probe, or nothing."""
    words: list[str] = []
    options = True
    value_next = False
    for arg in argv:
        if value_next:
            value_next = False
        elif not options or arg == "-" or not arg.startswith("-"):
            words.append(arg)
        elif arg == "--":
            options = False
        elif arg.startswith("--"):
            name, equals, _ = arg[2:].partition("=")
            if name in ("help", "version"):
                return False
            value_next = name in ("directory", "project") and not equals
        else:  # a cluster of short options: -v, -nq, -C DIR, -CDIR, -nCDIR
            for position, letter in enumerate(arg[1:], start=1):
                if letter in "hV":
                    return False
                if letter in "CP":
                    value_next = position == len(arg) - 1
                    break
    return words == ["torch", "check"]


def _factory(module: str, name: str) -> Callable[[], Command]:
    return lambda: _command_class(module, name)()


class TorchApplicationPlugin(ApplicationPlugin):
    @property
    def commands(self) -> list[type[Command]]:
        return [_command_class(module, name) for _, module, name in COMMANDS]

    def activate(self, application: Application) -> None:
        from cleo.events.console_events import COMMAND
        from cleo.events.console_events import TERMINATE

        from poetry_torch_plugin.console.listeners import on_command
        from poetry_torch_plugin.console.listeners import on_terminate

        # ApplicationPlugin.activate would import every command class for its name
        for command, module, name in COMMANDS:
            application.command_loader.register_factory(command, _factory(module, name))
        if runs_check(sys.argv[1:]):
            # NVML's init (~20 ms on an H100) overlaps the rest of Poetry's start and check's
            # imports, instead of only the latter
            from poetry_torch_plugin.machine.detect import start_probes

            start_probes()
        dispatcher = application.event_dispatcher
        if dispatcher is None:
            return
        dispatcher.add_listener(COMMAND, on_command)
        dispatcher.add_listener(TERMINATE, on_terminate)
