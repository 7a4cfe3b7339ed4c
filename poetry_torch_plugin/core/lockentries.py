"""The universal part of ``poetry-torch.lock``: one entry per variant x platform x Python.

The lock's first part (``[source]`` and ``[[package]]``) pins the committed variant for the
interpreter that locked it.  With ``[tool.poetry-torch.targets]`` (or a variant added with
``poetry torch lock --add-variant``) the lock also holds ``[[entry]]`` tables, each the closure
of one variant for one kind of machine (``linux-aarch64``) and one Python (``3.12``), resolved
without that machine's hardware.  An install picks the entry of its own variant, platform and
Python.  Pure: which entries a project wants, and how an entry is spelled for pip and PEP 751.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from poetry_torch_plugin.core.targets import NO_GPU


if TYPE_CHECKING:
    from collections.abc import Iterable

    from poetry_torch_plugin.core.lockfile import TorchLock


@dataclass(frozen=True)
class Platform:
    """One kind of machine an entry is resolved for."""

    key: str  # as the targets keys spell it: linux-x86_64
    sys_platform: str
    platform_system: str
    platform_machine: str  # as Python reports it there (AMD64 on Windows, arm64 on macOS)
    uv: str  # uv's --python-platform
    wheel_platforms: tuple[str, ...]  # platform tags a wheel may carry there, best first


def _manylinux(arch: str) -> tuple[str, ...]:
    # PyTorch's wheels are manylinux_2_28 (glibc 2.28) since 2.6: that is the floor assumed
    legacy = ("manylinux2014", "manylinux2010", "manylinux1") if arch == "x86_64" else ()
    return (
        *(f"manylinux_2_{minor}_{arch}" for minor in range(28, 16, -1)),
        *(f"{name}_{arch}" for name in legacy),
    )


def _macos(arch: str) -> tuple[str, ...]:
    found: list[str] = []
    for major in (14, 13, 12, 11):
        found += [f"macosx_{major}_0_{arch}", f"macosx_{major}_0_universal2"]
    if arch == "x86_64":
        for minor in range(16, 8, -1):
            found += [f"macosx_10_{minor}_x86_64", f"macosx_10_{minor}_universal2"]
    return tuple(found)


PLATFORMS = {
    p.key: p
    for p in (
        Platform(
            "linux-x86_64",
            "linux",
            "Linux",
            "x86_64",
            "x86_64-manylinux_2_28",
            _manylinux("x86_64"),
        ),
        Platform(
            "linux-aarch64",
            "linux",
            "Linux",
            "aarch64",
            "aarch64-manylinux_2_28",
            _manylinux("aarch64"),
        ),
        Platform(
            "macos-arm64", "darwin", "Darwin", "arm64", "aarch64-apple-darwin", _macos("arm64")
        ),
        Platform(
            "macos-x86_64", "darwin", "Darwin", "x86_64", "x86_64-apple-darwin", _macos("x86_64")
        ),
        Platform(
            "windows-amd64", "win32", "Windows", "AMD64", "x86_64-pc-windows-msvc", ("win_amd64",)
        ),
        Platform(
            "windows-arm64", "win32", "Windows", "ARM64", "aarch64-pc-windows-msvc", ("win_arm64",)
        ),
    )
}
# what a key without an architecture locks: the platforms PyTorch publishes current builds for
# (Intel Macs and Windows on Arm get none: name macos-x86_64 / windows-arm64 to lock them)
_OS_PLATFORMS = {
    "linux": ("linux-x86_64", "linux-aarch64"),
    "macos": ("macos-arm64",),
    "windows": ("windows-amd64",),
}


def platform_of(sys_platform: str, machine: str) -> str | None:
    """The platform key of an interpreter (``linux x86_64`` -> ``linux-x86_64``): the targets'
    own ``<os>-<arch>`` key for it (``core.targets.machine_kind``)."""
    from poetry_torch_plugin.core.targets import machine_kind

    return machine_kind(sys_platform, machine)[1]


def resolved_for(platform: Platform, python: str) -> str:
    """What the lock's ``resolved-for`` says for an entry (the markers pip's report names)."""
    return f"cpython {python} {platform.sys_platform} {platform.platform_machine}"


def key_of(resolved: str) -> tuple[str, str] | None:
    """(platform key, Python ``3.12``) of a ``resolved-for`` text; None when it names none."""
    parts = resolved.split()
    if len(parts) != 4:
        return None
    python = ".".join(parts[1].split(".")[:2])
    platform = platform_of(parts[2], parts[3])
    return (platform, python) if platform is not None else None


@dataclass(frozen=True)
class Wanted:
    """A variant the project locks for a platform, and the targets keys that ask for it."""

    variant: str  # index name: cu129
    platform: str  # platform key
    keys: tuple[str, ...]  # targets keys (``default``: the committed source; ``added``)


# the CPython minors a pure (py3-none-any) torch wheel is locked for
PURE_PYTHONS = (9, 10, 11, 12, 13, 14)
DEFAULT = "default"
ADDED = "added"


def wanted(
    targets: tuple[tuple[str, str], ...],
    committed: str,
    host: str | None,
    added: tuple[str, ...] = (),
) -> tuple[Wanted, ...]:
    """Every (variant, platform) the lock holds: each targets key's variant on each platform the
    key covers (``no-gpu`` on every Linux/Windows platform the others name, or on this one),
    the committed variant where no key decides, and each ``added`` variant on ``host``.
    ``"auto"`` values lock nothing: each machine's hardware decides, among the locked variants.
    """
    table = dict(targets)
    universe: list[str] = []
    for key in table:
        if key == NO_GPU:
            continue
        universe += _OS_PLATFORMS.get(key, (key,))
    if host is not None:
        universe.append(host)
    universe = list(dict.fromkeys(universe))
    found: dict[tuple[str, str], list[str]] = {}

    def want(variant: str, platform: str, key: str) -> None:
        if variant == "auto":
            return
        found.setdefault((variant, platform), [])
        if key not in found[(variant, platform)]:
            found[(variant, platform)].append(key)

    for platform in universe:
        system = platform.split("-", 1)[0]
        decides = [name for name in (platform, system) if name in table]
        if decides:
            want(table[decides[0]], platform, decides[0])
        elif not (system == "macos" and committed != "cpu"):
            want(committed, platform, DEFAULT)  # no CUDA build exists for a Mac
        if NO_GPU in table and system != "macos":
            want(table[NO_GPU], platform, NO_GPU)
    if NO_GPU in table and not any(not p.startswith("macos") for p in universe):
        want(table[NO_GPU], "linux-x86_64", NO_GPU)
    for variant in added:
        if host is not None:
            want(variant, host, ADDED)
    return tuple(Wanted(v, p, tuple(keys)) for (v, p), keys in found.items())


def pythons_published(
    filenames: tuple[str, ...], platform: Platform, allows: object
) -> tuple[str, ...]:
    """The CPython minors (``3.12``) with a wheel among ``filenames`` for ``platform`` that
    requires-python admits (``allows(3, 12)``); free-threaded builds (cp313t) are left out."""
    from packaging.utils import InvalidWheelFilename
    from packaging.utils import parse_wheel_filename

    admits = allows if callable(allows) else (lambda major, minor: True)
    found: set[tuple[int, int]] = set()
    for filename in filenames:
        try:
            tags = parse_wheel_filename(filename)[3]
        except InvalidWheelFilename:
            continue
        for tag in tags:
            if tag.platform not in platform.wheel_platforms and tag.platform != "any":
                continue
            interpreter = tag.interpreter
            if interpreter == "py3":  # a pure wheel: every Python PyTorch still supports
                found.update((3, minor) for minor in PURE_PYTHONS if admits(3, minor))
                continue
            if not interpreter.startswith("cp") or tag.abi.endswith("t"):
                continue
            digits = interpreter[2:]
            if len(digits) >= 2 and digits.isdigit():
                major, minor = int(digits[0]), int(digits[1:])
                if admits(major, minor):
                    found.add((major, minor))
    return tuple(f"{major}.{minor}" for major, minor in sorted(found))


def tag_set(platform: Platform, python: str) -> frozenset[str]:
    """Every wheel tag an interpreter of ``python`` on ``platform`` installs (``cp312-cp312-
    manylinux_2_28_x86_64``, ``py3-none-any``, ...), as packaging spells them."""
    from packaging import tags

    version = tuple(int(part) for part in python.split("."))
    interpreter = f"cp{version[0]}{version[1]}"
    found = [
        *tags.cpython_tags(version, [interpreter, "abi3", "none"], platform.wheel_platforms),
        *tags.compatible_tags(version, interpreter, platform.wheel_platforms),
    ]
    return frozenset(str(tag) for tag in found)


def fits(filename: str, allowed: frozenset[str]) -> bool:
    """Whether a wheel installs where ``allowed`` are the tags (sdists never: entries are
    resolved with binaries only)."""
    from packaging.utils import InvalidWheelFilename
    from packaging.utils import parse_wheel_filename

    try:
        return any(str(tag) in allowed for tag in parse_wheel_filename(filename)[3])
    except InvalidWheelFilename:
        return False


def machines_marker(where: Iterable[tuple[str, str]]) -> str:
    """One marker for several (platform, Python) pairs: per platform, its Pythons as ranges
    (``python_version >= '3.10' and python_version <= '3.13'``), platforms joined by ``or``."""
    minors: dict[str, set[tuple[int, int]]] = {}
    for platform, python in where:
        major, minor = python.split(".")[:2]
        minors.setdefault(platform, set()).add((int(major), int(minor)))
    clauses = []
    for key in sorted(minors):
        runs: list[list[tuple[int, int]]] = []
        for version in sorted(minors[key]):
            if runs and runs[-1][-1] == (version[0], version[1] - 1):
                runs[-1].append(version)
            else:
                runs.append([version])
        ranges = [
            f"python_version == '{run[0][0]}.{run[0][1]}'"
            if len(run) == 1
            else f"python_version >= '{run[0][0]}.{run[0][1]}'"
            f" and python_version <= '{run[-1][0]}.{run[-1][1]}'"
            for run in runs
        ]
        pythons = ranges[0] if len(ranges) == 1 else "(" + " or ".join(ranges) + ")"
        spec = PLATFORMS[key]
        clauses.append(
            f"sys_platform == '{spec.sys_platform}'"
            f" and platform_machine == '{spec.platform_machine}' and {pythons}"
        )
    return clauses[0] if len(clauses) == 1 else " or ".join(f"({c})" for c in clauses)


@dataclass(frozen=True)
class LockEntry:
    """One variant's closure for one platform and Python; ``lock`` is that closure as a
    single-environment lock (its source, its packages, ``content_hash`` = its inputs' hash)."""

    variant: str
    platform: str
    python: str
    lock: TorchLock

    @property
    def where(self) -> str:
        return f"{self.variant} for {self.platform}, Python {self.python}"


def carried(lock: TorchLock, old: TorchLock | None, variant: str) -> TorchLock:
    """A first part ``poetry torch install`` resolved afresh (for ``variant``, this machine's
    Python), with ``old``'s entries for other machines: an entry for the new first part's
    machine is dropped (it is the first part now), and ``old``'s first part, when it was for
    the same inputs and another Python or platform, becomes that machine's entry rather than
    vanish (``lock --check`` could not tell a Python went missing)."""
    from dataclasses import replace

    if old is None or not (old.entries or old.targets or old.added):
        return lock
    here, before = key_of(lock.resolved_for), key_of(old.resolved_for)
    entries = [e for e in old.entries if (e.variant, (e.platform, e.python)) != (variant, here)]
    if before is not None and before != here and old.content_hash == lock.content_hash:
        allowed = tag_set(PLATFORMS[before[0]], before[1])
        packages = [
            replace(p, files=tuple(f for f in p.files if fits(f[0], allowed))) for p in old.packages
        ]
        if all(p.files for p in packages):
            part = replace(old, packages=tuple(packages), entries=(), targets=(), added=())
            entries.append(LockEntry(variant, *before, part))
    entries.sort(key=lambda e: (e.variant, e.platform, tuple(map(int, e.python.split(".")))))
    return replace(lock, entries=tuple(entries), targets=old.targets, added=old.added)
