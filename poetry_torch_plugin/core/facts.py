"""Facts about PyTorch builds and NVIDIA drivers, as values, and the lookups over them.

The facts themselves live in ``poetry_torch_plugin/data/facts.json`` (loaded by
``poetry_torch_plugin.data``, since core does no I/O); ``parse_facts`` (below) turns that
parsed JSON into a :class:`Facts`.  Every row carries its source and whether it was checked
against it: callers may refuse only on checked rows, and only warn on the others.
"""

from __future__ import annotations

import re

from dataclasses import field
from typing import TYPE_CHECKING
from typing import cast

from poetry_torch_plugin.core.record import record


if TYPE_CHECKING:
    from collections.abc import Iterable
    from collections.abc import Mapping


PLATFORMS = ("linux-x86_64", "linux-aarch64", "windows")
OSES = ("linux", "windows")
STATUSES = ("stable", "experimental")

# (patterns as text: re compiles them on first use, not when `check`'s modules load)
_TORCH_MINOR = r"^\s*(?:==\s*)?v?(\d+)\.(\d+)"
_SM = r"^sm_(\d+)(\d)([a-z]?)$"


@record
class Checked:
    """A value with where it comes from and whether it was compared with that source."""

    value: tuple[str, ...]
    source: str
    checked: bool


@record
class Build:
    """One variant of one torch release: ``cu130`` of 2.11, say."""

    name: str
    status: str  # "stable" or "experimental"
    source: str
    checked: bool
    archs: dict[str, Checked]  # per platform; a platform missing here is unknown
    gfx: Checked | None


@record
class Release:
    torch: str  # "2.11"
    source: str
    checked: bool
    builds: tuple[Build, ...]
    torchvision: str
    torchaudio: str  # the torchaudio minor that pairs ("2.11" for every torch >= 2.11)

    def build(self, name: str) -> Build | None:
        return next((build for build in self.builds if build.name == name), None)


@record
class Driver:
    driver: str | None
    source: str
    checked: bool


@record
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


@record
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
    match = re.match(_TORCH_MINOR, version or "")
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
        match = re.match(_SM, arch.strip().lower())
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


# --- reading the facts file ------------------------------------------------------------------
# The facts file (``poetry_torch_plugin/data/facts.json``), parsed into :class:`Facts`.
#
# Pure: it takes the JSON already read; ``poetry_torch_plugin.data`` reads the file.


class FactsError(ValueError):
    """The facts file does not have the expected shape (a packaging or editing mistake)."""


def _dict(value: object, where: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise FactsError(f"facts: {where} is not a table")
    return cast("dict[str, object]", value)


def _list(value: object, where: str) -> list[object]:
    if not isinstance(value, list):
        raise FactsError(f"facts: {where} is not a list")
    return cast("list[object]", value)


def _str(row: dict[str, object], key: str, where: str, *, optional: bool = False) -> str:
    value = row.get(key)
    if value is None and optional:
        return ""
    if not isinstance(value, str) or not value:
        raise FactsError(f"facts: {where}.{key} is not a non-empty string")
    return value


def _bool(row: dict[str, object], key: str, where: str) -> bool:
    value = row.get(key)
    if not isinstance(value, bool):
        raise FactsError(f"facts: {where}.{key} is not true or false")
    return value


def _strings(value: object, where: str) -> tuple[str, ...]:
    items = _list(value, where)
    if not all(isinstance(item, str) for item in items):
        raise FactsError(f"facts: {where} holds something other than strings")
    return tuple(cast("list[str]", items))


def _set(sets: dict[str, object], name: object, where: str) -> tuple[str, ...]:
    if not isinstance(name, str) or name not in sets:
        raise FactsError(f"facts: {where} names no known set ({name!r})")
    return _strings(sets[name], f"{where} ({name})")


def _build(
    row: dict[str, object], arch_sets: dict[str, object], gfx_sets: dict[str, object]
) -> Build:
    where = f"variant {row.get('name')!r}"
    status = _str(row, "status", where)
    if status not in STATUSES:
        raise FactsError(f"facts: {where}.status is {status!r}, not one of {STATUSES}")
    archs: dict[str, Checked] = {}
    if "archs" in row:
        source, checked = _str(row, "archs_source", where), _bool(row, "archs_checked", where)
        for platform, name in _dict(row["archs"], f"{where}.archs").items():
            if platform not in PLATFORMS:
                raise FactsError(f"facts: {where}.archs has unknown platform {platform!r}")
            if name is not None:
                archs[platform] = Checked(_set(arch_sets, name, where), source, checked)
    gfx = None
    if "gfx" in row:
        value = _set(gfx_sets, row["gfx"], where)
        gfx = Checked(value, _str(row, "gfx_source", where), _bool(row, "gfx_checked", where))
    return Build(
        _str(row, "name", where),
        status,
        _str(row, "source", where),
        _bool(row, "checked", where),
        archs,
        gfx,
    )


def _cuda_key(text: str, where: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    if not (major.isdigit() and minor.isdigit()):
        raise FactsError(f"facts: {where} has CUDA version {text!r}")
    return int(major), int(minor)


def _driver(row: dict[str, object], where: str) -> tuple[str, Driver]:
    os_name = _str(row, "os", where)
    if os_name not in OSES:
        raise FactsError(f"facts: {where}.os is {os_name!r}")
    driver = row.get("driver")
    if driver is not None and not isinstance(driver, str):
        raise FactsError(f"facts: {where}.driver is not a string")
    return os_name, Driver(driver, _str(row, "source", where), _bool(row, "checked", where))


def parse_facts(data: Mapping[str, object]) -> Facts:
    """The parsed facts file as values; FactsError names the first thing out of shape."""
    top = _dict(dict(data), "the file")
    arch_sets, gfx_sets = (
        _dict(top.get("arch_sets"), "arch_sets"),
        _dict(top.get("gfx_sets"), "gfx_sets"),
    )
    releases = []
    for item in _list(top.get("releases"), "releases"):
        row = _dict(item, "a release")
        where = f"release {row.get('torch')!r}"
        builds = tuple(
            _build(_dict(build, where), arch_sets, gfx_sets)
            for build in _list(row.get("variants"), f"{where}.variants")
        )
        pair = _dict(row.get("torchvision"), f"{where}.torchvision")
        audio = _dict(row.get("torchaudio"), f"{where}.torchaudio")
        releases.append(
            Release(
                _str(row, "torch", where),
                _str(row, "source", where),
                _bool(row, "checked", where),
                builds,
                _str(pair, "version", where),
                _str(audio, "version", where),
            )
        )
    drivers = _dict(top.get("drivers"), "drivers")
    tables: dict[str, dict[tuple[str, object], Driver]] = {}
    for table in ("minor_compat", "exact", "toolkit"):
        tables[table] = {}
        for item in _list(drivers.get(table), f"drivers.{table}"):
            row = _dict(item, f"drivers.{table}")
            os_name, driver = _driver(row, f"drivers.{table}")
            major = row.get("cuda_major")
            key: object = (
                major if isinstance(major, int) else _cuda_key(_str(row, "cuda", table), table)
            )
            tables[table][(os_name, key)] = driver
    audio = _dict(top.get("torchaudio_decoupled"), "torchaudio_decoupled")
    mps: dict[str, MacosFloor] = {}
    for item in _list(top.get("mps_macos", []), "mps_macos"):
        row = _dict(item, "mps_macos")
        where = f"mps_macos {row.get('torch')!r}"
        mps[_str(row, "torch", where)] = MacosFloor(
            _str(row, "macos", where), _str(row, "source", where), _bool(row, "checked", where)
        )
    return Facts(
        releases=tuple(sorted(releases, key=lambda release: _minor_key(release.torch))),
        sources={key: str(value) for key, value in _dict(top.get("sources"), "sources").items()},
        minor_compat=cast("dict[tuple[str, int], Driver]", tables["minor_compat"]),
        exact=cast("dict[tuple[str, tuple[int, int]], Driver]", tables["exact"]),
        toolkit=cast("dict[tuple[str, tuple[int, int]], Driver]", tables["toolkit"]),
        torchaudio_last=_str(audio, "version", "torchaudio_decoupled"),
        torchaudio_variants=Checked(
            _strings(audio.get("variants"), "torchaudio_decoupled.variants"),
            _str(audio, "variants_source", "torchaudio_decoupled"),
            _bool(audio, "variants_checked", "torchaudio_decoupled"),
        ),
        mps_macos=mps,
    )
