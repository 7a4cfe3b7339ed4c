"""Every way the environment differs from the configuration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion
from packaging.version import Version

from poetry_torch_plugin.env.installed import installed_distributions


if TYPE_CHECKING:
    from poetry_torch_plugin.core.config import TorchConfig
    from poetry_torch_plugin.core.variants import Variant
    from poetry_torch_plugin.env.installed import TargetEnv


# Packages whose builds differ per variant (their version or version.py names it).
_VARIANT_BUILDS = frozenset({"torch", "torchvision", "torchaudio"})


@dataclass(frozen=True)
class Problem:
    name: str
    text: str


def verify(settings: TorchConfig, target: TargetEnv, variant: Variant) -> list[Problem]:
    """Every way the environment differs from the configuration (empty when all is right)."""
    installed = installed_distributions(target.site_packages)
    problems: list[Problem] = []
    for requirement in settings.requirements:
        name = canonicalize_name(requirement.name)
        dist = installed.get(name)
        if dist is None:
            problems.append(Problem(name, f"{name} is not installed"))
            continue
        if not dist.is_complete():
            problems.append(Problem(name, f"{name} {dist.version} is half-installed"))
            continue
        try:
            version = Version(dist.version)
        except InvalidVersion:
            problems.append(Problem(name, f"{name} has an unreadable version {dist.version!r}"))
            continue
        if requirement.specifier and not requirement.specifier.contains(version, prereleases=True):
            problems.append(Problem(name, f"{name} {dist.version} does not satisfy {requirement}"))
            continue
        found = dist.variant()
        if found is not None and found != variant and name in _VARIANT_BUILDS:
            problems.append(
                Problem(name, f"{name} {dist.build_version()} is a {found} build, not {variant}")
            )
    return problems
