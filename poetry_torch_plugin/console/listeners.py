"""The listeners around Poetry's own commands: hold torch out before an installer command runs,
verify (and repair) the build after it succeeded."""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any


if TYPE_CHECKING:
    from cleo.events.event import Event
    from cleo.events.event_dispatcher import EventDispatcher
    from cleo.io.io import IO

    from poetry_torch_plugin.core.config import TorchConfig


# Commands after which the environment is verified (and repaired) when they succeed.
HOOKED = frozenset({"lock", "install", "update", "add", "remove", "sync"})


class IOReporter:
    """Adapts cleo's IO to the service's Reporter protocol."""

    def __init__(self, io: IO) -> None:
        self._io = io

    def line(self, text: str) -> None:
        self._io.write_error_line(f"<info>{text}</info>")

    def detail(self, text: str) -> None:
        if self._io.is_verbose():
            self._io.write_error_line(text)


def _settings(data: Any) -> TorchConfig | None:
    if not _may_use_torch(data):
        return None
    from poetry_torch_plugin.core.config import TorchConfig
    from poetry_torch_plugin.core.config import read_config

    try:
        return read_config(data)
    except Exception:
        return TorchConfig(has_tool_table=True) if _mentions_torch(data) else None


def _mentions_torch(data: Any) -> bool:
    tool = data.get("tool", {}) if hasattr(data, "get") else {}
    return hasattr(tool, "get") and "poetry-torch" in tool


def _may_use_torch(data: Any) -> bool:
    """A cheap superset of ``TorchConfig.active``, checked before importing anything: every
    pytorch source's name starts with "pytorch" (see ``is_pytorch_source``).  Projects
    that do not use the plugin then pay no import of ours after each Poetry command."""
    if _mentions_torch(data):
        return True
    tool = data.get("tool", {}) if hasattr(data, "get") else {}
    poetry = tool.get("poetry", {}) if hasattr(tool, "get") else {}
    sources = poetry.get("source", []) if hasattr(poetry, "get") else []
    return isinstance(sources, list) and any(
        hasattr(entry, "get") and str(entry.get("name", "")).strip().lower().startswith("pytorch")
        for entry in sources
    )


def on_command(event: Event, event_name: str, dispatcher: EventDispatcher) -> None:
    """Before an installer command runs: hold the torch family out of Poetry."""
    from cleo.events.console_command_event import ConsoleCommandEvent
    from poetry.console.commands.installer_command import InstallerCommand

    if not isinstance(event, ConsoleCommandEvent):
        return
    command = event.command
    if not isinstance(command, InstallerCommand) or command.name not in HOOKED:
        return
    settings = _settings(command.poetry.pyproject.data)
    if settings is None or not settings.active:
        return
    from poetry_torch_plugin.seam.locate import target_of
    from poetry_torch_plugin.service.holdout import hold_out

    hold_out(settings, target_of(command.env), command.poetry.pyproject_path)


def on_terminate(event: Event, event_name: str, dispatcher: EventDispatcher) -> None:
    """After a successful installer command: verify the build, reinstall only when wrong."""
    from cleo.events.console_terminate_event import ConsoleTerminateEvent
    from poetry.console.commands.installer_command import InstallerCommand

    if not isinstance(event, ConsoleTerminateEvent) or event.exit_code != 0:
        return
    command = event.command
    if not isinstance(command, InstallerCommand) or command.name not in HOOKED:
        return
    io = event.io
    if io.input.has_option("dry-run") and io.input.option("dry-run"):
        return
    if not _may_use_torch(command.poetry.pyproject.data):
        return
    from poetry_torch_plugin.core.config import read_config
    from poetry_torch_plugin.errors import TorchPluginError
    from poetry_torch_plugin.seam.locate import target_of
    from poetry_torch_plugin.service.repair import ensure
    from poetry_torch_plugin.service.settings import SKIP_ENV
    from poetry_torch_plugin.service.settings import skip_requested

    reporter = IOReporter(io)
    if skip_requested():
        reporter.detail(f"poetry-torch: {SKIP_ENV} is set, not checking torch")
        return
    try:
        settings = read_config(command.poetry.pyproject.data)
        if not settings.active:
            return
        ensure(
            settings,
            target_of(command.env),
            reporter,
            quiet=io.output.is_quiet(),
            verbose=io.is_verbose(),
            pyproject=command.poetry.pyproject_path,
        )
    except TorchPluginError as exc:
        io.write_error_line(f"<error>poetry-torch: {exc}</error>")
        event.set_exit_code(1)
