"""Facts about PyTorch builds and NVIDIA drivers, as values, and the lookups over them.

The facts themselves live in ``poetry_torch_plugin/data/facts.json`` (loaded by
``poetry_torch_plugin.data``, since core does no I/O); ``core.facts_parse.parse_facts`` turns
that parsed JSON into a :class:`Facts`.  Every row carries its source and whether it was checked against
it: callers may refuse only on checked rows, and only warn on the others.
"""

from __future__ import annotations

import re

from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from collections.abc import Iterable


PLATFORMS = ("linux-x86_64", "linux-aarch64", "windows")
OSES = ("linux", "windows")
STATUSES = ("stable", "experimental")

_TORCH_MINOR = re.compile(r"^\s*(?:==\s*)?v?(\d+)\.(\d+)")
_SM = re.compile(r"^sm_(\d+)(\d)([a-z]?)$")


@dataclass(frozen=True)
class Checked:
    """A value with where it comes from and whether it was compared with that source."""

    value: tuple[str, ...]
    source: str
    checked: bool


@dataclass(frozen=True)
class Build:
    """One variant of one torch release: ``cu130`` of 2.11, say."""

    name: str
    status: str  # "stable" or "experimental"
    source: str
    checked: bool
    archs: dict[str, Checked]  # per platform; a platform missing here is unknown
    gfx: Checked | None


@dataclass(frozen=True)
class Release:
    torch: str  # "2.11"
    source: str
    checked: bool
    builds: tuple[Build, ...]
    torchvision: str
    torchaudio: str  # the torchaudio minor that pairs ("2.11" for every torch >= 2.11)

    def build(self, name: str) -> Build | None:
        return next((build for build in self.builds if build.name == name), None)


@dataclass(frozen=True)
class Driver:
    driver: str | None
    source: str
    checked: bool


@dataclass(frozen=True)
class Facts:
    releases: tuple[Release, ...]  # oldest first
    sources: dict[str, str]
    minor_compat: dict[tuple[str, int], Driver]  # (os, CUDA major)
    exact: dict[tuple[str, tuple[int, int]], Driver]  # (os, CUDA version), before minor compat
    toolkit: dict[tuple[str, tuple[int, int]], Driver]
    torchaudio_last: str  # "2.11.1"
    torchaudio_variants: Checked  # the indexes that carry it, for torch newer than its minor
    # the oldest macOS whose MPS each torch release runs on ("2.10" -> 14.0), with its source
    mps_macos: dict[str, MacosFloor] = field(default_factory=dict)


@dataclass(frozen=True)
class MacosFloor:
    macos: str
    source: str
    checked: bool


def mps_macos_floor(facts: Facts, torch_version: str | None) -> MacosFloor | None:
    """The macOS that torch release's MPS needs; the newest row for a torch newer than the
    table or no version at all; None where the facts do not say."""
    minor = torch_minor(torch_version)
    if minor is not None and minor in facts.mps_macos:
        return facts.mps_macos[minor]
    if minor is None or is_newer_than_table(facts, torch_version):
        rows = sorted(facts.mps_macos, key=_minor_key)
        return facts.mps_macos[rows[-1]] if rows else None
    return None


def _dotted(version: str) -> tuple[int, ...] | None:
    parts = version.strip().split(".")
    return tuple(int(part) for part in parts) if all(part.isdigit() for part in parts) else None


def _minor_key(minor: str) -> tuple[int, ...]:
    return tuple(int(part) for part in minor.split("."))


def torch_minor(version: str | None) -> str | None:
    """``"2.11"`` from ``2.11.0+cu130`` or ``==2.11.*``; None when there is no version."""
    match = _TORCH_MINOR.match(version or "")
    return f"{int(match.group(1))}.{int(match.group(2))}" if match else None


def os_of(platform: str) -> str:
    return "windows" if platform.lower().startswith("win") else "linux"


def arch_platform(platform: str) -> str:
    """The facts' platform key for a machine's ``system-machine`` (``linux-x86_64``, ...)."""
    text = platform.lower()
    if text.startswith("win"):
        return "windows"
    return "linux-aarch64" if text.endswith(("aarch64", "arm64")) else "linux-x86_64"


def known_torch_releases(facts: Facts) -> tuple[str, ...]:
    """The torch releases the facts describe, oldest first (``"2.0"``, ..., ``"2.15"``)."""
    return tuple(release.torch for release in facts.releases)


def release_for(facts: Facts, version: str | None) -> Release | None:
    minor = torch_minor(version)
    return next((release for release in facts.releases if release.torch == minor), None)


def newest_release(facts: Facts) -> Release:
    return facts.releases[-1]


def is_newer_than_table(facts: Facts, version: str | None) -> bool:
    minor = torch_minor(version)
    return minor is not None and _minor_key(minor) > _minor_key(newest_release(facts).torch)


def driver_floor(facts: Facts, cuda: tuple[int, int], os_name: str = "linux") -> Driver | None:
    """The oldest driver that runs torch wheels built with ``cuda`` (they bundle their CUDA
    runtime, so the floor of the CUDA major suffices); None where the facts have no row."""
    row = facts.exact.get((os_name, cuda)) or facts.minor_compat.get((os_name, cuda[0]))
    return row if row is not None and row.driver is not None else None


def min_driver_for_cuda(facts: Facts, cuda: tuple[int, int], os_name: str = "linux") -> str | None:
    row = driver_floor(facts, cuda, os_name)
    return row.driver if row is not None else None


def full_feature_driver_for_cuda(
    facts: Facts, cuda: tuple[int, int], os_name: str = "linux"
) -> str | None:
    """The driver released with that CUDA toolkit; None where the facts have no value."""
    row = facts.toolkit.get((os_name, cuda))
    return row.driver if row is not None else None


def driver_at_least(driver_version: str, floor: str) -> bool:
    """Compare dotted numbers (``"1000.1" >= "580"``); False when either does not parse."""
    driver, needed = _dotted(driver_version), _dotted(floor)
    return driver is not None and needed is not None and driver >= needed


def driver_supports(
    facts: Facts, driver_version: str, cuda: tuple[int, int], os_name: str = "linux"
) -> bool:
    """Whether the driver runs torch wheels built with ``cuda``; False when unknown."""
    floor = min_driver_for_cuda(facts, cuda, os_name)
    return floor is not None and driver_at_least(driver_version, floor)


def variants_for_torch(facts: Facts, version: str) -> tuple[str, ...] | None:
    """The index names PyTorch publishes for that torch (matched on major.minor)."""
    release = release_for(facts, version)
    return tuple(build.name for build in release.builds) if release is not None else None


def build_for(facts: Facts, variant: str, torch_version: str | None) -> Build | None:
    """The row of ``variant`` for that torch; without a torch version, or for one newer than
    the facts, the newest release that lists the variant."""
    release = release_for(facts, torch_version)
    if release is not None:
        return release.build(variant)
    if torch_version is None or is_newer_than_table(facts, torch_version):
        rows = (release.build(variant) for release in reversed(facts.releases))
        return next((row for row in rows if row is not None), None)
    return None


def arch_row(
    facts: Facts, variant: str, torch_version: str | None, platform: str = "linux-x86_64"
) -> Checked | None:
    """The ``sm_XY`` list of a CUDA build with its source; None for unknown pairs."""
    build = build_for(facts, variant, torch_version)
    return build.archs.get(arch_platform(platform)) if build is not None else None


def archs_for(
    facts: Facts, variant: str, torch_version: str | None, platform: str = "linux-x86_64"
) -> tuple[str, ...] | None:
    row = arch_row(facts, variant, torch_version, platform)
    return row.value if row is not None and row.value else None


def arch_supported(archs: Iterable[str], compute_capability: tuple[int, int]) -> bool:
    """Whether a build with ``archs`` has kernels for a GPU of that compute capability.

    A cubin for ``sm_XY`` runs on compute capability X.Z with Z >= Y (binary compatibility
    within a major: sm_86 runs on an 8.9 RTX 4090).  ``sm_XYa`` runs on X.Y only.  PTX
    (``compute_XY``) is not counted: JIT from PTX is slow and needs a new enough driver.
    """
    major, minor = compute_capability
    for arch in archs:
        match = _SM.match(arch.strip().lower())
        if match is None:
            continue
        arch_major, arch_minor = int(match.group(1)), int(match.group(2))
        exact = bool(match.group(3))
        if arch_major == major and (arch_minor == minor if exact else arch_minor <= minor):
            return True
    return False


def companion_published(
    facts: Facts, package: str, variant: str, torch_version: str | None
) -> bool | None:
    """Whether ``package`` (torchvision, torchaudio) has a build on ``variant``'s index that
    pairs with that torch; None where the facts do not say.

    torchvision and torchaudio up to 2.10 follow torch onto every index of its release.
    torchaudio 2.11 is the last: it serves every newer torch, but only from the indexes
    torch 2.11 was published to (a ``cu132`` index has none).
    """
    release = release_for(facts, torch_version)
    if release is None and (torch_version is None or is_newer_than_table(facts, torch_version)):
        release = newest_release(facts)
    if release is None or release.build(variant) is None:
        return None
    if package == "torchaudio" and release.torchaudio != release.torch:
        return variant in facts.torchaudio_variants.value
    return True
