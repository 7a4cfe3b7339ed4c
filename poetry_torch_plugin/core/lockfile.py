"""``poetry-torch.lock``'s format: the exact torch builds of a project, as text and back; its
universal entries (one per variant x platform x Python); whether a parsed lock can be trusted.

Pure: reading and writing the file lives in ``project.lockstate``."""

from __future__ import annotations

import functools
import hashlib
import json
import re

from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from packaging.utils import canonicalize_name

from poetry_torch_plugin.core.config import parse_toml
from poetry_torch_plugin.core.record import record
from poetry_torch_plugin.core.record import replace
from poetry_torch_plugin.core.targets import NO_GPU
from poetry_torch_plugin.core.targets import machine_kind
from poetry_torch_plugin.core.urls import url_problem
from poetry_torch_plugin.core.urls import without_login
from poetry_torch_plugin.errors import ConfigError


if TYPE_CHECKING:
    from collections.abc import Iterable
    from collections.abc import Mapping

    from packaging.requirements import Requirement

    from poetry_torch_plugin.core.config import TorchConfig
    from poetry_torch_plugin.core.variants import Source


LOCK_NAME = "poetry-torch.lock"
LOCK_VERSION = "2"  # written only with [[entry]] tables; a lock without them is version 1
SINGLE_VERSION = "1"
STALE_WHAT = (
    f"{LOCK_NAME} is stale: the configuration changed after the lock was written (source, packages"
    " or requires-python)"
)
STALE = f"{STALE_WHAT}; run `poetry torch lock` or `poetry torch install`."
STALE_NEXT = "Run `poetry torch lock` or `poetry torch install`."  # an error's ``next``


_HEADER = (
    f"{LOCK_NAME}: the exact PyTorch builds of this project,"
    " written by poetry-torch-plugin {version}",
    "Do not edit it by hand: `poetry torch lock` refreshes it, `poetry torch install` replays it.",
)


@record
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


@record
class LockedPackage:
    name: str
    version: str  # with its local label: 2.9.0+cu129
    requested: bool  # listed in [tool.poetry-torch] packages, not pulled in by one
    files: tuple[tuple[str, str], ...]  # (file name, sha256 hex), sorted by file name
    # False: the index published no sha256 for these files (PyTorch's nightly pages carry no
    # ``#sha256=``), so each is the sha256 of the bytes downloaded when locking; every replay
    # checks it all the same.  Written as ``index-sha256 = false``, absent when True.
    index_sha256: bool = True
    # (file name, URL) where the index's page linked each file, login-free; a lock written
    # before the URLs were kept has none, and the file is then ``{index}/{file name}``
    urls: tuple[tuple[str, str], ...] = ()
    # the index it comes from when not the lock's source: PyPI's stable-ABI torchaudio for a
    # build whose index has none that pairs with its torch (``service.family``); "" otherwise
    index: str = ""

    def url_of(self, filename: str, index: str) -> str:
        """Where ``filename`` is downloaded from: the URL the index gave when it was locked,
        else the file beside the index's pages (``{index}/{file}``, quoted)."""
        from urllib.parse import quote

        found = dict(self.urls).get(filename)
        return found or f"{without_login(index).rstrip('/')}/{quote(filename)}"


@record
class TorchLock:
    inputs: LockInputs
    content_hash: str
    packages: tuple[LockedPackage, ...]  # sorted by name
    resolved_for: str = ""  # the interpreter and platform pip resolved the closure for
    # the universal part (its section below): other variants, platforms and Pythons
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
        if package.index:
            table.add("index", package.index)
            table.add(
                tomlkit.comment(
                    "not from the source: its index has no build of this that pairs with torch"
                )
            )
        if not package.index_sha256:
            table.add("index-sha256", False)
            table.add(
                tomlkit.comment(
                    "the index published no sha256: these are of the bytes downloaded when locking"
                )
            )
        files = tomlkit.array()
        urls = dict(package.urls)
        for filename, digest in package.files:
            entry = tomlkit.inline_table()
            entry.update({"file": filename, "hash": f"sha256:{digest}"})
            if filename in urls:
                entry["url"] = urls[filename]
            files.append(entry)
        files.multiline(True)
        table.add("files", files)
        packages.append(table)
    return packages


def unreadable(path: Path, reason: str) -> ConfigError:
    return ConfigError(
        f"{path.name} cannot be read ({reason})",
        kept="it was left as it is",
        next="Run `poetry torch lock` to write it again.",
    )


class NewerLockError(ConfigError):
    """The lock is in a format newer than this plugin writes: never read, never rewritten.
    ``project.lockstate`` raises it from every read, so every command that reads the lock
    (install, the hook, check, lock, export, wheelhouse) stops before it changes anything."""


UPGRADE = "poetry self add poetry-torch-plugin@latest"  # `self update` updates Poetry itself

_KNOWN_VERSIONS = {(int(SINGLE_VERSION),): SINGLE_VERSION, (int(LOCK_VERSION),): LOCK_VERSION}


def _version_key(value: object) -> tuple[int, ...] | None:
    """``lock-version`` as numbers without trailing zeros ("2.0" -> (2,), "3.1" -> (3, 1));
    None when it is not a version ("abc", "", "-1", a table)."""
    parts = str(value).strip().split(".")  # [0-9]{1,6}(\.[0-9]{1,6}){0,3}, without a regex
    digits = all(0 < len(part) <= 6 and part.isascii() and part.isdigit() for part in parts)
    if isinstance(value, bool) or not 1 <= len(parts) <= 4 or not digits:
        return None
    key = tuple(int(part) for part in parts)
    while len(key) > 1 and key[-1] == 0:
        key = key[:-1]
    return key


def lock_format(value: object, path: Path = Path(LOCK_NAME), text: str = "") -> str:
    """The format of a lock whose ``lock-version`` is ``value``: SINGLE_VERSION or LOCK_VERSION
    ("1.0", "2.0" are "1", "2").  NewerLockError for any other version above 1 (a newer
    plugin's "2.1", "3", "3.0", also "1.1"); ConfigError (unreadable) for no version."""
    key = _version_key(value)
    if key is not None and key in _KNOWN_VERSIONS:
        return _KNOWN_VERSIONS[key]
    if key is not None and key > (int(SINGLE_VERSION),):
        raise _newer(path, str(value).strip(), text)
    raise unreadable(path, f"lock-version {value!r}")


def _newer(path: Path, version: str, text: str) -> NewerLockError:
    from poetry_torch_plugin import __version__

    found = re.search(r"written by poetry-torch-plugin ([0-9][0-9A-Za-z.+!-]{0,40})", text)
    named = found.group(1).rstrip(".") if found else None
    writer = f"poetry-torch-plugin {named}" if named else "a newer poetry-torch-plugin"
    return NewerLockError(
        f"{path.name} has lock-version {version}, written by {writer}; this poetry-torch-plugin"
        f" {__version__} reads lock-version {LOCK_VERSION} and older",
        kept="nothing was changed (the lock, pyproject.toml and the environment are as they were)",
        next=f"Upgrade the plugin (`{UPGRADE}`), then run the command again.",
    )


@functools.lru_cache(maxsize=4)  # the hook reads one lock before and after a command
def loads(text: str, path: Path = Path(LOCK_NAME)) -> TorchLock:
    try:
        data = parse_toml(text)
    except ValueError as exc:
        raise unreadable(path, str(exc).splitlines()[0]) from None
    lock = from_data(data, path, text)
    for whole in (lock, *(entry.lock for entry in lock.entries)):
        problem = lock_problem(whole)
        if problem is not None:
            raise unreadable(path, problem)
    return lock


def from_data(data: Mapping[str, Any], path: Path = Path(LOCK_NAME), text: str = "") -> TorchLock:
    """The lock parsed TOML ``data`` describes, its shape checked but not its values: for data
    ``loads`` has checked (``project.lockstate`` keeps the locks it read whole, checked)."""
    try:
        metadata = data["metadata"]
        # first, before the rest of the shape: a newer format may have changed all of it
        version = lock_format(metadata["lock-version"], path, text)
        source = data["source"]
        inputs = _inputs(source, metadata)
        lock = TorchLock(
            inputs,
            str(metadata["content-hash"]),
            _packages(data.get("package", [])),
            str(metadata.get("resolved-for", "")),
        )
        if version == LOCK_VERSION:
            lock = replace(
                lock,
                entries=tuple(_entry(table, metadata) for table in data.get("entry", [])),
                targets=tuple(str(t) for t in metadata.get("targets", [])),
                added=tuple(str(v) for v in metadata.get("added-variants", [])),
            )
    except (KeyError, TypeError, AttributeError) as exc:
        raise unreadable(path, f"missing or malformed {exc}") from None
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
            index_sha256=entry.get("index-sha256", True) is not False,
            index=str(entry.get("index", "")),
            files=tuple(
                (str(item["file"]), str(item["hash"]).removeprefix("sha256:"))
                for item in entry["files"]
            ),
            urls=tuple(
                (str(item["file"]), str(item["url"])) for item in entry["files"] if "url" in item
            ),
        )
        for entry in tables
    )


def _entry(table: Any, metadata: Any) -> LockEntry:

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


def requirement_lines(
    lock: TorchLock, *, continuation: bool = False, tags: Iterable[str] | None = None
) -> list[str]:
    """``name==version --hash=sha256:...`` for every locked package (the whole closure).
    ``tags`` (an install from the index): a package from another index than the source
    (``LockedPackage.index``) is named by the URL of its file for those tags instead, with
    that file's hash, as the source does not publish it."""
    joiner = " \\\n    " if continuation else " "
    lines = []
    for package in lock.packages:
        head = f"{package.name}=={package.version}"
        files = list(package.files)
        chosen = _file_for(package, tags) if package.index and tags is not None else None
        if chosen is not None:
            head = f"{package.name} @ {package.url_of(chosen[0], package.index)}"
            files = [chosen]
        lines.append(joiner.join([head] + [f"--hash=sha256:{digest}" for _, digest in files]))
    return lines


def _file_for(package: LockedPackage, tags: Iterable[str]) -> tuple[str, str] | None:
    """The locked wheel of ``package`` that an interpreter with ``tags`` installs, if any."""
    supported = set(tags)
    for filename, digest in package.files:
        if filename.endswith(".whl") and (not supported or fits(filename, frozenset(supported))):
            return filename, digest
    return None


# --- universal entries -----------------------------------------------------------------------
# The universal part of ``poetry-torch.lock``: one entry per variant x platform x Python.
#
# The lock's first part (``[source]`` and ``[[package]]``) pins the committed variant for the
# interpreter that locked it.  With ``[tool.poetry-torch.targets]`` (or a variant added with
# ``poetry torch lock --add-variant``) the lock also holds ``[[entry]]`` tables, each the closure
# of one variant for one kind of machine (``linux-aarch64``) and one Python (``3.12``), resolved
# without that machine's hardware.  An install picks the entry of its own variant, platform and
# Python.  Pure: which entries a project wants, and how an entry is spelled for pip and PEP 751.


@record
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


@record
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
    the committed variant where no key decides, and each ``added`` variant on ``host``
    (``"auto"`` values lock nothing: each machine's hardware decides among the locked ones)."""
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


@record
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


# --- whether a lock can be trusted -----------------------------------------------------------
# Whether a parsed ``poetry-torch.lock`` can be trusted: schema, versions, hashes, names.


_SHA256 = r"[0-9a-f]{64}"  # compiled on first use: a lock already checked is not checked again
_NAME = r"[a-z0-9]([a-z0-9-]*[a-z0-9])?"  # a PEP 503 normalized name


def _package_problem(package: LockedPackage) -> str | None:
    from packaging.utils import InvalidWheelFilename
    from packaging.utils import parse_wheel_filename
    from packaging.version import InvalidVersion
    from packaging.version import Version

    if canonicalize_name(package.name) != package.name or not re.fullmatch(_NAME, package.name):
        # simple/<name>/ in a wheelhouse: a name is never a path
        return f"{package.name!r} is not a normalized package name"
    try:
        version = Version(package.version)
    except InvalidVersion:
        return f"{package.name} has version {package.version!r}, not a valid version"
    if not package.files:
        return f"{package.name} {package.version} lists no files"
    for filename, digest in package.files:
        if not re.fullmatch(_SHA256, digest):
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
    for filename, url in package.urls:
        problem = url_problem(filename, url)
        if problem is not None:
            return problem
    if package.index and (without_login(package.index) != package.index or not package.urls):
        return f"{package.name} comes from {package.index}: a login there, or no file URLs"
    return None


def moved(lock: TorchLock, base: str, mirror: str) -> TorchLock:
    """``lock`` with every index and file URL under ``base`` moved under ``mirror``: what an
    export written on a machine that fetches through ``POETRY_TORCH_INDEX_BASE`` names (as
    Poetry's own export names a repository URL a ``POETRY_REPOSITORIES_<NAME>_URL``
    replaces).  For the text only: the hashes are left as they were, so it is never written
    back as the lock."""
    base, mirror = base.rstrip("/"), mirror.rstrip("/")

    def url(text: str) -> str:
        under = text == base or text.startswith(base + "/")
        return mirror + text[len(base) :] if under else text

    def one(part: TorchLock) -> TorchLock:
        index = part.inputs.source_url
        packages = tuple(
            replace(
                package,
                urls=tuple((f, url(package.url_of(f, index))) for f, _ in package.files),
            )
            for package in part.packages
        )
        inputs = replace(part.inputs, source_url=url(index))
        return replace(part, inputs=inputs, packages=packages)

    entries = tuple(replace(entry, lock=one(entry.lock)) for entry in lock.entries)
    return replace(one(lock), entries=entries)


def lock_problem(lock: TorchLock) -> str | None:
    """Why a parsed lock cannot be trusted (a hand edit, a bad merge); None when it is whole:
    the schema, every version and every hash, before a lock's text is first used."""
    from packaging.requirements import InvalidRequirement
    from packaging.requirements import Requirement

    if not re.fullmatch(_SHA256, lock.content_hash):
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
    if lock.inputs.content_hash() != lock.content_hash:
        # the hash is what freshness compares: a source or packages edited beside it (an
        # entry's index moved to another host) would otherwise pass for fresh
        return "its source, packages or requires-python do not match its content-hash"
    return None
