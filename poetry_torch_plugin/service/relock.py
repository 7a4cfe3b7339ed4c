"""After ``poetry torch install`` edited the sources: poetry.lock refreshed through Poetry."""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

from poetry_torch_plugin.errors import InstallError


if TYPE_CHECKING:
    from pathlib import Path

    from poetry_torch_plugin.core.config import TorchConfig
    from poetry_torch_plugin.env.installed import TargetEnv


def refresh_poetry_lock(pyproject: Path, settings: TorchConfig, target: TargetEnv) -> bool:
    """After an edit of the sources (part of poetry.lock's content-hash): refresh poetry.lock
    through Poetry's own Installer, with torch held out, so that ``poetry install`` and
    ``poetry check --lock`` pass with no extra step.  True when poetry.lock was rewritten."""
    from poetry_torch_plugin.seam.relock import refresh_lock
    from poetry_torch_plugin.service import holdout

    def bind(poetry: Any, installer: Any) -> None:
        hold = holdout.build(settings, target, pyproject, lambda _text: None)
        holdout.bind(poetry, installer, hold)

    try:
        return refresh_lock(pyproject.parent, bind)
    except RuntimeError as exc:
        raise InstallError(
            f"the build is installed and {pyproject.name} updated, but poetry.lock could not be"
            f" refreshed ({exc}). Run `poetry lock`."
        ) from None
