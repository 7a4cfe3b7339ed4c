"""The project's files: pyproject.toml read for its torch configuration without ever raising
(for ``check`` and ``auto``), this checkout's ``poetry.toml`` choice, and the one way the plugin
writes a file: all of it, or none of it.

Used for pyproject.toml, poetry-torch.lock and ``poetry torch export -o``.  The new bytes go to
a temporary file beside the target, are flushed to disk, and replace the target in one rename;
the folder is flushed too, so the rename survives a power cut.  A reader never sees half a file,
and a failure at any point leaves the old file byte for byte."""

from __future__ import annotations

import contextlib
import os
import tempfile

from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from poetry_torch_plugin.core.config import parse_toml
from poetry_torch_plugin.core.config import read_config
from poetry_torch_plugin.core.record import record
from poetry_torch_plugin.core.targets import LOCAL_FILE
from poetry_torch_plugin.core.targets import LOCAL_TABLE
from poetry_torch_plugin.core.targets import parse_variant
from poetry_torch_plugin.errors import ConfigError
from poetry_torch_plugin.errors import TorchPluginError


if TYPE_CHECKING:
    from poetry_torch_plugin.core.config import TorchConfig
    from poetry_torch_plugin.core.variants import Source


# the mode of a file that did not exist before (an existing file keeps its own)
NEW_FILE_MODE = 0o644


def refuse_read_only(path: Path) -> None:
    """ConfigError when ``path`` exists without any write bit (``chmod 0444``): the user
    means it to stay as it is, and a rename would replace it anyway (as root, or in a writable
    folder). Called before anything is downloaded or installed."""
    target = Path(os.path.realpath(path))
    try:
        mode = target.stat().st_mode
    except OSError:
        mode = None
    if mode is not None and not mode & 0o222:
        raise ConfigError(
            f"{path.name} is read-only (mode {mode & 0o777:04o})",
            kept="nothing was downloaded, installed or changed",
            next=f"Make it writable (`chmod u+w {path.name}`), then run the command again.",
        )
    _refuse_unwritable_folder(path, target.parent)


def _refuse_unwritable_folder(path: Path, folder: Path) -> None:
    """``path`` is replaced by a rename inside its folder: try creating a file there (the only
    true test: root, ACLs, read-only mounts and immutable folders all answer differently)."""
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".check", dir=folder)
    except FileNotFoundError:
        return  # no folder yet: the command that creates it reports its own error
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(
            f"cannot create files in {folder} ({reason}), so {path.name} could not be written",
            kept="nothing was downloaded, installed or changed",
            next="Make the folder writable, then run the command again.",
        ) from None
    os.close(fd)
    with contextlib.suppress(OSError):
        Path(name).unlink()


def write_atomic(path: Path, data: bytes, *, expected: bytes | None = None) -> None:
    """Replace ``path`` with ``data``.

    ``expected``: the bytes the caller read and edited; when the file now holds others (someone
    edited it meanwhile), ConfigError and nothing is written.  A symlink is written through:
    its target is replaced and the link stays a link.  The file keeps its permission bits.
    """
    target = Path(os.path.realpath(path))
    if expected is not None:
        try:
            current = target.read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"cannot re-read {path}: {exc.strerror}",
                kept="nothing was written",
                next=f"Make {path.name} readable, then run the command again.",
            ) from None
        if current != expected:
            raise ConfigError(
                f"{path.name} changed while poetry torch was working",
                kept="it was not overwritten",
                next="Run the command again.",
            )
    try:
        mode = target.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = NEW_FILE_MODE
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.chmod(mode)
        tmp.replace(target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_folder(target.parent)


def _fsync_folder(folder: Path) -> None:
    """Flush the folder's entry for the renamed file; not every platform can (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# Reading: pyproject.toml for check and auto, poetry.toml for this checkout's choice


@record
class ProjectState:
    """pyproject.toml as far as check needs it; ``error`` when it cannot be understood."""

    pyproject: Path
    name: str | None
    settings: TorchConfig | None
    error: str | None = None

    @property
    def source(self) -> Source | None:
        """The committed plugin source (see ``TorchConfig.source``); None when there is none
        or several with nothing to choose between them."""
        if self.settings is None:
            return None
        try:
            return self.settings.source()
        except TorchPluginError:
            return None


def _load_toml(path: Path) -> dict[str, Any]:
    return parse_toml(path.read_bytes().decode("utf-8"))


def read_project(pyproject: Path) -> ProjectState:
    """Parse pyproject.toml (tomllib, tomlkit before 3.11) and read its torch configuration."""
    try:
        data = _load_toml(pyproject)
    except OSError as exc:
        return ProjectState(pyproject, None, None, f"cannot read {pyproject}: {exc.strerror}")
    except Exception as exc:  # tomllib, tomlkit and UnicodeDecodeError disagree on their types
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return ProjectState(pyproject, None, None, f"{pyproject.name} is not valid TOML ({reason})")
    project = data.get("project")
    poetry = data.get("tool", {}).get("poetry") if isinstance(data.get("tool"), dict) else None
    name = (project or {}).get("name") if isinstance(project, dict) else None
    if not isinstance(name, str) and isinstance(poetry, dict):
        name = poetry.get("name")
    name = name if isinstance(name, str) else None
    try:
        return ProjectState(pyproject, name, read_config(data))
    except TorchPluginError as exc:
        return ProjectState(pyproject, name, None, str(exc))


def configured_packages(pyproject: Path) -> tuple[str, ...]:
    """``[tool.poetry-torch] packages`` as written, less the default family's optional
    torchaudio (``TorchConfig.must_publish``); () when the file says nothing readable."""
    settings = read_project(pyproject).settings
    return settings.must_publish if settings is not None and settings.has_tool_table else ()


def local_variant(project_dir: Path) -> str | None:
    """``[poetry-torch] variant`` in the project's uncommitted ``poetry.toml`` (where
    ``poetry config --local`` keeps this checkout's settings); None when the file or the key is
    absent.  ConfigError when the file is not TOML or the value is no variant."""
    path = project_dir / LOCAL_FILE
    try:
        data = _load_toml(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(
            f"cannot read {path}: {exc.strerror}",
            kept="nothing was changed",
            next=f"Make {LOCAL_FILE} readable, then run the command again.",
        ) from None
    except Exception as exc:  # tomllib, tomlkit and UnicodeDecodeError disagree on their types
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(
            f"{path} is not valid TOML ({reason})",
            kept="nothing was changed",
            next=f"Fix {LOCAL_FILE}.",
        ) from None
    table = data.get(LOCAL_TABLE)
    if not isinstance(table, dict):
        return None
    return parse_variant(
        table.get("variant"),
        where=f"{LOCAL_FILE}: [{LOCAL_TABLE}] variant",
        fix=f"Fix {LOCAL_FILE}",
    )
