"""``poetry-torch.lock``: the exact torch builds of a project, replayed with pip's hash checking.

The lock sits beside poetry.lock and holds what Poetry's lock never does: the torch family and
the whole closure pip installs with it (nvidia-* runtimes, triton, filelock, ...), each with the
sha256 of every wheel the index publishes for that version and the project's requires-python.
A content hash of the inputs (source name and URL, the ``packages`` list, requires-python)
tells whether the lock still matches pyproject.toml.  Credentials never reach the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.parse

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion
from packaging.version import Version

from poetry_torch_plugin import config
from poetry_torch_plugin.errors import ConfigError


if TYPE_CHECKING:
    from collections.abc import Mapping

    from packaging.requirements import Requirement

    from poetry_torch_plugin.config import Source
    from poetry_torch_plugin.config import TorchConfig
    from poetry_torch_plugin.environment import InstalledDist

LOCK_NAME = "poetry-torch.lock"
LOCK_VERSION = "1"
STALE = (
    f"{LOCK_NAME} is stale: the configuration changed after the lock was written (source,"
    " packages or requires-python); run `poetry torch lock` or `poetry torch install`."
)
_HEADER = (
    f"{LOCK_NAME}: the exact PyTorch builds of this project, written by poetry-torch-plugin.",
    "Do not edit it by hand: `poetry torch lock` refreshes it, `poetry torch install` replays it.",
)


@dataclass(frozen=True)
class LockInputs:
    """What the lock was resolved from; its content hash decides whether the lock is stale."""

    source_name: str
    source_url: str  # without credentials
    packages: tuple[str, ...]  # normalized requirements, sorted
    requires_python: str

    def content_hash(self) -> str:
        payload = {
            "source": {"name": self.source_name, "url": self.source_url},
            "packages": list(self.packages),
            "requires-python": self.requires_python,
        }
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class LockedPackage:
    name: str
    version: str  # with its local label: 2.9.0+cu129
    requested: bool  # listed in [tool.poetry-torch] packages, not pulled in by one
    files: tuple[tuple[str, str], ...]  # (file name, sha256 hex), sorted by file name


@dataclass(frozen=True)
class TorchLock:
    inputs: LockInputs
    content_hash: str
    packages: tuple[LockedPackage, ...]  # sorted by name
    resolved_for: str = ""  # the interpreter and platform pip resolved the closure for

    def fresh_for(self, inputs: LockInputs) -> bool:
        return self.content_hash == inputs.content_hash()

    def pins(self) -> tuple[str, ...]:
        return tuple(f"{package.name}=={package.version}" for package in self.packages)


def strip_credentials(url: str) -> str:
    """The URL without user or password: what may be written to a file."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit(parts._replace(netloc=host))


def _normalized(requirement: Requirement) -> str:
    extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
    marker = f"; {requirement.marker}" if requirement.marker else ""
    return f"{canonicalize_name(requirement.name)}{extras}{requirement.specifier}{marker}"


def requires_python_of(data: Mapping[str, Any]) -> str:
    """``[project] requires-python``, else Poetry's ``python`` dependency; "" when neither."""
    project = data.get("project", {})
    value = project.get("requires-python") if hasattr(project, "get") else None
    if value is None:
        tool = data.get("tool", {})
        poetry = tool.get("poetry", {}) if hasattr(tool, "get") else {}
        deps = poetry.get("dependencies", {}) if hasattr(poetry, "get") else {}
        value = deps.get("python") if hasattr(deps, "get") else None
    return str(value).strip() if isinstance(value, str) else ""


def inputs_for(source: Source, settings: TorchConfig, requires_python: str) -> LockInputs:
    return LockInputs(
        source_name=source.name,
        source_url=strip_credentials(source.url).rstrip("/"),
        packages=tuple(sorted(_normalized(req) for req in settings.requirements)),
        requires_python=requires_python,
    )


def lock_path_for(pyproject: Path) -> Path:
    return pyproject.parent / LOCK_NAME


# --- the file -------------------------------------------------------------------------------


def dumps(lock: TorchLock) -> str:
    """The lock as TOML; the same lock always gives the same bytes."""
    import tomlkit

    document = tomlkit.document()
    for line in _HEADER:
        document.add(tomlkit.comment(line))
    document.add(tomlkit.nl())
    metadata = tomlkit.table()
    metadata.add("lock-version", LOCK_VERSION)
    metadata.add("content-hash", lock.content_hash)
    metadata.add("requires-python", lock.inputs.requires_python)
    metadata.add("packages", list(lock.inputs.packages))
    metadata.add("resolved-for", lock.resolved_for)
    document.add("metadata", metadata)
    source = tomlkit.table()
    source.add("name", lock.inputs.source_name)
    source.add("url", strip_credentials(lock.inputs.source_url))
    document.add("source", source)
    packages = tomlkit.aot()
    for package in lock.packages:
        table = tomlkit.table()
        table.add("name", package.name)
        table.add("version", package.version)
        table.add("requested", package.requested)
        files = tomlkit.array()
        for filename, digest in package.files:
            entry = tomlkit.inline_table()
            entry.update({"file": filename, "hash": f"sha256:{digest}"})
            files.append(entry)
        files.multiline(True)
        table.add("files", files)
        packages.append(table)
    document.add("package", packages)
    return tomlkit.dumps(document)


def _unreadable(path: Path, reason: str) -> ConfigError:
    return ConfigError(
        f"{path.name} cannot be read ({reason}); it was left as it is."
        " Run `poetry torch lock` to write it again."
    )


def loads(text: str, path: Path = Path(LOCK_NAME)) -> TorchLock:
    try:
        data = config.parse_toml(text)
    except ValueError as exc:
        raise _unreadable(path, str(exc).splitlines()[0]) from None
    try:
        metadata, source = data["metadata"], data["source"]
        if str(metadata["lock-version"]) != LOCK_VERSION:
            raise _unreadable(path, f"lock-version {metadata['lock-version']!r}")
        inputs = LockInputs(
            source_name=str(source["name"]),
            source_url=str(source["url"]),
            packages=tuple(str(p) for p in metadata["packages"]),
            requires_python=str(metadata["requires-python"]),
        )
        packages = tuple(
            LockedPackage(
                name=canonicalize_name(str(entry["name"])),
                version=str(entry["version"]),
                requested=bool(entry.get("requested", False)),
                files=tuple(
                    (str(item["file"]), str(item["hash"]).removeprefix("sha256:"))
                    for item in entry["files"]
                ),
            )
            for entry in data.get("package", [])
        )
        return TorchLock(
            inputs, str(metadata["content-hash"]), packages, str(metadata.get("resolved-for", ""))
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise _unreadable(path, f"missing or malformed {exc}") from None


def read_lock(path: Path) -> TorchLock | None:
    """The lock at ``path``; None when there is none, ConfigError when it is unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise _unreadable(path, getattr(exc, "strerror", None) or type(exc).__name__) from None
    return loads(text, path)


def write_lock(path: Path, lock: TorchLock) -> None:
    """Replace the lock atomically."""
    import tempfile

    text = dumps(lock)
    fd, tmp_name = tempfile.mkstemp(prefix=".poetry-torch-lock.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
        tmp.chmod(0o644)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class LockState:
    """The project's lock as read, beside what the configuration asks for now."""

    path: Path
    inputs: LockInputs
    lock: TorchLock | None
    error: str | None = None

    @property
    def fresh(self) -> bool:
        return self.lock is not None and self.lock.fresh_for(self.inputs)

    def problem(self) -> str | None:
        """Why the lock cannot be replayed (stale or unreadable); None when fresh or absent."""
        if self.error is not None:
            return self.error
        return STALE if self.lock is not None and not self.fresh else None


def lock_state(pyproject: Path, source: Source, settings: TorchConfig) -> LockState:
    try:  # read-only, after every hooked command: tomllib, not tomlkit
        data: Mapping[str, Any] = config.parse_toml(pyproject.read_bytes().decode("utf-8"))
    except (OSError, ValueError):
        data = config.load(pyproject).document  # raises the one-line ConfigError
    inputs = inputs_for(source, settings, requires_python_of(data))
    path = lock_path_for(pyproject)
    try:
        return LockState(path, inputs, read_lock(path))
    except ConfigError as exc:
        return LockState(path, inputs, None, str(exc))


# --- replay lines, drift and export ----------------------------------------------------------


def requirement_lines(lock: TorchLock, *, continuation: bool = False) -> list[str]:
    """``name==version --hash=sha256:...`` for every locked package (the whole closure)."""
    joiner = " \\\n    " if continuation else " "
    return [
        joiner.join(
            [f"{package.name}=={package.version}"]
            + [f"--hash=sha256:{digest}" for _, digest in package.files]
        )
        for package in lock.packages
    ]


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
        if name not in locked and config.is_torch_family(name):
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


def export_text(lock: TorchLock) -> str:
    """A requirements file for plain pip: the index, then every locked pin with its hashes."""
    lines = [
        f"# The PyTorch builds pinned in {LOCK_NAME}, written by `poetry torch export`.",
        f"# Source {lock.inputs.source_name}; resolved for {lock.resolved_for or 'unknown'}.",
        "# Install them before the rest of the project: pip install -r THIS_FILE",
        f"--index-url {strip_credentials(lock.inputs.source_url)}",
        "",
        *requirement_lines(lock, continuation=True),
    ]
    return "\n".join(lines) + "\n"


# --- the commands' entry points -------------------------------------------------------------


def configured(pyproject: Path) -> tuple[TorchConfig, Source]:
    settings = config.read_config(config.load(pyproject).document)
    source = settings.source()
    if source is None or source.variant is None:
        raise ConfigError(
            "pyproject.toml has no pytorch source to lock; nothing was written."
            " Run `poetry torch install --cuda X.Y` (or --cpu, --rocm X.Y) first."
        )
    return settings, source


def check_project(pyproject: Path) -> LockState:
    settings, source = configured(pyproject)
    return lock_state(pyproject, source, settings)


def export_project(pyproject: Path) -> str:
    """The requirements text of a fresh lock; ConfigError when it is missing or stale."""
    state = check_project(pyproject)
    problem = state.problem()
    if problem is not None:
        raise ConfigError(f"{problem} Nothing was exported.")
    if state.lock is None:
        raise ConfigError(
            f"there is no {LOCK_NAME} to export; nothing was written."
            " Run `poetry torch lock` (or `poetry torch install`) first."
        )
    return export_text(state.lock)
