"""One torch release for every part of a universal lock for one variant: which package is the
anchor, what a page publishes for an entry's tags, and the requirements narrowed to a release.

Pure: ``service.lock`` reads the pages and decides."""

from __future__ import annotations

from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name


if TYPE_CHECKING:
    from collections.abc import Mapping

    from packaging.requirements import Requirement
    from packaging.version import Version

    from poetry_torch_plugin.core.config import TorchConfig
    from poetry_torch_plugin.core.lockfile import TorchLock


def at_release(lock: TorchLock, release: Mapping[str, str]) -> bool:
    """Whether ``lock`` pins each package of ``release`` at that public version."""
    found = {p.name: public_version(p.version) for p in lock.packages}
    return all(found.get(name, version) == version for name, version in release.items())


def public_version(version: str) -> str:
    return version.split("+", 1)[0]


def anchor(requirements: tuple[Requirement, ...]) -> tuple[Requirement, ...]:
    """The package whose release the lock's parts share: torch (torchvision and torchaudio
    require one torch exactly, so they follow), else the first one named."""
    for requirement in requirements:
        if canonicalize_name(requirement.name) == "torch":
            return (requirement,)
    return requirements[:1]


def anchored(names: list[str]) -> str | None:
    return "torch" if "torch" in names else (names[0] if names else None)


def wheels_of(
    project: str, files: tuple[tuple[str, str], ...]
) -> list[tuple[Version, frozenset[str]]]:
    """(public version, wheel tags) of each wheel of its project a page lists."""
    from packaging.utils import InvalidWheelFilename
    from packaging.utils import parse_wheel_filename
    from packaging.version import Version

    found = []
    for filename, _ in files:
        try:
            name, version, _, tags = parse_wheel_filename(filename)
        except InvalidWheelFilename:
            continue
        if name != canonicalize_name(project):
            continue
        found.append((Version(version.public), frozenset(str(tag) for tag in tags)))
    return found


def newest(versions: set[Version]) -> Version | None:
    """The newest final release, else the newest pre-release (a nightly index has only those)."""
    finals = [v for v in versions if not v.is_prerelease]
    return max(finals or versions, default=None)


def pinned(settings: TorchConfig, release: Mapping[str, str]) -> tuple[str, ...]:
    """The requested packages, each narrowed to its release (``torch==2.9.0`` admits every
    local label: ``2.9.0+cu129``, ``2.9.0+cpu``, and PyPI's ``2.9.0``)."""
    if not release:
        return tuple(settings.packages)
    from copy import copy

    from packaging.specifiers import SpecifierSet

    found = []
    for requirement in settings.requirements:
        version = release.get(canonicalize_name(requirement.name))
        if version is not None:
            requirement = copy(requirement)
            requirement.specifier = requirement.specifier & SpecifierSet(f"=={version}")
        found.append(str(requirement))
    return tuple(found)
