"""Refresh poetry.lock through Poetry's own Installer, as ``poetry lock`` does.

``poetry torch install`` edits the ``[[tool.poetry.source]]`` table, which is part of
poetry.lock's content-hash, so a stale lock would make the next ``poetry install`` refuse to run.
Never by hand-editing the hash: a fresh Poetry object reads the new pyproject.toml, the hold-out
is bound to it, and ``Installer.lock(update=False)`` keeps every locked version.
Checked against Poetry 2.0.1 and 2.5.1 (``build_constraints`` exists from 2.3).
"""

from __future__ import annotations

import inspect

from typing import TYPE_CHECKING
from typing import Any


if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


def refresh_lock(project_dir: Path, bind: Callable[[Any, Any], None]) -> bool:
    """Rewrite a stale poetry.lock with the same locked versions; True when it was rewritten.

    ``bind(poetry, installer)`` applies the hold-out to the objects used.  Raises RuntimeError
    with Poetry's one-line reason when Poetry cannot lock.
    """
    from cleo.io.buffered_io import BufferedIO
    from poetry.factory import Factory
    from poetry.installation.installer import Installer
    from poetry.repositories.installed_repository import InstalledRepository
    from poetry.utils.env import EnvManager

    io = BufferedIO()
    poetry = Factory().create_poetry(project_dir, io=io)
    if not poetry.locker.is_locked() or poetry.locker.is_fresh():
        return False
    env = EnvManager(poetry, io=io).get()
    extra: dict[str, Any] = {}
    if "build_constraints" in inspect.signature(Installer).parameters:
        extra["build_constraints"] = getattr(poetry, "build_constraints", None)
    installer = Installer(
        io,
        env,
        poetry.package,
        poetry.locker,
        poetry.pool,
        poetry.config,
        InstalledRepository(),
        disable_cache=poetry.disable_cache,
        **extra,
    )
    bind(poetry, installer)
    installer.lock(update=False)
    try:
        code = installer.run()
    except Exception as exc:  # Poetry's solver errors have no common base class
        reason = str(exc).strip().splitlines()
        raise RuntimeError(reason[-1] if reason else type(exc).__name__) from None
    if code != 0:
        output = (io.fetch_error() or io.fetch_output()).strip().splitlines()
        raise RuntimeError(output[-1] if output else f"poetry lock exited with {code}")
    return True
