"""Which Poetry command triggers what: hold torch out while it runs, verify the build after."""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

from packaging.utils import canonicalize_name


if TYPE_CHECKING:
    from cleo.events.event import Event
    from cleo.events.event_dispatcher import EventDispatcher
    from cleo.io.io import IO
    from packaging.requirements import Requirement

    from poetry_torch_plugin.config import TorchConfig
    from poetry_torch_plugin.environment import TargetEnv

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
    from poetry_torch_plugin import config

    try:
        return config.read_config(data)
    except Exception:
        return config.TorchConfig(has_tool_table=True) if _mentions_torch(data) else None


def _mentions_torch(data: Any) -> bool:
    tool = data.get("tool", {}) if hasattr(data, "get") else {}
    return hasattr(tool, "get") and "poetry-torch" in tool


def _may_use_torch(data: Any) -> bool:
    """A cheap superset of ``TorchConfig.active``, checked before importing anything: every
    pytorch source's name starts with "pytorch" (see ``config.is_pytorch_source``).  Projects
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


def target_of(env: Any) -> TargetEnv:
    from poetry_torch_plugin.environment import TargetEnv
    from poetry_torch_plugin.seam import env_target

    root, python, site_packages = env_target(env)
    return TargetEnv(root, python, site_packages)


def _hold_out_for(command: Any, settings: TorchConfig) -> None:
    from poetry_torch_plugin import environment
    from poetry_torch_plugin import seam
    from poetry_torch_plugin.errors import TorchPluginError

    target = target_of(command.env)
    installed = environment.installed_distributions(target.site_packages)
    try:
        source = settings.source()
    except TorchPluginError:
        source = None
    variant = source.variant if source else None
    wanted: dict[str, Requirement] = {
        canonicalize_name(req.name): req for req in settings.requirements
    }

    locks: list[dict[str, str]] = []

    def locked_versions() -> dict[str, str]:
        if not locks:
            locks.append({})
            if source is not None:
                from poetry_torch_plugin import torchlock

                try:
                    state = torchlock.lock_state(command.poetry.pyproject_path, source, settings)
                except TorchPluginError:
                    state = None
                if state is not None and state.fresh and state.lock is not None:
                    locks[0] = {p.name: p.version for p in state.lock.packages}
        return locks[0]

    def provide(name: str) -> str | None:
        dist = installed.get(name)
        right_build = dist is not None and (name not in wanted or dist.variant() in (None, variant))
        if dist is not None and right_build:
            return dist.version
        locked = locked_versions()
        if name in locked:
            return locked[name]  # what the hook will install from poetry-torch.lock
        if name in wanted and source is not None:
            from poetry_torch_plugin import index
            from poetry_torch_plugin import service

            requirement = wanted[name]
            label = variant.local_label if variant else None
            access = service.access_for(settings, source)
            listing = index.fetch_listing(access.url, name, access=access)
            candidates = [
                v
                for v in listing.versions()
                if (label is None or v.local in (None, label))
                and requirement.specifier.contains(v, prereleases=True)
            ]
            if candidates:
                return str(max(candidates))
        return dist.version if dist is not None else None

    def protected() -> frozenset[str]:
        names: set[str] = set()
        stack = [name for name in installed if settings.held(name)]
        while stack:
            name = stack.pop()
            if name in names or name not in installed:
                continue
            names.add(name)
            for line in environment.requires_of(installed[name]):
                if "extra ==" in line:
                    continue
                head = line.split(";", 1)[0].strip()
                stack.append(canonicalize_name(_name_of(head)))
        return frozenset(names)

    seam.hold_out(seam.HoldOut(settings.held, provide, protected))


def _name_of(requirement: str) -> str:
    for index, char in enumerate(requirement):
        if not (char.isalnum() or char in "-_."):
            return requirement[:index]
    return requirement


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
    _hold_out_for(command, settings)


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
    from poetry_torch_plugin import config
    from poetry_torch_plugin import service
    from poetry_torch_plugin.errors import TorchPluginError

    reporter = IOReporter(io)
    if service.skip_requested():
        reporter.detail(f"poetry-torch: {service.SKIP_ENV} is set, not checking torch")
        return
    try:
        settings = config.read_config(command.poetry.pyproject.data)
        if not settings.active:
            return
        service.ensure(
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
