"""``poetry torch lock``: resolve the torch family into ``poetry-torch.lock``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from poetry_torch_plugin.index.listing import fetch_listing
from poetry_torch_plugin.install.resolve import resolve


if TYPE_CHECKING:
    from pathlib import Path

    from poetry_torch_plugin.core.lockfile import TorchLock
    from poetry_torch_plugin.env.installed import TargetEnv


def lock_project(
    pyproject: Path, target: TargetEnv, installer: str | None = None, *, verbose: bool = False
) -> TorchLock:
    """Resolve the configured packages afresh and write the lock; nothing is installed."""
    from poetry_torch_plugin.index.access import resolve_access
    from poetry_torch_plugin.install.select import get_backend
    from poetry_torch_plugin.project.lockstate import configured
    from poetry_torch_plugin.project.lockstate import lock_state
    from poetry_torch_plugin.project.lockstate import write_lock

    settings, source = configured(pyproject)
    state = lock_state(pyproject, source, settings)
    access = resolve_access(source.name, source.url, allow_http=settings.allow_http)
    probe = fetch_listing(access.url, "torch", access=access)
    backend = get_backend(installer or settings.installer)
    lock = resolve(
        backend,
        target,
        access,
        state.inputs,
        settings.packages,
        verbose=verbose,
        known={"torch": probe},
    )
    write_lock(state.path, lock)
    return lock
