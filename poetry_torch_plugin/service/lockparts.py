"""Whether the universal poetry-torch.lock holds what the targets ask for (``poetry torch
lock --check``, ``export``, ``wheelhouse --all``); which part this machine replays is
``service.plan.machine_part``.

``service.universal`` writes the entries; this module only reads them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from poetry_torch_plugin.core.lockentries import wanted
from poetry_torch_plugin.core.lockfile import LOCK_NAME
from poetry_torch_plugin.errors import ConfigError
from poetry_torch_plugin.service.plan import host_of
from poetry_torch_plugin.service.universal import _inputs
from poetry_torch_plugin.service.universal import targets_text
from poetry_torch_plugin.service.universal import universal


if TYPE_CHECKING:
    from poetry_torch_plugin.core.config import TorchConfig
    from poetry_torch_plugin.core.lockfile import TorchLock


def universal_problem(settings: TorchConfig, lock: TorchLock) -> str | None:
    """Why a fresh lock does not hold what the targets ask for (``poetry torch lock --check``);
    None when it does.  Offline: the Pythons are those the lock found published."""
    if not universal(settings, lock, ()) and not lock.targets and not lock.entries:
        return None  # (targets removed from pyproject.toml: the lock still holds them)
    rerun = "run `poetry torch lock` to lock them."
    if targets_text(settings) != lock.targets:
        return f"{LOCK_NAME} was written for other targets than pyproject.toml lists; {rerun}"
    source = settings.source()
    if source is None or source.variant is None:
        return None
    host, _ = host_of(lock)
    held = {(e.variant, e.platform) for e in lock.entries} | {(source.variant.index_name, host)}
    requires_python = lock.inputs.requires_python
    for want in wanted(settings.targets, source.variant.index_name, host, lock.added):
        if (want.variant, want.platform) not in held:
            return f"{LOCK_NAME} holds no {want.variant} build for {want.platform}; {rerun}"
    for entry in lock.entries:
        if not entry.lock.fresh_for(_inputs(settings, entry.variant, requires_python)):
            return f"{LOCK_NAME}'s entry {entry.where} is stale; {rerun}"
    return None


def every_part(settings: TorchConfig, lock: TorchLock, untouched: str) -> list[TorchLock]:
    """The first part and every entry, each fresh for its own index (``wheelhouse --all``)."""
    problem = universal_problem(settings, lock)
    if problem is not None:
        raise ConfigError(f"{problem} {untouched}")
    return [lock, *(entry.lock for entry in lock.entries)]
