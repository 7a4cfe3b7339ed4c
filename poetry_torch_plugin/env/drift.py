"""How an environment differs from ``poetry-torch.lock`` (missing, other build, unlocked)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from packaging.version import InvalidVersion
from packaging.version import Version

from poetry_torch_plugin.core.config import is_torch_family


if TYPE_CHECKING:
    from collections.abc import Mapping

    from poetry_torch_plugin.core.lockfile import TorchLock
    from poetry_torch_plugin.env.installed import InstalledDist


@dataclass(frozen=True)
class Drift:
    name: str
    kind: str  # "missing", "version" (installed at another version) or "unlocked"
    text: str


def drift(lock: TorchLock, installed: Mapping[str, InstalledDist]) -> list[Drift]:
    """Each locked package the environment lacks or holds at another version, then each
    torch-family package installed that the lock does not hold."""
    found: list[Drift] = []
    for package in lock.packages:
        name, version = package.name, package.version
        dist = installed.get(name)
        if dist is None:
            found.append(Drift(name, "missing", f"{name} is not installed (locked {version})"))
        elif not _same_version(dist.version, version):
            text = f"{name} {dist.build_version()} is installed, the lock pins {version}"
            found.append(Drift(name, "version", text))
    locked = {package.name for package in lock.packages}
    for name in sorted(installed):
        if name not in locked and is_torch_family(name):
            text = f"{name} {installed[name].version} is installed but not locked"
            found.append(Drift(name, "unlocked", text))
    return found


def lock_drift(lock: TorchLock, installed_distributions: Mapping[str, InstalledDist]) -> list[str]:
    """One line per difference between the lock and the environment (empty when they agree)."""
    return [item.text for item in drift(lock, installed_distributions)]


def _same_version(installed: str, locked: str) -> bool:
    try:
        return Version(installed) == Version(locked)
    except InvalidVersion:
        return installed == locked
