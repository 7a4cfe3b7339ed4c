"""After ``poetry torch install`` edited the sources: poetry.lock refreshed through Poetry."""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

from poetry_torch_plugin.errors import InstallError


if TYPE_CHECKING:
    from pathlib import Path

    from poetry_torch_plugin.core.config import TorchConfig
    from poetry_torch_plugin.env.installed import TargetEnv
    from poetry_torch_plugin.project.edits import PyProject


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


def refresh_or_put_back(
    pyproject: PyProject,
    edited: str,
    settings: TorchConfig,
    target: TargetEnv,
    lock_path: Path,
    lock_before: bytes | None,
) -> None:
    """``refresh_poetry_lock`` after ``poetry torch install`` wrote ``edited``; when Poetry
    cannot lock, the command fails closed: pyproject.toml and poetry-torch.lock are put back
    byte for byte, the earlier build is reinstalled, and one line says so."""
    from poetry_torch_plugin.project.files import write_atomic
    from poetry_torch_plugin.service.restore import put_back

    try:
        refresh_poetry_lock(pyproject.path, settings, target)
    except InstallError as exc:
        why = str(exc).split(" could not be refreshed (", 1)[-1].rsplit("). Run", 1)[0]
        write_atomic(pyproject.path, pyproject.original, expected=edited.encode("utf-8"))
        if lock_before is None:
            lock_path.unlink(missing_ok=True)
        else:
            write_atomic(lock_path, lock_before)
        raise InstallError(
            f"poetry.lock could not be refreshed for the new source ({why}); pyproject.toml"
            f" and {lock_path.name} were put back as they were, and {put_back(pyproject, target)}."
            " Fix what Poetry reported (`poetry lock` shows it), then run the command again."
        ) from None
