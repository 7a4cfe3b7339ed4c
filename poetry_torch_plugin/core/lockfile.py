"""``poetry-torch.lock``'s format: the exact torch builds of a project, as text and back.

Pure: reading and writing the file lives in ``project.lockstate``."""

from __future__ import annotations

import hashlib
import json
import re

from dataclasses import dataclass
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from packaging.utils import canonicalize_name

from poetry_torch_plugin.core.config import parse_toml
from poetry_torch_plugin.core.urls import without_login
from poetry_torch_plugin.errors import ConfigError


if TYPE_CHECKING:
    from collections.abc import Mapping

    from packaging.requirements import Requirement

    from poetry_torch_plugin.core.config import Source
    from poetry_torch_plugin.core.config import TorchConfig
    from poetry_torch_plugin.core.lockentries import LockEntry


LOCK_NAME = "poetry-torch.lock"
LOCK_VERSION = "2"  # written only with [[entry]] tables; a lock without them is version 1
SINGLE_VERSION = "1"
STALE = (
    f"{LOCK_NAME} is stale: the configuration changed after the lock was written (source,"
    " packages or requires-python); run `poetry torch lock` or `poetry torch install`."
)


_HEADER = (
    f"{LOCK_NAME}: the exact PyTorch builds of this project,"
    " written by poetry-torch-plugin {version}",
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
    # the universal part (core.lockentries): other variants, platforms and Pythons
    entries: tuple[LockEntry, ...] = ()
    targets: tuple[str, ...] = ()  # [tool.poetry-torch.targets] as locked: "linux-aarch64=cu128"
    added: tuple[str, ...] = ()  # variants added with `poetry torch lock --add-variant`

    def fresh_for(self, inputs: LockInputs) -> bool:
        return self.content_hash == inputs.content_hash()

    def pins(self) -> tuple[str, ...]:
        return tuple(f"{package.name}=={package.version}" for package in self.packages)


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
        source_url=without_login(source.url).rstrip("/"),
        packages=tuple(sorted(_normalized(req) for req in settings.requirements)),
        requires_python=requires_python,
    )


def dumps(lock: TorchLock) -> str:
    """The lock as TOML; the same lock always gives the same bytes."""
    import tomlkit

    from poetry_torch_plugin import __version__

    document = tomlkit.document()
    for line in _HEADER:
        document.add(tomlkit.comment(line.format(version=__version__)))
    document.add(tomlkit.nl())
    universal = bool(lock.entries or lock.targets or lock.added)
    metadata = tomlkit.table()
    metadata.add("lock-version", LOCK_VERSION if universal else SINGLE_VERSION)
    metadata.add("content-hash", lock.content_hash)
    metadata.add("requires-python", lock.inputs.requires_python)
    metadata.add("packages", list(lock.inputs.packages))
    metadata.add("resolved-for", lock.resolved_for)
    if universal:
        metadata.add("targets", list(lock.targets))
        metadata.add("added-variants", list(lock.added))
    document.add("metadata", metadata)
    document.add("source", _source_table(lock))
    document.add("package", _packages_aot(lock.packages))
    if universal:
        entries = tomlkit.aot()
        for entry in lock.entries:
            table = tomlkit.table()
            table.add("variant", entry.variant)
            table.add("platform", entry.platform)
            table.add("python", entry.python)
            table.add("resolved-for", entry.lock.resolved_for)
            table.add("inputs-hash", entry.lock.content_hash)
            table.add("source", _source_table(entry.lock, inline=True))
            table.add("package", _packages_aot(entry.lock.packages))
            entries.append(table)
        document.add("entry", entries)
    return tomlkit.dumps(document)


def _source_table(lock: TorchLock, *, inline: bool = False) -> Any:
    import tomlkit

    source = tomlkit.inline_table() if inline else tomlkit.table()
    source.update({"name": lock.inputs.source_name, "url": without_login(lock.inputs.source_url)})
    return source


def _packages_aot(locked: tuple[LockedPackage, ...]) -> Any:
    import tomlkit

    packages = tomlkit.aot()
    for package in locked:
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
    return packages


def _unreadable(path: Path, reason: str) -> ConfigError:
    return ConfigError(
        f"{path.name} cannot be read ({reason}); it was left as it is."
        " Run `poetry torch lock` to write it again."
    )


class NewerLockError(ConfigError):
    """The lock is in a format newer than this plugin writes: never read, never rewritten."""


UPGRADE = "poetry self add poetry-torch-plugin@latest"


def _version_number(value: object) -> int | None:
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _newer(path: Path, version: object, text: str) -> NewerLockError:
    from poetry_torch_plugin import __version__

    found = re.search(r"written by poetry-torch-plugin (\S+)", text)
    writer = f"poetry-torch-plugin {found.group(1).rstrip('.,;')}" if found else "a newer plugin"
    return NewerLockError(
        f"{path.name} has lock-version {str(version)!r}, written by {writer}; this"
        f" poetry-torch-plugin {__version__} reads only version {LOCK_VERSION}, so the lock,"
        " pyproject.toml and the environment were left untouched."
        f" Upgrade the plugin (`{UPGRADE}`), then run the command again."
    )


def loads(text: str, path: Path = Path(LOCK_NAME)) -> TorchLock:
    try:
        data = parse_toml(text)
    except ValueError as exc:
        raise _unreadable(path, str(exc).splitlines()[0]) from None
    try:
        metadata, source = data["metadata"], data["source"]
        version = metadata["lock-version"]
        if str(version) not in (SINGLE_VERSION, LOCK_VERSION):
            number = _version_number(version)
            if number is not None and number > int(LOCK_VERSION):
                raise _newer(path, version, text)
            raise _unreadable(path, f"lock-version {version!r}")
        inputs = _inputs(source, metadata)
        lock = TorchLock(
            inputs,
            str(metadata["content-hash"]),
            _packages(data.get("package", [])),
            str(metadata.get("resolved-for", "")),
        )
        if str(version) == LOCK_VERSION:
            lock = replace(
                lock,
                entries=tuple(_entry(table, metadata) for table in data.get("entry", [])),
                targets=tuple(str(t) for t in metadata.get("targets", [])),
                added=tuple(str(v) for v in metadata.get("added-variants", [])),
            )
    except (KeyError, TypeError, AttributeError) as exc:
        raise _unreadable(path, f"missing or malformed {exc}") from None
    from poetry_torch_plugin.core.lockcheck import lock_problem

    for whole in (lock, *(entry.lock for entry in lock.entries)):
        problem = lock_problem(whole)
        if problem is not None:
            raise _unreadable(path, problem)
    return lock


def _inputs(source: Any, metadata: Any) -> LockInputs:
    return LockInputs(
        source_name=str(source["name"]),
        source_url=str(source["url"]),
        packages=tuple(str(p) for p in metadata["packages"]),
        requires_python=str(metadata["requires-python"]),
    )


def _packages(tables: Any) -> tuple[LockedPackage, ...]:
    return tuple(
        LockedPackage(
            name=canonicalize_name(str(entry["name"])),
            version=str(entry["version"]),
            requested=bool(entry.get("requested", False)),
            files=tuple(
                (str(item["file"]), str(item["hash"]).removeprefix("sha256:"))
                for item in entry["files"]
            ),
        )
        for entry in tables
    )


def _entry(table: Any, metadata: Any) -> LockEntry:
    from poetry_torch_plugin.core.lockentries import PLATFORMS
    from poetry_torch_plugin.core.lockentries import LockEntry

    platform = str(table["platform"])
    if platform not in PLATFORMS:
        raise KeyError(f"platform {platform!r}")
    lock = TorchLock(
        _inputs(table["source"], metadata),
        str(table["inputs-hash"]),
        _packages(table.get("package", [])),
        str(table["resolved-for"]),
    )
    return LockEntry(str(table["variant"]), platform, str(table["python"]), lock)


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
