"""``poetry-torch.lock``'s format: the exact torch builds of a project, as text and back.

Pure: reading and writing the file lives in ``project.lockstate``."""

from __future__ import annotations

import hashlib
import json
import re

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from packaging.utils import canonicalize_name

from poetry_torch_plugin import __version__
from poetry_torch_plugin.core.config import parse_toml
from poetry_torch_plugin.core.urls import without_login
from poetry_torch_plugin.errors import ConfigError


if TYPE_CHECKING:
    from collections.abc import Mapping

    from packaging.requirements import Requirement

    from poetry_torch_plugin.core.config import Source
    from poetry_torch_plugin.core.config import TorchConfig


LOCK_NAME = "poetry-torch.lock"
LOCK_VERSION = "1"
STALE = (
    f"{LOCK_NAME} is stale: the configuration changed after the lock was written (source,"
    " packages or requires-python); run `poetry torch lock` or `poetry torch install`."
)


_HEADER = (
    f"{LOCK_NAME}: the exact PyTorch builds of this project,"
    f" written by poetry-torch-plugin {__version__}",
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
    source.add("url", without_login(lock.inputs.source_url))
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


class NewerLockError(ConfigError):
    """The lock is in a format newer than this plugin writes: never read, never rewritten."""


UPGRADE = "poetry self add poetry-torch-plugin@latest"


def _version_number(value: object) -> int | None:
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _newer(path: Path, version: object, text: str) -> NewerLockError:
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
        if str(version) != LOCK_VERSION:
            number = _version_number(version)
            if number is not None and number > int(LOCK_VERSION):
                raise _newer(path, version, text)
            raise _unreadable(path, f"lock-version {version!r}")
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
        lock = TorchLock(
            inputs, str(metadata["content-hash"]), packages, str(metadata.get("resolved-for", ""))
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise _unreadable(path, f"missing or malformed {exc}") from None
    problem = lock_problem(lock)
    if problem is not None:
        raise _unreadable(path, problem)
    return lock


_SHA256 = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?")  # a PEP 503 normalized name


def _package_problem(package: LockedPackage) -> str | None:
    from packaging.utils import InvalidWheelFilename
    from packaging.utils import canonicalize_name
    from packaging.utils import parse_wheel_filename
    from packaging.version import InvalidVersion
    from packaging.version import Version

    if canonicalize_name(package.name) != package.name or not _NAME.fullmatch(package.name):
        # simple/<name>/ in a wheelhouse: a name is never a path
        return f"{package.name!r} is not a normalized package name"
    try:
        version = Version(package.version)
    except InvalidVersion:
        return f"{package.name} has version {package.version!r}, not a valid version"
    if not package.files:
        return f"{package.name} {package.version} lists no files"
    for filename, digest in package.files:
        if not _SHA256.fullmatch(digest):
            return f"{filename} has no well-formed sha256 hash"
        if "/" in filename or "\\" in filename or filename.startswith("."):
            # a wheelhouse writes each file under this name: never outside its folder
            return f"{filename!r} is not a plain file name"
        if not filename.endswith(".whl"):
            continue
        try:
            name, file_version, _, _ = parse_wheel_filename(filename)
        except InvalidWheelFilename:
            return f"{filename!r} is not a wheel file name"
        if name != package.name or file_version != version:
            return f"{filename} is not a file of {package.name} {package.version}"
    return None


def lock_problem(lock: TorchLock) -> str | None:
    """Why a parsed lock cannot be trusted (a hand edit, a bad merge); None when it is whole:
    the schema, every version and every hash is checked on every read."""
    from packaging.requirements import InvalidRequirement
    from packaging.requirements import Requirement

    if not _SHA256.fullmatch(lock.content_hash):
        return f"content-hash {lock.content_hash!r} is not a sha256"
    if not lock.inputs.source_name or not lock.inputs.source_url:
        return "the source has no name or no url"
    for text in lock.inputs.packages:
        try:
            Requirement(text)
        except InvalidRequirement:
            return f"packages entry {text!r} is not a valid requirement"
    if not lock.packages:
        return "it pins no package"
    seen: set[str] = set()
    for package in lock.packages:
        if package.name in seen:
            return f"{package.name} is pinned twice"
        seen.add(package.name)
        problem = _package_problem(package)
        if problem is not None:
            return problem
    return None


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


def export_text(lock: TorchLock) -> str:
    """A requirements file for plain pip: the index, then every locked pin with its hashes."""
    lines = [
        f"# The PyTorch builds pinned in {LOCK_NAME}, written by `poetry torch export`.",
        f"# Source {lock.inputs.source_name}; resolved for {lock.resolved_for or 'unknown'}.",
        "# Install them before the rest of the project: pip install -r THIS_FILE",
        f"--index-url {without_login(lock.inputs.source_url)}",
        "",
        *requirement_lines(lock, continuation=True),
    ]
    return "\n".join(lines) + "\n"
