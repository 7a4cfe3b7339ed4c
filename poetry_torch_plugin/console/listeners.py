"""The listeners around Poetry's own commands: hold torch out before an installer command runs,
verify (and repair) the build after it succeeded."""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any


if TYPE_CHECKING:
    from cleo.events.event import Event
    from cleo.events.event_dispatcher import EventDispatcher
    from cleo.io.io import IO


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


def _mentions_torch(data: Any) -> bool:
    tool = data.get("tool", {}) if hasattr(data, "get") else {}
    return hasattr(tool, "get") and "poetry-torch" in tool


def _may_use_torch(data: Any) -> bool:
    """A cheap test of opting in, checked before importing anything: a ``[tool.poetry-torch]``
    table, or a source named in the plugin's own convention (``pytorch_cuda_cu129``,
    ``pytorch_cpu``, ``pytorch_rocm6_4``, ...).  A project that follows Poetry's own PyTorch
    recipes under other names (``pytorch``, ``pytorch-gpu-src``, ``torch-cu121``) is left
    exactly as Poetry without the plugin would handle it."""
    if _mentions_torch(data):
        return True
    tool = data.get("tool", {}) if hasattr(data, "get") else {}
    poetry = tool.get("poetry", {}) if hasattr(tool, "get") else {}
    sources = poetry.get("source", []) if hasattr(poetry, "get") else []
    if not isinstance(sources, list):
        return False
    names = [str(e.get("name", "")).strip() for e in sources if hasattr(e, "get")]
    if not any(name.lower().startswith("pytorch_") for name in names):
        return False
    from poetry_torch_plugin.core.variants import from_source_name

    return any(from_source_name(name.lower()) is not None for name in names)


# Poetry commands that read the project and solve without installing: held out, never repaired.
SOLVING = frozenset({"show", "debug resolve"})
# Commands whose success means poetry.lock was written: checked for held names afterwards.
LOCKING = frozenset({"lock", "update", "add", "remove"})
# Where on_command leaves the command's hold-out for on_terminate (a failed solve's one line).
_HOLD = "_poetry_torch_hold"


class TorchConfigStop(Exception):
    """Stops a Poetry command before it runs: invalid configuration, or Poetry moved a seam."""


def _stop(message: str) -> Exception:
    from cleo.exceptions import CleoUserError

    class _Stop(CleoUserError, TorchConfigStop):  # one line at every verbosity
        pass

    return _Stop(f"poetry-torch: {message}")


def on_command(event: Event, event_name: str, dispatcher: EventDispatcher) -> None:
    """Before a Poetry command that reads the project: stop on an invalid configuration, and
    hold the torch family out of the command's own Poetry objects."""
    from cleo.events.console_command_event import ConsoleCommandEvent

    if not isinstance(event, ConsoleCommandEvent):
        return
    command = event.command
    name = command.name or ""
    if name.startswith(("self ", "torch ")):
        return  # before Poetry's installer command module is imported: check stays light
    from poetry.console.commands.command import Command
    from poetry.console.commands.installer_command import InstallerCommand

    if not isinstance(command, Command):
        return
    data = _project_data(command)
    if data is None or not _may_use_torch(data):
        return
    from poetry_torch_plugin.core.config import read_config
    from poetry_torch_plugin.errors import TorchPluginError

    try:
        settings = read_config(data)
    except TorchPluginError as exc:
        raise _stop(f"{exc} The command `poetry {name}` was not run.") from None
    if not settings.active:
        return
    installer = isinstance(command, InstallerCommand) and name in HOOKED
    if not installer and name not in SOLVING:
        return
    from poetry_torch_plugin.seam.locate import target_of
    from poetry_torch_plugin.service import standin
    from poetry_torch_plugin.service.settings import with_choice

    io = event.io
    target = target_of(command.env) if hasattr(command, "env") and command.env else None
    try:
        chosen = with_choice(settings, command.poetry.pyproject_path, target)
        if not (name in LOCKING and _committed(settings, chosen)):
            # a command that writes poetry.lock solves against the committed variant, so
            # poetry.lock does not depend on which machine ran it; the others (install, sync,
            # show) against this machine's choice
            settings = chosen
        hold = standin.build(
            settings,
            target,
            command.poetry.pyproject_path,
            lambda text: io.write_error_line(f"<comment>{text}</comment>"),
        )
        hold.command = name  # an index error inside the solver names this command
        standin.bind(
            command.poetry, getattr(command, "installer", None) if installer else None, hold
        )
        setattr(command, _HOLD, hold)  # read by on_terminate, on this command object only
    except TorchPluginError as exc:
        raise _stop(f"{exc} The command `poetry {name}` was not run.") from None


def _committed(settings: Any, chosen: Any) -> bool:
    """Whether this machine's choice overrides the variant of the project's own source (then
    a lock-writing command keeps to the source, as committed)."""
    choice = chosen.choice
    if choice is None or not choice.machine_local or choice.committed is None:
        return False
    source = settings.source()
    return source is not None and source.variant == choice.committed


def _project_data(command: Any) -> Any:
    """The parsed pyproject.toml of the command's project; None outside a project."""
    from poetry_torch_plugin.seam.locate import project_directory

    application = command.application
    if application is None:
        return None
    path = project_directory(application) / "pyproject.toml"
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    if b"poetry-torch" not in raw and b"pytorch_" not in raw:
        return None  # the common case, without parsing anything
    from poetry_torch_plugin.core.config import parse_toml  # after the cheap test: config is big

    try:
        return parse_toml(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None  # Poetry itself reports a broken pyproject.toml


def on_terminate(event: Event, event_name: str, dispatcher: EventDispatcher) -> None:
    """After a successful installer command: verify the build, reinstall only when wrong."""
    from cleo.events.console_terminate_event import ConsoleTerminateEvent

    if not isinstance(event, ConsoleTerminateEvent):
        return
    command = event.command
    if event.exit_code != 0:
        hold = getattr(command, _HOLD, None)
        conflict = hold.conflict() if hold is not None else None
        if conflict is not None:
            event.io.write_error_line(f"<error>poetry-torch: {conflict}</error>")
        return
    if command.name not in HOOKED:
        return
    from poetry.console.commands.installer_command import InstallerCommand

    if not isinstance(command, InstallerCommand):
        return
    from poetry_torch_plugin.seam.locate import pyproject_data

    data = pyproject_data(command.poetry)
    if not _may_use_torch(data):
        return
    io = event.io
    dry_run = io.input.has_option("dry-run") and bool(io.input.option("dry-run"))
    lock_only = command.name == "lock" or (
        io.input.has_option("lock") and bool(io.input.option("lock"))
    )
    compile_bytecode = io.input.has_option("compile") and bool(io.input.option("compile"))
    from poetry_torch_plugin.core.config import read_config
    from poetry_torch_plugin.errors import TorchPluginError
    from poetry_torch_plugin.seam.locate import target_of
    from poetry_torch_plugin.service.hook import ensure
    from poetry_torch_plugin.service.hook import held_in_lock
    from poetry_torch_plugin.service.settings import SKIP_ENV
    from poetry_torch_plugin.service.settings import skip_requested
    from poetry_torch_plugin.service.settings import with_choice

    reporter = IOReporter(io)
    try:
        settings = read_config(data)
        if not settings.active:
            return
        if command.name in LOCKING and not dry_run:
            held_in_lock(settings, command.poetry.locker.lock)
        if skip_requested():
            reporter.detail(f"poetry-torch: {SKIP_ENV} is set, not checking torch")
            return
        target = target_of(command.env)
        settings = with_choice(settings, command.poetry.pyproject_path, target)
        ensure(
            settings,
            target,
            reporter,
            quiet=io.output.is_quiet(),
            verbose=io.is_verbose(),
            pyproject=command.poetry.pyproject_path,
            dry_run=dry_run,
            lock_only=lock_only,
            compile_bytecode=compile_bytecode,
        )
    except TorchPluginError as exc:
        io.write_error_line(f"<error>poetry-torch: {exc}</error>")
        event.set_exit_code(1)
