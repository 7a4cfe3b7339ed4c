"""What is installed in the project environment, read from disk without importing torch:
where the environment keeps its interpreter and site-packages, the distributions there, how
they differ from ``poetry-torch.lock`` (missing, other build, unlocked), and the one torch
install at a time per environment.

The install lock file lives in the environment (``<venv>/.poetry-torch-install.mutex``), so two
projects never wait for each other while two commands on one project always do.  Beside it,
``.poetry-torch-install.pid`` names the process that holds it, for the message of one that
gives up waiting (issue 12, item 19)."""

from __future__ import annotations

import contextlib
import os
import re

from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Protocol

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion
from packaging.version import Version

from poetry_torch_plugin.core.config import is_torch_family
from poetry_torch_plugin.core.record import record
from poetry_torch_plugin.core.variants import from_cuda_version
from poetry_torch_plugin.core.variants import from_local_label
from poetry_torch_plugin.errors import TorchPluginError


if TYPE_CHECKING:
    from collections.abc import Iterable
    from collections.abc import Iterator
    from collections.abc import Mapping

    from poetry_torch_plugin.core.lockfile import TorchLock
    from poetry_torch_plugin.core.variants import Variant


# (a pattern's text: re compiles it on first use, not when the hook's modules load)
_ASSIGNMENT = r"(?m)^(__version__|cuda|hip)\s*(?::\s*[^=]+)?=\s*(.+?)\s*$"


# Packages whose version.py names the build (PyPI builds carry no local label in the dist-info).
_VERSION_MODULES = {"torch": "torch", "torchvision": "torchvision", "torchaudio": "torchaudio"}


@record
class TargetEnv:
    """The project environment: its interpreter and the directories its packages live in."""

    root: Path
    python: Path
    site_packages: tuple[Path, ...]
    # the interpreter's ``sys_platform``, ``platform_machine`` and ``python_version`` when Poetry
    # already asked it this command (its env's ``marker_env``); None: read or ask it ourselves
    markers: tuple[str, str, str] | None = field(default=None, compare=False)


class EnvFinder(Protocol):
    """The project environment as Poetry would use it, created when missing if asked (the
    command's, in practice: it holds Poetry's project object)."""

    def __call__(self, *, create: bool) -> TargetEnv: ...


@record
class InstalledDist:
    name: str
    version: str
    dist_info: Path

    @property
    def location(self) -> Path:
        return self.dist_info.parent

    def build_version(self) -> str:
        """The version with its local label: ``2.8.0+cu129``, from version.py when needed."""
        if "+" in self.version:
            return self.version
        facts = self._version_py()
        declared = facts.get("__version__")
        return declared if declared and "+" in declared else self.version

    def variant(self) -> Variant | None:
        """The build's variant: the local label, else ``torch/version.py``; None if unknown."""
        labelled = from_local_label(self.version)
        if labelled is not None:
            return labelled
        facts = self._version_py()
        if not facts:
            return None
        labelled = from_local_label(facts.get("__version__") or "")
        if labelled is not None:
            return labelled
        if "cuda" not in facts and "hip" not in facts:
            return None  # (PyPI's torchaudio 2.11: one wheel for every build of torch)
        return from_cuda_version(facts.get("cuda"), facts.get("hip"))

    def runtime_variant(self) -> Variant | None:
        """The variant the installed files were built for, from ``torch.version.cuda`` /
        ``hip`` in version.py (not the label); None when version.py says neither."""
        facts = self._version_py()
        if "cuda" not in facts and "hip" not in facts:
            return None
        return from_cuda_version(facts.get("cuda"), facts.get("hip"))

    def installer(self) -> str | None:
        """The tool that installed it (the dist-info's ``INSTALLER``: pip, uv, Poetry)."""
        try:
            text = (self.dist_info / "INSTALLER").read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return text.splitlines()[0].strip() if text else None

    def direct_url(self) -> str | None:
        """The URL or path it was installed from by a direct reference (``direct_url.json``);
        None for an install from an index."""
        import json

        try:
            data = json.loads((self.dist_info / "direct_url.json").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            return None
        url = data.get("url") if isinstance(data, dict) else None
        return url if isinstance(url, str) and url else None

    def is_complete(self) -> bool:
        """False when an interrupted install left metadata without its RECORD."""
        return (self.dist_info / "RECORD").is_file() and (self.dist_info / "METADATA").is_file()

    def _version_py(self) -> dict[str, str | None]:
        module = _VERSION_MODULES.get(self.name)
        if module is None:
            return {}
        try:
            text = (self.location / module / "version.py").read_text(encoding="utf-8")
        except OSError:
            return {}
        facts: dict[str, str | None] = {}
        for key, raw in re.findall(_ASSIGNMENT, text):
            value = raw.strip()
            if value == "None":
                facts[key] = None
            elif len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                facts[key] = value[1:-1]
        return facts


def installed_distributions(paths: Iterable[Path]) -> dict[str, InstalledDist]:
    """Every ``*.dist-info`` in ``paths`` by canonical name; the first path wins, as on sys.path."""
    found: dict[str, InstalledDist] = {}
    for path in paths:
        try:
            entries = list(os.scandir(path))
        except OSError:
            continue
        for entry in entries:
            # ``<name>-<version>.dist-info``, neither part empty nor holding a dash (as the
            # wheel spec escapes them); read without a regular expression: site-packages holds
            # hundreds of entries and this runs after every hooked Poetry command
            if not entry.name.endswith(".dist-info"):
                continue
            raw, _, version = entry.name[: -len(".dist-info")].partition("-")
            if not raw or not version or "-" in version:
                continue
            name = canonicalize_name(raw)
            found.setdefault(name, InstalledDist(name, version, Path(entry.path)))
    return found


def requires_of(dist: InstalledDist) -> list[str]:
    """The ``Requires-Dist`` lines of an installed distribution (markers included)."""
    try:
        text = (dist.dist_info / "METADATA").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    header = text.split("\n\n", 1)[0]
    return [
        line[len("Requires-Dist:") :].strip()
        for line in header.splitlines()
        if line.startswith("Requires-Dist:")
    ]


# Where an environment keeps its interpreter and site-packages


# (patterns as text: re compiles them on first use, not when the hook's modules load)
_PYVENV_VERSION = r"(?m)^\s*(?:version|version_info)\s*=\s*(\d+\.\d+(?:\.\d+)?)"
_LIB_PYTHON = r"python(\d+\.\d+)"


@record
class EnvState:
    """The project environment read from disk; ``root`` is None when there is none yet."""

    root: Path | None
    python_version: str | None = None
    site_packages: tuple[Path, ...] = ()
    dists: dict[str, InstalledDist] = field(default_factory=dict, compare=False)


def site_packages_of(root: Path) -> tuple[Path, ...]:
    """``lib/python*/site-packages`` (and ``lib64``), ``Lib/site-packages`` on Windows, else
    Debian's ``dist-packages``."""
    found = [*sorted(root.glob("lib/python*/site-packages")), *root.glob("Lib/site-packages")]
    lib64 = sorted(root.glob("lib64/python*/site-packages"))
    found += [path for path in lib64 if path.resolve() not in {p.resolve() for p in found}]
    if not found:
        # A Debian/Ubuntu system Python (virtualenvs.create = false, root /usr): pip installs
        # into /usr/local/lib/python3.X/dist-packages, the distribution into lib/python3/...
        found = [
            *sorted((root / "local").glob("lib/python3*/dist-packages")),
            *sorted(root.glob("lib/python3*/dist-packages")),
        ]
    return tuple(found)


def python_version_of(root: Path, site_packages: tuple[Path, ...] = ()) -> str | None:
    """From ``pyvenv.cfg`` (venv, virtualenv and uv write it), else the ``lib/pythonX.Y`` name."""
    try:
        match = re.search(_PYVENV_VERSION, (root / "pyvenv.cfg").read_text(encoding="utf-8"))
    except OSError:
        match = None
    if match is not None:
        return match.group(1)
    named = (re.search(_LIB_PYTHON, str(path)) for path in site_packages)
    return next((found.group(1) for found in named if found is not None), None)


def read_environment(root: Path | None) -> EnvState:
    if root is None:
        return EnvState(None)
    site = site_packages_of(root)
    return EnvState(root, python_version_of(root, site), site, installed_distributions(site))


def env_python(root: Path) -> Path | None:
    """The interpreter of an environment root (no Python is run to find it)."""
    for candidate in ("bin/python", "bin/python3", "Scripts/python.exe", "python.exe"):
        path = root / candidate
        if path.is_file():
            return path
    return None


# How the environment differs from poetry-torch.lock


@record
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


# One torch install at a time per environment, across concurrent Poetry processes

MUTEX_NAME = ".poetry-torch-install.mutex"
OWNER_NAME = ".poetry-torch-install.pid"
# How long the hook waits for another reinstall (it then re-checks, and mostly has nothing to do)
HOOK_WAIT = 900.0
# How long `poetry torch install` waits before it says which command holds the environment
COMMAND_WAIT = 10.0

# Environments this process holds already: a nested exclusive() does not wait for itself.
_HELD: set[str] = set()


class BusyError(TorchPluginError):
    """Another poetry torch command holds the environment's install lock."""


def _owner(root: Path) -> str:
    try:
        text = (root / OWNER_NAME).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return "pid unknown"
    return f"pid {text}" if text.isdigit() else "pid unknown"


@contextlib.contextmanager
def exclusive(target: TargetEnv, *, wait: float = HOOK_WAIT) -> Iterator[None]:
    """Serialize torch installs into one environment across concurrent Poetry processes.

    Gives up after ``wait`` seconds with one line naming the process that holds the lock."""
    from filelock import FileLock
    from filelock import Timeout

    key = str(target.root.resolve())
    if key in _HELD:
        yield
        return
    lock = FileLock(str(target.root / MUTEX_NAME), timeout=wait)
    try:
        lock.acquire()
    except Timeout:
        raise BusyError(
            f"another poetry torch command is running in {target.root} ({_owner(target.root)})",
            kept=f"this one waited {wait:g} s and changed nothing",
            next="Let it finish, then run the command again.",
        ) from None
    except OSError:
        # A read-only environment cannot hold a lock file; the install will say why it failed.
        # Only the acquiring is guarded: an error inside the block is the caller's, unchanged
        # (yielding again after it was the "generator didn't stop after throw()").
        yield
        return
    _HELD.add(key)
    try:
        with contextlib.suppress(OSError):
            (target.root / OWNER_NAME).write_text(f"{os.getpid()}\n", encoding="utf-8")
        yield
    finally:
        _HELD.discard(key)
        lock.release()
