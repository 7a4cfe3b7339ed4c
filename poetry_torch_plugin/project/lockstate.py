"""``poetry-torch.lock`` on disk: read, write, and whether it is fresh for the project."""

from __future__ import annotations

import contextlib
import functools
import json
import os

from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from poetry_torch_plugin.core.config import parse_toml
from poetry_torch_plugin.core.config import read_config
from poetry_torch_plugin.core.lockfile import LOCK_NAME
from poetry_torch_plugin.core.lockfile import STALE
from poetry_torch_plugin.core.lockfile import STALE_NEXT
from poetry_torch_plugin.core.lockfile import STALE_WHAT
from poetry_torch_plugin.core.lockfile import LockInputs
from poetry_torch_plugin.core.lockfile import NewerLockError
from poetry_torch_plugin.core.lockfile import TorchLock
from poetry_torch_plugin.core.lockfile import dumps
from poetry_torch_plugin.core.lockfile import from_data
from poetry_torch_plugin.core.lockfile import inputs_for
from poetry_torch_plugin.core.lockfile import loads
from poetry_torch_plugin.core.lockfile import requires_python_of
from poetry_torch_plugin.core.lockfile import unreadable
from poetry_torch_plugin.core.record import record
from poetry_torch_plugin.errors import ConfigError
from poetry_torch_plugin.project.files import write_atomic


if TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Mapping

    from poetry_torch_plugin.core.config import TorchConfig
    from poetry_torch_plugin.core.variants import Source


def lock_path_for(pyproject: Path) -> Path:
    return pyproject.parent / LOCK_NAME


def read_lock(path: Path) -> TorchLock | None:
    """The lock at ``path``; None when there is none, ConfigError when it is unreadable, and
    NewerLockError when a newer plugin wrote it (``core.lockfile.lock_format``)."""
    try:
        return _read(path.read_bytes(), path)
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise unreadable(path, getattr(exc, "strerror", None) or type(exc).__name__) from None


# --- locks already checked -------------------------------------------------------------------
# The hook reads poetry-torch.lock before and after every Poetry command; parsing and checking
# a universal lock (tens of kB, every entry's names, versions, hashes and URLs) is most of its
# cost (issue 24).  A lock's text that this plugin's code, as installed, parsed and found whole is
# kept as plain data (JSON) in the user's cache folder, named by the sha256 of what decided
# (the checking code's files, Python, packaging) and the lock's bytes: the same bytes are never
# checked twice, other bytes always are.  Only a folder and files of the user's own, that no one
# else can write and that are no symlinks, are read or pruned.  Best effort: a cache that cannot
# be read or written is skipped, never an error.
_KEPT = 16  # locks kept at most (the oldest go first)
_HEX = frozenset("0123456789abcdef")


@functools.lru_cache(maxsize=4)  # one lock, read before and after a command
def _read(raw: bytes, path: Path) -> TorchLock:
    text = raw.decode("utf-8")
    kept = _kept_path(raw)
    if kept is not None and _own(kept.parent) and _own(kept):
        with contextlib.suppress(OSError, ValueError, ConfigError):
            return from_data(json.loads(kept.read_bytes()), path, text)
    lock = loads(text, path)  # every value checked; ConfigError, NewerLockError
    if kept is not None and b"@" not in raw:  # a login in a URL is not copied out
        with contextlib.suppress(OSError, TypeError, ValueError):
            _keep(kept, json.dumps(parse_toml(text)).encode("utf-8"))
    return lock


def _kept_path(raw: bytes) -> Path | None:
    """Where the checked data of a lock with these bytes is kept; None without a cache folder."""
    import hashlib
    import sys

    import packaging

    from poetry_torch_plugin.core import lockfile
    from poetry_torch_plugin.core import urls

    try:
        if sys.platform == "win32":
            folder = Path(os.environ["LOCALAPPDATA"]) / "poetry-torch" / "Cache"
        elif sys.platform == "darwin":
            folder = Path.home() / "Library" / "Caches" / "poetry-torch"
        else:
            folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
            folder = (folder if folder.is_absolute() else Path.home() / ".cache") / "poetry-torch"
        # the checking code itself, as installed: another version or an edit is another file
        code = [
            (s.st_ino, s.st_mtime_ns, s.st_size)
            for s in map(os.stat, (lockfile.__file__, urls.__file__))
        ]
    except (KeyError, OSError, RuntimeError):
        return None
    if not folder.is_absolute():
        return None
    stamp = f"{code} {sys.version} {getattr(packaging, '__version__', '')}\n"
    return folder / "locks" / f"{hashlib.sha256(stamp.encode() + raw).hexdigest()}.json"


def _own(path: Path) -> bool:
    """Whether ``path`` is the user's own (where the platform says), no symlink, and writable
    by no one else: only then is what it holds trusted, or pruned."""
    import stat

    try:
        found = path.lstat()
    except OSError:
        return False
    if stat.S_ISLNK(found.st_mode) or found.st_mode & 0o022:
        return False
    return not hasattr(os, "getuid") or found.st_uid == os.getuid()


def _keep(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all (no fsync: a lost file is only read again), in a
    folder of the user's own; drop the oldest locks beyond ``_KEPT``."""
    import tempfile
    import time

    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not _own(path.parent):
        return
    fd, name = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        Path(name).replace(path)
    finally:
        Path(name).unlink(missing_ok=True)
    kept, hour_ago = [], time.time() - 3600
    for entry in os.scandir(path.parent):
        stem, _, suffix = entry.name.partition(".")
        when = entry.stat(follow_symlinks=False).st_mtime
        if suffix == "json" and len(stem) == 64 and set(stem) <= _HEX:
            kept.append((when, entry.path))
        elif not stem and entry.name.endswith(".tmp") and when < hour_ago:  # a killed writer
            Path(entry.path).unlink(missing_ok=True)
    for _, old in sorted(kept)[:-_KEPT]:
        Path(old).unlink(missing_ok=True)


def write_lock(path: Path, lock: TorchLock) -> None:
    """Replace the lock atomically."""
    write_atomic(path, dumps(lock).encode("utf-8"))


@record
class LockState:
    """The project's lock as read, beside what the configuration asks for now."""

    path: Path
    inputs: LockInputs
    lock: TorchLock | None
    failure: ConfigError | None = None  # why the lock could not be read

    @property
    def error(self) -> str | None:
        """The unreadable lock's one line; None when it was read (or is absent)."""
        return None if self.failure is None else str(self.failure)

    @property
    def fresh(self) -> bool:
        return self.lock is not None and self.lock.fresh_for(self.inputs)

    def problem(self) -> str | None:
        """Why the lock cannot be replayed (stale or unreadable); None when fresh or absent."""
        if self.error is not None:
            return self.error
        return STALE if self.lock is not None and not self.fresh else None


def lock_state(pyproject: Path, source: Source, settings: TorchConfig) -> LockState:
    """The lock beside ``pyproject`` and what it is for; a stale or unreadable lock is a
    state with ``error``, a lock from a newer plugin raises NewerLockError (never rewritten)."""
    try:  # read-only, after every hooked command: tomllib, not tomlkit
        data: Mapping[str, Any] = parse_toml(pyproject.read_bytes().decode("utf-8"))
    except (OSError, ValueError):
        from poetry_torch_plugin.project.edits import load  # tomlkit: only to say what is wrong

        data = load(pyproject).document  # raises the one-line ConfigError
    inputs = inputs_for(source, settings, requires_python_of(data))
    path = lock_path_for(pyproject)
    try:
        return LockState(path, inputs, read_lock(path))
    except NewerLockError:
        raise  # a newer plugin's lock stops every command that reads it, before any change
    except ConfigError as exc:
        return LockState(path, inputs, None, exc)


def configured(pyproject: Path) -> tuple[TorchConfig, Source]:
    from poetry_torch_plugin.project.edits import load  # the lock and wheelhouse commands

    settings = read_config(load(pyproject).document)
    source = settings.source()
    if source is None or source.variant is None:
        raise ConfigError(
            "pyproject.toml has no pytorch source to lock",
            kept="nothing was written",
            next="Run `poetry torch install --cuda X.Y` (or --cpu, --rocm X.Y) first.",
        )
    return settings, source


def check_project(pyproject: Path) -> LockState:
    settings, source = configured(pyproject)
    return lock_state(pyproject, source, settings)


def fresh_lock(pyproject: Path, *, kept: str, missing: str) -> TorchLock:
    """The project's poetry-torch.lock, which must be fresh: ConfigError (saying ``kept``)
    when it is stale or unreadable, and with "there is no poetry-torch.lock to ``missing``"
    when there is none."""
    state = check_project(pyproject)
    if state.failure is not None:
        raise ConfigError(state.failure.what, kept=kept, next=state.failure.next)
    if state.problem() is not None:
        raise ConfigError(STALE_WHAT, kept=kept, next=STALE_NEXT)
    if state.lock is None:
        raise ConfigError(
            f"there is no {LOCK_NAME} to {missing}",
            kept=kept,
            next="Run `poetry torch lock` (or `poetry torch install`) first.",
        )
    return state.lock


def export_project(
    pyproject: Path,
    form: str = "requirements",
    target: str | None = None,
    every: bool = False,
    check: Callable[[TorchLock], str | None] | None = None,
    through: Callable[[TorchLock], TorchLock] | None = None,
) -> str:
    """A fresh lock as a requirements file (``form`` "requirements") or as PEP 751
    ``pylock.toml`` ("pylock"); ConfigError when it is missing or stale.  ``target`` (a
    targets key) or ``every``: those entries, each with its machines' marker; ``check`` says
    why the lock does not hold what the targets ask for; ``through`` gives the lock as this
    machine fetches it (a mirror's URLs, ``core.lockfile.moved``)."""
    lock = fresh_lock(
        pyproject,
        kept="nothing was exported",
        missing="export",
    )
    problem = check(lock) if check is not None and (target or every) else None
    if problem is not None:
        raise ConfigError(f"{problem} Nothing was exported.")
    if through is not None:
        lock = through(lock)
    from poetry_torch_plugin.core.formats import export_selected  # export only, not the hook
    from poetry_torch_plugin.core.formats import export_text
    from poetry_torch_plugin.core.formats import pylock_text
    from poetry_torch_plugin.core.formats import select

    chosen = select(lock, target, every)
    if form == "pylock":
        return pylock_text(lock, chosen if target or every else None)
    if target or every:
        return export_selected(chosen, f"target {target}" if target else "every target")
    return export_text(lock)
