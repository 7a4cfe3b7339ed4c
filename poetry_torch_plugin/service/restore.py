"""After a ``poetry torch install`` whose result fails verification: put the configured
(earlier) build back, the way the hook would, from the unchanged pyproject.toml and its
poetry-torch.lock (issue 12, item 17).  And the guard for a plan made before another command
changed pyproject.toml (item 19)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from poetry_torch_plugin.errors import TorchPluginError


if TYPE_CHECKING:
    from poetry_torch_plugin.env.installed import TargetEnv
    from poetry_torch_plugin.project.edits import PyProject


class _Quiet:
    """A Reporter that keeps the restore's lines to itself: the command prints one line."""

    def line(self, text: str) -> None:
        return

    def detail(self, text: str) -> None:
        return


def put_back(pyproject: PyProject, target: TargetEnv) -> str:
    """Reinstall what the unchanged pyproject.toml configures; say how that went (a clause)."""
    from poetry_torch_plugin.core.config import parse_toml
    from poetry_torch_plugin.core.config import read_config
    from poetry_torch_plugin.service.repair import ensure
    from poetry_torch_plugin.service.settings import configured_variant
    from poetry_torch_plugin.service.settings import with_choice
    from poetry_torch_plugin.service.verify import verify

    failed = "the earlier build could not be put back: run poetry install to reinstall it"
    try:
        settings = read_config(parse_toml(pyproject.original.decode("utf-8")))
        if not settings.active:
            return failed
        settings = with_choice(settings, pyproject.path, target)
        ensure(settings, target, _Quiet(), quiet=True, pyproject=pyproject.path)
        if verify(settings, target, configured_variant(settings)[1]):
            return failed
    except (TorchPluginError, ValueError, UnicodeDecodeError):
        return failed
    return "the configured build was put back"


def refuse_changed(pyproject: PyProject) -> None:
    """Stop when pyproject.toml changed since this command read it: another poetry torch
    command ran while this one waited for the environment, and the plan is out of date."""
    from poetry_torch_plugin.errors import ConfigError

    try:
        now = pyproject.path.read_bytes()
    except OSError:
        now = b""
    if now != pyproject.original:
        raise ConfigError(
            "pyproject.toml changed while this command waited for the environment (another"
            " poetry torch command ran); nothing was changed. Run the command again."
        )
